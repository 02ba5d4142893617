"""Collectives with pickled objects, and communicator management (Dup, Split, Free)."""

from __future__ import annotations

import numpy as np
import pytest

from omx_transport import mpi as omx_mpi

pytestmark = [pytest.mark.mpi(min_size=2), pytest.mark.timeout(60)]


def run(comms, fn):
    oc, mc = comms
    return fn(oc), fn(mc)


def payload(rank):
    return {"rank": rank, "vals": list(range(rank * 3)), "arr": np.arange(rank + 1.0).tolist()}


def test_bcast_every_root(comms):
    def fn(c):
        return [c.bcast(payload(root) if c.rank == root else None, root) for root in range(c.size)]

    a, b = run(comms, fn)
    assert a == b


def test_bcast_big_object(comms):
    def fn(c):
        return c.bcast("y" * 30000 if c.rank == 0 else None, 0)

    a, b = run(comms, fn)
    assert a == b


def test_gather_scatter_every_root(comms):
    def fn(c):
        out = []
        for root in range(c.size):
            out.append(c.gather(payload(c.rank), root))
            items = [("item", i, root) for i in range(c.size)] if c.rank == root else None
            out.append(c.scatter(items, root))
        return out

    a, b = run(comms, fn)
    assert a == b


def test_allgather_alltoall(comms):
    def fn(c):
        return (
            c.allgather(payload(c.rank)),
            c.alltoall([(c.rank, i) for i in range(c.size)]),
            c.allgather(None),
        )

    a, b = run(comms, fn)
    assert a == b


@pytest.mark.parametrize("op", ["SUM", "PROD", "MAX", "MIN", "LAND", "LOR", "BAND", "BOR"])
def test_reduce_allreduce_ops(comms, op):
    from mpi4py import MPI

    def fn(c):
        v = c.rank % 3 + 1
        out = [c.allreduce(v, getattr(MPI, op))]
        for root in range(c.size):
            out.append(c.reduce(v, getattr(MPI, op), root))
        return out

    a, b = run(comms, fn)
    assert a == b


def test_reduce_preserves_rank_order(comms):
    def fn(c):
        out = [c.allreduce(str(c.rank)), c.allreduce([c.rank])]
        for root in range(c.size):
            out.append(c.reduce(str(c.rank), root=root))
            out.append(c.reduce(f"<{c.rank}>", op=lambda x, y: x + "|" + y, root=root))
        return out

    a, b = run(comms, fn)
    assert a == b
    assert a[0] == "".join(map(str, range(comms[0].size)))


def test_maxloc_minloc_objects(comms):
    from mpi4py import MPI

    def fn(c):
        pair = ((c.rank * 7) % 3, c.rank)
        return c.allreduce(pair, MPI.MAXLOC), c.allreduce(pair, MPI.MINLOC)

    a, b = run(comms, fn)
    assert a == b


def test_our_ops_objects(comms):
    oc, mc = comms
    from mpi4py import MPI

    assert oc.allreduce(oc.rank, omx_mpi.MAX) == mc.allreduce(mc.rank, MPI.MAX)
    assert oc.allreduce(oc.rank + 1, omx_mpi.PROD) == mc.allreduce(mc.rank + 1, MPI.PROD)


def test_scatter_wrong_length_raises_at_root(omx_world):
    c = omx_world
    if c.rank == 0:
        with pytest.raises(ValueError, match=f"expecting {c.size} items, got 1"):
            c.scatter([1], 0)
    with pytest.raises(ValueError, match="expecting"):
        c.alltoall([1] * (c.size + 1))
    c.Barrier()


# ---- communicators -------------------------------------------------------


def test_dup_has_its_own_context(omx_world):
    from mpi4py import MPI

    c = omx_world
    d = c.Dup()
    right, left = (c.rank + 1) % c.size, (c.rank - 1) % c.size
    on_world = c.Irecv(np.zeros(1, "i4"), MPI.ANY_SOURCE, MPI.ANY_TAG)
    d.Send(np.array([1], "i4"), right, 0)
    got = np.zeros(1, "i4")
    d.Recv(got, left, 0)
    world_saw = on_world.Test()
    c.Barrier()  # no world point-to-point traffic until every rank has looked
    c.Send(np.array([2], "i4"), right, 0)
    on_world.Wait()
    assert int(got[0]) == 1 and not world_saw
    assert d.Compare(c) == MPI.CONGRUENT and c.Compare(c) == MPI.IDENT
    d.Free()
    assert not d


def test_split_by_color_and_key(comms):
    from mpi4py import MPI

    def fn(c):
        color = c.rank % 2
        s = c.Split(color, key=-c.rank)
        out = (s.Get_rank(), s.Get_size(), s.allgather(c.rank), s.allreduce(c.rank))
        u = c.Split(MPI.UNDEFINED if c.rank == 0 else 0, 0)
        out2 = u == MPI.COMM_NULL if c is comms[1] else u is omx_mpi.COMM_NULL
        if c.rank != 0:
            out2 = (out2, u.allgather(c.rank))
            u.Free()
        s.Free()
        return out, out2

    a, b = run(comms, fn)
    assert a == b


def test_nested_split_dup_free(omx_world, mpi_world):
    def fn(c):
        d = c.Dup()
        s = d.Split(0, c.size - c.rank)
        dd = s.Dup()
        res = dd.allgather(dd.rank), dd.bcast("hello" if dd.rank == 0 else None)
        dd.Free()
        s.Free()
        d.Free()
        return res

    assert fn(omx_world) == fn(mpi_world)


def test_comm_context_manager_and_names(omx_world):
    with omx_world.Dup() as d:
        d.Set_name("mine")
        assert d.Get_name() == "mine" == d.name
        assert d.Is_intra() and not d.Is_inter()
        assert d.allreduce(1) == d.size
    assert not d
