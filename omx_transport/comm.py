"""Comm: an mpi4py-shaped communicator over one Open-MX endpoint per process.

Match information layout (64 bits, most significant first)::

    | context id : 16 | source rank : 19 | tag : 29 |

The context id sits in the endpoint's context-id field (``bits=16,
shift=48``), so the library keeps one matching queue per context.  Every
communicator owns four consecutive ids: +0 point-to-point, +1 collectives,
+2 payloads of large pickled messages, +3 reserved; collectives therefore
never match point-to-point traffic.  ``ANY_SOURCE``/``ANY_TAG`` clear the
source/tag bits of the receive mask.  ``TAG_UB`` is 2**29 - 1 (MPICH's
value) and a communicator holds at most 2**19 ranks.  MX matches in order
per partner, which gives MPI's non-overtaking rule.

Context ids are never reused, so a process can create 16384 communicators
(``Dup``/``Split`` agree on the next free id with one small allreduce).

Pickled messages (lowercase methods) up to ``_EAGER`` (16 KiB) travel as one
message; larger ones as a 13-byte header ``\\x00 | length | sequence`` on
the point-to-point context followed by the payload on context +2 with the
sequence as tag, so a receive that matched the header collects exactly
its own payload.
"""

from __future__ import annotations

import itertools
import operator
import pickle
import struct
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _coll
from ._error import OmxError, ReturnCode
from ._lib import check, ffi, lib
from ._msgspec import BYTE, as_dtype, p2p_raw
from ._reduce import SUM, Op

if TYPE_CHECKING:
    from ._endpoint import Endpoint, EndpointAddress
    from .typing import BufSpec, BufSpecB, BufSpecV, InPlace

__all__ = ["Comm", "Request", "Status", "COMM_NULL", "IN_PLACE", "TAG_UB"]

# ---- match information ---------------------------------------------------

CTX_BITS, SRC_BITS, TAG_BITS = 16, 19, 29
CTX_SHIFT, SRC_SHIFT = SRC_BITS + TAG_BITS, TAG_BITS
TAG_UB = (1 << TAG_BITS) - 1
MAX_RANKS = 1 << SRC_BITS
CTX_PER_COMM = 4
_TAG_MASK = TAG_UB
_SRC_MASK = (MAX_RANKS - 1) << SRC_SHIFT
_CTX_MASK = ((1 << CTX_BITS) - 1) << CTX_SHIFT
MATCH_ALL = (1 << 64) - 1

_EAGER = 16384  # largest pickle sent as a single message
_HEADER = struct.Struct("<xQI")  # pickle header: kind byte 0, length, payload sequence
SLICE_MS = 200  # blocking waits return to Python this often so signals are handled

# ---- constants shared with mpi4py ----------------------------------------

# MPICH's values (the mpich wheel); with another MPI loaded, its own are used.
_MPICH = {"ANY_SOURCE": -2, "ANY_TAG": -1, "PROC_NULL": -1, "UNDEFINED": -32766}
_IDENT, _CONGRUENT, _UNEQUAL = 0, 1, 3


def _const(name: str) -> int:
    """``MPI.<name>`` of the loaded mpi4py, else MPICH's value."""
    mpi = sys.modules.get("mpi4py.MPI")
    return int(getattr(mpi, name)) if mpi is not None else _MPICH[name]


class _Default(int):
    """Default argument standing for a constant whose value depends on the MPI loaded."""

    _name: str

    def __new__(cls, name: str) -> _Default:
        self = super().__new__(cls, _MPICH[name])
        self._name = name
        return self

    def __repr__(self) -> str:
        return self._name


ANY_SOURCE_ARG: Any = _Default("ANY_SOURCE")
ANY_TAG_ARG: Any = _Default("ANY_TAG")


class _InPlace:
    """The in-place buffer marker (``mpi4py.MPI.IN_PLACE`` is accepted too)."""

    def __repr__(self) -> str:
        return "IN_PLACE"


IN_PLACE: Any = _InPlace()


def _is_in_place(obj: Any) -> bool:
    return obj is IN_PLACE or type(obj).__name__ == "InPlaceType"


