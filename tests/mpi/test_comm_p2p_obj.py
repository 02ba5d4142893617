"""Point-to-point with pickled objects: omx Comm against mpi4py's communicator."""

from __future__ import annotations

import numpy as np
import pytest
from mpihelp import need_large

from omx_transport import mpi as omx_mpi

pytestmark = [pytest.mark.mpi(min_size=2), pytest.mark.timeout(60)]

OBJECTS = [
    None,
    0,
    -7,
    3.5,
    "text",
    b"\x00bytes",
    [1, 2, 3],
    {"a": (1, 2), "b": [None, True]},
    np.arange(10.0),
    list(range(3000)),  # about 9 KB pickled: one eager message
    "x" * 20000,  # above the 16 KiB eager limit: header + payload
]


def ring(comm):
    return (comm.rank + 1) % comm.size, (comm.rank - 1) % comm.size


def same(a, b):
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b)
    return a == b


def test_send_recv_objects(comms):
    oc, mc = comms
    right, left = ring(oc)
    out = []
    for c in (oc, mc):
        got = []
        for i, obj in enumerate(OBJECTS):
            if c.rank % 2 == 0:
                c.send((c.rank, obj), right, tag=i)
                got.append(c.recv(source=left, tag=i))
            else:
                got.append(c.recv(None, left, i))
                c.send((c.rank, obj), right, tag=i)
        out.append(got)
    for (ra, a), (rb, b), obj in zip(out[0], out[1], OBJECTS, strict=True):
        assert ra == rb == left
        assert same(a, b) and same(a, obj)


def test_isend_irecv_wait_test(comms):
    oc, mc = comms
    right, left = ring(oc)
    out = []
    for c in (oc, mc):
        recvs = [c.irecv(source=left, tag=i) for i in range(len(OBJECTS))]
        sends = [c.isend(obj, right, tag=i) for i, obj in enumerate(OBJECTS)]
        got = [None] * len(OBJECTS)
        got[0] = recvs[0].wait()
        while True:
            flag, obj = recvs[1].test()
            if flag:
                got[1] = obj
                break
        rest = type(recvs[0]).waitall(recvs[2:])
        got[2:] = rest
        type(sends[0]).waitall(sends)
        out.append(got)
    for a, b, obj in zip(out[0], out[1], OBJECTS, strict=True):
        assert same(a, b) and same(a, obj)


def test_any_source_any_tag_status(comms):
    from mpi4py import MPI

    oc, mc = comms
    n, r = oc.size, oc.rank
    out = []
    for c, S in ((oc, omx_mpi.Status), (mc, MPI.Status)):
        seen = []
        if r == 0:
            for _ in range(n - 1):
                st = S()
                obj = c.recv(source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG, status=st)
                seen.append((st.Get_source(), st.Get_tag(), obj))
            seen.sort()
        else:
            c.send({"from": r}, 0, tag=10 + r)
        out.append(seen)
    assert out[0] == out[1]
    if r == 0:
        assert out[0] == [(s, 10 + s, {"from": s}) for s in range(1, n)]


def test_non_overtaking_mixed_sizes(comms):
    from mpi4py import MPI

    oc, mc = comms
    right, left = ring(oc)
    objs = [("s", i) if i % 3 else ("L" * 20000, i) for i in range(12)]
    out = []
    for c in (oc, mc):
        sends = [c.isend(o, right, tag=0) for o in objs]
        got = [c.recv(source=left, tag=MPI.ANY_TAG)[1] for _ in objs]
        for s in sends:
            s.wait()
        out.append(got)
    assert out[0] == out[1] == list(range(12))


def test_waitany_testany_lowercase(comms):
    from mpi4py import MPI

    oc, mc = comms
    right, left = ring(oc)
    out = []
    for c, R in ((oc, omx_mpi.Request), (mc, MPI.Request)):
        reqs = [c.irecv(source=left, tag=40 + i) for i in range(3)]
        for i in range(3):
            c.send(i * 11, right, tag=40 + i)
        got = {}
        i, obj = R.waitany(reqs)
        got[i] = obj
        while len(got) < 3:
            i, flag, obj = R.testany(reqs)
            if flag and i >= 0:
                got[i] = obj
        out.append((got, R.testany(reqs), R.testall([])))
    assert out[0][0] == out[1][0] == {0: 0, 1: 11, 2: 22}
    assert out[0][1:] == out[1][1:]


def test_sendrecv_objects(comms):
    oc, mc = comms
    right, left = ring(oc)
    out = [c.sendrecv(("hi", c.rank), right, 1, None, left, 1) for c in (oc, mc)]
    assert out[0] == out[1] == ("hi", left)


def test_proc_null_objects(comms):
    from mpi4py import MPI

    oc, mc = comms
    out = []
    for c, S in ((oc, omx_mpi.Status), (mc, MPI.Status)):
        c.send("nothing", MPI.PROC_NULL)
        st = S()
        obj = c.recv(source=MPI.PROC_NULL, status=st)
        obj2 = c.irecv(source=MPI.PROC_NULL).wait()
        out.append((obj, obj2, st.Get_source(), st.Get_tag()))
    assert out[0] == out[1]


def test_probe_then_recv_object(comms):
    from mpi4py import MPI

    oc, mc = comms
    right, left = ring(oc)
    out = []
    for c in (oc, mc):
        c.send([1, 2, 3], right, tag=3)
        st = omx_mpi.Status() if c is oc else MPI.Status()
        c.probe(MPI.ANY_SOURCE, 3, st)
        flag = c.iprobe(left, 3)
        out.append((st.Get_source(), st.Get_tag(), flag, c.recv(source=left, tag=3)))
    assert out[0] == out[1]


def test_cancel_pickled_irecv(omx_world):
    c = omx_world
    req = c.irecv(source=c.rank, tag=12345)
    req.cancel()
    st = omx_mpi.Status()
    assert req.wait(st) is None
    assert st.Is_cancelled()


def test_huge_object(omx_world, large_ok):
    need_large(large_ok)
    c = omx_world
    right, left = ring(c)
    big = np.arange(200_000, dtype=np.int64) + c.rank
    got = c.sendrecv(big, right, 2, None, left, 2)
    assert np.array_equal(got, np.arange(200_000, dtype=np.int64) + left)
