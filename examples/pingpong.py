"""Ping-pong between two MPI ranks: omx_transport.Comm side by side with mpi4py.

Run:  mpiexec -n 2 python examples/pingpong.py [--max-size BYTES] [--iters N] [--reps N]

mpi4py starts the ranks; ``omx_transport.mpi.from_comm`` opens an Open-MX
endpoint per rank and connects them.  For every size the same NumPy buffer
makes round trips through ``Comm.Send/Recv`` (omx) and through mpi4py's own
``Send/Recv``, interleaved in one run.  Latency is half the median round
trip in microseconds; MB/s = 10^6 B/s.  Sizes the library cannot send yet
(it answers NOT_IMPLEMENTED) are reported and skipped.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import mpi4py
import numpy as np
from mpi4py import MPI

import omx_transport as omx
from omx_transport import mpi as omx_mpi


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--max-size",
        type=int,
        default=4 << 20,
        help="largest message in bytes (default 4 MiB; sizes Open-MX cannot send yet are skipped)",
    )
    p.add_argument("--iters", type=int, default=0, help="round trips per size (default: by size)")
    p.add_argument("--reps", type=int, default=5, help="repetitions; the median is printed")
    return p.parse_args()


def sizes_up_to(limit: int) -> list[int]:
    out, s = [0], 1
    while s <= limit:
        out.append(s)
        s *= 8 if s < 4096 else 2
    return out


def iterations(size: int, override: int) -> int:
    return override or max(20, min(2000, 4_000_000 // max(size, 1)))


def round_trips(comm, rank: int, buf: np.ndarray, iters: int) -> float:
    """``iters`` round trips of ``buf`` with ``comm``'s Send/Recv; elapsed seconds."""
    other = 1 - rank
    send, recv = comm.Send, comm.Recv
    t0 = time.perf_counter()
    if rank == 0:
        for _ in range(iters):
            send(buf, other, 0)
            recv(buf, other, 0)
    else:
        for _ in range(iters):
            recv(buf, other, 0)
            send(buf, other, 0)
    return time.perf_counter() - t0


def measure(fn: Callable[[int], float], world, iters: int, reps: int) -> float:
    """Median one-way latency in microseconds over ``reps`` repetitions."""
    fn(max(5, iters // 10))  # warm-up
    samples = []
    for _ in range(reps):
        world.Barrier()
        samples.append(fn(iters) / iters / 2 * 1e6)
    return statistics.median(samples)


def omx_can_send(comm: omx.Comm, world, size: int) -> bool:
    """Whether both ranks' libraries send ``size`` bytes to each other (agreed over MPI)."""
    other = 1 - comm.rank
    back = np.empty(size, np.uint8)
    rreq, sreq, ok = comm.Irecv(back, other, 1), None, 1
    try:
        sreq = comm.Isend(np.zeros(size, np.uint8), other, 1)
    except omx.OmxError as exc:
        if exc.code != omx.ReturnCode.NOT_IMPLEMENTED:
            raise
        ok = 0
    ok = world.allreduce(ok, op=MPI.MIN)
    if not ok:
        rreq.Cancel()  # a no-op when the peer's message already matched it
    rreq.Wait()
    if sreq is not None:
        sreq.Wait()
    return bool(ok)


def main() -> None:
    args = parse_args()
    world = MPI.COMM_WORLD
    rank = world.Get_rank()
    if world.Get_size() != 2:
        raise SystemExit("run with exactly 2 ranks: mpiexec -n 2 python examples/pingpong.py")
    comm = omx_mpi.from_comm(world)
    rows, skipped = [], []
    for size in sizes_up_to(args.max_size):
        buf = np.zeros(size, np.uint8)
        n = iterations(size, args.iters)
        if not omx_can_send(comm, world, size):
            skipped.append(size)
            continue
        t_omx = measure(lambda k, b=buf: round_trips(comm, rank, b, k), world, n, args.reps)
        t_mpi = measure(lambda k, b=buf: round_trips(world, rank, b, k), world, n, args.reps)
        rows.append((size, t_omx, t_mpi))
    world.Barrier()
    comm.Free()
    if rank != 0:
        return
    mpi_name = MPI.Get_library_version().splitlines()[0].split(",")[0].strip()
    link = os.environ.get("OMX_LINK", "udp")
    versions = f"omx-transport {omx.__version__} (link {link}), mpi4py {mpi4py.__version__}"
    print(f"{versions} on {' '.join(mpi_name.split())}")
    print("| size (B) | omx us | omx MB/s | mpi4py us | mpi4py MB/s | omx/mpi4py latency |")
    print("|---:|---:|---:|---:|---:|---:|")
    for size, t_omx, t_mpi in rows:
        print(
            f"| {size} | {t_omx:.2f} | {size / t_omx:.1f} | {t_mpi:.2f} | "
            f"{size / t_mpi:.1f} | {t_omx / t_mpi:.2f}x |"
        )
    if skipped:
        print(
            f"skipped (Open-MX answered NOT_IMPLEMENTED): {', '.join(map(str, skipped))} bytes",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
