"""One contender's measurement inside an MPI job (run by the harness under mpiexec -n 2).

    mpiexec -n 2 python -m omx_transport.bench._worker --api omx|mpi4py|endpoint \\
        --mode lat|bw --plan SIZE:ITERS,...

``--api mpi4py`` times mpi4py's own COMM_WORLD; ``omx`` times the Comm that
``omx_transport.mpi.from_comm`` builds over Open-MX (MPI only bootstraps it);
``endpoint`` times bare Endpoint requests (also used when the Comm cannot be
built).  Both sides run the same loops; rank 0 prints one line per size in
the floor programs' format (``result size= iters= us= mbps=``) or a ``skip``
line when Open-MX cannot send that size yet.

lat: ping-pong with Send/Recv, one-way = round trip / 2.  bw: windows of
``--window`` Isend/Irecv then a 0-byte ack, one buffer reused (as osu_bw);
the time per message runs until the last ack.  Each size starts with
max(2, iters/10) untimed warm-up messages and a barrier.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from mpi4py import MPI

TAG_DATA, TAG_ACK, TAG_PROBE = 11, 12, 13


class _EndpointComm:
    """Send/Recv/Isend/Irecv of two ranks over bare Endpoint requests."""

    def __init__(self, world: Any) -> None:
        import omx_transport as omx

        self.rank = world.Get_rank()
        self.ep = omx.Endpoint()
        addrs = world.allgather(tuple(self.ep.address))
        self.peer = self.ep.connect(addrs[1 - self.rank], timeout=30.0)

    def Isend(self, buf: Any, dest: int, tag: int = 0) -> Any:
        return self.ep.isend(buf, self.peer, match=tag)

    def Irecv(self, buf: Any, source: int, tag: int = 0) -> Any:
        import omx_transport as omx

        return self.ep.irecv(buf, match=tag, mask=omx.MATCH_ALL)

    def Send(self, buf: Any, dest: int, tag: int = 0) -> None:
        self.Isend(buf, dest, tag).wait()

    def Recv(self, buf: Any, source: int, tag: int = 0) -> None:
        self.Irecv(buf, source, tag).wait()

    @staticmethod
    def waitall(reqs: Sequence[Any]) -> None:
        for r in reqs:
            r.wait()

    def Free(self) -> None:
        self.ep.close()


def _waitall(comm: Any, reqs: list[Any]) -> None:
    if isinstance(comm, _EndpointComm):
        comm.waitall(reqs)
    elif reqs:
        type(reqs[0]).Waitall(reqs)


def _warmup(iters: int) -> int:
    return max(2, iters // 10)


def pingpong(comm: Any, rank: int, buf: np.ndarray, count: int) -> None:
    """``count`` round trips of ``buf`` between ranks 0 and 1."""
    other = 1 - rank
    if rank == 0:
        for _ in range(count):
            comm.Send(buf, other, TAG_DATA)
            comm.Recv(buf, other, TAG_DATA)
    else:
        for _ in range(count):
            comm.Recv(buf, other, TAG_DATA)
            comm.Send(buf, other, TAG_DATA)


def stream(comm: Any, rank: int, buf: np.ndarray, count: int, window: int) -> None:
    """Rank 0 sends ``count`` messages to rank 1 in windows, each acked by 0 bytes."""
    ack = np.zeros(0, np.uint8)
    left = count
    while left > 0:
        w = min(window, left)
        if rank == 0:
            _waitall(comm, [comm.Isend(buf, 1, TAG_DATA) for _ in range(w)])
            comm.Recv(ack, 1, TAG_ACK)
        else:
            _waitall(comm, [comm.Irecv(buf, 0, TAG_DATA) for _ in range(w)])
            comm.Send(ack, 0, TAG_ACK)
        left -= w


def _wait(req: Any) -> None:
    (req.Wait if hasattr(req, "Wait") else req.wait)()


def _cancel(req: Any) -> None:
    (req.Cancel if hasattr(req, "Cancel") else req.cancel)()


def can_send(comm: Any, world: Any, size: int) -> str | None:
    """None when both ranks exchanged ``size`` bytes over omx, else why not (agreed on).

    The receive is posted first and the ranks agree before waiting, so a
    size the library refuses (NOT_IMPLEMENTED) on one side hangs neither.
    """
    import omx_transport as omx

    other = 1 - world.Get_rank()
    back = np.empty(size, np.uint8)
    rreq, sreq, reason = comm.Irecv(back, other, TAG_PROBE), None, ""
    try:
        sreq = comm.Isend(np.zeros(size, np.uint8), other, TAG_PROBE)
    except omx.OmxError as exc:
        reason = f"{exc.__class__.__name__}: {exc}"
    bad = [r for r in world.allgather(reason) if r]
    if bad:
        _cancel(rreq)  # a no-op when the peer's message already matched it
    _wait(rreq)
    if sreq is not None:
        _wait(sreq)
    return bad[0] if bad else None


def open_comm(api: str, world: Any) -> tuple[Any, str]:
    """The communicator to time and a note saying what it is."""
    if api == "mpi4py":
        return world, f"mpi4py {MPI.Get_library_version().splitlines()[0].strip()}"
    if api == "omx":
        try:
            from omx_transport import mpi as omx_mpi

            return omx_mpi.from_comm(world), "omx_transport.Comm via mpi.from_comm"
        except Exception as exc:  # the Comm is optional here: fall back to the Endpoint
            note = f"Comm unavailable ({exc.__class__.__name__}: {exc}); Endpoint used"
            world.Barrier()
            return _EndpointComm(world), note
    return _EndpointComm(world), "omx_transport.Endpoint"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of one MPI rank; returns the exit status."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--api", choices=["omx", "mpi4py", "endpoint"], required=True)
    p.add_argument("--mode", choices=["lat", "bw"], required=True)
    p.add_argument("--plan", required=True, help="SIZE:ITERS,...")
    p.add_argument("--window", type=int, default=16)
    args = p.parse_args(argv)
    plan = [tuple(int(x) for x in item.split(":")) for item in args.plan.split(",")]

    world = MPI.COMM_WORLD
    rank = world.Get_rank()
    if world.Get_size() != 2:
        print("the worker needs exactly 2 ranks", file=sys.stderr)
        return 2
    comm, note = open_comm(args.api, world)
    if rank == 0:
        print(f"# {note}", flush=True)
    for size, iters in plan:
        buf = np.zeros(size, np.uint8)
        if args.api != "mpi4py":
            why = can_send(comm, world, size)
            if why:
                if rank == 0:
                    print(f"skip size={size} reason={why}", flush=True)
                continue
        if args.mode == "lat":
            pingpong(comm, rank, buf, _warmup(iters))
        else:
            stream(comm, rank, buf, _warmup(iters), args.window)
        world.Barrier()
        t0 = time.perf_counter()
        if args.mode == "lat":
            pingpong(comm, rank, buf, iters)
        else:
            stream(comm, rank, buf, iters, args.window)
        elapsed = time.perf_counter() - t0
        if rank == 0:
            us = elapsed / iters * 1e6 / (2.0 if args.mode == "lat" else 1.0)
            mbps = size / us if us > 0 else 0.0
            print(f"result size={size} iters={iters} us={us:.4f} mbps={mbps:.3f}", flush=True)
    world.Barrier()
    if comm is not world:
        comm.Free()
    return 0


if __name__ == "__main__":
    sys.exit(main())
