#!/usr/bin/env bash
# The README test command: builds and installs the package into a venv, then
# runs every suite: C unit tests (plain and ASan/UBSan), ruff, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${OMX_VENV:-.venv}
PY=${PYTHON:-python3}

step() { printf '\n== %s ==\n' "$*"; }

step "venv $VENV + pip install .[test]"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q '.[test]'
export PATH="$PWD/$VENV/bin:$PATH"

step "C unit tests (meson test)"
meson setup build/ctest -Dpython=false --wipe >/dev/null 2>&1 || meson setup build/ctest -Dpython=false >/dev/null
meson test -C build/ctest --print-errorlogs

step "C unit tests under ASan/UBSan"
meson setup build/csan -Dpython=false -Dbuildtype=debug -Db_sanitize=address,undefined --wipe >/dev/null 2>&1 \
  || meson setup build/csan -Dpython=false -Dbuildtype=debug -Db_sanitize=address,undefined >/dev/null
meson test -C build/csan --print-errorlogs

step "ruff"
ruff check omx_transport tests examples

step "pytest"
# The installed package, not the source tree, must be imported: run the
# venv's pytest (python -m pytest would put the checkout first on sys.path).
set +e
"$VENV/bin/pytest" -q -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$rc"
