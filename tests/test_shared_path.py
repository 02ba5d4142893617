"""The intra-host (shared) path between processes of one host.

Every test runs twice: over the shared path (the default: processes on the
one udp board are local peers) and with OMX_DISABLE_SHARED=1 (everything
over the link).  The shared pseudo-board's counters tell which path ran.
"""

from __future__ import annotations

import os
import signal

import pytest
from multiproc import run_group

SIZES = [0, 32, 33, 128, 129, 4096, 4097, 32768, 32769, 1 << 20, (16 << 20) + 3]
CLOSED, UNREACHABLE = 33, 92

PATHS = {
    "shared": {},
    "link": {"OMX_DISABLE_SHARED": "1"},
}


def _shared_used(results):
    total = {}
    for r in results:
        for k, v in r["shared"].items():
            total[k] = total.get(k, 0) + v
    return total


@pytest.mark.parametrize("path", PATHS)
def test_alltoall_every_size(path):
    results = run_group("alltoall", 4, env=PATHS[path], args={"sizes": SIZES}, timeout=180)
    for rank, r in enumerate(results):
        assert r["bad"] == [], f"rank {rank}: {r['bad']}"
    used = _shared_used(results)
    if path == "shared":
        for label in (
            "Shared Tiny",
            "Shared Small",
            "Shared MediumSQ Frag",
            "Shared Rendez-vous",
            "Shared Notify",
            "Shared Pull",
            "Shared Connect Request",
            "Shared Connect Reply",
        ):
            assert used.get(label, 0) > 0, (label, used)
    else:
        assert not any(k.startswith("Shared") for k in used), used


@pytest.mark.parametrize("path", PATHS)
def test_alltoall_synchronous(path):
    sizes = [0, 33, 4097, 1 << 20]
    results = run_group(
        "alltoall", 4, env=PATHS[path], args={"sizes": sizes, "sync": True}, timeout=120
    )
    for rank, r in enumerate(results):
        assert r["bad"] == [], f"rank {rank}: {r['bad']}"


@pytest.mark.parametrize("path", PATHS)
def test_ring_8_ranks_2_cores(path):
    """8 processes on 2 cores pass 10 000 messages around a ring: all progress."""
    results = run_group("ring", 8, env=PATHS[path], args={"count": 10000}, timeout=60)
    for rank, r in enumerate(results):
        assert r["bad"] == 0, f"rank {rank}: {r}"


def _dev_shm() -> set[str]:
    """Our objects in /dev/shm (there should be none: areas are memfds)."""
    try:
        return {n for n in os.listdir("/dev/shm") if "omx" in n}
    except FileNotFoundError:
        return set()


@pytest.mark.parametrize("path", PATHS)
def test_sigkill_mid_transfer(path):
    """SIGKILL of a rank fails its peers' pending sends with a status and
    leaves nothing behind: no file in /dev/shm, no mapping of its area."""
    victim = 3
    shm_before = _dev_shm()
    env = dict(PATHS[path], OMX_ZOMBIE_SEND="0", OMX_RESEND_DELAY_MS="100")

    def on_barrier(n, procs):
        if n == 2:
            procs[victim].send_signal(signal.SIGKILL)

    results = run_group(
        "kill_one",
        4,
        env=env,
        args={"victim": victim, "length": 8 << 20},
        timeout=120,
        expect_exit={victim: None},
        on_barrier=on_barrier,
    )
    for rank, r in enumerate(results):
        if rank == victim:
            continue
        assert r["errors"] and all(e in (CLOSED, UNREACHABLE) for e in r["errors"]), (rank, r)
        assert not r["stale"], (rank, r)
    assert _dev_shm() - shm_before == set()


@pytest.mark.parametrize("path", PATHS)
def test_self_through_driver(path):
    """OMX_DISABLE_SELF=1 sends messages to self through the driver: over
    the shared path by default, over the link without it."""
    env = dict(PATHS[path], OMX_DISABLE_SELF="1")
    (r,) = run_group("self_sends", 1, env=env, args={"sizes": SIZES}, timeout=120)
    assert r["bad"] == []
    if path == "shared":
        assert r["shared"].get("Shared Tiny", 0) > 0 and r["shared"].get("Shared Pull", 0) > 0, r
    else:
        assert not any(k.startswith("Shared") for k in r["shared"]), r


def test_embedded_default():
    """With no configuration at all, processes of one host are local peers
    on the default udp board and talk over the shared path."""
    env = {k: None for k in os.environ if k.startswith(("OMX_", "MX_"))}
    results = run_group("alltoall", 2, env=env, args={"sizes": [8, 4097, 1 << 20]}, timeout=120)
    for rank, r in enumerate(results):
        assert r["bad"] == [], f"rank {rank}: {r['bad']}"
    used = _shared_used(results)
    assert used.get("Shared Tiny", 0) > 0 and used.get("Shared Pull", 0) > 0, used
