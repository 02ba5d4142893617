"""Errors: the same exception classes as mpi4py where mpi4py raises a Python error.

Where MPI itself reports the error (bad rank or tag, truncation) mpi4py
raises ``MPI.Exception``; the omx Comm raises ``ValueError`` for arguments
and ``OmxError`` carrying MESSAGE_TRUNCATED for truncation.  Assertions are
on the class and the status, not on the text, except that the numbers
must be quoted.
"""

from __future__ import annotations

import numpy as np
import pytest

import omx_transport as omx
from omx_transport import mpi as omx_mpi

pytestmark = [pytest.mark.mpi(min_size=2), pytest.mark.timeout(60)]


def bad_specs():
    from mpi4py import MPI

    a = np.arange(10.0)
    ro = np.arange(4.0)
    ro.setflags(write=False)
    return {
        "non-contiguous": (lambda: a[::2], "send", BufferError),
        "negative count": (lambda: [a, -1, MPI.DOUBLE], "send", ValueError),
        "displacement out of bounds": (lambda: [a, (3, 20), MPI.DOUBLE], "send", ValueError),
        "length not a multiple": (lambda: [np.zeros(7, "u1"), MPI.DOUBLE], "send", ValueError),
        "five items": (lambda: [a, 1, 2, 3, 4], "send", ValueError),
        "not a buffer": (lambda: 3, "send", TypeError),
        "unknown typecode": (lambda: [a, 3, "x"], "send", KeyError),
        "read-only receive": (lambda: ro, "recv", BufferError),
        "bytes receive": (lambda: b"abc", "recv", BufferError),
    }


@pytest.mark.parametrize(
    "case",
    [
        "non-contiguous",
        "negative count",
        "displacement out of bounds",
        "length not a multiple",
        "five items",
        "not a buffer",
        "unknown typecode",
        "read-only receive",
        "bytes receive",
    ],
)
def test_bad_buffer_specs_like_mpi4py(omx_world, mpi_world, case):
    make, kind, exc = bad_specs()[case]
    peer = (omx_world.rank + 1) % omx_world.size
    for c in (omx_world, mpi_world):
        with pytest.raises(exc) as err:
            if kind == "send":
                c.Send(make(), peer, 0)
            else:
                c.Recv(make(), peer, 0)
        if c is omx_world and exc is not KeyError:
            assert "message" in str(err.value) or exc is BufferError


def test_count_beyond_buffer_is_refused(omx_world):
    from mpi4py import MPI

    with pytest.raises(ValueError, match="count 20 out of bounds.*entries 10"):
        omx_world.Send([np.arange(10.0), 20, MPI.DOUBLE], 0, 0)


def test_bad_rank_and_tag(omx_world):
    from mpi4py import MPI

    c, n = omx_world, omx_world.size
    buf = np.zeros(2)
    with pytest.raises(ValueError, match=f"invalid rank {n}.*less than {n}"):
        c.Send(buf, n)
    with pytest.raises(ValueError, match="invalid rank -5"):
        c.Isend(buf, -5)
    with pytest.raises(ValueError, match="invalid tag -3"):
        c.Send(buf, 0, tag=-3)
    with pytest.raises(ValueError, match=f"invalid tag {omx_mpi.TAG_UB + 1}"):
        c.send(None, 0, tag=omx_mpi.TAG_UB + 1)
    with pytest.raises(ValueError, match="invalid tag"):
        c.Send(buf, 0, tag=MPI.ANY_TAG)
    with pytest.raises(ValueError, match=f"invalid source rank {n}"):
        c.Recv(buf, n)
    with pytest.raises(ValueError, match="invalid tag -7"):
        c.Irecv(buf, 0, -7)
    with pytest.raises(ValueError, match="invalid root"):
        c.Bcast(buf, root=n)
    with pytest.raises(ValueError, match="invalid root"):
        c.gather(1, root=-1)


def test_reduction_mismatches_like_mpi4py(omx_world, mpi_world):
    for c in (omx_world, mpi_world):
        with pytest.raises(ValueError, match="mismatch in send count 3 and receive count 4"):
            c.Allreduce(np.zeros(3), np.zeros(4))
        with pytest.raises(ValueError, match="mismatch in send and receive MPI datatypes"):
            c.Allreduce(np.zeros(3), np.zeros(3, "i"))


def test_block_mismatch_at_root(omx_world):
    c = omx_world
    with pytest.raises(ValueError, match="mismatch"):
        c.Allgather(np.zeros(3), np.zeros(4 * c.size))
    with pytest.raises(ValueError, match="not a multiple of required number of blocks"):
        c.Allgather(np.zeros(1), np.zeros(c.size * 2 + 1))


def test_user_function_on_buffers_is_not_implemented(omx_world):
    with pytest.raises(NotImplementedError):
        omx_world.Allreduce(np.zeros(2), np.zeros(2), op=lambda a, b: a + b)


def test_non_contiguous_datatype_is_not_implemented(omx_world):
    from mpi4py import MPI

    vec = MPI.DOUBLE.Create_vector(2, 1, 2).Commit()
    try:
        with pytest.raises(NotImplementedError, match="not contiguous"):
            omx_world.Send([np.zeros(8), 1, vec], 0)
    finally:
        vec.Free()


def test_wrong_status_type(omx_world):
    c = omx_world
    right, left = (c.rank + 1) % c.size, (c.rank - 1) % c.size
    req = c.Irecv(np.zeros(1), left, 3)
    c.Send(np.zeros(1), right, 3)
    with pytest.raises(TypeError, match="status"):
        req.Wait(status=object())


def test_truncation_like_mpi_err_truncate(comms):
    from mpi4py import MPI

    oc, mc = comms
    right, left = (oc.rank + 1) % oc.size, (oc.rank - 1) % oc.size
    for c in (oc, mc):
        req = c.Isend(np.arange(10.0), right, 8)
        with pytest.raises((omx.OmxError, MPI.Exception)) as err:
            c.Recv(np.zeros(4), left, 8)
        req.Wait()
        if c is oc:
            assert err.value.code == omx.ReturnCode.MESSAGE_TRUNCATED
            assert "MPI_ERR_TRUNCATE" in str(err.value)
            assert "80 bytes" in str(err.value) and "32" in str(err.value)
        else:
            assert err.value.Get_error_class() == MPI.ERR_TRUNCATE


def test_truncation_through_wait(omx_world):
    c = omx_world
    right, left = (c.rank + 1) % c.size, (c.rank - 1) % c.size
    req = c.Irecv(np.zeros(2, "i4"), left, 9)
    c.Send(np.arange(5, dtype="i4"), right, 9)
    st = omx_mpi.Status()
    with pytest.raises(omx.OmxError) as err:
        req.Wait(st)
    assert int(err.value) == omx.ReturnCode.MESSAGE_TRUNCATED
    assert st.Get_error() == omx.ReturnCode.MESSAGE_TRUNCATED
    assert st.Get_source() == left
