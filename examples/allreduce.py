"""Allreduce over Open-MX beside mpi4py's: same data, same results, time per call.

Run:  mpiexec -n 4 python examples/allreduce.py [--max-count N] [--reps N]

Each size is reduced with ``omx_transport.Comm.Allreduce`` and with mpi4py's
``Allreduce`` (float64, MPI.SUM); results are checked equal and the median
time per call printed side by side.  Small vectors use recursive doubling,
from 32 KiB the ring (reduce-scatter then allgather).  Sizes that
need messages above 32 KiB stop the table while the library has no
rendezvous yet (it answers NOT_IMPLEMENTED).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from mpi4py import MPI

import omx_transport as omx
from omx_transport import mpi as omx_mpi


def timed(comm, send: np.ndarray, recv: np.ndarray, reps: int) -> float:
    """Median microseconds per Allreduce over ``reps`` batches."""
    world = MPI.COMM_WORLD
    calls = max(3, min(200, 2_000_000 // max(send.nbytes, 1)))
    comm.Allreduce(send, recv, op=MPI.SUM)  # warm-up
    samples = []
    for _ in range(reps):
        world.Barrier()
        t0 = time.perf_counter()
        for _ in range(calls):
            comm.Allreduce(send, recv, op=MPI.SUM)
        samples.append((time.perf_counter() - t0) / calls * 1e6)
    return statistics.median(samples)


def large_messages_work(comm) -> bool:
    """Whether every rank's library sends above the 32 KiB rendezvous threshold."""
    n, r = comm.size, comm.rank
    back = np.empty(1 << 16, np.uint8)
    rreq, sreq, ok = comm.Irecv(back, (r - 1) % n, 1), None, 1
    try:
        sreq = comm.Isend(np.zeros(1 << 16, np.uint8), (r + 1) % n, 1)
    except omx.OmxError as exc:
        if exc.code != omx.ReturnCode.NOT_IMPLEMENTED:
            raise
        ok = 0
    ok = MPI.COMM_WORLD.allreduce(ok, op=MPI.MIN)
    if not ok:
        rreq.Cancel()
    rreq.Wait()
    if sreq is not None:
        sreq.Wait()
    return bool(ok)


def largest_message(count: int, size: int) -> int:
    """Bytes of the biggest single message Allreduce sends for ``count`` float64s."""
    nbytes = 8 * count
    return nbytes if nbytes < 32768 else 8 * -(-count // size)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-count", type=int, default=1 << 19, help="largest vector (float64 items)")
    p.add_argument("--reps", type=int, default=5, help="batches per size; the median is printed")
    args = p.parse_args()

    world = MPI.COMM_WORLD
    comm = omx_mpi.from_comm(world)
    rank, size = comm.rank, comm.size
    large = large_messages_work(comm)
    print_rows = []
    count = 1
    while count <= args.max_count:
        send = (np.arange(count) % 97 + rank).astype(np.float64)
        ours, theirs = np.empty_like(send), np.empty_like(send)
        if not large and largest_message(count, size) > 32768:
            print_rows.append(f"| {count} | {send.nbytes} | skipped: needs large messages | | |")
            break
        comm.Allreduce(send, ours, op=MPI.SUM)
        world.Allreduce(send, theirs, op=MPI.SUM)
        assert np.array_equal(ours, theirs), f"results differ at {count} items"
        t_omx = timed(comm, send, ours, args.reps)
        t_mpi = timed(world, send, theirs, args.reps)
        print_rows.append(
            f"| {count} | {send.nbytes} | {t_omx:.1f} | {t_mpi:.1f} | {t_omx / t_mpi:.2f}x |"
        )
        count *= 8

    # The pickle-based twin works on any Python object.
    total = comm.allreduce({"ranks": 1, "sum": rank}, op=lambda a, b: {k: a[k] + b[k] for k in a})
    comm.Barrier()
    comm.Free()
    if rank == 0:
        print(f"Allreduce(SUM, float64) on {size} ranks: omx-transport vs mpi4py")
        print("| items | bytes | omx us | mpi4py us | omx/mpi4py |")
        print("|---:|---:|---:|---:|---:|")
        print("\n".join(print_rows))
        print(f"allreduce of dicts: {total}")


if __name__ == "__main__":
    main()
