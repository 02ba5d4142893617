"""Buffer specifications: mpi4py's message shapes parsed into (pointer, bytes, datatype).

Accepted shapes (as ``mpi4py``): a bare buffer, or a 2 to 4 item list/tuple
``[buf, count]``, ``[buf, datatype]``, ``[buf, count, datatype]``,
``[buf, (count, displ), datatype]``, ``[buf, count, displ, datatype]``.
A datatype is an ``mpi4py.MPI.Datatype`` (when mpi4py is loaded), a type
code string (``"d"``, ``"i4"``) or a NumPy dtype; without one it comes
from the buffer's format.  Errors follow mpi4py: ``TypeError``/``ValueError``
whose text starts with ``message:``, ``BufferError`` for non-contiguous or
read-only buffers, ``KeyError`` for a type code with no datatype.

Unlike MPI, a count reaching past the end of the buffer is refused: the
library would otherwise read or write outside the object.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._lib import ffi

__all__ = ["DType", "Msg", "VMsg", "as_dtype", "p2p", "p2p_raw", "simple", "vector", "BYTE"]


class DType:
    """A datatype reduced to what a contiguous transfer needs: NumPy dtype and extent."""

    __slots__ = ("name", "np", "extent")

    def __init__(self, name: str, np_dtype: np.dtype | None, extent: int):
        self.name = name
        self.np = np_dtype
        self.extent = extent

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DType):
            return NotImplemented
        return self.np == other.np and self.extent == other.extent

    def __hash__(self) -> int:
        return hash((self.np, self.extent))

    def __repr__(self) -> str:
        return f"<DType {self.name} extent={self.extent}>"

    def array(self, cdata: Any, offset: int, count: int) -> np.ndarray:
        """A NumPy view of ``count`` items at byte ``offset`` of ``cdata``."""
        if self.np is None:
            raise TypeError(f"datatype {self.name} has no NumPy equivalent for reductions")
        return np.frombuffer(ffi.buffer(cdata), self.np, count, offset)


BYTE = DType("BYTE", np.dtype(np.uint8), 1)

# MPI's pair types for MAXLOC/MINLOC, laid out as the C structs (value first).
_PAIR_TYPES = {
    "FLOAT_INT": np.dtype([("v", "f4"), ("i", "i4")], align=True),
    "DOUBLE_INT": np.dtype([("v", "f8"), ("i", "i4")], align=True),
    "LONG_INT": np.dtype([("v", "i8"), ("i", "i4")], align=True),
    "INT_INT": np.dtype([("v", "i4"), ("i", "i4")], align=True),
    "TWOINT": np.dtype([("v", "i4"), ("i", "i4")], align=True),
    "SHORT_INT": np.dtype([("v", "i2"), ("i", "i4")], align=True),
    "LONG_DOUBLE_INT": np.dtype([("v", "g"), ("i", "i4")], align=True),
}
_CODE_ALIASES = {"Zf": "F", "Zd": "D", "Zg": "G", "U": "U1", "c": "S1", "p": "intp"}
_cache: dict[Any, DType] = {}


def _from_mpi4py(datatype: Any) -> DType:
    MPI = sys.modules["mpi4py.MPI"]
    if datatype == MPI.DATATYPE_NULL:
        raise ValueError("message: datatype is null")
    if datatype.is_predefined:
        for name, pair in _PAIR_TYPES.items():
            if datatype == getattr(MPI, name, None):
                return DType(name, pair, pair.itemsize)
        code = datatype.typechar
        if code != "V":
            npd = np.dtype(_CODE_ALIASES.get(code, code))
            return DType(datatype.Get_name() or code, npd, datatype.Get_extent()[1])
    lb, extent = datatype.Get_extent()
    size = datatype.Get_size()
    if lb != 0 or size != extent:
        raise NotImplementedError(
            f"message: datatype {datatype.Get_name() or datatype!r} is not contiguous "
            f"(size {size}, lb {lb}, extent {extent}): only contiguous datatypes are supported"
        )
    return DType(datatype.Get_name() or "derived", None, extent)


def as_dtype(datatype: Any) -> DType:
    """``DType`` for an mpi4py datatype, a type code string or a NumPy dtype."""
    if isinstance(datatype, DType):
        return datatype
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None and isinstance(datatype, mpi.Datatype):
        key: Any = ("mpi", int(datatype.handle))
        found = _cache.get(key)
        if found is None:
            found = _cache[key] = _from_mpi4py(datatype)
        return found
    found = _cache.get(datatype) if isinstance(datatype, (str, np.dtype)) else None
    if found is not None:
        return found
    try:
        if isinstance(datatype, str):
            npd = np.dtype(_CODE_ALIASES.get(datatype, datatype))
        elif isinstance(datatype, (np.dtype, type)):
            npd = np.dtype(datatype)
        else:
            raise TypeError(datatype)
    except TypeError:
        raise KeyError(f"cannot map {datatype!r} to MPI datatype") from None
    found = DType(str(npd), npd, npd.itemsize)
    if isinstance(datatype, (str, np.dtype)):
        _cache[datatype] = found
    return found


def _is_datatype(obj: Any) -> bool:
    if isinstance(obj, (str, np.dtype, DType)):
        return True
    if isinstance(obj, type) and issubclass(obj, np.generic):
        return True
    mpi = sys.modules.get("mpi4py.MPI")
    return mpi is not None and isinstance(obj, mpi.Datatype)


def _format_dtype(obj: Any) -> DType:
    """Datatype from the buffer's own format (NumPy dtype or PEP 3118 format)."""
    npd = getattr(obj, "dtype", None)
    if not isinstance(npd, np.dtype):
        mv = memoryview(obj)
        fmt = mv.format
        if fmt == "B":
            return BYTE  # bytes, bytearray, array('B'): MPI.BYTE as in mpi4py
        try:
            npd = np.asarray(mv).dtype
        except (TypeError, ValueError):
            raise KeyError(f"cannot map {fmt!r} to MPI datatype") from None
    if not npd.isnative:
        raise BufferError(f"format string {npd.str!r} with non-native byte order")
    return as_dtype(npd)


