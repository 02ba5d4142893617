"""Helpers shared by the mpiexec suites (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

# Dtypes every buffer test loops over (mpi4py's arrayimpl does the same with typecodes).
DTYPES = ["b", "B", "i2", "i4", "i8", "u4", "f4", "f8", "c16"]
# Sizes in items: empty, one, odd, around the tiny/small/medium class limits of Open-MX.
COUNTS = [0, 1, 7, 33, 129, 1000, 2047]  # c16 x 2047 stays below 32 KiB


def pattern(count: int, dtype: str, seed: int) -> np.ndarray:
    """Deterministic, exactly representable data for rank ``seed``."""
    vals = (np.arange(count, dtype=np.int64) * 7 + seed * 13) % 100
    return vals.astype(np.dtype(dtype))


def omx_sends(comm: Any, world: Any, size: int) -> bool:
    """Try a ``size``-byte ring exchange; False on every rank if any says NOT_IMPLEMENTED."""
    from mpi4py import MPI

    import omx_transport as omx

    n, r = comm.size, comm.rank
    back = np.empty(size, np.uint8)
    rreq, sreq, ok = comm.Irecv(back, (r - 1) % n, 7), None, 1
    try:
        sreq = comm.Isend(np.zeros(size, np.uint8), (r + 1) % n, 7)
    except omx.OmxError as exc:
        if exc.code != omx.ReturnCode.NOT_IMPLEMENTED:
            raise
        ok = 0
    ok = world.allreduce(ok, op=MPI.MIN)
    if not ok:
        rreq.Cancel()
    rreq.Wait()
    if sreq is not None:
        sreq.Wait()
    return bool(ok)


def need_large(large_ok: bool) -> None:
    if not large_ok:
        pytest.skip("libopen-mx has no large messages yet (rendezvous: NOT_IMPLEMENTED)")
