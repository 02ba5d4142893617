"""OmxError: the one exception type, carrying an Open-MX status code."""

from __future__ import annotations

import enum
from typing import Any


class ReturnCode(enum.IntEnum):
    """Open-MX return and status codes (values of ``enum omx_return``)."""

    SUCCESS = 0
    BAD_ERROR = 1
    ALREADY_INITIALIZED = 3
    NOT_INITIALIZED = 4
    NO_DEVICE_FILE = 5
    NO_DRIVER = 6
    ACCESS_DENIED = 7
    BOARD_NOT_FOUND = 8
    BAD_ENDPOINT = 9
    SEGMENTS_BAD_COUNT = 12
    BAD_REQUEST = 13
    BAD_MATCH_MASK = 14
    NO_RESOURCES = 15
    BUSY = 20
    BAD_INFO_KEY = 21
    BAD_INFO_ADDRESS = 22
    ENDPOINT_PARAMS_BAD_LIST = 24
    ENDPOINT_PARAM_BAD_KEY = 25
    ENDPOINT_PARAM_BAD_VALUE = 26
    PEER_NOT_FOUND = 28
    TIMEOUT = 30
    REMOTE_ENDPOINT_BAD_ID = 32
    REMOTE_ENDPOINT_CLOSED = 33
    REMOTE_ENDPOINT_BAD_CONNECTION_KEY = 34
    BAD_INFO_LENGTH = 35
    NIC_ID_NOT_FOUND = 36
    BAD_KERNEL_ABI = 37
    BAD_LIB_ABI = 38
    BAD_MATCHING_FOR_CONTEXT_ID_MASK = 42
    CANCELLED = 90
    REMOTE_RDMA_WINDOW_BAD_ID = 91
    REMOTE_ENDPOINT_UNREACHABLE = 92
    REMOTE_ENDPOINT_BAD_SESSION = 93
    MESSAGE_ABORTED = 94
    MESSAGE_TRUNCATED = 95
    NOT_SUPPORTED_IN_HANDLER = 96
    NO_SYSTEM_RESOURCES = 97
    NOT_IMPLEMENTED = 99


def _code_name(code: int) -> str:
    try:
        return ReturnCode(code).name
    except ValueError:
        return f"code {code}"


class OmxError(RuntimeError):
    """An Open-MX call or request failed.

    ``int(err)`` and ``err.status`` give the Open-MX code; the error compares
    equal to that integer; ``str(err)`` is ``omx_strerror``'s text.  A failed
    request attaches its completion :class:`~omx_transport.Status` as
    ``err.request_status``.
    """

    def __init__(self, status: int, message: str | None = None, request_status: Any = None):
        self.status = int(status)
        self.request_status = request_status
        if message is None:
            from ._lib import strerror

            message = strerror(self.status)
        super().__init__(message)

    @property
    def code(self) -> ReturnCode | int:
        """The status as a :class:`ReturnCode` where it is a known one."""
        try:
            return ReturnCode(self.status)
        except ValueError:
            return self.status

    def __int__(self) -> int:
        return self.status

    def __eq__(self, other: object) -> bool:
        if isinstance(other, int):
            return self.status == other
        if isinstance(other, OmxError):
            return self.status == other.status
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.status)

    def __repr__(self) -> str:
        return f"OmxError({_code_name(self.status)}: {self.args[0]!r})"