def _acquire(obj: Any, readonly: bool) -> Any:
    """A cffi ``char[]`` over the whole (contiguous) buffer, keeping the export alive."""
    try:
        return ffi.from_buffer(obj, require_writable=not readonly)
    except TypeError:
        raise TypeError(
            f"message: expecting buffer or list/tuple, not {type(obj).__name__}"
        ) from None
    except ValueError as exc:
        text = str(exc)
        if "read-only" in text:
            raise BufferError(
                f"message: receive buffer is not writable ({type(obj).__name__})"
            ) from None
        # A Fortran-ordered array is one contiguous block: its transpose is C-ordered.
        try:
            mv = memoryview(obj)
        except TypeError:
            mv = None
        if mv is not None and mv.f_contiguous:
            return ffi.from_buffer(np.asarray(obj).T, require_writable=not readonly)
        raise BufferError(f"message: buffer is not contiguous ({text})") from None


class Msg:
    """A parsed simple message: ``count`` items of ``dtype`` at byte ``offset``."""

    __slots__ = ("obj", "cdata", "offset", "_count", "_dtype", "nbytes")

    def __init__(self, obj: Any, cdata: Any, offset: int, count: int, dtype: DType | None):
        self.obj = obj
        self.cdata = cdata
        self.offset = offset
        self._count = count  # in bytes while the datatype is not known yet
        self._dtype = dtype
        self.nbytes = count * (dtype.extent if dtype is not None else 1)

    @property
    def dtype(self) -> DType:
        """The message datatype (inferred from the buffer format on first use)."""
        if self._dtype is None:
            self._dtype = _format_dtype(self.obj)
            self._count = self.nbytes // self._dtype.extent
        return self._dtype

    @property
    def count(self) -> int:
        """Number of datatype items."""
        if self._dtype is None:
            self.dtype  # noqa: B018 (infers the datatype, which fixes the count)
        return self._count

    def ptr(self, byte_offset: int = 0) -> Any:
        """Address of the message plus ``byte_offset``."""
        return self.cdata + (self.offset + byte_offset)

    def array(self, first: int = 0, count: int | None = None) -> np.ndarray:
        """NumPy view of items ``first .. first+count`` of the message."""
        dt = self.dtype
        n = self.count - first if count is None else count
        return dt.array(self.cdata, self.offset + first * dt.extent, n)