def __getattr__(name: str) -> int:
    if name in _MPICH:
        return _const(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---- C helpers -----------------------------------------------------------


_new = ffi.new
_NULL = ffi.NULL
_REQ_T = ffi.typeof("omx_request_t *")
_STATUS_T = ffi.typeof("omx_status_t *")
_U32_T = ffi.typeof("uint32_t *")
_omx_isend = lib.omx_isend
_omx_irecv = lib.omx_irecv
_omx_wait = lib.omx_wait


def _ctest(ep: Any, h: Any, st: Any) -> bool:
    res = ffi.new("uint32_t *")
    check(lib.omx_test(ep, h, st, res))
    return bool(res[0])


def _cwait(ep: Any, h: Any, st: Any, timeout_ms: int | None = None) -> bool:
    """Wait for one C request; ``timeout_ms`` None waits for ever (in slices)."""
    res = ffi.new("uint32_t *")
    if timeout_ms is not None:
        check(lib.omx_wait(ep, h, st, res, timeout_ms))
        return bool(res[0])
    while True:
        check(lib.omx_wait(ep, h, st, res, SLICE_MS))
        if res[0]:
            return True


def _truncated(cst: Any, capacity: int) -> OmxError:
    src = (cst.match_info & _SRC_MASK) >> SRC_SHIFT
    tag = cst.match_info & _TAG_MASK
    return OmxError(
        ReturnCode.MESSAGE_TRUNCATED,
        f"Message truncated (MPI_ERR_TRUNCATE): message from rank {src} and tag {tag} "
        f"is {cst.msg_length} bytes but buffer size is {capacity}",
    )


def _failed(cst: Any) -> OmxError:
    return OmxError(int(cst.code))


# ---- Status --------------------------------------------------------------


class Status:
    """Status object (as ``MPI.Status``); the count is kept in bytes."""

    __slots__ = ("source", "tag", "error", "count", "cancelled")

    def __init__(self, status: Status | None = None):
        if status is not None:
            self.source, self.tag, self.error = status.source, status.tag, status.error
            self.count, self.cancelled = status.count, status.cancelled
        else:
            self.source = _const("ANY_SOURCE")
            self.tag = _const("ANY_TAG")
            self.error = 0
            self.count = 0
            self.cancelled = False

    def __repr__(self) -> str:
        return (
            f"<omx_transport.Status source={self.source} tag={self.tag} "
            f"count={self.count} error={self.error}>"
        )

    def Get_source(self) -> int:
        """Get message source."""
        return self.source

    def Set_source(self, source: int) -> None:
        """Set message source."""
        self.source = source

    def Get_tag(self) -> int:
        """Get message tag."""
        return self.tag

    def Set_tag(self, tag: int) -> None:
        """Set message tag."""
        self.tag = tag

    def Get_error(self) -> int:
        """Get message error (0, or the Open-MX status code)."""
        return self.error

    def Set_error(self, error: int) -> None:
        """Set message error."""
        self.error = error

    def Get_count(self, datatype: Any = BYTE) -> int:
        """Get the number of *top level* elements."""
        extent = as_dtype(datatype).extent
        if extent == 0:
            return 0
        return self.count // extent if self.count % extent == 0 else _const("UNDEFINED")

    def Get_elements(self, datatype: Any) -> int:
        """Get the number of basic elements in a datatype."""
        return self.Get_count(datatype)

    def Set_elements(self, datatype: Any, count: int) -> None:
        """Set the number of elements in a status."""
        self.count = count * as_dtype(datatype).extent

    def Is_cancelled(self) -> bool:
        """Test to see if a request was cancelled."""
        return self.cancelled

    def Set_cancelled(self, flag: bool) -> None:
        """Set the cancelled state associated with a status."""
        self.cancelled = bool(flag)


def _fill(target: Any, source: int, tag: int, error: int, nbytes: int, cancelled: bool) -> None:
    """Store a status into ours or into an ``mpi4py.MPI.Status``."""
    if target is None:
        return
    if isinstance(target, Status):
        target.source, target.tag, target.error = source, tag, error
        target.count, target.cancelled = nbytes, cancelled
        return
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is None or not isinstance(target, mpi.Status):
        raise TypeError(f"status must be a Status, not {type(target).__name__}")
    target.Set_source(source)
    target.Set_tag(tag)
    target.Set_error(error)
    target.Set_elements(mpi.BYTE, nbytes)
    target.Set_cancelled(cancelled)


def _copy_status(target: Any, st: Status) -> None:
    _fill(target, st.source, st.tag, st.error, st.count, st.cancelled)


def _status_of(cst: Any) -> Status:
    st = Status.__new__(Status)
    m = cst.match_info
    st.source = (m & _SRC_MASK) >> SRC_SHIFT
    st.tag = m & _TAG_MASK
    code = int(cst.code)
    st.error = 0 if code == ReturnCode.SUCCESS else code
    st.count = int(cst.xfer_length)
    st.cancelled = False
    return st


# ---- Request -------------------------------------------------------------

_Callback = Callable[["Request", Any], None]


class Request:
    """Request handler (as ``MPI.Request``) for a non-blocking operation.

    The request keeps its buffers alive until it completes.  After a
    successful ``Wait``/``Test`` it is inactive (``bool(req)`` is False) and
    waiting again returns at once with an empty status, as MPI does.
    """

    __slots__ = ("_ep", "_pending", "_status", "_error", "_obj", "_keep", "_active")

    def __init__(self, ep: Any, pending: list[tuple[Any, _Callback | None]], keep: Any = None):
        self._ep = ep
        self._pending = pending
        self._status: Status | None = None
        self._error: BaseException | None = None
        self._obj: Any = None
        self._keep = keep
        self._active = True

    @classmethod
    def _completed(cls, status: Status, obj: Any = None) -> Request:
        req = cls(None, [])
        req._status = status
        req._obj = obj
        return req

    def __repr__(self) -> str:
        state = "inactive" if not self._active else "done" if not self._pending else "pending"
        return f"<omx_transport.Request {state}>"

    def __bool__(self) -> bool:
        return self._active

    def __del__(self) -> None:
        # Dropped while the library may still write into (or read) its buffers:
        # keep it, and them, alive until it completes.
        if self._pending:
            try:
                _orphans.append(self)
            except Exception:
                pass

    # -- completion engine --

    def _progress(self, block: bool, timeout_ms: int | None = None) -> bool:
        """Advance the request; True once every step completed."""
        pending = self._pending
        if not pending:
            return True
        st = ffi.new("omx_status_t *")
        while pending:
            h, cb = pending[0]
            if block:
                done = _cwait(self._ep, h, st, timeout_ms)
            else:
                done = _ctest(self._ep, h, st)
            if not done:
                return False
            pending.pop(0)
            if cb is not None:
                try:
                    cb(self, st[0])
                except BaseException as exc:  # a failed step ends the request
                    self._error = exc
                    self._drop_pending()
            elif st[0].code != ReturnCode.SUCCESS and self._error is None:
                self._error = _failed(st[0])
        self._keep = None
        return True

    def _drop_pending(self) -> None:
        """Forget steps that can no longer matter after an error."""
        for h, _ in self._pending:
            res = ffi.new("uint32_t *")
            lib.omx_cancel(self._ep, h, res)
        self._pending.clear()

    def _deliver(self, status: Any) -> None:
        """Report the final status once, then become inactive."""
        if not self._active:
            _fill(status, _const("ANY_SOURCE"), _const("ANY_TAG"), 0, 0, False)
            return
        self._active = False
        st = self._status
        if status is not None:
            if st is None:
                _fill(status, _const("ANY_SOURCE"), _const("ANY_TAG"), 0, 0, False)
            else:
                _copy_status(status, st)
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    # -- mpi4py API --

    def Wait(self, status: Any = None) -> bool:
        """Wait for a non-blocking operation to complete."""
        if self._pending:
            self._progress(True)
        self._deliver(status)
        return True

    def Test(self, status: Any = None) -> bool:
        """Test for the completion of a non-blocking operation."""
        if self._pending and not self._progress(False):
            return False
        self._deliver(status)
        return True

    def Get_status(self, status: Any = None) -> bool:
        """Non-destructive test for the completion of a request."""
        if self._pending and not self._progress(False):
            return False
        if status is not None:
            if self._status is None or not self._active:
                _fill(status, _const("ANY_SOURCE"), _const("ANY_TAG"), 0, 0, False)
            else:
                _copy_status(status, self._status)
        return True

    def Cancel(self) -> None:
        """Cancel a request (receives that did not match yet; sends are never cancelled)."""
        if not self._pending:
            return
        h, cb = self._pending[0]
        if cb is None or getattr(cb, "_stage", 0) > 0:
            return  # a send, or a pickled message whose header already matched
        res = ffi.new("uint32_t *")
        check(lib.omx_cancel(self._ep, h, res))
        if res[0]:
            self._pending.clear()
            self._keep = None
            st = self._status if self._status is not None else Status()
            st.cancelled = True
            st.count = 0
            self._status = st

    def Free(self) -> None:
        """Free a communication request (it still completes in the background)."""
        if self._pending:
            _orphans.append(self)
        self._active = False
        _sweep_orphans()

    # -- pickled-object variants --

    def wait(self, status: Any = None) -> Any:
        """Wait for a non-blocking operation to complete."""
        self.Wait(status)
        obj, self._obj = self._obj, None
        return obj

    def test(self, status: Any = None) -> tuple[bool, Any | None]:
        """Test for the completion of a non-blocking operation."""
        if not self.Test(status):
            return False, None
        obj, self._obj = self._obj, None
        return True, obj

    def cancel(self) -> None:
        """Cancel a request."""
        self.Cancel()

    def get_status(self, status: Any = None) -> bool:
        """Non-destructive test for the completion of a request."""
        return self.Get_status(status)

    def free(self) -> None:
        """Free a communication request."""
        self.Free()

    # -- multiple completions --

    @classmethod
    def Waitall(cls, requests: Sequence[Request], statuses: list[Any] | None = None) -> bool:
        """Wait for all previously initiated requests to complete."""
        _waitall(requests, statuses)
        return True

    @classmethod
    def waitall(cls, requests: Sequence[Request], statuses: list[Any] | None = None) -> list[Any]:
        """Wait for all previously initiated requests to complete."""
        return _waitall(requests, statuses)

    @classmethod
    def Testall(cls, requests: Sequence[Request], statuses: list[Any] | None = None) -> bool:
        """Test for completion of all previously initiated requests."""
        return _testall(requests, statuses)[0]

    @classmethod
    def testall(
        cls, requests: Sequence[Request], statuses: list[Any] | None = None
    ) -> tuple[bool, list[Any] | None]:
        """Test for completion of all previously initiated requests."""
        return _testall(requests, statuses)

    @classmethod
    def Waitany(cls, requests: Sequence[Request], status: Any = None) -> int:
        """Wait for any previously initiated request to complete."""
        return _waitany(requests, status)[0]

    @classmethod
    def waitany(cls, requests: Sequence[Request], status: Any = None) -> tuple[int, Any]:
        """Wait for any previously initiated request to complete."""
        return _waitany(requests, status)

    @classmethod
    def Testany(cls, requests: Sequence[Request], status: Any = None) -> tuple[int, bool]:
        """Test for completion of any previously initiated request."""
        index, flag, _ = _testany(requests, status)
        return index, flag

    @classmethod
    def testany(cls, requests: Sequence[Request], status: Any = None) -> tuple[int, bool, Any]:
        """Test for completion of any previously initiated request."""
        return _testany(requests, status)

    @classmethod
    def Waitsome(
        cls, requests: Sequence[Request], statuses: list[Any] | None = None
    ) -> list[int] | None:
        """Wait for some previously initiated requests to complete."""
        return _some(requests, statuses, block=True)

    @classmethod
    def Testsome(
        cls, requests: Sequence[Request], statuses: list[Any] | None = None
    ) -> list[int] | None:
        """Test for completion of some previously initiated requests."""
        return _some(requests, statuses, block=False)


_orphans: list[Request] = []


def _sweep_orphans() -> None:
    """Complete freed requests in the background (their buffers stay alive until then)."""
    if _orphans:
        _orphans[:] = [r for r in _orphans if not r._progress(False)]


def _status_slot(statuses: list[Any] | None, i: int) -> Any:
    if statuses is None:
        return None
    while len(statuses) <= i:
        statuses.append(Status())
    return statuses[i]


def _waitall(requests: Sequence[Request], statuses: list[Any] | None) -> list[Any]:
    first: BaseException | None = None
    objs = []
    for i, req in enumerate(requests):
        try:
            objs.append(req.wait(_status_slot(statuses, i)))
        except Exception as exc:
            objs.append(None)
            first = first or exc
    if first is not None:
        raise first
    return objs


def _testall(requests: Sequence[Request], statuses: list[Any] | None) -> tuple[bool, Any]:
    done = True
    for req in requests:
        if req._pending and not req._progress(False):
            done = False
    if not done:
        return False, None
    return True, _waitall(requests, statuses)


def _testany(requests: Sequence[Request], status: Any) -> tuple[int, bool, Any]:
    active = False
    for i, req in enumerate(requests):
        if not req._active:
            continue
        active = True
        if not req._pending or req._progress(False):
            return i, True, req.wait(status)
    if not active:
        _fill(status, _const("ANY_SOURCE"), _const("ANY_TAG"), 0, 0, False)
        return _const("UNDEFINED"), True, None
    return _const("UNDEFINED"), False, None


def _waitany(requests: Sequence[Request], status: Any) -> tuple[int, Any]:
    while True:
        index, flag, obj = _testany(requests, status)
        if flag:
            return index, obj
        # Nothing done: sleep briefly on the first pending one, then look again.
        for req in requests:
            if req._active and req._pending:
                req._progress(True, timeout_ms=1)
                break


def _some(requests: Sequence[Request], statuses: list[Any] | None, block: bool) -> list[int] | None:
    while True:
        if not any(r._active for r in requests):
            return None
        done = [
            i
            for i, r in enumerate(requests)
            if r._active and (not r._pending or r._progress(False))
        ]
        if done or not block:
            for k, i in enumerate(done):
                requests[i].Wait(_status_slot(statuses, k))
            return done
        for req in requests:
            if req._active and req._pending:
                req._progress(True, timeout_ms=1)
                break


# ---- shared state of every communicator over one endpoint ----------------


class _Fabric:
    """The endpoint, the world's addresses and connected peers, and the context-id counter."""

    def __init__(
        self,
        endpoint: Endpoint,
        addresses: Sequence[EndpointAddress],
        timeout: float,
    ):
        self.endpoint = endpoint
        self.ep = endpoint._live_handle()
        self.addresses = list(addresses)
        self.peers: list[Any] = [None] * len(self.addresses)
        self.timeout = timeout
        self.next_unit = 0
        self.refs = 0

    def peer(self, world: int) -> Any:
        """The ``omx_endpoint_addr_t`` of world index ``world``, connecting on first use."""
        p = self.peers[world]
        if p is None:
            p = self.peers[world] = self.endpoint.connect(
                self.addresses[world], timeout=self.timeout
            )._addr
        return p

    def release(self) -> None:
        self.refs -= 1
        if self.refs == 0:
            _sweep_orphans()
            self.endpoint.close()


# ---- Comm ----------------------------------------------------------------


class Comm:
    """Communicator over Open-MX with mpi4py's methods and semantics.

    Build one with :func:`omx_transport.mpi.from_comm`.  Capitalised methods
    move buffers (NumPy arrays or any buffer, see :mod:`omx_transport.typing`),
    lowercase ones pickled objects; an ``I`` prefix returns a :class:`Request`.

    As in MPI, every rank calls collectives (and ``Dup``/``Split``) in the same
    order, from one thread at a time; point-to-point calls may come from
    several threads.  Progress happens inside calls (no progress thread):
    a rank busy elsewhere, in an mpi4py call for instance, answers nothing.
    """

    __slots__ = (
        "_fab",
        "_ep",
        "_ranks",
        "_rank",
        "_size",
        "_unit",
        "_peers",
        "_sbase",
        "_rbase",
        "_cbase",
        "_coll_seq",
        "_obj_seq",
        "_name",
        "_any_source",
        "_any_tag",
        "_proc_null",
        "_scratch",
        "__weakref__",
    )

    def __init__(self, fabric: _Fabric, ranks: Sequence[int], rank: int, unit: int, name: str):
        if len(ranks) > MAX_RANKS:
            raise ValueError(f"communicator size {len(ranks)} exceeds {MAX_RANKS} ranks")
        if not 0 <= unit < (1 << CTX_BITS) // CTX_PER_COMM:
            raise OmxError(ReturnCode.NO_RESOURCES, "out of communicator context ids")
        self._fab = fabric
        self._ep = fabric.ep
        self._ranks = list(ranks)
        self._rank = rank
        self._size = len(self._ranks)
        self._unit = unit
        self._peers: list[Any] = [fabric.peers[w] for w in self._ranks]
        ctx = unit * CTX_PER_COMM
        self._sbase = (ctx << CTX_SHIFT) | (rank << SRC_SHIFT)
        self._rbase = ctx << CTX_SHIFT
        self._cbase = (ctx + 1) << CTX_SHIFT
        self._coll_seq = 0
        self._obj_seq: dict[int, Iterator[int]] = {}
        self._name = name
        self._any_source = _const("ANY_SOURCE")
        self._any_tag = _const("ANY_TAG")
        self._proc_null = _const("PROC_NULL")
        # (request, status, result) triples reused by blocking Send/Recv.  list.pop
        # and append are atomic, so concurrent threads never share one; a triple
        # whose request may still be live (an error mid-wait) is not put back.
        self._scratch: list[tuple[Any, Any, Any]] = []
        fabric.refs += 1

    def __repr__(self) -> str:
        if self._fab is None:
            return "<omx_transport.Comm COMM_NULL>"
        return f"<omx_transport.Comm {self._name} rank {self._rank}/{self._size}>"

    def __bool__(self) -> bool:
        return self._fab is not None

    def __enter__(self) -> Comm:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fab is not None:
            self.Free()

    # Group and rank
    # --------------

    def Get_rank(self) -> int:
        """Return the rank of this process in a communicator."""
        return self._rank

    def Get_size(self) -> int:
        """Return the number of processes in a communicator."""
        return self._size

    @property
    def rank(self) -> int:
        """Rank of this process."""
        return self._rank

    @property
    def size(self) -> int:
        """Number of processes."""
        return self._size

    @property
    def endpoint(self) -> Endpoint:
        """The Open-MX endpoint this communicator sends through."""
        return self._fab.endpoint

    def Get_name(self) -> str:
        """Get the print name for this communicator."""
        return self._name

    def Set_name(self, name: str) -> None:
        """Set the print name for this communicator."""
        self._name = name

    @property
    def name(self) -> str:
        """Print name."""
        return self._name

    def Is_inter(self) -> bool:
        """Return whether the communicator is an intercommunicator."""
        return False

    def Is_intra(self) -> bool:
        """Return whether the communicator is an intracommunicator."""
        return True

    def Compare(self, comm: Comm) -> int:
        """Compare two communicators (``IDENT``, ``CONGRUENT`` or ``UNEQUAL``)."""
        if comm is self:
            return _IDENT
        if comm._fab is self._fab and comm._ranks == self._ranks:
            return _CONGRUENT
        return _UNEQUAL

    # Communicator constructors
    # -------------------------

    def _new_unit(self) -> int:
        """A context unit free on every member (collective): max of their counters."""
        mine = np.array([self._fab.next_unit], np.int64)
        out = np.empty(1, np.int64)
        _coll.allreduce(self, _coll.Buf.of(mine), _coll.Buf.of(out), _max_op())
        unit = int(out[0])
        self._fab.next_unit = unit + 1
        return unit

    def Dup(self, info: Any = None) -> Comm:
        """Duplicate a communicator."""
        unit = self._new_unit()
        return Comm(self._fab, self._ranks, self._rank, unit, f"{self._name}_dup")

    def Clone(self) -> Comm:
        """Clone an existing communicator."""
        return self.Dup()

    def Split(self, color: int = 0, key: int = 0) -> Comm:
        """Split communicator by color and key."""
        undefined = _const("UNDEFINED")
        color, key = operator.index(color), operator.index(key)
        if color < 0 and color != undefined:
            raise ValueError(f"invalid color {color}: must be non-negative or UNDEFINED")
        mine = np.array([color, key], np.int64)
        table = np.empty(2 * self._size, np.int64)
        _coll.allgather(self, _coll.Buf.of(mine), _coll.Buf.of(table, self._size))
        unit = self._new_unit()
        if color == undefined:
            return COMM_NULL
        table = table.reshape(self._size, 2)
        members = sorted(
            (int(table[r, 1]), r) for r in range(self._size) if int(table[r, 0]) == color
        )
        old = [r for _, r in members]
        return Comm(
            self._fab,
            [self._ranks[r] for r in old],
            old.index(self._rank),
            unit,
            f"{self._name}_split",
        )

    def Free(self) -> None:
        """Free a communicator (the endpoint closes with the last one)."""
        fab = self._fab
        if fab is None:
            raise ValueError("cannot free COMM_NULL")
        self._fab = None
        self._peers = []
        fab.release()

    def Abort(self, errorcode: int = 0) -> None:
        """Terminate the MPI execution environment."""
        mpi = sys.modules.get("mpi4py.MPI")
        if mpi is not None:
            mpi.COMM_WORLD.Abort(errorcode)
        import os

        os._exit(errorcode)

    # Matching helpers
    # ----------------

    def _peer(self, dest: int) -> Any:
        if not 0 <= dest < self._size:
            raise ValueError(f"invalid rank {dest}: must be nonnegative and less than {self._size}")
        p = self._peers[dest]
        if p is None:
            p = self._peers[dest] = self._fab.peer(self._ranks[dest])
        return p

    def _send_match(self, tag: int, base: int) -> int:
        if not 0 <= tag <= TAG_UB:
            raise ValueError(f"invalid tag {tag}: must be in [0, {TAG_UB}]")
        return base | tag

    def _recv_match(self, source: int, tag: int, base: int) -> tuple[int, int]:
        if tag is ANY_TAG_ARG:
            tag = self._any_tag
        match, mask = base, _CTX_MASK
        if source != self._any_source:
            if not 0 <= source < self._size:
                raise ValueError(
                    f"invalid source rank {source}: must be ANY_SOURCE or in [0, {self._size})"
                )
            match |= source << SRC_SHIFT
            mask |= _SRC_MASK
        if tag != self._any_tag:
            if not 0 <= tag <= TAG_UB:
                raise ValueError(f"invalid tag {tag}: must be ANY_TAG or in [0, {TAG_UB}]")
            match |= tag
            mask |= _TAG_MASK
        return match, mask

    def _post_send(self, fn: Any, ptr: Any, nbytes: int, dest: int, tag: int) -> Any:
        peers = self._peers
        p = peers[dest] if 0 <= dest < self._size else None
        if p is None:
            p = self._peer(dest)
        if not 0 <= tag <= TAG_UB:
            raise ValueError(f"invalid tag {tag}: must be in [0, {TAG_UB}]")
        h = _new("omx_request_t *")
        rc = fn(self._ep, ptr, nbytes, p[0], self._sbase | tag, _NULL, h)
        if rc:
            raise OmxError(rc)
        return h

    def _post_recv(self, ptr: Any, nbytes: int, source: int, tag: int) -> Any:
        match, mask = self._recv_match(source, tag, self._rbase)
        h = _new("omx_request_t *")
        rc = _omx_irecv(self._ep, ptr, nbytes, match, mask, _NULL, h)
        if rc:
            raise OmxError(rc)
        return h

    def _null_status(self) -> Status:
        st = Status()
        st.source, st.tag = self._proc_null, self._any_tag
        return st

    # Blocking Send and Receive Operations
    # ------------------------------------

    def Send(self, buf: BufSpec, dest: int, tag: int = 0) -> None:
        """Blocking send."""
        # The hot path of every ping-pong: attribute lookups and calls kept few.
        if dest == self._proc_null:
            return
        keep, ptr, nbytes = p2p_raw(buf, True)
        peers = self._peers
        p = peers[dest] if 0 <= dest < self._size else None
        if p is None:
            p = self._peer(dest)
        if not 0 <= tag <= TAG_UB:
            raise ValueError(f"invalid tag {tag}: must be in [0, {TAG_UB}]")
        pool = self._scratch
        try:
            h, st, res = pool.pop()
        except IndexError:
            h, st, res = _new(_REQ_T), _new(_STATUS_T), _new(_U32_T)
        ep = self._ep
        rc = _omx_isend(ep, ptr, nbytes, p[0], self._sbase | tag, _NULL, h)
        while not rc:
            rc = _omx_wait(ep, h, st, res, SLICE_MS)
            if res[0]:
                break
        if rc:
            raise OmxError(rc)  # the scratch stays out of use: h may still be live
        pool.append((h, st, res))
        if st[0].code:
            raise _failed(st[0])

    def Ssend(self, buf: BufSpec, dest: int, tag: int = 0) -> None:
        """Blocking send in synchronous mode."""
        self.Issend(buf, dest, tag).Wait()

    def Recv(
        self,
        buf: BufSpec,
        source: int = ANY_SOURCE_ARG,
        tag: int = ANY_TAG_ARG,
        status: Any = None,
    ) -> None:
        """Blocking receive."""
        if source is ANY_SOURCE_ARG:
            source = self._any_source
        elif source == self._proc_null:
            _copy_status(status, self._null_status())
            return
        keep, ptr, nbytes = p2p_raw(buf, False)
        match, mask = self._recv_match(source, tag, self._rbase)
        pool = self._scratch
        try:
            h, st, res = pool.pop()
        except IndexError:
            h, st, res = _new(_REQ_T), _new(_STATUS_T), _new(_U32_T)
        ep = self._ep
        rc = _omx_irecv(ep, ptr, nbytes, match, mask, _NULL, h)
        while not rc:
            rc = _omx_wait(ep, h, st, res, SLICE_MS)
            if res[0]:
                break
        if rc:
            raise OmxError(rc)
        pool.append((h, st, res))
        cst = st[0]
        if cst.code:
            if cst.code == ReturnCode.MESSAGE_TRUNCATED:
                raise _truncated(cst, nbytes)
            raise _failed(cst)
        if status is not None:
            _copy_status(status, _status_of(cst))

    def Sendrecv(
        self,
        sendbuf: BufSpec,
        dest: int,
        sendtag: int = 0,
        recvbuf: BufSpec | None = None,
        source: int = ANY_SOURCE_ARG,
        recvtag: int = ANY_TAG_ARG,
        status: Any = None,
    ) -> None:
        """Send and receive a message."""
        if source is ANY_SOURCE_ARG:
            source = self._any_source
        ep = self._ep
        rh = rkeep = None
        if recvbuf is not None and source != self._proc_null:
            rkeep, rptr, rbytes = p2p_raw(recvbuf, False)
            match, mask = self._recv_match(source, recvtag, self._rbase)
            rh = _new(_REQ_T)
            rc = _omx_irecv(ep, rptr, rbytes, match, mask, _NULL, rh)
            if rc:
                raise OmxError(rc)
        sh = None
        try:
            if dest != self._proc_null:
                skeep, sptr, sbytes = p2p_raw(sendbuf, True)
                sh = self._post_send(_omx_isend, sptr, sbytes, dest, sendtag)
        except BaseException:
            if rh is not None:  # withdraw the receive, or let it finish in the background
                Request(ep, [(rh, None)], rkeep).Cancel()
            raise
        st = _new(_STATUS_T)
        if rh is not None:
            _cwait(ep, rh, st)
            cst = st[0]
            if cst.code:
                if sh is not None:
                    Request(ep, [(sh, None)], skeep).Free()
                if cst.code == ReturnCode.MESSAGE_TRUNCATED:
                    raise _truncated(cst, rbytes)
                raise _failed(cst)
            if status is not None:
                _copy_status(status, _status_of(cst))
        elif status is not None:
            _copy_status(status, self._null_status())
        if sh is not None:
            _cwait(ep, sh, st)
            if st[0].code:
                raise _failed(st[0])

    def Sendrecv_replace(
        self,
        buf: BufSpec,
        dest: int,
        sendtag: int = 0,
        source: int = ANY_SOURCE_ARG,
        recvtag: int = ANY_TAG_ARG,
        status: Any = None,
    ) -> None:
        """Send and receive a message using a single buffer."""
        _, ptr, nbytes = p2p_raw(buf, False)
        copy = bytes(ffi.buffer(ptr, nbytes))
        self.Sendrecv(copy, dest, sendtag, buf, source, recvtag, status)

    # Nonblocking Communications
    # --------------------------

    def Isend(self, buf: BufSpec, dest: int, tag: int = 0) -> Request:
        """Nonblocking send."""
        if dest == self._proc_null:
            return Request._completed(self._null_status())
        keep, ptr, nbytes = p2p_raw(buf, True)
        h = self._post_send(_omx_isend, ptr, nbytes, dest, tag)
        return Request(self._ep, [(h, None)], keep)

    def Issend(self, buf: BufSpec, dest: int, tag: int = 0) -> Request:
        """Nonblocking send in synchronous mode."""
        if dest == self._proc_null:
            return Request._completed(self._null_status())
        keep, ptr, nbytes = p2p_raw(buf, True)
        h = self._post_send(lib.omx_issend, ptr, nbytes, dest, tag)
        return Request(self._ep, [(h, None)], keep)

    def Irecv(
        self,
        buf: BufSpec,
        source: int = ANY_SOURCE_ARG,
        tag: int = ANY_TAG_ARG,
    ) -> Request:
        """Nonblocking receive."""
        if source is ANY_SOURCE_ARG:
            source = self._any_source
        elif source == self._proc_null:
            return Request._completed(self._null_status())
        keep, ptr, capacity = p2p_raw(buf, False)
        h = self._post_recv(ptr, capacity, source, tag)

        def done(req: Request, cst: Any) -> None:
            req._status = _status_of(cst)
            if cst.code == ReturnCode.MESSAGE_TRUNCATED:
                raise _truncated(cst, capacity)
            if cst.code != ReturnCode.SUCCESS:
                raise _failed(cst)

        return Request(self._ep, [(h, done)], keep)

    # Probe
    # -----

    def _probe(self, source: int, tag: int, block: bool, base: int) -> Status | None:
        match, mask = self._recv_match(source, tag, base)
        st = ffi.new("omx_status_t *")
        res = ffi.new("uint32_t *")
        if not block:
            check(lib.omx_iprobe(self._ep, match, mask, st, res))
        else:
            while not res[0]:
                check(lib.omx_probe(self._ep, match, mask, st, res, SLICE_MS))
        if not res[0]:
            return None
        out = _status_of(st[0])
        out.count = int(st[0].msg_length)
        out.error = 0
        return out

    def Probe(
        self, source: int = ANY_SOURCE_ARG, tag: int = ANY_TAG_ARG, status: Any = None
    ) -> bool:
        """Blocking test for a message."""
        if source is ANY_SOURCE_ARG:
            source = self._any_source
        elif source == self._proc_null:
            _copy_status(status, self._null_status())
            return True
        st = self._probe(source, tag, True, self._rbase)
        assert st is not None
        _copy_status(status, st)
        return True

    def Iprobe(
        self, source: int = ANY_SOURCE_ARG, tag: int = ANY_TAG_ARG, status: Any = None
    ) -> bool:
        """Nonblocking test for a message."""
        if source is ANY_SOURCE_ARG:
            source = self._any_source
        elif source == self._proc_null:
            _copy_status(status, self._null_status())
            return True
        st = self._probe(source, tag, False, self._rbase)
        if st is None:
            return False
        _copy_status(status, st)
        return True

    def probe(
        self, source: int = ANY_SOURCE_ARG, tag: int = ANY_TAG_ARG, status: Any = None
    ) -> bool:
        """Blocking test for a message."""
        return self.Probe(source, tag, status)

    def iprobe(
        self, source: int = ANY_SOURCE_ARG, tag: int = ANY_TAG_ARG, status: Any = None
    ) -> bool:
        """Nonblocking test for a message."""
        return self.Iprobe(source, tag, status)

    # Pickle-based Point-to-Point Communication
    # -----------------------------------------

    def _isend_obj(self, obj: Any, dest: int, tag: int, fn: Any) -> Request:
        if dest == self._proc_null:
            return Request._completed(self._null_status())
        data = pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)
        peer = self._peer(dest)
        match = self._send_match(tag, self._sbase)
        hs: list[tuple[Any, _Callback | None]] = []
        if len(data) <= _EAGER:
            keep: Any = ffi.from_buffer(data)
            h = ffi.new("omx_request_t *")
            check(fn(self._ep, keep, len(data), peer[0], match, ffi.NULL, h))
            hs.append((h, None))
        else:
            counter = self._obj_seq.get(dest) or self._obj_seq.setdefault(dest, itertools.count())
            seq = next(counter) & TAG_UB  # next() is atomic: threads never share a sequence
            header = ffi.from_buffer(_HEADER.pack(len(data), seq))
            payload = ffi.from_buffer(data)
            keep = (header, payload)
            h1 = ffi.new("omx_request_t *")
            check(fn(self._ep, header, len(header), peer[0], match, ffi.NULL, h1))
            hs.append((h1, None))
            pmatch = (self._sbase + (2 << CTX_SHIFT)) | seq
            h2 = ffi.new("omx_request_t *")
            check(lib.omx_isend(self._ep, payload, len(data), peer[0], pmatch, ffi.NULL, h2))
            hs.append((h2, None))
        return Request(self._ep, hs, keep)

    def _irecv_obj(self, source: int, tag: int) -> Request:
        if source is ANY_SOURCE_ARG:
            source = self._any_source
        elif source == self._proc_null:
            return Request._completed(self._null_status())
        buf = bytearray(_EAGER)
        cbuf = ffi.from_buffer(buf)
        match, mask = self._recv_match(source, tag, self._rbase)
        h = ffi.new("omx_request_t *")
        check(lib.omx_irecv(self._ep, cbuf, _EAGER, match, mask, ffi.NULL, h))
        ep, pbase = self._ep, self._rbase + (2 << CTX_SHIFT)

        def got_payload(req: Request, cst: Any) -> None:
            if cst.code != ReturnCode.SUCCESS:
                raise _failed(cst)
            req._status.count = int(cst.xfer_length)  # type: ignore[union-attr]
            req._obj = pickle.loads(req._keep[0])
            req._keep = None

        got_payload._stage = 1  # type: ignore[attr-defined]

        def got_first(req: Request, cst: Any) -> None:
            req._status = st = _status_of(cst)
            if cst.code == ReturnCode.MESSAGE_TRUNCATED:
                raise _truncated(cst, _EAGER)
            if cst.code != ReturnCode.SUCCESS:
                raise _failed(cst)
            n = int(cst.xfer_length)
            if n and buf[0] != 0:
                req._obj = pickle.loads(memoryview(buf)[:n])
                return
            if n != _HEADER.size:
                raise OmxError(ReturnCode.BAD_ERROR, f"malformed pickled message ({n} bytes)")
            length, seq = _HEADER.unpack_from(buf)
            payload = bytearray(length)
            cpayload = ffi.from_buffer(payload)
            h2 = ffi.new("omx_request_t *")
            pmatch = pbase | (st.source << SRC_SHIFT) | seq
            check(lib.omx_irecv(ep, cpayload, length, pmatch, MATCH_ALL, ffi.NULL, h2))
            req._keep = (payload, cpayload)
            req._pending.append((h2, got_payload))

        return Request(self._ep, [(h, got_first)], (buf, cbuf))

    def send(self, obj: Any, dest: int, tag: int = 0) -> None:
        """Send in standard mode."""
        self._isend_obj(obj, dest, tag, lib.omx_isend).Wait()

    def ssend(self, obj: Any, dest: int, tag: int = 0) -> None:
        """Send in synchronous mode."""
        self._isend_obj(obj, dest, tag, lib.omx_issend).Wait()

    def isend(self, obj: Any, dest: int, tag: int = 0) -> Request:
        """Nonblocking send."""
        return self._isend_obj(obj, dest, tag, lib.omx_isend)

    def issend(self, obj: Any, dest: int, tag: int = 0) -> Request:
        """Nonblocking send in synchronous mode."""
        return self._isend_obj(obj, dest, tag, lib.omx_issend)

    def recv(
        self,
        buf: Any = None,
        source: int = ANY_SOURCE_ARG,
        tag: int = ANY_TAG_ARG,
        status: Any = None,
    ) -> Any:
        """Receive (``buf`` is accepted for compatibility and not used)."""
        return self._irecv_obj(source, tag).wait(status)

    def irecv(
        self, buf: Any = None, source: int = ANY_SOURCE_ARG, tag: int = ANY_TAG_ARG
    ) -> Request:
        """Nonblocking receive (``buf`` is accepted for compatibility and not used)."""
        return self._irecv_obj(source, tag)

    def sendrecv(
        self,
        sendobj: Any,
        dest: int,
        sendtag: int = 0,
        recvbuf: Any = None,
        source: int = ANY_SOURCE_ARG,
        recvtag: int = ANY_TAG_ARG,
        status: Any = None,
    ) -> Any:
        """Send and Receive."""
        rreq = self._irecv_obj(source, recvtag)
        sreq = self._isend_obj(sendobj, dest, sendtag, lib.omx_isend)
        obj = rreq.wait(status)
        sreq.Wait()
        return obj

    # Collective Communication
    # ------------------------

    def Barrier(self) -> None:
        """Barrier synchronization."""
        _coll.barrier(self)

    def barrier(self) -> None:
        """Barrier synchronization."""
        _coll.barrier(self)

    def Bcast(self, buf: BufSpec, root: int = 0) -> None:
        """Broadcast data from one process to all other processes."""
        self._check_root(root)
        _coll.bcast(self, _coll.Buf.parse(buf, readonly=self._rank == root), root)

    def Gather(
        self,
        sendbuf: BufSpec | InPlace,
        recvbuf: BufSpecB | None,
        root: int = 0,
    ) -> None:
        """Gather data to one process from all other processes."""
        self._check_root(root)
        if self._rank == root:
            rbuf = _coll.Buf.parse(recvbuf, readonly=False, blocks=self._size)
            if _is_in_place(sendbuf):
                sbuf = None
            else:
                sbuf = _coll.Buf.parse(sendbuf, readonly=True)
                _coll.check_block(sbuf, rbuf, "send", "receive")
        else:
            sbuf, rbuf = _coll.Buf.parse(sendbuf, readonly=True), None
        _coll.gather(self, sbuf, rbuf, root)

    def Scatter(
        self,
        sendbuf: BufSpecB | None,
        recvbuf: BufSpec | InPlace,
        root: int = 0,
    ) -> None:
        """Scatter data from one process to all other processes."""
        self._check_root(root)
        if self._rank == root:
            sbuf = _coll.Buf.parse(sendbuf, readonly=True, blocks=self._size)
            if _is_in_place(recvbuf):
                rbuf = None
            else:
                rbuf = _coll.Buf.parse(recvbuf, readonly=False)
                _coll.check_block(rbuf, sbuf, "receive", "send")
        else:
            sbuf, rbuf = None, _coll.Buf.parse(recvbuf, readonly=False)
        _coll.scatter(self, sbuf, rbuf, root)

    def Allgather(self, sendbuf: BufSpec | InPlace, recvbuf: BufSpecB) -> None:
        """Gather to All."""
        rbuf = _coll.Buf.parse(recvbuf, readonly=False, blocks=self._size)
        if _is_in_place(sendbuf):
            sbuf = None
        else:
            sbuf = _coll.Buf.parse(sendbuf, readonly=True)
            _coll.check_block(sbuf, rbuf, "send", "receive")
        _coll.allgather(self, sbuf, rbuf)

    def Alltoall(self, sendbuf: BufSpecB | InPlace, recvbuf: BufSpecB) -> None:
        """All to All Scatter/Gather."""
        rbuf = _coll.Buf.parse(recvbuf, readonly=False, blocks=self._size)
        if _is_in_place(sendbuf):
            sbuf = None
        else:
            sbuf = _coll.Buf.parse(sendbuf, readonly=True, blocks=self._size)
            _coll.check_block(sbuf, rbuf, "send", "receive")
        _coll.alltoall(self, sbuf, rbuf)

    def Gatherv(
        self,
        sendbuf: BufSpec | InPlace,
        recvbuf: BufSpecV | None,
        root: int = 0,
    ) -> None:
        """Gather Vector."""
        self._check_root(root)
        if self._rank == root:
            rbuf = _coll.VBuf.parse(recvbuf, readonly=False, blocks=self._size)
            sbuf = None if _is_in_place(sendbuf) else _coll.Buf.parse(sendbuf, readonly=True)
        else:
            sbuf, rbuf = _coll.Buf.parse(sendbuf, readonly=True), None
        _coll.gatherv(self, sbuf, rbuf, root)

    def Scatterv(
        self,
        sendbuf: BufSpecV | None,
        recvbuf: BufSpec | InPlace,
        root: int = 0,
    ) -> None:
        """Scatter Vector."""
        self._check_root(root)
        if self._rank == root:
            sbuf = _coll.VBuf.parse(sendbuf, readonly=True, blocks=self._size)
            rbuf = None if _is_in_place(recvbuf) else _coll.Buf.parse(recvbuf, readonly=False)
        else:
            sbuf, rbuf = None, _coll.Buf.parse(recvbuf, readonly=False)
        _coll.scatterv(self, sbuf, rbuf, root)

    def Allgatherv(self, sendbuf: BufSpec | InPlace, recvbuf: BufSpecV) -> None:
        """Gather to All Vector."""
        rbuf = _coll.VBuf.parse(recvbuf, readonly=False, blocks=self._size)
        sbuf = None if _is_in_place(sendbuf) else _coll.Buf.parse(sendbuf, readonly=True)
        _coll.allgatherv(self, sbuf, rbuf)

    # Global Reduction Operations
    # ---------------------------

    def _reduction_bufs(
        self, sendbuf: Any, recvbuf: Any, receiving: bool
    ) -> tuple[_coll.Buf | None, _coll.Buf | None]:
        if receiving:
            rbuf = _coll.Buf.parse(recvbuf, readonly=False)
            if _is_in_place(sendbuf):
                return None, rbuf
            sbuf = _coll.Buf.parse(sendbuf, readonly=True)
            _coll.check_reduction(sbuf, rbuf)
            if sbuf.same_memory(rbuf):
                return None, rbuf
            return sbuf, rbuf
        return _coll.Buf.parse(sendbuf, readonly=True), None

    def Reduce(
        self,
        sendbuf: BufSpec | InPlace,
        recvbuf: BufSpec | None,
        op: Any = SUM,
        root: int = 0,
    ) -> None:
        """Reduce to Root."""
        self._check_root(root)
        sbuf, rbuf = self._reduction_bufs(sendbuf, recvbuf, self._rank == root)
        _coll.reduce(self, sbuf, rbuf, _coll.as_op(op, buffers=True), root)

    def Allreduce(self, sendbuf: BufSpec | InPlace, recvbuf: BufSpec, op: Any = SUM) -> None:
        """Reduce to All."""
        # Fast path: two plain C-contiguous arrays of one dtype and size, predefined op.
        if recvbuf.__class__ is np.ndarray and (
            sendbuf.__class__ is np.ndarray or _is_in_place(sendbuf)
        ):
            out = recvbuf.reshape(-1)
            fop = _coll.as_op(op, buffers=True)
            if (
                recvbuf.flags.c_contiguous
                and recvbuf.flags.writeable
                and fop.is_commutative
                and (
                    sendbuf.__class__ is not np.ndarray
                    or (
                        sendbuf.dtype == recvbuf.dtype
                        and sendbuf.size == recvbuf.size
                        and sendbuf.flags.c_contiguous
                    )
                )
                and out.dtype.isnative
            ):
                if sendbuf.__class__ is np.ndarray and not np.shares_memory(sendbuf, recvbuf):
                    out[...] = sendbuf.reshape(-1)
                _coll.allreduce_array(self, out, fop)
                return
        sbuf, rbuf = self._reduction_bufs(sendbuf, recvbuf, True)
        assert rbuf is not None
        _coll.allreduce(self, sbuf, rbuf, _coll.as_op(op, buffers=True))

    # Pickle-based Collective Communication
    # -------------------------------------

    def bcast(self, obj: Any, root: int = 0) -> Any:
        """Broadcast."""
        self._check_root(root)
        return _coll.bcast_obj(self, obj, root)

    def gather(self, sendobj: Any, root: int = 0) -> list[Any] | None:
        """Gather."""
        self._check_root(root)
        return _coll.gather_obj(self, sendobj, root)

    def scatter(self, sendobj: Sequence[Any] | None, root: int = 0) -> Any:
        """Scatter."""
        self._check_root(root)
        return _coll.scatter_obj(self, sendobj, root)

    def allgather(self, sendobj: Any) -> list[Any]:
        """Gather to All."""
        return _coll.allgather_obj(self, sendobj)

    def alltoall(self, sendobj: Sequence[Any]) -> list[Any]:
        """All to All Scatter/Gather."""
        return _coll.alltoall_obj(self, sendobj)

    def reduce(
        self, sendobj: Any, op: Op | Callable[[Any, Any], Any] = SUM, root: int = 0
    ) -> Any | None:
        """Reduce to Root."""
        self._check_root(root)
        return _coll.reduce_obj(self, sendobj, _coll.as_op(op, buffers=False), root)

    def allreduce(self, sendobj: Any, op: Op | Callable[[Any, Any], Any] = SUM) -> Any:
        """Reduce to All."""
        return _coll.allreduce_obj(self, sendobj, _coll.as_op(op, buffers=False))

    def _check_root(self, root: int) -> None:
        if not 0 <= root < self._size:
            raise ValueError(f"invalid root {root}: must be nonnegative and less than {self._size}")


def _max_op() -> Op:
    from ._reduce import MAX

    return MAX


COMM_NULL: Any = Comm.__new__(Comm)
COMM_NULL._fab = None
COMM_NULL._name = "COMM_NULL"
