"""Large messages (rendezvous + pull + notify) between two processes over the udp link."""

from __future__ import annotations

import pytest
from pairs import run_pair as run_pair_any_path

from omx_transport import ReturnCode

MIB = 1 << 20


def run_pair(scenario, env=None, **kw):
    # The link path; the intra-host path pulls with process_vm_readv (test_shared_path.py).
    return run_pair_any_path(scenario, env={"OMX_DISABLE_SHARED": "1", **(env or {})}, **kw)


def test_large_sizes_from_unaligned_offsets_are_byte_exact():
    sizes = [32 * 1024 + 1, MIB, 64 * MIB + 3, 1 << 30]
    sent, received = run_pair("all_sizes", args={"sizes": sizes}, timeout=300)
    assert sent == {"sent": len(sizes)}
    assert received == {"received": len(sizes), "bad": []}


def test_64_mib_on_a_faulty_link_is_byte_exact():
    env = {
        "OMX_FAULT": "drop=0.05,reorder=0.05,dup=0.02,seed=9",
        "OMX_RESEND_DELAY_MS": "20",
    }
    _, received = run_pair("all_sizes", env=env, args={"sizes": [64 * MIB]}, timeout=300)
    assert received == {"received": 1, "bad": []}


@pytest.mark.parametrize("size", [MIB, 64 * 1024 + 7])
def test_large_truncation_is_seen_by_both_sides(size):
    sender, receiver = run_pair("truncation", args={"size": size})
    assert receiver["error"] == ReturnCode.MESSAGE_TRUNCATED
    assert (receiver["msg_length"], receiver["xfer_length"]) == (size, size // 2)
    assert receiver["head_ok"] and receiver["tail_untouched"]
    # Large messages report the pulled length back to the sender (NOTIFY).
    assert sender == {"sender_error": ReturnCode.MESSAGE_TRUNCATED, "sender_xfer": size // 2}


def test_hundred_large_messages_in_flight_both_ways():
    results = run_pair("large_both_ways", args={"count": 100}, timeout=300)
    assert results == [{"ok": True, "data": True}] * 2


def test_sender_killed_mid_pull_fails_the_receive():
    env = {"OMX_RESENDS_MAX": "5", "OMX_RESEND_DELAY_MS": "100"}
    _, res = run_pair("killed_mid_pull", env=env, expect_exit=(None, 0), timeout=120)
    assert res["code"] in (
        ReturnCode.REMOTE_ENDPOINT_UNREACHABLE,
        ReturnCode.REMOTE_ENDPOINT_CLOSED,
    )
    assert res["elapsed"] < 30
