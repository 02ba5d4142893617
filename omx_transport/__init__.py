"""omx-transport: Open-MX message passing over Ethernet for Python.

``Endpoint`` gives MX semantics (64-bit match info and masks, unexpected
queue, non-blocking requests) over the libopen-mx C core; any
buffer-protocol object (NumPy arrays included) is sent without a copy.
``Comm`` is a communicator with mpi4py's API over those endpoints, built
from an mpi4py communicator by ``omx_transport.mpi.from_comm``.
"""

from ._endpoint import (
    ANY_ENDPOINT,
    ANY_NIC,
    DEFAULT_KEY,
    MATCH_ALL,
    Endpoint,
    EndpointAddress,
    Peer,
    format_nic_id,
    parse_nic_id,
)
from ._error import OmxError, ReturnCode
from ._request import Request, Status
from .comm import Comm

__version__ = "0.1.0"

__all__ = [
    "ANY_ENDPOINT",
    "ANY_NIC",
    "Comm",
    "DEFAULT_KEY",
    "MATCH_ALL",
    "Endpoint",
    "EndpointAddress",
    "OmxError",
    "Peer",
    "Request",
    "ReturnCode",
    "Status",
    "format_nic_id",
    "parse_nic_id",
]
