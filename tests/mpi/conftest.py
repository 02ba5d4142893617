"""Fixtures for the mpiexec suites: an omx Comm and mpi4py's own communicator as the oracle.

Run under ``mpiexec -n N python -m pytest --with-mpi tests/mpi`` (N = 2, 3, 4).
mpi4py is imported lazily, so a plain ``pytest`` run only collects and
skips these tests.  Every test does all its communication before it
asserts, so a failure on one rank cannot leave the others waiting.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from mpihelp import omx_sends


@pytest.fixture(scope="session")
def mpi_world() -> Any:
    from mpi4py import MPI

    return MPI.COMM_WORLD


@pytest.fixture(scope="session")
def omx_world(mpi_world: Any) -> Iterator[Any]:
    from omx_transport import mpi as omx_mpi

    # One board for every rank, as on a real host: rank 0's UDP base wins.
    addr = mpi_world.bcast(os.environ.get("OMX_UDP_ADDR"), root=0)
    if addr:
        os.environ["OMX_UDP_ADDR"] = addr
    comm = omx_mpi.from_comm(mpi_world)
    yield comm
    comm.Barrier()
    comm.Free()


@pytest.fixture(params=["world", "dup", "reversed"])
def comms(request: pytest.FixtureRequest, omx_world: Any, mpi_world: Any) -> Iterator[Any]:
    """(omx comm, mpi4py comm) with the same ranks: the world, a Dup, a Split reversing ranks."""
    kind = request.param
    if kind == "world":
        yield omx_world, mpi_world
        return
    if kind == "dup":
        oc, mc = omx_world.Dup(), mpi_world.Dup()
    else:
        key = mpi_world.size - mpi_world.rank
        oc, mc = omx_world.Split(0, key), mpi_world.Split(0, key)
    assert (oc.rank, oc.size) == (mc.rank, mc.size)
    yield oc, mc
    oc.Free()
    mc.Free()


@pytest.fixture(scope="session")
def large_ok(omx_world: Any, mpi_world: Any) -> bool:
    """Whether the library sends messages above the rendezvous threshold (agreed by all)."""
    return omx_sends(omx_world, mpi_world, 1 << 20)