def _unpack(spec: Any) -> tuple[Any, Any, Any, Any]:
    """(buf, count, displ, datatype) from a bare buffer or a 2-4 item list/tuple."""
    if isinstance(spec, (list, tuple)):
        n = len(spec)
        count = displ = dtype = None
        if n == 2:
            buf, count = spec
            if _is_datatype(count):
                count, dtype = None, count
            elif isinstance(count, (list, tuple)):
                count, displ = count
        elif n == 3:
            buf, count, dtype = spec
            if isinstance(count, (list, tuple)):
                count, displ = count
        elif n == 4:
            buf, count, displ, dtype = spec
        else:
            raise ValueError("message: expecting 2 to 4 items")
        return buf, count, displ, dtype
    return spec, None, None, None


def _index(value: Any, what: str) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"message: {what} must be an integer, not {type(value).__name__}") from None


def simple(spec: Any, readonly: bool, blocks: int = 0) -> Msg:
    """Parse a simple message; ``blocks`` > 0 infers a per-block count (``BufSpecB``)."""
    buf, o_count, o_displ, o_type = _unpack(spec)
    if buf is None:
        raise TypeError("message: expecting buffer or list/tuple, not NoneType")
    cdata = _acquire(buf, readonly)
    length = len(cdata)
    dtype = as_dtype(o_type) if o_type is not None else None
    if o_count is None and o_displ is None and blocks == 0 and dtype is None:
        return Msg(buf, cdata, 0, length, None)  # fast path: bytes, datatype when needed
    if dtype is None:
        dtype = _format_dtype(buf)
    extent = dtype.extent
    offset = 0
    if o_displ is not None:
        displ = _index(o_displ, "displacement")
        if displ < 0:
            raise ValueError(f"message: negative displacement {displ}")
        if displ * extent > length:
            raise ValueError(
                f"message: displacement {displ} out of bounds, "
                f"number of datatype entries {length // extent}"
            )
        offset = displ * extent
        length -= offset
    if o_count is not None:
        count = _index(o_count, "count")
        if count < 0:
            raise ValueError(f"message: negative count {count}")
        limit = count * max(blocks, 1)
        if limit * extent > length:
            raise ValueError(
                f"message: count {count}{f' x {blocks} blocks' if blocks > 1 else ''} "
                f"out of bounds, number of datatype entries {length // extent}"
            )
    else:
        if length % extent:
            raise ValueError(
                f"message: cannot infer count, buffer length {length} "
                f"is not a multiple of datatype extent {extent}"
            )
        count = length // extent
        if blocks > 1:
            if count % blocks:
                raise ValueError(
                    f"message: cannot infer count, number of entries {count} "
                    f"is not a multiple of required number of blocks {blocks}"
                )
            count //= blocks
    return Msg(buf, cdata, offset, count, dtype)


def p2p(spec: Any, readonly: bool) -> Msg:
    """Parse a point-to-point message (``BufSpec``)."""
    return simple(spec, readonly, 0)


_from_buffer = ffi.from_buffer


