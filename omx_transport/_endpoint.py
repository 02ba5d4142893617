"""Endpoint: MX-style messaging with 64-bit match information."""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

from ._error import OmxError, ReturnCode
from ._lib import check, ensure_init, ffi, lib
from ._request import Request, Status

ANY_NIC = 0xFFFFFFFF
ANY_ENDPOINT = 0xFFFFFFFF
DEFAULT_KEY = 0x4F4D5821  # "OMX!"
MATCH_ALL = 0xFFFFFFFFFFFFFFFF


def format_nic_id(nic_id: int) -> str:
    """Board address as Open-MX prints it: ``xx:xx:xx:xx:xx:xx``."""
    buf = ffi.new("char[]", lib.OMX_BOARD_ADDR_STRLEN)
    lib.omx_board_addr_sprintf(buf, nic_id)
    return ffi.string(buf).decode()


def parse_nic_id(text: str) -> int:
    """Parse ``xx:xx:xx:xx:xx:xx`` into a board address."""
    out = ffi.new("uint64_t *")
    check(lib.omx_board_addr_sscanf(text.encode(), out))
    return int(out[0])


class EndpointAddress(NamedTuple):
    """Where an endpoint lives: board address (``nic_id``) and endpoint index."""

    nic_id: int
    endpoint_index: int

    def __str__(self) -> str:
        return f"{format_nic_id(self.nic_id)}/{self.endpoint_index}"

    @classmethod
    def parse(cls, text: str) -> EndpointAddress:
        """Inverse of ``str()``: ``"xx:xx:xx:xx:xx:xx/N"``."""
        nic, _, index = text.rpartition("/")
        return cls(parse_nic_id(nic), int(index))


class Peer:
    """A connected remote endpoint (an ``omx_endpoint_addr_t``)."""

    __slots__ = ("_addr", "address")

    def __init__(self, addr: Any, address: EndpointAddress):
        self._addr = addr
        self.address = address

    def __repr__(self) -> str:
        return f"<omx_transport.Peer {self.address}>"


def _match_args(match: int, mask: int) -> tuple[int, int]:
    if not 0 <= match <= MATCH_ALL or not 0 <= mask <= MATCH_ALL:
        raise ValueError(f"match info and mask are unsigned 64-bit: {match:#x}, {mask:#x}")
    return match, mask


