"""The measurement loop: plans, interleaved repetitions, statistics, the progress line.

Every repetition launches each available contender once, in an order
rotated by one at each repetition, so slow drifts of the machine (other
jobs, frequency, a noisy neighbour) spread over all of them instead of
landing on one.  Each launch runs the whole plan: per size, max(2, iters/10)
untimed warm-up messages, then ``iters`` timed ones giving one sample.
Statistics are over the repetitions: median, min and max.
"""

from __future__ import annotations

import re
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from ._runners import Contender

MODES = {"latency": "lat", "bandwidth": "bw"}
KiB, MiB = 1 << 10, 1 << 20
DEFAULT_SIZES = {
    "lat": [0, 8, 1 * KiB, 8 * KiB, 64 * KiB],
    "bw": [64 * KiB, 1 * MiB, 4 * MiB, 16 * MiB],
}
ALL_SIZES = [0] + [1 << k for k in range(0, 27, 2)]  # 0, 1, 4, 16, ... 64 MiB
MAX_SIZE = 64 * MiB
_SIZE = re.compile(r"^(\d+)\s*([kKmMgG]?)(i?[bB])?$")


def parse_sizes(text: str) -> list[int]:
    """``"0,8,1K,64K,4M"`` (binary suffixes) or ``"all"`` as a sorted list of bytes."""
    if text.strip() == "all":
        return list(ALL_SIZES)
    sizes = set()
    for item in text.split(","):
        m = _SIZE.match(item.strip())
        if not m:
            raise ValueError(f"bad size {item!r} (expected e.g. 0, 8, 64K, 4M)")
        size = int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30}[m.group(2).lower()]
        if size > MAX_SIZE:
            raise ValueError(f"size {item!r} exceeds 64 MiB")
        sizes.add(size)
    return sorted(sizes)


def format_size(size: int) -> str:
    """8 -> '8 B', 65536 -> '64 KiB', 4194304 -> '4 MiB'."""
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift and size % (1 << shift) == 0:
            return f"{size >> shift} {unit}"
    return f"{size} B"


def iterations(mode: str, size: int) -> int:
    """Timed messages per sample: about 0.1-1 s for the slowest contender.

    Latency: 10000 round trips up to 4 KiB, fewer above (at least 20);
    bandwidth: about 512 MiB per sample (4 to 5000 messages).
    """
    if mode == "lat":
        return max(20, min(10000, 10000 * 4096 // max(size, 4096)))
    return max(4, min(5000, (512 * MiB) // max(size, 1)))


def make_plan(mode: str, sizes: Sequence[int], iters: int | None = None) -> list[tuple[int, int]]:
    """[(size, iterations), ...] for a mode; ``iters`` overrides the per-size default."""
    return [(s, iters or iterations(mode, s)) for s in sizes]


@dataclass
class Stats:
    """Median, min and max of one contender at one size, over n samples."""

    median: float
    min: float
    max: float
    n: int


@dataclass
class Sample:
    """One timed measurement: a contender at one size in one repetition."""

    contender: str
    size: int
    rep: int
    iters: int
    us: float
    mbps: float


@dataclass
class RunRecord:
    """One launch of one contender (all sizes)."""

    contender: str
    rep: int
    order: int
    seconds: float
    error: str | None
    skipped: dict[int, str]
    notes: list[str]


@dataclass
class ContenderInfo:
    """What the report says about a contender."""

    key: str
    label: str
    role: str
    unavailable: str | None
    command: list[str]
    versus: str | None = None


@dataclass
class ModeResult:
    """Everything one mode (latency or bandwidth) measured."""

    mode: str
    plan: list[tuple[int, int]]
    reps: int
    contenders: list[ContenderInfo]
    samples: list[Sample] = field(default_factory=list)
    runs: list[RunRecord] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def unit(self) -> str:
        """'us' (one-way latency) or 'MB/s'."""
        return "us" if self.mode == "lat" else "MB/s"

    def value(self, s: Sample) -> float:
        """The sample's figure of merit for this mode."""
        return s.us if self.mode == "lat" else s.mbps

    def stats(self, key: str, size: int) -> Stats | None:
        """Statistics of contender ``key`` at ``size``, None without samples."""
        vals = [self.value(s) for s in self.samples if s.contender == key and s.size == size]
        if not vals:
            return None
        return Stats(statistics.median(vals), min(vals), max(vals), len(vals))

    def why_missing(self, key: str, size: int) -> str:
        """Why contender ``key`` has no sample at ``size``."""
        info = next(c for c in self.contenders if c.key == key)
        if info.unavailable:
            return info.unavailable
        for run in self.runs:
            if run.contender == key and size in run.skipped:
                return run.skipped[size]
        for run in self.runs:
            if run.contender == key and run.error:
                return run.error.splitlines()[0]
        return "no result"


class Progress:
    """A one-line progress display on stderr (a line per update when not a terminal)."""

    def __init__(self, stream: TextIO | None = None, total: int = 0) -> None:
        self.stream = stream or sys.stderr
        self.total = total
        self.done = 0
        self.t0 = time.monotonic()
        self.tty = self.stream.isatty()
        self._width = 0

    def show(self, text: str) -> None:
        """Replace the line with ``text`` plus the run count and the elapsed time."""
        elapsed = time.monotonic() - self.t0
        eta = ""
        if self.done and self.total > self.done:
            eta = f", ~{elapsed / self.done * (self.total - self.done):.0f} s left"
        line = f"[bench {self.done}/{self.total} runs, {elapsed:.0f} s{eta}] {text}"
        if self.tty:
            pad = max(0, self._width - len(line))
            self.stream.write("\r" + line + " " * pad)
            self._width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """End the progress line."""
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()


def run_mode(
    mode: str,
    contenders: Sequence[Contender],
    plan: list[tuple[int, int]],
    reps: int,
    timeout: float,
    progress: Progress,
) -> ModeResult:
    """Run ``reps`` interleaved repetitions of every available contender over ``plan``."""
    infos = []
    for c in contenders:
        why = c.unavailable()
        infos.append(ContenderInfo(c.key, c.label, c.role, why,
                                   [] if why else c.command(mode, plan), c.versus))
    result = ModeResult(mode, plan, reps, infos)
    live = [c for c, i in zip(contenders, infos, strict=True) if not i.unavailable]
    broken: set[str] = set()
    t0 = time.monotonic()
    for rep in range(reps):
        order = live[rep % len(live):] + live[:rep % len(live)] if live else []
        for pos, c in enumerate(order):
            if c.key in broken:
                progress.done += 1
                continue
            progress.show(f"{mode} rep {rep + 1}/{reps}: {c.label}")
            out = c.run(mode, plan, timeout)
            progress.done += 1
            result.runs.append(RunRecord(c.key, rep, pos, out.seconds, out.error,
                                         out.skipped, out.notes))
            for m in out.results.values():
                result.samples.append(Sample(c.key, m.size, rep, m.iters, m.us, m.mbps))
            if out.error:
                progress.show(f"{c.label} failed: {out.error.splitlines()[0][:120]}")
                if not out.results:
                    # Nothing measured at all: it would fail the same way every repetition.
                    broken.add(c.key)
    result.seconds = time.monotonic() - t0
    return result