def p2p_raw(spec: Any, readonly: bool) -> tuple[Any, Any, int]:
    """(object to keep alive, address, byte length) of a point-to-point message.

    The hot path of Send/Recv: a bare contiguous buffer costs one
    ``ffi.from_buffer``; everything else goes through :func:`simple`.
    """
    cls = spec.__class__
    if cls is not list and cls is not tuple:
        try:
            cdata = _from_buffer(spec, require_writable=not readonly)
        except (TypeError, ValueError):
            pass  # not a buffer, read-only or not C-contiguous: let simple() say which
        else:
            return cdata, cdata, len(cdata)
    m = simple(spec, readonly, 0)
    return m, m.ptr(), m.nbytes


class VMsg:
    """A parsed vector message: per-block ``counts`` and ``displs`` in items."""

    __slots__ = ("obj", "cdata", "counts", "displs", "dtype")

    def __init__(self, obj: Any, cdata: Any, counts: list[int], displs: list[int], dtype: DType):
        self.obj = obj
        self.cdata = cdata
        self.counts = counts
        self.displs = displs
        self.dtype = dtype

    def block(self, i: int) -> tuple[int, int]:
        """(byte offset, byte length) of block ``i``."""
        ext = self.dtype.extent
        return self.displs[i] * ext, self.counts[i] * ext


def _int_list(values: Any, blocks: int, what: str) -> list[int]:
    if not isinstance(values, Sequence) and not hasattr(values, "__len__"):
        raise TypeError(f"message: {what} must be a sequence, not {type(values).__name__}")
    out = [_index(v, what) for v in values]
    if len(out) != blocks:
        raise ValueError(f"message: expecting {blocks} {what}, got {len(out)}")
    return out


def vector(spec: Any, readonly: bool, blocks: int) -> VMsg:
    """Parse a vector message (``BufSpecV``): counts and displacements per block."""
    if isinstance(spec, (list, tuple)):
        n = len(spec)
        o_counts = o_displs = o_type = None
        if n == 2:
            buf, o_counts = spec
            if _is_datatype(o_counts):
                o_counts, o_type = None, o_counts
            elif isinstance(o_counts, tuple):
                o_counts, o_displs = o_counts
        elif n == 3:
            buf, o_counts, o_type = spec
            if isinstance(o_counts, tuple):
                o_counts, o_displs = o_counts
        elif n == 4:
            buf, o_counts, o_displs, o_type = spec
        else:
            raise ValueError("message: expecting 2 to 4 items")
    else:
        buf, o_counts, o_displs, o_type = spec, None, None, None
    cdata = _acquire(buf, readonly)
    length = len(cdata)
    dtype = as_dtype(o_type) if o_type is not None else _format_dtype(buf)
    extent = dtype.extent
    if o_counts is None:
        if length % extent:
            raise ValueError(
                f"message: cannot infer count, buffer length {length} "
                f"is not a multiple of datatype extent {extent}"
            )
        total = length // extent
        counts = [total // blocks + (1 if i < total % blocks else 0) for i in range(blocks)]
    elif isinstance(o_counts, int) or hasattr(o_counts, "__index__"):
        counts = [_index(o_counts, "count")] * blocks
    else:
        counts = _int_list(o_counts, blocks, "counts")
    if o_displs is None:
        displs, acc = [], 0
        for c in counts:
            displs.append(acc)
            acc += c
    elif isinstance(o_displs, int) or hasattr(o_displs, "__index__"):
        stride = _index(o_displs, "displacement")
        displs = [stride * i for i in range(blocks)]
    else:
        displs = _int_list(o_displs, blocks, "displacements")
    for i, (c, d) in enumerate(zip(counts, displs, strict=False)):
        if c < 0:
            raise ValueError(f"message: negative count {c} in block {i}")
        if d < 0:
            raise ValueError(f"message: negative displacement {d} in block {i}")
        if (c + d) * extent > length:
            raise ValueError(
                f"message: block {i} (count {c}, displacement {d}) out of bounds, "
                f"number of datatype entries {length // extent}"
            )
    return VMsg(buf, cdata, counts, displs, dtype)
