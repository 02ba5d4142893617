#!/usr/bin/env bash
# Two "hosts" on one machine: network namespaces joined by a veth pair (MTU 9000),
# one MPI rank in each.  mpi4py starts and bootstraps the ranks; the Open-MX
# traffic of the omx Comm crosses the veth (udp link, one board per namespace at
# 10.77.<x>.1 and .2), while MPICH's own traffic stays on its shared-memory path.
#
#   sudo bash examples/cross_host.sh                     # examples/pingpong.py
#   sudo bash examples/cross_host.sh examples/numpy_sendrecv.py
#   sudo bash examples/cross_host.sh examples/pingpong.py --max-size 65536
#
# Needs root and iproute2.  The namespaces are deleted on every exit path
# (normal end, error, Ctrl-C); OMX_* variables of the caller are passed through.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${OMX_VENV:-.venv}
MPIEXEC=${MPIEXEC:-$VENV/bin/mpiexec}
PY=${PYTHON:-$VENV/bin/python}
PORT=${OMX_UDP_PORT:-34527}
MTU=${OMX_MTU:-9000}
if [ "$#" -eq 0 ]; then set -- examples/pingpong.py; fi

if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
  echo "cross_host.sh needs root and iproute2 (ip netns)" >&2
  exit 2
fi

tag=$$
subnet=$((tag % 250 + 1))
NS=("omxx-$tag-a" "omxx-$tag-b")
IPS=("10.77.$subnet.1" "10.77.$subnet.2")

cleanup() {
  for ns in "${NS[@]}"; do
    # Kill anything left inside, then remove the namespace (its veth end goes with it).
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for ns in "${NS[@]}"; do ip netns add "$ns"; done
ip link add "veth$tag" netns "${NS[0]}" mtu "$MTU" type veth peer name "vpeer$tag" netns "${NS[1]}" mtu "$MTU"
for i in 0 1; do
  ns=${NS[$i]}
  dev=$([ "$i" -eq 0 ] && echo "veth$tag" || echo "vpeer$tag")
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "${IPS[$i]}/24" dev "$dev"
  ip -n "$ns" link set "$dev" up
done

echo "hosts: ${NS[0]} (${IPS[0]}) <-veth mtu $MTU-> ${NS[1]} (${IPS[1]})" >&2
# MPMD launch: rank 0 in the first namespace, rank 1 in the second.
"$MPIEXEC" \
  -n 1 ip netns exec "${NS[0]}" env OMX_UDP_ADDR="${IPS[0]}:$PORT" OMX_MTU="$MTU" "$PY" "$@" : \
  -n 1 ip netns exec "${NS[1]}" env OMX_UDP_ADDR="${IPS[1]}:$PORT" OMX_MTU="$MTU" "$PY" "$@"
