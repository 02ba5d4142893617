"""Reduction operations: NumPy kernels for buffers, plain functions for objects.

``Op`` mirrors the predefined ``MPI.Op`` objects.  The buffer kernel is
``op.Reduce_local(inbuf, inoutbuf)`` semantics: ``inoutbuf = inbuf op
inoutbuf``, where ``inbuf`` holds the lower ranks' contribution, so a
non-commutative user function still sees operands in rank order.
Predefined ``mpi4py.MPI`` operations map onto these by handle.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "Op",
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
    "as_op",
]


def _loc_kernel(better: Callable[[Any, Any], Any]) -> Callable[[np.ndarray, np.ndarray], None]:
    """Kernel for MAXLOC/MINLOC on a two-field (value, index) structured array."""

    def kernel(a: np.ndarray, b: np.ndarray) -> None:
        names = b.dtype.names
        if not names or len(names) != 2:
            raise TypeError(f"MAXLOC/MINLOC need a (value, index) pair datatype, not {b.dtype}")
        val, idx = names
        av, ai, bv, bi = a[val], a[idx], b[val], b[idx]
        take_a = better(av, bv) | ((av == bv) & (ai < bi))
        bv[take_a] = av[take_a]
        bi[take_a] = ai[take_a]

    return kernel


def _ufunc_kernel(ufunc: np.ufunc) -> Callable[[np.ndarray, np.ndarray], None]:
    def kernel(a: np.ndarray, b: np.ndarray) -> None:
        if b.dtype.names:
            raise TypeError(f"reduction {ufunc.__name__} is not defined on datatype {b.dtype}")
        ufunc(a, b, out=b, casting="unsafe")

    return kernel


def _maxloc(x: Any, y: Any) -> Any:
    (u, i), (v, j) = x, y
    if u > v:
        return u, i
    if v > u:
        return v, j
    return (u, i) if i <= j else (v, j)


def _minloc(x: Any, y: Any) -> Any:
    (u, i), (v, j) = x, y
    if u < v:
        return u, i
    if v < u:
        return v, j
    return (u, i) if i <= j else (v, j)


class Op:
    """Reduction operation (the predefined ones mirror ``MPI.Op``)."""

    __slots__ = ("name", "_pyfunc", "_kernel", "_commute")

    def __init__(
        self,
        name: str,
        pyfunc: Callable[[Any, Any], Any],
        kernel: Callable[[np.ndarray, np.ndarray], None] | None = None,
        commute: bool = True,
    ):
        self.name = name
        self._pyfunc = pyfunc
        self._kernel = kernel
        self._commute = commute

    def __repr__(self) -> str:
        return f"<omx_transport.Op {self.name}>"

    def __call__(self, x: Any, y: Any) -> Any:
        """Apply to two Python objects (the lower rank's first)."""
        return self._pyfunc(x, y)

    def Is_commutative(self) -> bool:
        """Return whether the operation is commutative."""
        return self._commute

    @property
    def is_commutative(self) -> bool:
        """Is a commutative operation."""
        return self._commute

    def Reduce_local(self, inbuf: np.ndarray, inoutbuf: np.ndarray) -> None:
        """Apply the reduction operation to local data: ``inoutbuf = inbuf op inoutbuf``."""
        if self._kernel is None:
            np.copyto(inoutbuf, self._pyfunc(inbuf, inoutbuf))
        else:
            self._kernel(inbuf, inoutbuf)


def _keep_b(a: np.ndarray, b: np.ndarray) -> None:
    """REPLACE keeps the later (higher rank) operand: nothing to do in place."""


def _keep_a(a: np.ndarray, b: np.ndarray) -> None:
    np.copyto(b, a)


SUM = Op("SUM", lambda x, y: x + y, _ufunc_kernel(np.add))
PROD = Op("PROD", lambda x, y: x * y, _ufunc_kernel(np.multiply))
MAX = Op("MAX", lambda x, y: y if y > x else x, _ufunc_kernel(np.maximum))
MIN = Op("MIN", lambda x, y: y if y < x else x, _ufunc_kernel(np.minimum))
LAND = Op("LAND", lambda x, y: bool(x) and bool(y), _ufunc_kernel(np.logical_and))
LOR = Op("LOR", lambda x, y: bool(x) or bool(y), _ufunc_kernel(np.logical_or))
LXOR = Op("LXOR", lambda x, y: bool(x) != bool(y), _ufunc_kernel(np.logical_xor))
BAND = Op("BAND", lambda x, y: x & y, _ufunc_kernel(np.bitwise_and))
BOR = Op("BOR", lambda x, y: x | y, _ufunc_kernel(np.bitwise_or))
BXOR = Op("BXOR", lambda x, y: x ^ y, _ufunc_kernel(np.bitwise_xor))
MAXLOC = Op("MAXLOC", _maxloc, _loc_kernel(np.greater))
MINLOC = Op("MINLOC", _minloc, _loc_kernel(np.less))
REPLACE = Op("REPLACE", lambda x, y: y, _keep_b, commute=False)
NO_OP = Op("NO_OP", lambda x, y: x, _keep_a, commute=False)

_PREDEFINED = (
    SUM,
    PROD,
    MAX,
    MIN,
    LAND,
    LOR,
    LXOR,
    BAND,
    BOR,
    BXOR,
    MAXLOC,
    MINLOC,
    REPLACE,
    NO_OP,
)
_by_mpi_handle: dict[int, Op] = {}


def _mpi4py_ops() -> dict[int, Op]:
    """Handles of mpi4py's predefined operations, once ``mpi4py.MPI`` is loaded."""
    if not _by_mpi_handle:
        MPI = sys.modules.get("mpi4py.MPI")
        if MPI is None:
            return _by_mpi_handle
        for op in _PREDEFINED:
            _by_mpi_handle[int(getattr(MPI, op.name).handle)] = op
    return _by_mpi_handle


def as_op(op: Any, *, buffers: bool) -> Op:
    """Our ``Op`` for ``op``: an ``Op``, a predefined ``MPI.Op`` or (objects only) a callable."""
    if isinstance(op, Op):
        return op
    handle = getattr(op, "handle", None)
    if isinstance(handle, int) and type(op).__name__ == "Op":
        found = _mpi4py_ops().get(handle)
        if found is not None:
            return found
    if buffers:
        raise NotImplementedError(
            f"reduction {op!r}: buffer reductions support the predefined operations only"
        )
    if callable(op):
        commute = bool(getattr(op, "is_commutative", False))
        return Op(getattr(op, "__name__", repr(op)), op, None, commute)
    raise TypeError(f"reduction operation must be an Op or a callable, not {type(op).__name__}")
