"""Command line of the benchmark suite: ``python -m omx_transport.bench``.

    python -m omx_transport.bench latency|bandwidth|all [--local|--cross-host]
        [--link shared|udp|packet] [--mtu 1500|9000|65535] [--sizes 0,8,64K,4M|all]
        [--reps N] [--iters N]
        [--only omx,mpich,...] [--cpus A,B|none] [--timeout S]
        [--json PATH] [--png PATH]

Prints a markdown table on stdout and a progress line on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from . import _harness, _report, _runners


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m omx_transport.bench",
        description="omx beside mpi4py/MPICH and the machine's floors, measured in one run.",
        epilog="Contenders (--only): omx (the Comm from Python), omx_perf (C), omx_perf_split "
        "(omx_perf's client through an omx_backend; --cross-host, --local --link udp), "
        "mpich (mpi4py), and floors: shm, cma, udp (--local), raw (--cross-host), tcp (both).",
    )
    p.add_argument("mode", choices=["latency", "bandwidth", "all"],
                   help="ping-pong one-way latency, streaming bandwidth, or both")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--local", dest="cross", action="store_false",
                       help="both sides on this host (default)")
    where.add_argument("--cross-host", dest="cross", action="store_true",
                       help="two network namespaces joined by veth (needs root)")
    p.add_argument("--link", choices=["shared", "udp", "packet"],
                   help="the omx link: --local 'shared' (default: the udp link plus the "
                   "intra-host shared path) or 'udp' (OMX_DISABLE_SHARED=1: every frame a "
                   "datagram on 127.0.0.1); --cross-host 'packet' (the default and only one)")
    p.add_argument("--mtu", type=int, choices=[1500, 9000, 65535], default=9000,
                   help="veth MTU for --cross-host (default 9000)")
    p.add_argument("--sizes", help="comma list with K/M suffixes, or 'all' (0 B .. 64 MiB); "
                   "default: latency 0,8,1K,8K,64K, bandwidth 64K,1M,4M,16M")
    p.add_argument("--reps", type=int, default=5, help="repetitions (default 5)")
    p.add_argument("--iters", type=int, help="timed messages per size (default: by size)")
    p.add_argument("--only", help="comma list of contenders to run")
    p.add_argument("--cpus", default="0,1",
                   help="CPUs of side 0 and side 1, or 'none' not to pin (default 0,1)")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="seconds allowed for one launch of a contender (default 300)")
    p.add_argument("--json", metavar="PATH", help="write every sample as JSON")
    p.add_argument("--png", metavar="PATH", help="plot latency and bandwidth (needs matplotlib)")
    return p


def _cpus(text: str) -> tuple[int, int] | None:
    if text == "none" or (os.cpu_count() or 1) < 2 or not shutil.which("taskset"):
        return None
    a, b = (int(x) for x in text.split(","))
    return a, b


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM/SIGHUP unwind like Ctrl-C, so namespaces and servers are always removed."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def _topology(args: argparse.Namespace, cpus: tuple[int, int] | None
              ) -> Iterator[_runners.Topology]:
    if not args.cross:
        topo: _runners.Topology = _runners.LocalTopology(cpus, args.link or "shared")
        try:
            yield topo
        finally:
            topo.close()
        return
    from ..netns import veth_pair

    with veth_pair(mtu=args.mtu) as pair:
        topo = _runners.CrossHostTopology(pair, cpus)
        try:
            yield topo
        finally:
            topo.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when something was measured, 2 on bad usage or environment."""
    args = _parser().parse_args(argv)
    if args.reps < 1 or (args.iters is not None and args.iters < 1):
        print("--reps and --iters must be at least 1", file=sys.stderr)
        return 2
    link = args.link or ("packet" if args.cross else "shared")
    if link not in (("packet",) if args.cross else _runners.LocalTopology.LINKS):
        print(f"--link {link} does not go with {'--cross-host' if args.cross else '--local'}",
              file=sys.stderr)
        return 2
    try:
        cpus = _cpus(args.cpus)
        sizes = _harness.parse_sizes(args.sizes) if args.sizes else None
    except ValueError as exc:
        print(f"bad option: {exc}", file=sys.stderr)
        return 2
    modes = ["lat", "bw"] if args.mode == "all" else [_harness.MODES[args.mode]]
    meta = {"command": _report.command_line(), "topology": "cross-host" if args.cross else "local",
            "link": link, "mtu": args.mtu if args.cross else None, "pinned_cpus": cpus,
            **_report.environment()}
    results: list[_harness.ModeResult] = []
    from ..netns import NetnsUnavailable

    try:
        with _terminate_as_interrupt(), _topology(args, cpus) as topo:
            contenders = _runners.contenders_for(topo)
            if args.only:
                wanted = set(args.only.split(","))
                unknown = wanted - {c.key for c in contenders}
                if unknown:
                    print(f"unknown contender(s) for this topology: {sorted(unknown)}",
                          file=sys.stderr)
                    return 2
                contenders = [c for c in contenders if c.key in wanted]
            meta["where"] = topo.describe()
            available = sum(1 for c in contenders if not c.unavailable())
            progress = _harness.Progress(total=available * args.reps * len(modes))
            try:
                for mode in modes:
                    plan = _harness.make_plan(mode, sizes or _harness.DEFAULT_SIZES[mode],
                                              args.iters)
                    results.append(_harness.run_mode(mode, contenders, plan, args.reps,
                                                     args.timeout, progress))
            finally:
                progress.finish()
    except NetnsUnavailable as exc:
        print(f"--cross-host needs network namespaces: {exc}", file=sys.stderr)
        return 2
    meta["loadavg_end"] = list(os.getloadavg())

    print(f"<!-- {meta['command']} -->")
    print(f"omx-transport benchmark on {meta['host']}: {meta['cpus']} CPUs ({meta['cpu']}), "
          f"kernel {meta['kernel']}, load average {meta['loadavg'][0]:.2f} at start, "
          f"{meta['loadavg_end'][0]:.2f} at end.\n")
    for res in results:
        print(_report.markdown(res, meta["where"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(_report.to_json(results, meta), f, indent=1)
    if args.png:
        why = _report.write_png(results, args.png, f"{meta['command']}\n{meta['where']}")
        if why:
            print(f"no plot: {why}", file=sys.stderr)
    return 0 if any(r.samples for r in results) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as exc:
        print(f"\ninterrupted ({exc or 'Ctrl-C'}); namespaces and processes removed",
              file=sys.stderr)
        sys.exit(130)
