"""Scenario functions run by pair_child.py: fn(role, endpoint, peer_address, link, **args).

Role 0 and role 1 run the same function in two processes; ``link.barrier()``
synchronises them through the parent; the return value (JSON) is what the
test asserts on.
"""

from __future__ import annotations

import os
import random
import signal
import time

import numpy as np

from omx_transport import MATCH_ALL, Endpoint, EndpointAddress, OmxError

MEDIUM_MAX = 32768
WINDOW = 64
DONE = 0xD0_0000_0000


def pattern(size: int, seed: int) -> np.ndarray:
    """Deterministic bytes; a 65521-byte (prime) period keeps big patterns cheap."""
    base = (np.arange(min(size, 65521), dtype=np.uint32) * 131 + seed * 7 + size) & 0xFF
    return np.resize(base.astype(np.uint8), size)


def unaligned(size: int, offset: int) -> np.ndarray:
    """A writable uint8 view of ``size`` bytes starting at an odd offset."""
    return np.zeros(size + offset + 8, dtype=np.uint8)[offset : offset + size]


def linger(ep: Endpoint, seconds: float) -> None:
    """Stay in the library for a while: acks and resends only go out from its calls."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ep.progress()
        time.sleep(0.005)


def all_sizes(role: int, ep: Endpoint, peer: EndpointAddress, link, sizes=None, **_):
    """Role 0 sends every size, role 1 receives and checks every byte."""
    sizes = sizes if sizes is not None else list(range(MEDIUM_MAX + 1))
    dest = ep.connect(peer)
    if role == 0:
        pending = []
        for i, size in enumerate(sizes):
            buf = unaligned(size, 1 + i % 7)
            buf[:] = pattern(size, i)
            pending.append(ep.isend(buf, dest, match=i))
            if len(pending) >= WINDOW:
                pending.pop(0).wait(30)
        for r in pending:
            r.wait(30)
        link.barrier()
        return {"sent": len(sizes)}
    bad = []
    posted: list[tuple[int, int, np.ndarray, object]] = []
    it = iter(enumerate(sizes))

    def post_one() -> bool:
        nxt = next(it, None)
        if nxt is None:
            return False
        i, size = nxt
        buf = unaligned(size, 3 + i % 5)
        posted.append((i, size, buf, ep.irecv(buf, match=i, mask=MATCH_ALL)))
        return True

    for _ in range(WINDOW):
        post_one()
    while posted:
        i, size, buf, req = posted.pop(0)
        st = req.wait(30)
        if st.msg_length != size or st.xfer_length != size or st.match_info != i:
            bad.append((i, "status", st.msg_length, st.xfer_length))
        elif not np.array_equal(buf, pattern(size, i)):
            bad.append((i, "data"))
        post_one()
    # Acks and large-message NOTIFYs go out from library calls: stay a while.
    linger(ep, 0.5)
    link.barrier()
    return {"received": len(sizes), "bad": bad[:10]}


def expected_and_unexpected(role, ep, peer, link, **_):
    """Receive posted before the send, then a send that arrives before its receive."""
    dest = ep.connect(peer)
    sizes = [0, 7, 32, 33, 128, 129, 5000, 8192, 8193, 32768]
    if role == 1:
        bufs = [np.zeros(s, np.uint8) for s in sizes]
        reqs = [ep.irecv(b, match=0x100 + k, mask=MATCH_ALL) for k, b in enumerate(bufs)]
    link.barrier()  # receives are posted
    if role == 0:
        for k, s in enumerate(sizes):
            ep.isend(pattern(s, k), dest, match=0x100 + k).wait(30)
        for k, s in enumerate(sizes):
            ep.isend(pattern(s, k + 50), dest, match=0x200 + k).wait(30)
        link.barrier()  # unexpected messages are on their way
        link.barrier()
        return None
    ok_expected = [
        r.wait(30).ok and np.array_equal(b, pattern(s, k))
        for k, (r, b, s) in enumerate(zip(reqs, bufs, sizes, strict=True))
    ]
    link.barrier()
    probed = ep.probe(match=0x200 + len(sizes) - 1, mask=MATCH_ALL, timeout=30)
    ok_unexpected = []
    for k, s in enumerate(sizes):
        b = np.zeros(s, np.uint8)
        st = ep.irecv(b, match=0x200 + k, mask=MATCH_ALL).wait(30)
        ok_unexpected.append(st.ok and np.array_equal(b, pattern(s, k + 50)))
    link.barrier()
    return {"expected": ok_expected, "unexpected": ok_unexpected, "probe_length": probed.msg_length}


def truncation(role, ep, peer, link, size=100, **_):
    """The receiver's buffer is half the message: TRUNCATED with both lengths."""
    dest = ep.connect(peer)
    if role == 0:
        st = ep.isend(pattern(size, 1), dest, match=5).wait(30, check=False)
        link.barrier()
        return {"sender_error": int(st.error), "sender_xfer": st.xfer_length}
    buf = np.full(size, 0xEE, np.uint8)
    view = buf[: size // 2]
    try:
        ep.irecv(view, match=5, mask=MATCH_ALL).wait(30)
        got = None
    except OmxError as err:
        got = err.request_status
    linger(ep, 0.5)  # a large sender completes on our NOTIFY and ack
    link.barrier()
    return {
        "error": int(got.error) if got else 0,
        "msg_length": got.msg_length if got else -1,
        "xfer_length": got.xfer_length if got else -1,
        "head_ok": bool(np.array_equal(view, pattern(size, 1)[: size // 2])),
        "tail_untouched": bool((buf[size // 2 :] == 0xEE).all()),
    }


def cancel(role, ep, peer, link, **_):
    """A cancelled receive is never written; the next receive gets the message."""
    dest = ep.connect(peer)
    if role == 1:
        victim = np.full(64, 0xAB, np.uint8)
        req = ep.irecv(victim, match=9, mask=MATCH_ALL)
        cancelled = req.cancel()
        link.barrier()
        buf = np.zeros(64, np.uint8)
        st = ep.irecv(buf, match=9, mask=MATCH_ALL).wait(30)
        return {
            "cancelled": cancelled,
            "status": int(req.status.error),
            "victim_untouched": bool((victim == 0xAB).all()),
            "received": bool(st.ok and np.array_equal(buf, pattern(64, 2))),
        }
    link.barrier()
    ep.isend(pattern(64, 2), dest, match=9).wait(30)
    return None


def bad_key(role, ep, peer, link, **_):
    """Connecting with another application key fails with BAD_CONNECTION_KEY.

    The key is checked by the receiving library, so role 1 must be inside a
    library call (waiting for the final message) while role 0 connects.
    """
    if role == 1:
        buf = bytearray(1)
        ep.irecv(buf, match=77, mask=MATCH_ALL).wait(60)
        return None
    try:
        ep.connect(peer, key=ep.key ^ 0x5A5A, timeout=10)
        result: object = "connected"
    except OmxError as err:
        result = int(err)
    ep.isend(b"!", ep.connect(peer), match=77).wait(30)
    return result


def closed_endpoint(role, ep, peer, link, **_):
    """A send to an endpoint closed after connecting fails with ENDPOINT_CLOSED."""
    dest = ep.connect(peer)
    link.barrier()
    if role == 1:
        ep.close()
        link.barrier()
        return None
    link.barrier()
    try:
        ep.isend(pattern(16, 0), dest, match=1).wait(30)
        return "sent"
    except OmxError as err:
        return int(err)


def fault_stream(role, ep, peer, link, count=10000, seed=3, **_):
    """Random sizes under injected faults: every message once, in order, byte-exact."""
    rng = random.Random(seed)
    sizes = [
        rng.choice(
            (rng.randrange(0, 33), rng.randrange(33, 129), rng.randrange(129, MEDIUM_MAX + 1))
        )
        for _ in range(count)
    ]
    dest = ep.connect(peer, timeout=60)
    if role == 0:
        pending = []
        for i, s in enumerate(sizes):
            pending.append(ep.isend(pattern(s, i), dest, match=i))
            if len(pending) >= WINDOW:
                pending.pop(0).wait(120)
        for r in pending:
            r.wait(120)
        # Lost frames are resent only while this process is inside the
        # library: stay there until the receiver says it has everything.
        ep.irecv(bytearray(1), match=DONE, mask=MATCH_ALL).wait(120)
        link.barrier()
        return {"sent": count}
    order_errors = data_errors = 0
    for i, s in enumerate(sizes):
        buf = np.zeros(MEDIUM_MAX, np.uint8)
        st = ep.irecv(buf).wait(120)
        if st.match_info != i or st.msg_length != s:
            order_errors += 1
        elif not np.array_equal(buf[:s], pattern(s, i)):
            data_errors += 1
    ep.isend(b"!", dest, match=DONE).wait(120)
    # The last message may be lost like any other: stay in the library so
    # it is resent until the sender has it (its resend delay is 20 ms).
    linger(ep, 1.0)
    link.barrier()
    extra = ep.iprobe()
    return {
        "received": count,
        "order_errors": order_errors,
        "data_errors": data_errors,
        "extra": extra is not None,
    }


def dead_peer(role, ep, peer, link, how="kill", **_):
    """Role 1 dies (SIGKILL) or goes silent (SIGSTOP) while role 0 has sends pending."""
    dest = ep.connect(peer)
    if role == 1:
        ep.isend(np.array([os.getpid()], np.int64), dest, match=1).wait(30)
        link.barrier()
        os.kill(os.getpid(), signal.SIGKILL if how == "kill" else signal.SIGSTOP)
        time.sleep(60)
        return None
    buf = np.zeros(1, np.int64)
    ep.irecv(buf, match=1, mask=MATCH_ALL).wait(30)
    linger(ep, 0.3)  # the peer's send completes once this side acks it
    link.barrier()
    time.sleep(0.2)
    start = time.monotonic()
    reqs = [ep.isend(pattern(s, s), dest, match=100 + s) for s in (8, 100, 20000)]
    codes = []
    for r in reqs:
        try:
            r.wait(60)
            codes.append(0)
        except OmxError as err:
            codes.append(int(err))
    elapsed = time.monotonic() - start
    try:
        os.kill(int(buf[0]), signal.SIGKILL)
    except ProcessLookupError:
        pass
    return {"codes": codes, "elapsed": elapsed}


def large_both_ways(role, ep, peer, link, count=100, size=65537, **_):
    """Both sides have ``count`` large messages in flight towards each other at once."""
    dest = ep.connect(peer)
    bufs = [np.zeros(size, np.uint8) for _ in range(count)]
    recvs = [ep.irecv(b, match=1000 + k, mask=MATCH_ALL) for k, b in enumerate(bufs)]
    link.barrier()
    sends = [ep.isend(pattern(size, k + role), dest, match=1000 + k) for k in range(count)]
    ok = [r.wait(120).ok for r in recvs] + [r.wait(120).ok for r in sends]
    data = [bool(np.array_equal(b, pattern(size, k + 1 - role))) for k, b in enumerate(bufs)]
    linger(ep, 0.5)
    link.barrier()
    return {"ok": all(ok), "data": all(data)}


def killed_mid_pull(role, ep, peer, link, size=256 << 20, **_):
    """The sender of a large message dies while the receiver pulls it."""
    dest = ep.connect(peer)
    if role == 0:
        req = ep.isend(pattern(size, 0), dest, match=3)
        link.barrier()
        try:
            req.wait(0.02)  # serve the first pull blocks (~40 MB at most), then die
        except TimeoutError:
            pass
        os.kill(os.getpid(), signal.SIGKILL)
    buf = np.zeros(size, np.uint8)
    req = ep.irecv(buf, match=3, mask=MATCH_ALL)
    link.barrier()
    start = time.monotonic()
    try:
        req.wait(60)
        code = 0
    except OmxError as err:
        code = int(err)
    return {"code": code, "elapsed": time.monotonic() - start}
