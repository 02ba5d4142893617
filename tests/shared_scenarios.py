"""Scenarios of tests/test_shared_*.py, each run on N processes by multiproc.py.

A scenario is ``fn(rank, size, ep, addresses, link, **args)`` and returns a
JSON-able result.  Every scenario ends inside the library: acks and resends
only happen in library calls, so a rank that left early (to block on its
pipe) would stall its peers.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np

from omx_transport import MATCH_ALL, OmxError
from omx_transport._lib import ffi, lib

SHARED_BOARD = 0xFFFFFFFE
DONE_TAG = 0xFFFF
HELLO_TAG = 0xFFFE


def shared_counters() -> dict[str, int]:
    """The host's "shared" pseudo-board counters, by label."""
    nmax = ffi.new("uint32_t *")
    lib.omx_get_info(ffi.NULL, lib.OMX_INFO_COUNTER_MAX, ffi.NULL, 0, nmax, 4)
    board = ffi.new("uint32_t *", SHARED_BOARD)
    values = ffi.new("uint32_t[]", nmax[0])
    if lib.omx_get_info(ffi.NULL, lib.OMX_INFO_COUNTER_VALUES, board, 4, values, 4 * nmax[0]):
        return {}
    out = {}
    for i in range(nmax[0]):
        idx = ffi.new("uint32_t *", i)
        label = ffi.new("char[]", 128)
        lib.omx_get_info(ffi.NULL, lib.OMX_INFO_COUNTER_LABEL, idx, 4, label, 128)
        out[ffi.string(label).decode()] = int(values[i])
    return out


def pattern(src: int, dst: int, i: int, n: int) -> np.ndarray:
    x = np.arange(n, dtype=np.uint32) * np.uint32(2654435761) + np.uint32(
        src * 7919 + dst * 104729 + i
    )
    return (x >> np.uint32(13)).astype(np.uint8)


def match_of(src: int, dst: int, i: int) -> int:
    return (src << 40) | (dst << 24) | i


_unacked = []


def exchange(rank, ep, peers, tag):
    """A one-byte message from everybody to everybody.  Only the receives
    are waited for: with OMX_ZOMBIE_SEND=0 a send completes at its ack, which
    the peer may only send after it went through a barrier (outside the
    library); those sends are waited for by the final exchange."""
    bufs = {r: np.zeros(1, np.uint8) for r in peers}
    recvs = [ep.irecv(bufs[r], match_of(r, rank, tag), MATCH_ALL) for r in peers]
    sends = [ep.isend(np.ones(1, np.uint8), p, match_of(rank, r, tag)) for r, p in peers.items()]
    for q in recvs:
        q.wait(timeout=60)
    return sends


def connect_all(rank, ep, addresses):
    """Connect to every other rank; return only once every rank connected to
    us too (until then we must stay in the library to answer them)."""
    peers = {r: ep.connect(a, timeout=30.0) for r, a in enumerate(addresses) if r != rank}
    _unacked.extend(exchange(rank, ep, peers, HELLO_TAG))
    return peers


def final_exchange(rank, ep, peers):
    """Everybody tells everybody it is done, inside the library; earlier
    sends complete meanwhile (the last ones are acked when peers close)."""
    exchange(rank, ep, peers, DONE_TAG)
    for q in _unacked:
        q.wait(timeout=60, check=False)
    _unacked.clear()


def alltoall(rank, size, ep, addresses, link, sizes, sync=False):
    """Every rank sends every size to every other rank; byte-exact check."""
    before = shared_counters()
    peers = connect_all(rank, ep, addresses)
    link.barrier()
    recvs = []
    for src in peers:
        for i, n in enumerate(sizes):
            buf = np.full(n + 8, 0xEE, np.uint8)
            recvs.append((src, i, n, buf, ep.irecv(buf[:n], match_of(src, rank, i), MATCH_ALL)))
    send = ep.issend if sync else ep.isend
    sends = []
    for dst, p in peers.items():
        for i, n in enumerate(sizes):
            data = pattern(rank, dst, i, n)
            sends.append((dst, i, send(data, p, match_of(rank, dst, i))))
    bad = []
    for src, i, n, buf, q in recvs:
        st = q.wait(timeout=90)
        if st.msg_length != n or st.xfer_length != n or st.source != tuple(addresses[src]):
            bad.append(f"recv {src}->{rank} size {n}: {st}")
        elif not np.array_equal(buf[:n], pattern(src, rank, i, n)) or not (buf[n:] == 0xEE).all():
            bad.append(f"recv {src}->{rank} size {n}: data differs")
    for dst, i, q in sends:
        st = q.wait(timeout=90)
        if st.xfer_length != sizes[i]:
            bad.append(f"send {rank}->{dst} size {sizes[i]}: {st}")
    final_exchange(rank, ep, peers)
    after = shared_counters()
    delta = {
        k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)
    }
    return {"bad": bad, "shared": delta}


