"""Type aliases for the message arguments of :class:`omx_transport.Comm`.

The shapes are mpi4py's, so the same call sites type-check against both.
A *datatype* (``TypeSpec``) is an ``mpi4py.MPI.Datatype``, a type code
string such as ``"d"`` or ``"i4"``, or a NumPy dtype.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, SupportsIndex

import numpy as np

__all__ = ["Buffer", "Count", "Displ", "TypeSpec", "BufSpec", "BufSpecB", "BufSpecV", "InPlace"]

Buffer = Any
"""Any object exporting the buffer protocol (NumPy arrays, bytearray, memoryview)."""

Count = SupportsIndex
"""A number of datatype items."""

Displ = SupportsIndex
"""A displacement, in datatype items from the start of the buffer."""

TypeSpec = str | np.dtype | Any
"""A datatype: ``mpi4py.MPI.Datatype``, a type code string or a NumPy dtype."""

InPlace = Any
"""``omx_transport.IN_PLACE`` or ``mpi4py.MPI.IN_PLACE``."""

BufSpec = (
    Buffer
    | tuple[Buffer, Count]
    | tuple[Buffer, TypeSpec]
    | tuple[Buffer, Count, TypeSpec]
    | tuple[Buffer, tuple[Count, Displ], TypeSpec]
    | tuple[Buffer, Count, Displ, TypeSpec]
    | list[Any]
)
"""Message for point-to-point calls, ``Bcast`` and reductions.

* ``buf``
* ``(buf, count)`` or ``(buf, datatype)``
* ``(buf, count, datatype)``
* ``(buf, (count, displ), datatype)`` or ``(buf, count, displ, datatype)``

Lists work as tuples.  Without a count the whole buffer is the message.
"""

BufSpecB = (
    Buffer
    | tuple[Buffer, Count]
    | tuple[Buffer, TypeSpec]
    | tuple[Buffer, Count, TypeSpec]
    | list[Any]
)
"""Message split in equal blocks, one per rank (``Gather``, ``Scatter``, ``Alltoall``).

* ``buf``: the block count is the item count divided by the number of ranks
* ``(buf, count)``, ``(buf, datatype)``, ``(buf, count, datatype)``: ``count`` per block
"""

BufSpecV = (
    Buffer
    | tuple[Buffer, Sequence[Count]]
    | tuple[Buffer, tuple[Sequence[Count], Sequence[Displ]]]
    | tuple[Buffer, TypeSpec]
    | tuple[Buffer, Sequence[Count], TypeSpec]
    | tuple[Buffer, tuple[Sequence[Count], Sequence[Displ]], TypeSpec]
    | tuple[Buffer, Sequence[Count], Sequence[Displ], TypeSpec]
    | list[Any]
)
"""Message in blocks of varying size, one per rank (``Gatherv``, ``Scatterv``, ``Allgatherv``).

* ``buf``: items shared out as evenly as possible
* ``(buf, counts)``: contiguous blocks
* ``(buf, (counts, displs))``: displacements in items
* any of those followed by a datatype, or ``(buf, counts, displs, datatype)``
"""
