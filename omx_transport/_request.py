"""Request and Status: completion of non-blocking operations."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._error import OmxError, ReturnCode
from ._lib import check as check_status
from ._lib import ffi, lib

if TYPE_CHECKING:
    from ._endpoint import Endpoint

# A blocking wait returns to Python this often, so Ctrl-C and other signal
# handlers run; the C wait itself sleeps on the driver and holds no GIL.
_WAIT_SLICE_MS = 200


@dataclass(frozen=True)
class Status:
    """What a completed request (or a probe) reports.

    ``source`` is ``(nic_id, endpoint_index)`` of the peer, ``match_info`` the
    message's 64-bit match, ``msg_length`` the length sent, ``xfer_length``
    the bytes actually moved, and ``error`` the Open-MX status code.
    """

    source: tuple[int, int] | None
    match_info: int
    msg_length: int
    xfer_length: int
    error: ReturnCode | int

    @property
    def ok(self) -> bool:
        """True when the request completed with OMX_SUCCESS."""
        return self.error == ReturnCode.SUCCESS

    @classmethod
    def _from_c(cls, st: Any) -> Status:
        nic = ffi.new("uint64_t *")
        ep = ffi.new("uint32_t *")
        sess = ffi.new("uint32_t *")
        source = None
        if lib.omx_decompose_endpoint_addr_with_session(st.addr, nic, ep, sess) == lib.OMX_SUCCESS:
            source = (int(nic[0]), int(ep[0]))
        try:
            error: ReturnCode | int = ReturnCode(st.code)
        except ValueError:
            error = int(st.code)
        return cls(source, int(st.match_info), int(st.msg_length), int(st.xfer_length), error)


class Request:
    """A pending send, receive or connect.

    The request keeps the message buffer alive (and, for receives, writable
    by the library only) until it completes or is cancelled.
    """

    __slots__ = ("_endpoint", "_handle", "_buffer", "_cdata", "_status", "_kind")

    def __init__(self, endpoint: Endpoint, handle: Any, buffer: Any, cdata: Any, kind: str):
        self._endpoint = endpoint
        self._handle = handle
        self._buffer = buffer
        self._cdata = cdata
        self._status: Status | None = None
        self._kind = kind

    def __repr__(self) -> str:
        state = "done" if self._status is not None else "pending"
        return f"<omx_transport.Request {self._kind} {state}>"

    @property
    def status(self) -> Status | None:
        """The completion status, or None while pending."""
        return self._status

    def _complete(self, st: Any) -> Status:
        self._status = Status._from_c(st)
        self._handle = None
        self._buffer = self._cdata = None
        return self._status

    def _result(self, check: bool) -> Status:
        assert self._status is not None
        if check and not self._status.ok:
            raise OmxError(int(self._status.error), request_status=self._status)
        return self._status

    def test(self, *, check: bool = True) -> Status | None:
        """Return the status if the request completed, else None.

        With ``check`` (the default) a completion with an error status raises
        :class:`OmxError` carrying that status.
        """
        if self._status is None:
            ep = self._endpoint._live_handle()
            st = ffi.new("omx_status_t *")
            res = ffi.new("uint32_t *")
            check_status(lib.omx_test(ep, self._handle, st, res))
            if not res[0]:
                return None
            self._complete(st[0])
        return self._result(check)

    def wait(self, timeout: float | None = None, *, check: bool = True) -> Status:
        """Block until completion (at most ``timeout`` seconds) and return the status.

        Raises :class:`TimeoutError` when the timeout passes first (the
        request stays pending) and :class:`OmxError` for an error status
        unless ``check`` is False.
        """
        if self._status is None:
            deadline = None if timeout is None else time.monotonic() + timeout
            st = ffi.new("omx_status_t *")
            res = ffi.new("uint32_t *")
            while True:
                ep = self._endpoint._live_handle()
                if deadline is None:
                    slice_ms = _WAIT_SLICE_MS
                else:
                    left = deadline - time.monotonic()
                    slice_ms = max(0, min(_WAIT_SLICE_MS, int(left * 1000)))
                check_status(lib.omx_wait(ep, self._handle, st, res, slice_ms))
                if res[0]:
                    self._complete(st[0])
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"request not complete after {timeout} s")
        return self._result(check)

    def cancel(self) -> bool:
        """Cancel a pending receive (or connect) that has not matched yet.

        Returns True when it was cancelled: the buffer is then never written.
        Sends cannot be cancelled (False).
        """
        if self._status is not None:
            return False
        ep = self._endpoint._live_handle()
        res = ffi.new("uint32_t *")
        check_status(lib.omx_cancel(ep, self._handle, res))
        if res[0]:
            self._status = Status(None, 0, 0, 0, ReturnCode.CANCELLED)
            self._handle = None
            self._buffer = self._cdata = None
            return True
        return False
