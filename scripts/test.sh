#!/usr/bin/env bash
# The README test command: builds and installs the package into a venv, then
# runs every suite: C unit tests (plain and ASan/UBSan), ruff, pytest, and
# the MPI suites (tests/mpi) under mpiexec with 2, 3 and 4 ranks.
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
  rc=1
fi

# ---- MPI block: tests/mpi under mpiexec (omx Comm against mpi4py as the oracle) ----
# The plain step above collects tests/mpi and skips every test there (pytest-mpi
# runs mpi-marked tests only with --with-mpi); here they run on 2, 3 and 4 ranks.
# A rank that fails before a collective leaves the others waiting, so each run
# has a timeout; "no tests collected" (exit 5) and a timeout (124) are failures.
# The venv's pytest script (not python -m pytest) keeps the checkout off sys.path.
mpi_rc=0
for n in 2 3 4; do
  step "pytest --with-mpi tests/mpi under mpiexec -n $n"
  set +e
  timeout --kill-after=15 300 "$VENV/bin/mpiexec" -n "$n" \
    "$VENV/bin/pytest" --with-mpi -q -p no:cacheprovider tests/mpi
  r=$?
  set -e
  case "$r" in
    0) ;;
    5) echo "mpiexec -n $n: pytest collected no tests: that is a failure here" >&2; mpi_rc=1 ;;
    124|137) echo "mpiexec -n $n: timed out (a rank is stuck; see the output above)" >&2; mpi_rc=1 ;;
    *) echo "mpiexec -n $n: pytest failed (exit $r)" >&2; mpi_rc=1 ;;
  esac
done
# ---- end of MPI block ----

if [ "$rc" -ne 0 ]; then exit "$rc"; fi
exit "$mpi_rc"
