"""Reports: a markdown table (stdout), JSON with every sample, a PNG plot.

Ratios are omx / reference for the figure of merit of the mode: for
latency, omx's one-way time over the reference's (above 1: omx is slower);
for bandwidth, omx's MB/s over the reference's (below 1: omx is slower).
Both are computed from the medians.  A variant of a subject (``versus``:
the split driver's omx_perf) is compared with that subject only.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from importlib import metadata
from typing import Any

from ._harness import ModeResult, Stats, format_size
from ._runners import SUBJECT

SHORT = {"omx": "omx", "omx_perf": "omx_perf", "omx_perf_split": "split", "mpich": "MPICH",
         "raw": "raw", "shm": "shm", "cma": "CMA", "udp": "UDP", "tcp": "TCP"}
TITLES = {
    "lat": "Latency: one-way time in us (half the ping-pong round trip)",
    "bw": "Bandwidth: MB/s (10^6 B/s) of a stream of messages",
}


def _short(key: str) -> str:
    return SHORT.get(key, key)


def ratio_pairs(result: ModeResult) -> list[tuple[str, str]]:
    """(subject, reference) pairs: each omx subject against everything after it.

    Without an omx contender (``--only`` left them out) the first one plays the subject.
    A variant (``versus`` set) gives one pair, itself against what it is a variant of.
    """
    keys = [c.key for c in result.contenders if not c.versus]
    subjects = [c.key for c in result.contenders if c.role == SUBJECT and not c.versus] or keys[:1]
    pairs = [(s, r) for s in subjects for r in keys[keys.index(s) + 1:]]
    present = {c.key for c in result.contenders}
    return pairs + [(c.key, c.versus) for c in result.contenders
                    if c.versus and c.versus in present]


def ratio(result: ModeResult, subject: str, ref: str, size: int) -> float | None:
    """omx / reference at ``size`` (see the module docstring), None when one is missing."""
    a, b = result.stats(subject, size), result.stats(ref, size)
    if a is None or b is None or b.median <= 0:
        return None
    return a.median / b.median


def _num(v: float, unit: str) -> str:
    if unit == "MB/s":
        return f"{v:.1f}" if v < 10 else f"{v:.0f}"
    return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 1000 else f"{v:.0f}"


def _cell(st: Stats | None, unit: str) -> str:
    if st is None:
        return ""
    if st.n == 1:
        return _num(st.median, unit)
    return f"{_num(st.median, unit)} ({_num(st.min, unit)}-{_num(st.max, unit)})"


def markdown(result: ModeResult, topology: str) -> str:
    """The two tables of one mode: values (median and min-max) and ratios."""
    notes: list[str] = []

    def missing(key: str, size: int) -> str:
        why = result.why_missing(key, size)
        if why not in notes:
            notes.append(why)
        return f"n/a [{notes.index(why) + 1}]"

    sizes = [s for s, _ in result.plan]
    lines = [f"### {TITLES[result.mode]}; {topology}", "",
             f"Median (min-max) of {result.reps} repetition(s), contenders interleaved.", ""]
    heads = [c.label for c in result.contenders]
    lines.append("| size | " + " | ".join(heads) + " |")
    lines.append("|---:|" + "---:|" * len(heads))
    for size in sizes:
        cells = []
        for c in result.contenders:
            st = result.stats(c.key, size)
            cells.append(_cell(st, result.unit) if st else missing(c.key, size))
        lines.append(f"| {format_size(size)} | " + " | ".join(cells) + " |")

    pairs = ratio_pairs(result)
    sense = ("latency ratio: above 1 = omx slower" if result.mode == "lat"
             else "bandwidth ratio: below 1 = omx slower")
    lines += ["", f"Ratios omx / reference, from the medians ({sense}):", ""]
    lines.append("| size | " + " | ".join(f"{_short(s)} / {_short(r)}" for s, r in pairs) + " |")
    lines.append("|---:|" + "---:|" * len(pairs))
    for size in sizes:
        cells = []
        for s, r in pairs:
            v = ratio(result, s, r, size)
            cells.append("n/a" if v is None else f"{v:.2f}x" if v >= 0.1 else f"{v:.3f}x")
        lines.append(f"| {format_size(size)} | " + " | ".join(cells) + " |")
    if notes:
        lines.append("")
        lines += [f"[{i + 1}] {n}" for i, n in enumerate(notes)]
    return "\n".join(lines) + "\n"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def environment() -> dict[str, Any]:
    """Machine and software facts recorded with the numbers."""
    return {
        "host": socket.gethostname(),
        "kernel": platform.release(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "loadavg": list(os.getloadavg()),
        "python": platform.python_version(),
        "versions": {d: _version(d) for d in ("omx-transport", "numpy", "mpi4py", "mpich",
                                              "matplotlib")},
        "omx_env": {k: v for k, v in sorted(os.environ.items()) if k.startswith("OMX_")},
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def to_json(results: Sequence[ModeResult], meta: dict[str, Any]) -> dict[str, Any]:
    """Everything: metadata, plan, contenders, every sample, every run, summaries, ratios."""
    modes = {}
    for res in results:
        summary = []
        for c in res.contenders:
            for size, _ in res.plan:
                st = res.stats(c.key, size)
                extra = asdict(st) if st else {"missing": res.why_missing(c.key, size)}
                summary.append({"contender": c.key, "size": size, "unit": res.unit, **extra})
        ratios = [{"subject": s, "reference": r, "size": size, "ratio": ratio(res, s, r, size)}
                  for s, r in ratio_pairs(res) for size, _ in res.plan]
        modes["latency" if res.mode == "lat" else "bandwidth"] = {
            "unit": res.unit,
            "reps": res.reps,
            "seconds": round(res.seconds, 1),
            "plan": [{"size": s, "iters": n} for s, n in res.plan],
            "contenders": [asdict(c) for c in res.contenders],
            "samples": [asdict(s) for s in res.samples],
            "runs": [asdict(r) for r in res.runs],
            "summary": summary,
            "ratios": ratios,
        }
    return {"meta": meta, "modes": modes}


def write_png(results: Sequence[ModeResult], path: str, title: str) -> str | None:
    """Latency and bandwidth against size (log axes); None, or why no plot was made."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install 'omx-transport[plot]')"
    by_mode = {r.mode: r for r in results}
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for ax, mode in zip(axes, ("lat", "bw"), strict=True):
        src = by_mode.get(mode) or next(iter(by_mode.values()))
        derived = src.mode != mode
        for c in src.contenders:
            xs, ys, lo, hi = [], [], [], []
            for size, _ in src.plan:
                st = src.stats(c.key, size)
                if st is None or size == 0:
                    continue  # a log axis has no place for 0 bytes
                conv = (lambda v, s=size: s / v if v > 0 else float("nan")) if derived else None
                vals = [st.median, st.min, st.max]
                if conv:
                    vals = [conv(v) for v in vals]
                xs.append(size)
                ys.append(vals[0])
                lo.append(min(vals[1:] + [vals[0]]))
                hi.append(max(vals[1:] + [vals[0]]))
            if xs:
                err = [[y - a for y, a in zip(ys, lo, strict=True)],
                       [b - y for y, b in zip(ys, hi, strict=True)]]
                style = "--" if c.role != SUBJECT else "-"
                ax.errorbar(xs, ys, yerr=err, fmt="o" + style, capsize=3, label=c.label)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("message size (bytes)")
        unit = "one-way latency (us)" if mode == "lat" else "bandwidth (MB/s)"
        ax.set_ylabel(unit + (" - derived" if derived else ""))
        ax.set_title(("derived from " + ("bandwidth" if mode == "lat" else "ping-pong"))
                     if derived else ("ping-pong" if mode == "lat" else "stream"))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def command_line() -> str:
    """How this run was invoked, for the report."""
    return " ".join(["python -m omx_transport.bench", *sys.argv[1:]])
