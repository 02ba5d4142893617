"""Collectives with buffers: omx Comm against mpi4py's communicator on the same data.

Data are small integers, so floating-point sums are exact whatever the
reduction order and results compare bitwise.  Sizes cover empty, odd and
non-power-of-two cases; "wide" ones take the bandwidth algorithms (ring,
scatter-allgather) while every message stays under the rendezvous
threshold, and the largest need the library's large messages.
"""

from __future__ import annotations

import numpy as np
import pytest
from mpihelp import need_large, pattern

from omx_transport import mpi as omx_mpi

pytestmark = [pytest.mark.mpi(min_size=2), pytest.mark.timeout(60)]

NUMERIC = ["i1", "u1", "i2", "i4", "i8", "u8", "f4", "f8", "c8"]
OPS_ARITH = ["SUM", "PROD", "MAX", "MIN"]
OPS_LOGIC = ["LAND", "LOR", "LXOR", "BAND", "BOR", "BXOR"]


def run(comms, fn):
    """``fn(comm)`` on the omx comm then on mpi4py's; both results."""
    oc, mc = comms
    return fn(oc), fn(mc)


def test_barrier(comms):
    for c in comms:
        for _ in range(5):
            c.Barrier()
            c.barrier()


@pytest.mark.parametrize("count", [0, 1, 13, 4096, 5001])
def test_bcast_every_root(comms, count):
    def fn(c):
        out = []
        for root in range(c.size):
            buf = pattern(count, "i4", root) if c.rank == root else np.full(count, -1, "i4")
            c.Bcast(buf, root)
            out.append(buf)
        return out

    a, b = run(comms, fn)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)


def test_bcast_spec_and_readonly_root(comms):
    from mpi4py import MPI

    def fn(c):
        if c.rank == 1:
            src = pattern(30, "f8", 1)
            src.setflags(write=False)
            c.Bcast([src, 10, MPI.DOUBLE], 1)
            return src[:10].copy()
        buf = np.zeros(30)
        c.Bcast([buf, 10, MPI.DOUBLE], 1)
        return buf

    a, b = run(comms, fn)
    assert np.array_equal(a, b)


def test_bcast_large(comms, large_ok):
    nbytes, n = 60 * 1024, comms[0].size
    half = 1 << ((n - 1).bit_length() - 1)  # the root's biggest subtree in the scatter
    if n < 3 or nbytes * min(half, n - half) // n > 32768:
        need_large(large_ok)

    def fn(c):
        buf = pattern(nbytes // 8, "i8", 5) if c.rank == 0 else np.zeros(nbytes // 8, "i8")
        c.Bcast(buf, 0)
        return buf

    a, b = run(comms, fn)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("op", OPS_ARITH)
@pytest.mark.parametrize("dtype", NUMERIC)
def test_allreduce_arith(comms, dtype, op):
    from mpi4py import MPI

    if op in ("MAX", "MIN") and dtype == "c8":
        pytest.skip("MPI defines no MAX/MIN on complex")

    def fn(c):
        out = []
        for count in (0, 1, 7, 100):
            send = (pattern(count, "i8", c.rank) % 5 + 1).astype(dtype)
            recv = np.zeros_like(send)
            c.Allreduce(send, recv, op=getattr(MPI, op))
            out.append(recv)
        return out

    a, b = run(comms, fn)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)


@pytest.mark.parametrize("op", OPS_LOGIC)
@pytest.mark.parametrize("dtype", ["?", "i4", "u2", "i8"])
def test_allreduce_logic(comms, dtype, op):
    from mpi4py import MPI

    if dtype == "?" and op.startswith("B"):
        pytest.skip("bitwise operations are not defined on MPI.BOOL")

    def fn(c):
        send = (pattern(17, "i8", c.rank) % 3 + c.rank).astype(dtype)
        recv = np.zeros_like(send)
        c.Allreduce(send, recv, op=getattr(MPI, op))
        return recv

    a, b = run(comms, fn)
    assert np.array_equal(a, b)


