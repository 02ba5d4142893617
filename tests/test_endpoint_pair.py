"""Two processes on one host exchange messages through Endpoint over the udp link.

The intra-host shared-memory path is turned off here (it has its own tests in
test_shared_path.py): these scenarios exercise the link, the driver's demux
and the library's acks, resends and nacks.
"""

from __future__ import annotations

import pytest
from pairs import run_pair as run_pair_any_path

from omx_transport import ReturnCode


def run_pair(scenario, env=None, **kw):
    return run_pair_any_path(scenario, env={"OMX_DISABLE_SHARED": "1", **(env or {})}, **kw)


# A dead peer must be detected quickly: a handful of fast resends.  Buffered
# sends normally complete before they are acked (MX "done early"); with no
# zombies allowed they stay pending until acked, so a dead peer shows.
FAST_FAILURE = {"OMX_RESENDS_MAX": "5", "OMX_RESEND_DELAY_MS": "100", "OMX_ZOMBIE_SEND": "0"}


def test_every_size_up_to_medium_max_is_byte_exact():
    sent, received = run_pair("all_sizes", timeout=300)
    assert sent == {"sent": 32769}
    assert received == {"received": 32769, "bad": []}


def test_expected_then_unexpected_messages():
    _, res = run_pair("expected_and_unexpected")
    assert all(res["expected"]), res
    assert all(res["unexpected"]), res
    assert res["probe_length"] == 32768


@pytest.mark.parametrize("size", [20, 100, 20000])
def test_truncation_reports_both_lengths(size):
    sender, receiver = run_pair("truncation", args={"size": size})
    assert receiver["error"] == ReturnCode.MESSAGE_TRUNCATED
    assert receiver["msg_length"] == size
    assert receiver["xfer_length"] == size // 2
    assert receiver["head_ok"] and receiver["tail_untouched"]
    # Only large messages tell the sender about truncation (digest 1.5).
    assert sender == {"sender_error": 0, "sender_xfer": size}


def test_cancelled_receive_is_never_written():
    _, res = run_pair("cancel")
    assert res == {
        "cancelled": True,
        "status": ReturnCode.CANCELLED,
        "victim_untouched": True,
        "received": True,
    }


def test_wrong_application_key_is_refused():
    res, _ = run_pair("bad_key")
    assert res == ReturnCode.REMOTE_ENDPOINT_BAD_CONNECTION_KEY


def test_send_to_closed_endpoint_fails_closed():
    res, _ = run_pair("closed_endpoint")
    assert res == ReturnCode.REMOTE_ENDPOINT_CLOSED


def test_killed_peer_fails_pending_sends():
    """SIGKILL closes the peer's sockets: the link reports the endpoint closed."""
    res, _ = run_pair("dead_peer", env=FAST_FAILURE, args={"how": "kill"}, expect_exit=(0, None))
    assert res["codes"] == [ReturnCode.REMOTE_ENDPOINT_CLOSED] * 3, res
    assert res["elapsed"] < 10


def test_silent_peer_fails_pending_sends_unreachable():
    """A peer that stops answering (host gone, process stopped) times out UNREACHABLE."""
    res, _ = run_pair("dead_peer", env=FAST_FAILURE, args={"how": "stop"}, expect_exit=(0, None))
    assert res["codes"] == [ReturnCode.REMOTE_ENDPOINT_UNREACHABLE] * 3, res
    assert res["elapsed"] < 20


@pytest.mark.slow
def test_faulty_link_delivers_exactly_once_in_order():
    env = {
        "OMX_FAULT": "drop=0.10,dup=0.05,reorder=0.05,corrupt=0.01,seed=11",
        "OMX_RESEND_DELAY_MS": "20",
    }
    sent, received = run_pair("fault_stream", env=env, args={"count": 10000}, timeout=600)
    assert sent == {"sent": 10000}
    assert received == {"received": 10000, "order_errors": 0, "data_errors": 0, "extra": False}
