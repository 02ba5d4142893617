"""Negative acknowledgements across two hosts on the packet link: a closed
endpoint (answered by the board responder of the remote host), an endpoint
reopened with a new session (answered by the endpoint's own driver) and an
index beyond the remote endpoint range; each completes the sender's request
with the matching Open-MX status, and the sender's endpoint keeps working.
"""

from __future__ import annotations

import pytest
from packet_harness import Host, counters, host_env, run_tool

from omx_transport import ReturnCode

pytestmark = pytest.mark.netns


def test_nacks_complete_requests_with_remote_status(netns_pair, tmp_path):
    env_a, env_b = host_env(tmp_path, 0, 9000), host_env(tmp_path, 1, 9000)
    with Host(netns_pair, 0, env_a) as a, Host(netns_pair, 1, env_b) as b:
        addr_a = a.call(op="open", index=3)["addr"]
        b.call(op="open", index=1)  # keeps a port of host b receiving: its responder answers
        first = b.call(op="open", index=5)
        addr_b5 = first["addr"]
        addr_b1 = addr_b5.rsplit("/", 1)[0] + "/1"
        b.post(op="connect", ep=1, to=addr_a)
        assert a.call(op="connect", ep=3, to=addr_b5) == {"status": 0}
        assert a.call(op="connect", ep=3, to=addr_b1) == {"status": 0}
        assert b.result() == {"status": 0}

        # Closed endpoint: REMOTE_ENDPOINT_CLOSED.  Synchronous sends: a small
        # buffered send completes before its ack or nack comes back.
        b.call(op="close", ep=5)
        sent = a.call(op="send", ep=3, to=addr_b5, size=8, sync=True, timeout=30)
        assert sent["status"] == ReturnCode.REMOTE_ENDPOINT_CLOSED

        # Reopened (new session): the old connection gets REMOTE_ENDPOINT_BAD_SESSION.
        again = b.call(op="open", index=5)
        assert again["session"] != first["session"]
        sent = a.call(op="send", ep=3, to=addr_b5, size=8, sync=True, timeout=30)
        assert sent["status"] == ReturnCode.REMOTE_ENDPOINT_BAD_SESSION

        # Beyond the remote endpoint range (32 by default): REMOTE_ENDPOINT_BAD_ID.
        bad = addr_b5.rsplit("/", 1)[0] + "/200"
        assert a.call(op="connect", ep=3, to=bad, timeout=10)["status"] == (
            ReturnCode.REMOTE_ENDPOINT_BAD_ID
        )
        # An index in range that nobody opened: REMOTE_ENDPOINT_CLOSED at connect.
        closed = addr_b5.rsplit("/", 1)[0] + "/9"
        assert a.call(op="connect", ep=3, to=closed, timeout=10)["status"] == (
            ReturnCode.REMOTE_ENDPOINT_CLOSED
        )

        # The sender still talks to the live endpoint, in both directions.
        for size in (32, 20000, 100000):
            b.post(op="recv", ep=1, size=size, seed=7)
            assert a.call(op="send", ep=3, to=addr_b1, size=size, seed=7)["status"] == 0
            assert b.result()["exact"]
            a.post(op="recv", ep=3, size=size, seed=8)
            assert b.call(op="send", ep=1, to=addr_a, size=size, seed=8)["status"] == 0
            assert a.result()["exact"]
        stats_b = counters(run_tool(netns_pair, 1, env_b, "omx_counters", "-b", "0").stdout)
        a.finish()
        b.finish()
    # The reopened endpoint's own driver refused the stale session.
    assert stats_b.get("Drop Bad Session", 0) >= 1
    assert stats_b.get("Send Nack Lib", 0) >= 1
