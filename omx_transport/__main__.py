"""``python -m omx_transport``: print this host's boards and library settings."""

from __future__ import annotations

import sys

from ._endpoint import format_nic_id
from ._lib import check, ensure_init, ffi, lib


def main() -> int:
    """Print each board's address and hostname (like ``omx_info``'s board lines)."""
    ensure_init()
    count = ffi.new("uint32_t *")
    check(lib.omx_get_info(ffi.NULL, lib.OMX_INFO_BOARD_COUNT, ffi.NULL, 0, count, 4))
    print(f"Found {count[0]} boards")
    for board in range(count[0]):
        nic = ffi.new("uint64_t *")
        check(lib.omx_board_number_to_nic_id(board, nic))
        name = ffi.new("char[]", lib.OMX_HOSTNAMELEN_MAX)
        check(lib.omx_nic_id_to_hostname(nic[0], name))
        print(f" {ffi.string(name).decode()} (board #{board} addr {format_nic_id(nic[0])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