class Endpoint:
    """An open Open-MX endpoint on a board.

    ``Endpoint()`` opens any free endpoint of board 0; ``key`` is the
    application key peers must present to connect.  Use as a context manager
    or call :meth:`close`.
    """

    def __init__(
        self,
        board: int = 0,
        index: int = ANY_ENDPOINT,
        key: int = DEFAULT_KEY,
        *,
        context_id_bits: int = 0,
        context_id_shift: int = 0,
    ):
        ensure_init()
        self.key = key
        self._lock = threading.Lock()
        handle = ffi.new("omx_endpoint_t *")
        params = ffi.NULL
        nparams = 0
        if context_id_bits:
            params = ffi.new("omx_endpoint_param_t[1]")
            params[0].key = lib.OMX_ENDPOINT_PARAM_CONTEXT_ID
            params[0].val.context_id.bits = context_id_bits
            params[0].val.context_id.shift = context_id_shift
            nparams = 1
        check(lib.omx_open_endpoint(board, index, key, params, nparams, handle))
        self._handle: Any = handle[0]
        addr = ffi.new("omx_endpoint_addr_t *")
        check(lib.omx_get_endpoint_addr(self._handle, addr))
        nic = ffi.new("uint64_t *")
        ep = ffi.new("uint32_t *")
        sess = ffi.new("uint32_t *")
        check(lib.omx_decompose_endpoint_addr_with_session(addr[0], nic, ep, sess))
        self._address = EndpointAddress(int(nic[0]), int(ep[0]))
        self.session_id = int(sess[0])

    # -- lifetime ---------------------------------------------------------

    def _live_handle(self) -> Any:
        handle = self._handle
        if handle is None:
            raise OmxError(ReturnCode.BAD_ENDPOINT, "endpoint is closed")
        return handle

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._handle is None

    def close(self) -> None:
        """Close the endpoint; pending requests are abandoned.  Idempotent."""
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is not None:
            check(lib.omx_close_endpoint(handle))

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else str(self._address)
        return f"<omx_transport.Endpoint {state}>"

    @property
    def address(self) -> EndpointAddress:
        """This endpoint's (nic_id, endpoint_index)."""
        return self._address

    # -- connection -------------------------------------------------------

    def connect(
        self,
        address: EndpointAddress | tuple[int, int] | str,
        *,
        key: int | None = None,
        timeout: float = 10.0,
    ) -> Peer:
        """Connect to a remote endpoint (adding its board to the peer table)."""
        if isinstance(address, str):
            address = EndpointAddress.parse(address)
        address = EndpointAddress(*address)
        ep = self._live_handle()
        # Idempotent: a board already in the table keeps its index.
        check(lib.omx_add_peer(address.nic_id, ffi.NULL))
        out = ffi.new("omx_endpoint_addr_t *")
        timeout_ms = max(1, int(timeout * 1000))
        check(
            lib.omx_connect(
                ep,
                address.nic_id,
                address.endpoint_index,
                self.key if key is None else key,
                timeout_ms,
                out,
            )
        )
        return Peer(out, address)

    # -- point to point ---------------------------------------------------

    def isend(self, buf: Any, dest: Peer, match: int = 0) -> Request:
        """Start sending ``buf`` (any buffer-protocol object, not copied) to ``dest``."""
        return self._send(lib.omx_isend, buf, dest, match, "send")

    def issend(self, buf: Any, dest: Peer, match: int = 0) -> Request:
        """Synchronous send: completes only once the receiver matched it."""
        return self._send(lib.omx_issend, buf, dest, match, "ssend")

    def _send(self, fn: Any, buf: Any, dest: Peer, match: int, kind: str) -> Request:
        match, _ = _match_args(match, 0)
        cdata = ffi.from_buffer(buf)
        req = ffi.new("omx_request_t *")
        check(fn(self._live_handle(), cdata, len(cdata), dest._addr[0], match, ffi.NULL, req))
        return Request(self, req, buf, cdata, kind)

    def irecv(self, buf: Any, match: int = 0, mask: int = 0) -> Request:
        """Post a receive into writable ``buf`` for messages with ``info & mask == match``.

        The default mask 0 accepts any message.  A read-only buffer raises
        :class:`BufferError`.
        """
        match, mask = _match_args(match, mask)
        try:
            cdata = ffi.from_buffer(buf, require_writable=True)
        except (TypeError, ValueError) as exc:
            if "read-only" in str(exc):
                raise BufferError(f"receive buffer must be writable: {exc}") from None
            raise
        req = ffi.new("omx_request_t *")
        check(lib.omx_irecv(self._live_handle(), cdata, len(cdata), match, mask, ffi.NULL, req))
        return Request(self, req, buf, cdata, "recv")

    def iprobe(self, match: int = 0, mask: int = 0) -> Status | None:
        """Status of the first unexpected message matching, without receiving it; or None."""
        match, mask = _match_args(match, mask)
        st = ffi.new("omx_status_t *")
        res = ffi.new("uint32_t *")
        check(lib.omx_iprobe(self._live_handle(), match, mask, st, res))
        return Status._from_c(st[0]) if res[0] else None

    def probe(self, match: int = 0, mask: int = 0, timeout: float | None = None) -> Status:
        """Block until a matching message is waiting (see :meth:`iprobe`)."""
        match, mask = _match_args(match, mask)
        st = ffi.new("omx_status_t *")
        res = ffi.new("uint32_t *")
        timeout_ms = lib.OMX_TIMEOUT_INFINITE if timeout is None else int(timeout * 1000)
        check(lib.omx_probe(self._live_handle(), match, mask, st, res, timeout_ms))
        if not res[0]:
            raise TimeoutError(f"no matching message after {timeout} s")
        return Status._from_c(st[0])

    def progress(self) -> None:
        """Run the progression engine once (acks, resends, incoming frames)."""
        check(lib.omx_progress(self._live_handle()))

    def wakeup(self) -> None:
        """Wake every thread blocked on this endpoint."""
        check(lib.omx_wakeup(self._live_handle()))
