"""The compiled cffi module, one-time library initialisation and the status check."""

from __future__ import annotations

import threading

from ._omx_cffi import ffi, lib

__all__ = ["ffi", "lib", "check", "ensure_init", "strerror"]

_init_lock = threading.Lock()
_initialised = False


def strerror(code: int) -> str:
    """``omx_strerror`` text of a status code."""
    return ffi.string(lib.omx_strerror(code)).decode()


def check(ret: int) -> None:
    """Raise :class:`OmxError` unless ``ret`` is OMX_SUCCESS."""
    if ret != lib.OMX_SUCCESS:
        from ._error import OmxError

        raise OmxError(ret)


def ensure_init() -> None:
    """Initialise libopen-mx once per process (reads the OMX_* environment)."""
    global _initialised
    if _initialised:
        return
    with _init_lock:
        if not _initialised:
            check(lib.omx_init())
            _initialised = True