def test_allreduce_in_place_and_our_ops(comms):
    from mpi4py import MPI

    oc, mc = comms
    data = pattern(50, "i4", oc.rank)
    a = data.copy()
    oc.Allreduce(omx_mpi.IN_PLACE, a, op=omx_mpi.SUM)
    a2 = data.copy()
    oc.Allreduce(MPI.IN_PLACE, a2, op=MPI.MAX)
    b = data.copy()
    mc.Allreduce(MPI.IN_PLACE, b, op=MPI.SUM)
    b2 = data.copy()
    mc.Allreduce(MPI.IN_PLACE, b2, op=MPI.MAX)
    assert np.array_equal(a, b)
    assert np.array_equal(a2, b2)


@pytest.mark.parametrize("count", [4096, 5003, 40000])
def test_allreduce_wide_ring(comms, large_ok, count):
    from mpi4py import MPI

    if count * 8 // comms[0].size > 32768:
        need_large(large_ok)

    def fn(c):
        send = pattern(count, "f8", c.rank)
        recv = np.empty_like(send)
        c.Allreduce(send, recv, op=MPI.SUM)
        return recv

    a, b = run(comms, fn)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("op", ["MAXLOC", "MINLOC"])
@pytest.mark.parametrize("pair", ["DOUBLE_INT", "FLOAT_INT", "LONG_INT", "TWOINT", "SHORT_INT"])
def test_allreduce_loc(comms, op, pair):
    from mpi4py import MPI

    from omx_transport._msgspec import as_dtype

    dt = as_dtype(getattr(MPI, pair)).np

    def fn(c):
        send = np.zeros(9, dt)
        send[dt.names[0]] = (np.arange(9) * (c.rank + 1)) % 4  # ties between ranks
        send[dt.names[1]] = c.rank
        recv = np.zeros_like(send)
        c.Allreduce([send, getattr(MPI, pair)], [recv, getattr(MPI, pair)], op=getattr(MPI, op))
        return recv

    a, b = run(comms, fn)
    assert a.tobytes() == b.tobytes() or (
        np.array_equal(a[dt.names[0]], b[dt.names[0]])
        and np.array_equal(a[dt.names[1]], b[dt.names[1]])
    )


@pytest.mark.parametrize("op", ["SUM", "MAX", "PROD", "BOR"])
def test_reduce_every_root(comms, op):
    from mpi4py import MPI

    def fn(c):
        out = []
        for root in range(c.size):
            send = pattern(23, "i8", c.rank) % 7 + 1
            recv = np.full(23, -1, "i8") if c.rank == root else None
            c.Reduce(send, recv, op=getattr(MPI, op), root=root)
            out.append(recv)
            inplace = send.copy()
            if c.rank == root:
                c.Reduce(MPI.IN_PLACE, inplace, op=getattr(MPI, op), root=root)
            else:
                c.Reduce(inplace, None, op=getattr(MPI, op), root=root)
            out.append(inplace if c.rank == root else None)
        return out

    a, b = run(comms, fn)
    for x, y in zip(a, b, strict=True):
        assert (x is None and y is None) or np.array_equal(x, y)


@pytest.mark.parametrize("count", [0, 1, 3, 100])
def test_gather_scatter_every_root(comms, count):
    def fn(c):
        n, out = c.size, []
        for root in range(n):
            send = pattern(count, "i4", c.rank)
            recv = np.full(count * n, -1, "i4") if c.rank == root else None
            c.Gather(send, recv, root)
            out.append(recv)
            src = pattern(count * n, "i2", root) if c.rank == root else None
            got = np.full(count, -1, "i2")
            c.Scatter(src, got, root)
            out.append(got)
        return out

    a, b = run(comms, fn)
    for x, y in zip(a, b, strict=True):
        assert (x is None and y is None) or np.array_equal(x, y)


