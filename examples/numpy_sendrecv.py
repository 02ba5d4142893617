"""NumPy arrays and Python objects between MPI ranks over Open-MX, mpi4py style.

Run:  mpiexec -n 2 python examples/numpy_sendrecv.py      (any number of ranks >= 2)

Every rank passes a block to its right neighbour in a ring, first with
blocking Send/Recv, then with Isend/Irecv and Waitall, using the buffer
specifications mpi4py accepts; rank 0 then collects one pickled report per
rank with ANY_SOURCE and prints what the statuses said.
"""

from __future__ import annotations

import numpy as np
from mpi4py import MPI

from omx_transport import mpi as omx


def main() -> None:
    comm = omx.from_comm(MPI.COMM_WORLD)
    rank, size = comm.Get_rank(), comm.Get_size()
    if size < 2:
        raise SystemExit("run with 2 ranks or more: mpiexec -n 2 python examples/numpy_sendrecv.py")
    right, left = (rank + 1) % size, (rank - 1) % size

    # Blocking, whole arrays: even ranks send first so the ring cannot deadlock.
    block = np.full((4, 3), rank, dtype=np.float64)
    got = np.empty_like(block)
    if rank % 2 == 0:
        comm.Send(block, dest=right, tag=1)
        comm.Recv(got, source=left, tag=1)
    else:
        comm.Recv(got, source=left, tag=1)
        comm.Send(block, dest=right, tag=1)
    assert (got == left).all()

    # Non-blocking with explicit specs: [buf, count, datatype] and [buf, (count, displ), datatype].
    ints = np.arange(10, dtype=np.int32) + 100 * rank
    head = np.zeros(5, dtype=np.int32)
    tail = np.zeros(10, dtype=np.int32)
    reqs = [
        comm.Irecv([head, 5, MPI.INT], source=left, tag=2),
        comm.Irecv([tail, (5, 5), MPI.INT], source=left, tag=3),
        comm.Isend([ints, 5, MPI.INT], dest=right, tag=2),
        comm.Isend([ints, (5, 5), MPI.INT], dest=right, tag=3),
    ]
    omx.Request.Waitall(reqs)
    assert (head == np.arange(5) + 100 * left).all()
    assert (tail[5:] == np.arange(5, 10) + 100 * left).all()

    # Sendrecv with a status: who sent, which tag, how many doubles.
    status = omx.Status()
    halo = np.empty(3)
    comm.Sendrecv(np.linspace(0, 1, 3) + rank, right, 4, halo, left, 4, status)
    assert status.Get_source() == left and status.Get_count(MPI.DOUBLE) == 3

    # Pickled objects: every rank reports to rank 0, which receives from ANY_SOURCE.
    report = {"rank": rank, "got_from": left, "sum": float(got.sum() + head.sum())}
    if rank != 0:
        comm.send(report, dest=0, tag=5)
    else:
        reports = [report]
        for _ in range(size - 1):
            st = omx.Status()
            reports.append(comm.recv(source=MPI.ANY_SOURCE, tag=5, status=st))
            assert st.Get_source() == reports[-1]["rank"]
        for r in sorted(reports, key=lambda x: x["rank"]):
            print(f"rank {r['rank']}: received from rank {r['got_from']}, checksum {r['sum']:g}")
    comm.Barrier()
    comm.Free()


if __name__ == "__main__":
    main()
