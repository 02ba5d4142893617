"""``python -m omx_transport``: print this host's boards and library settings.

``python -m omx_transport backend --socket PATH [policy options]`` runs the
split driver's backend daemon (the installed ``omx_backend``) with the same
options; frontends then select it with ``OMX_DRIVER=split:PATH``.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

from ._endpoint import format_nic_id
from ._lib import check, ensure_init, ffi, lib


def find_program(name: str) -> str | None:
    """Path of an installed program: beside this Python, the scripts dir, PATH."""
    for d in (str(Path(sys.executable).parent), sysconfig.get_path("scripts")):
        if d and os.access(os.path.join(d, name), os.X_OK):
            return os.path.join(d, name)
    return shutil.which(name)


def backend(argv: list[str]) -> int:
    """Replace this process with omx_backend (so signals and the pid are the daemon's)."""
    path = find_program("omx_backend")
    if path is None:
        print("omx_backend is not installed (pip install . builds it)", file=sys.stderr)
        return 127
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(path, [path, *argv])
    return 127  # not reached


def main(argv: list[str] | None = None) -> int:
    """Print each board's address and hostname (like ``omx_info``'s board lines)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "backend":
        return backend(argv[1:])
    if argv:
        print(f"usage: python -m omx_transport [backend --socket PATH ...]; got {argv[0]!r}",
              file=sys.stderr)
        return 2
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