def test_gather_scatter_in_place_and_specs(comms):
    from mpi4py import MPI

    def fn(c):
        n, r, root = c.size, c.rank, c.size - 1
        full = np.full(4 * n, -1, "f8")
        if r == root:
            full[4 * r : 4 * r + 4] = r
            c.Gather(MPI.IN_PLACE, [full, 4, MPI.DOUBLE], root)
        else:
            c.Gather(np.full(4, r, "f8"), None, root)
        mine = np.full(3, -1, "i8")
        table = np.arange(3 * n, dtype="i8") if r == root else None
        if r == root:
            c.Scatter([table, 3, MPI.INT64_T], MPI.IN_PLACE, root)
        else:
            c.Scatter(None, mine, root)
        return full if r == root else None, mine

    a, b = run(comms, fn)
    assert (a[0] is None and b[0] is None) or np.array_equal(a[0], b[0])
    assert np.array_equal(a[1], b[1])


@pytest.mark.parametrize("count", [0, 1, 5, 300, 3000])
def test_allgather(comms, large_ok, count):
    from mpi4py import MPI

    if count * 8 > 32768:
        need_large(large_ok)

    def fn(c):
        send = pattern(count, "f8", c.rank)
        recv = np.full(count * c.size, -1, "f8")
        c.Allgather(send, recv)
        inplace = np.full(count * c.size, -1, "f8")
        inplace[count * c.rank : count * (c.rank + 1)] = send
        c.Allgather(MPI.IN_PLACE, inplace)
        return recv, inplace

    a, b = run(comms, fn)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert np.array_equal(a[0], a[1])


@pytest.mark.parametrize("count", [0, 1, 6, 1000])
def test_alltoall(comms, count):
    from mpi4py import MPI

    def fn(c):
        n = c.size
        send = pattern(count * n, "i4", c.rank)
        recv = np.full(count * n, -1, "i4")
        c.Alltoall(send, recv)
        inplace = send.copy()
        c.Alltoall(MPI.IN_PLACE, inplace)
        return recv, inplace

    a, b = run(comms, fn)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_vector_variants(comms):
    from mpi4py import MPI

    def fn(c):
        n, r = c.size, c.rank
        counts = [i % 3 + 2 * i for i in range(n)]
        displs = [sum(counts[:i]) + i for i in range(n)]  # gaps between blocks
        total = displs[-1] + counts[-1] + 1
        out = []
        for root in range(n):
            send = np.full(counts[r], r + 1, "i4")
            recv = np.full(total, -1, "i4") if r == root else None
            spec = [recv, (counts, displs), MPI.INT] if r == root else None
            c.Gatherv(send, spec, root)
            out.append(recv)
            table = np.arange(total, dtype="i4") if r == root else None
            mine = np.full(counts[r], -1, "i4")
            c.Scatterv([table, counts, displs, MPI.INT] if r == root else None, mine, root)
            out.append(mine)
        every = np.full(total, -1, "i4")
        c.Allgatherv(np.full(counts[r], 10 * r, "i4"), [every, counts, displs, MPI.INT])
        out.append(every)
        contiguous = np.full(sum(counts), -1, "i4")
        c.Allgatherv(np.full(counts[r], r, "i4"), [contiguous, counts])
        out.append(contiguous)
        return out

    a, b = run(comms, fn)
    for x, y in zip(a, b, strict=True):
        assert (x is None and y is None) or np.array_equal(x, y)


def test_collectives_do_not_match_point_to_point(comms):
    oc, _ = comms
    right, left = (oc.rank + 1) % oc.size, (oc.rank - 1) % oc.size
    from mpi4py import MPI

    req = oc.Irecv(np.empty(1, "i4"), MPI.ANY_SOURCE, MPI.ANY_TAG)
    buf = np.arange(3, dtype="i4") if oc.rank == 0 else np.zeros(3, "i4")
    oc.Bcast(buf, 0)
    oc.Barrier()
    saw = req.Test()  # collective traffic must not reach the wildcard receive
    oc.Barrier()  # nobody sends point-to-point before everyone has looked
    oc.Send(np.array([7], "i4"), right, 1)
    req.Wait()
    assert not saw
    assert np.array_equal(buf, np.arange(3))
    assert left >= 0
