"""Buffer-spec parsing and reduction kernels, in one process (no mpiexec, no mpi4py).

These run in the plain ``pytest`` step; the datatypes here are type codes
and NumPy dtypes (the mpi4py datatype mapping is covered under mpiexec).
"""

from __future__ import annotations

import array

import numpy as np
import pytest

from omx_transport import _msgspec as ms
from omx_transport import _reduce as red


def test_bare_buffers_infer_count_and_datatype():
    m = ms.simple(np.arange(6, dtype="i4"), readonly=True)
    assert (m.nbytes, m.count, m.dtype.np, m.count) == (24, 6, np.dtype("i4"), 6)
    b = ms.simple(bytearray(10), readonly=False)
    assert (b.nbytes, b.dtype.name, b.count) == (10, "BYTE", 10)
    a = ms.simple(array.array("d", [1.0, 2.0]), readonly=True)
    assert (a.count, a.dtype.np) == (2, np.dtype("f8"))


@pytest.mark.parametrize(
    "spec, count, offset",
    [
        (lambda a: [a, 4], 4, 0),
        (lambda a: [a, "i"], 10, 0),
        (lambda a: [a, np.int32], 10, 0),
        (lambda a: [a, 3, "i4"], 3, 0),
        (lambda a: [a, (3, 2), "i"], 3, 8),
        (lambda a: (a, 2, 5, np.dtype("i4")), 2, 20),
        (lambda a: [a, (4, 6)], 4, 24),
    ],
)
def test_list_specs(spec, count, offset):
    m = ms.simple(spec(np.arange(10, dtype="i4")), readonly=True)
    assert (m.count, m.offset, m.nbytes) == (count, offset, 4 * count)
    assert m.array().tolist() == list(range(offset // 4, offset // 4 + count))


def test_blocks():
    m = ms.simple(np.zeros(12, "f8"), readonly=False, blocks=4)
    assert m.count == 3
    with pytest.raises(ValueError, match="10 is not a multiple of required number of blocks 4"):
        ms.simple(np.zeros(10, "f8"), readonly=False, blocks=4)
    with pytest.raises(ValueError, match=r"count 4 x 4 blocks out of bounds, .* entries 12"):
        ms.simple([np.zeros(12, "f8"), 4], readonly=False, blocks=4)


@pytest.mark.parametrize(
    "spec, exc, text",
    [
        (lambda: 3, TypeError, "message: expecting buffer"),
        (lambda: None, TypeError, "message: expecting buffer"),
        (lambda: [np.zeros(3)], ValueError, "message: expecting 2 to 4 items"),
        (lambda: [np.zeros(3), 1, 2, 3, 4], ValueError, "message: expecting 2 to 4 items"),
        (lambda: [np.zeros(3), -1, "d"], ValueError, "message: negative count -1"),
        (lambda: [np.zeros(3), (1, -2), "d"], ValueError, "message: negative displacement -2"),
        (lambda: [np.zeros(3), (1, 9), "d"], ValueError, "displacement 9 out of bounds"),
        (lambda: [np.zeros(3), 9, "d"], ValueError, "count 9 out of bounds"),
        (lambda: [np.zeros(3, "u1"), "d"], ValueError, "buffer length 3 is not a multiple"),
        (lambda: [np.zeros(3), 1.5, "d"], TypeError, "count must be an integer"),
        (lambda: [np.zeros(3), "not-a-type"], KeyError, "cannot map"),
        (lambda: np.zeros((4, 4))[:, ::2], BufferError, "not contiguous"),
    ],
)
def test_errors_like_mpi4py(spec, exc, text):
    with pytest.raises(exc, match=text):
        ms.simple(spec(), readonly=True)


def test_receive_needs_writable_memory():
    ro = np.zeros(4)
    ro.setflags(write=False)
    for buf in (ro, b"abcd"):
        with pytest.raises(BufferError, match="not writable"):
            ms.p2p_raw(buf, readonly=False)
    keep, ptr, n = ms.p2p_raw(ro, readonly=True)
    assert n == 32


def test_fortran_order_is_one_block():
    f = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    keep, ptr, n = ms.p2p_raw(f, readonly=False)
    assert n == 96


def test_vector_specs():
    v = ms.vector([np.zeros(10, "i4"), ([1, 2, 3], [0, 2, 6]), "i"], readonly=True, blocks=3)
    assert (v.counts, v.displs) == ([1, 2, 3], [0, 2, 6])
    assert v.block(2) == (24, 12)
    even = ms.vector(np.zeros(10, "i4"), readonly=True, blocks=3)
    assert (even.counts, even.displs) == ([4, 3, 3], [0, 4, 7])
    strided = ms.vector([np.zeros(10, "i4"), 2, 3, "i"], readonly=True, blocks=3)
    assert (strided.counts, strided.displs) == ([2, 2, 2], [0, 3, 6])
    with pytest.raises(ValueError, match="expecting 3 counts, got 2"):
        ms.vector([np.zeros(10, "i4"), [1, 2]], readonly=True, blocks=3)
    with pytest.raises(ValueError, match="block 1 .* out of bounds"):
        ms.vector([np.zeros(4, "i4"), ([1, 2], [0, 3]), "i"], readonly=True, blocks=2)


@pytest.mark.parametrize(
    "op, a, b, want",
    [
        (red.SUM, [1, 2], [3, 4], [4, 6]),
        (red.PROD, [2, 3], [4, 5], [8, 15]),
        (red.MAX, [1, 9], [5, 2], [5, 9]),
        (red.MIN, [1, 9], [5, 2], [1, 2]),
        (red.LAND, [0, 3], [2, 4], [0, 1]),
        (red.LOR, [0, 0], [0, 4], [0, 1]),
        (red.LXOR, [1, 1], [0, 1], [1, 0]),
        (red.BAND, [6, 12], [3, 10], [2, 8]),
        (red.BOR, [6, 12], [3, 10], [7, 14]),
        (red.BXOR, [6, 12], [3, 10], [5, 6]),
        (red.REPLACE, [1, 2], [3, 4], [3, 4]),
        (red.NO_OP, [1, 2], [3, 4], [1, 2]),
    ],
)
def test_buffer_kernels(op, a, b, want):
    inout = np.array(b, "i4")
    op.Reduce_local(np.array(a, "i4"), inout)
    assert inout.tolist() == want
    assert inout.dtype == np.dtype("i4")


def test_loc_kernels_pick_value_then_lowest_index():
    dt = np.dtype([("v", "f8"), ("i", "i4")], align=True)
    a = np.array([(1.0, 0), (5.0, 0), (2.0, 0)], dt)
    b = np.array([(1.0, 1), (3.0, 1), (7.0, 1)], dt)
    mx = b.copy()
    red.MAXLOC.Reduce_local(a, mx)
    assert mx.tolist() == [(1.0, 0), (5.0, 0), (7.0, 1)]
    mn = b.copy()
    red.MINLOC.Reduce_local(a, mn)
    assert mn.tolist() == [(1.0, 0), (3.0, 1), (2.0, 0)]


def test_object_ops():
    assert red.SUM("a", "b") == "ab"
    assert red.MAXLOC((3, 2), (3, 1)) == (3, 1)
    assert red.MINLOC((1, 5), (2, 0)) == (1, 5)
    assert red.LAND(3, 0) is False and red.LXOR(1, 0) is True
    assert red.as_op(red.SUM, buffers=True) is red.SUM
    assert red.as_op(lambda x, y: x, buffers=False)(1, 2) == 1
    with pytest.raises(NotImplementedError):
        red.as_op(lambda x, y: x, buffers=True)
    with pytest.raises(TypeError):
        red.as_op(42, buffers=False)