def ring(rank, size, ep, addresses, link, count, length=8):
    """count messages around a ring: each rank receives from rank-1, sends to rank+1."""
    nxt, prv = (rank + 1) % size, (rank - 1) % size
    peers = connect_all(rank, ep, addresses)
    link.barrier()
    t0 = time.monotonic()
    rbuf = np.zeros(length, np.uint8)
    bad = 0
    for i in range(count):
        r = ep.irecv(rbuf, match_of(prv, rank, i & 0xFFFF), MATCH_ALL)
        s = ep.isend(
            np.full(length, (rank + i) & 0xFF, np.uint8),
            peers[nxt],
            match_of(rank, nxt, i & 0xFFFF),
        )
        r.wait(timeout=60)
        s.wait(timeout=60)
        if rbuf[0] != (prv + i) & 0xFF:
            bad += 1
    elapsed = time.monotonic() - t0
    final_exchange(rank, ep, peers)
    return {"bad": bad, "elapsed": elapsed}


def _own_maps() -> list[str]:
    with open("/proc/self/maps") as f:
        return [
            line.split()[-2] if line.rstrip().endswith("(deleted)") else line.split()[-1]
            for line in f
            if "omx-ep-" in line
        ]


def kill_one(rank, size, ep, addresses, link, victim, length):
    """The victim is SIGKILLed while its peers have sends to it pending."""
    peers = connect_all(rank, ep, addresses)
    link.barrier()  # 1: everybody connected
    pending = []
    if rank != victim:
        data = pattern(rank, victim, 0, length)
        pending.append(ep.isend(data, peers[victim], match_of(rank, victim, 1)))
        pending.append(ep.isend(np.ones(8, np.uint8), peers[victim], match_of(rank, victim, 2)))
        # Let the sends reach the victim before it dies.
        t = time.monotonic() + 0.2
        while time.monotonic() < t:
            ep.progress()
    link.barrier()  # 2: the parent kills the victim here
    if rank == victim:
        os.kill(os.getpid(), signal.SIGKILL)
    errors = []
    t0 = time.monotonic()
    for q in pending:
        try:
            st = q.wait(timeout=60)
            errors.append(int(st.error))
        except OmxError as exc:
            errors.append(int(exc))
    elapsed = time.monotonic() - t0
    survivors = {r: p for r, p in peers.items() if r != victim}
    # The survivors still talk to each other.
    recvs = [ep.irecv(np.zeros(64, np.uint8), match_of(r, rank, 3), MATCH_ALL) for r in survivors]
    sends = [
        ep.isend(pattern(rank, r, 3, 64), p, match_of(rank, r, 3)) for r, p in survivors.items()
    ]
    for q in recvs + sends:
        q.wait(timeout=60)
    # Dead destinations are unmapped by the periodic sweep (every 100 ms).
    t = time.monotonic() + 0.5
    while time.monotonic() < t:
        ep.progress()
        time.sleep(0.01)
    dead = f"-{addresses[victim].endpoint_index}"
    stale = [m for m in _own_maps() if m.endswith(dead)]
    final_exchange(rank, ep, survivors)
    return {"errors": errors, "elapsed": elapsed, "stale": stale}


def self_sends(rank, size, ep, addresses, link, sizes):
    """Messages to our own endpoint (through the driver with OMX_DISABLE_SELF=1)."""
    me = ep.connect(addresses[rank])
    before = shared_counters()
    bad = []
    for i, n in enumerate(sizes):
        buf = np.full(n + 8, 0xEE, np.uint8)
        r = ep.irecv(buf[:n], match_of(rank, rank, i), MATCH_ALL)
        s = ep.isend(pattern(rank, rank, i, n), me, match_of(rank, rank, i))
        st = r.wait(timeout=60)
        s.wait(timeout=60)
        if (
            st.xfer_length != n
            or not np.array_equal(buf[:n], pattern(rank, rank, i, n))
            or not (buf[n:] == 0xEE).all()
        ):
            bad.append(f"size {n}: {st}")
    after = shared_counters()
    delta = {
        k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)
    }
    return {"bad": bad, "shared": delta}
