"""Side-by-side benchmarks: ``python -m omx_transport.bench latency|bandwidth|all``.

One run measures, interleaved and with warm-up and repetitions, the omx
``Comm`` from Python (``mpiexec -n 2`` and ``mpi.from_comm``), the C tool
``omx_perf``, mpi4py's own communicator over MPICH, and floors written in C
(``omx_floor_raw``: AF_PACKET frames across two namespaces; ``omx_floor_shm``:
two-copy shared memory; ``omx_floor_cma``: process_vm_readv;
``omx_floor_sock``: plain UDP and TCP sockets), and reports medians, min-max
and ratios as markdown, JSON and an optional PNG.

``--local`` keeps both sides on this host (``--link udp`` turns the
intra-host shared path off, so omx frames cross the udp link on 127.0.0.1);
``--cross-host`` puts them in two network namespaces joined by a veth pair
(``omx_transport.netns``) that the run creates and always removes.  See
docs/performance.md.
"""

from ._harness import ModeResult, make_plan, parse_sizes, run_mode
from ._runners import contenders_for

__all__ = ["ModeResult", "contenders_for", "make_plan", "parse_sizes", "run_mode"]
