"""Bootstrap from mpi4py, and the mpi4py-like namespace of the Comm API.

``from_comm(MPI.COMM_WORLD)`` opens one Open-MX endpoint per rank,
allgathers the endpoint addresses over the mpi4py communicator (so no peer
file or discovery is needed: connecting adds the peer's board) and returns
a :class:`~omx_transport.Comm` with the same ranks::

    from mpi4py import MPI
    from omx_transport import mpi as omx

    comm = omx.from_comm(MPI.COMM_WORLD)
    comm.Allreduce(omx.IN_PLACE, data, op=omx.SUM)   # MPI.IN_PLACE, MPI.SUM work too

``ANY_SOURCE``, ``ANY_TAG``, ``PROC_NULL`` and ``UNDEFINED`` equal the loaded
mpi4py's constants (MPICH's values when mpi4py is not loaded).
"""

from __future__ import annotations

from typing import Any

from ._endpoint import DEFAULT_KEY, Endpoint, EndpointAddress
from ._reduce import (
    BAND,
    BOR,
    BXOR,
    LAND,
    LOR,
    LXOR,
    MAX,
    MAXLOC,
    MIN,
    MINLOC,
    NO_OP,
    PROD,
    REPLACE,
    SUM,
    Op,
)
from .comm import (
    COMM_NULL,
    CTX_BITS,
    CTX_SHIFT,
    IN_PLACE,
    MAX_RANKS,
    TAG_UB,
    Comm,
    Request,
    Status,
    _const,
    _Fabric,
)

__all__ = [
    "from_comm",
    "Comm",
    "Request",
    "Status",
    "Op",
    "COMM_NULL",
    "IN_PLACE",
    "TAG_UB",
    "SUM",
    "PROD",
    "MAX",
    "MIN",
    "LAND",
    "LOR",
    "LXOR",
    "BAND",
    "BOR",
    "BXOR",
    "MAXLOC",
    "MINLOC",
    "REPLACE",
    "NO_OP",
]

# Eager connection does one handshake per peer inside from_comm and turns a
# missing peer into an error at a known place; lazy connection moves the same
# handshakes into the first send to each rank, which then needs that rank to
# be inside the library.  Measured on a 2-core host (mpich wheel, udp link):
# from_comm + first Alltoall took 3+3 ms eager vs 7+0.3 ms lazy at 2 ranks,
# 8+1 vs 5+3 ms at 4 and 35+6 vs 20+11 ms at 8 (oversubscribed): the same
# total, so eager is the default up to this size.
EAGER_CONNECT_MAX = 256


def __getattr__(name: str) -> int:
    if name in ("ANY_SOURCE", "ANY_TAG", "PROC_NULL", "UNDEFINED"):
        return _const(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def from_comm(
    mpi_comm: Any,
    *,
    connect: str = "auto",
    board: int = 0,
    key: int = DEFAULT_KEY,
    timeout: float = 30.0,
) -> Comm:
    """Return a :class:`Comm` over Open-MX with the ranks of ``mpi_comm`` (collective).

    ``connect`` is ``"eager"`` (connect to every rank now), ``"lazy"``
    (connect on the first send to a rank) or ``"auto"`` (eager up to
    ``EAGER_CONNECT_MAX`` ranks).  ``board`` and ``key`` are passed to
    :class:`Endpoint`; ``timeout`` bounds each connection handshake.

    A peer answers a handshake only from inside an omx call (as in Open-MX,
    progress happens in library calls): with lazy connection, a first send to
    a rank that is busy in an MPI call waits until that rank calls omx again.
    """
    if connect not in ("auto", "eager", "lazy"):
        raise ValueError(f"connect must be 'auto', 'eager' or 'lazy', not {connect!r}")
    if not mpi_comm or mpi_comm.Is_inter():
        raise ValueError("from_comm needs a valid intracommunicator")
    size, rank = mpi_comm.Get_size(), mpi_comm.Get_rank()
    if size > MAX_RANKS:
        raise ValueError(f"communicator size {size} exceeds {MAX_RANKS} ranks")
    try:
        endpoint = Endpoint(board, key=key, context_id_bits=CTX_BITS, context_id_shift=CTX_SHIFT)
        error = None
    except Exception as exc:  # every rank must reach the allgather, or the others hang
        endpoint, error = None, exc
    addrs = mpi_comm.allgather(None if endpoint is None else tuple(endpoint.address))
    if error is not None:
        raise error
    if None in addrs:
        assert endpoint is not None
        endpoint.close()
        bad = [r for r, a in enumerate(addrs) if a is None]
        raise RuntimeError(f"from_comm: ranks {bad} could not open an Open-MX endpoint")
    assert endpoint is not None
    try:
        fabric = _Fabric(endpoint, [EndpointAddress(*a) for a in addrs], timeout)
        eager = connect == "eager" or (connect == "auto" and size <= EAGER_CONNECT_MAX)
        if eager:
            # Staggered so that rank r's first handshake goes to r+1, not all to rank 0.
            for step in range(size):
                fabric.peer((rank + step) % size)
        fabric.next_unit = 1
        name = mpi_comm.Get_name() or "comm"
        comm = Comm(fabric, range(size), rank, 0, f"omx:{name}")
        if eager:
            # A handshake is answered by the peer's library, i.e. only while the peer
            # is inside an omx call: a rank done connecting that went on into an MPI
            # call would leave later connects to it unanswered until they time out.
            # An omx barrier keeps every rank progressing until all are connected.
            comm.Barrier()
        return comm
    except BaseException:
        endpoint.close()
        raise
