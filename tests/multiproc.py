"""N-process test harness: each rank of a scenario is a fresh process.

Like pairs.py for N ranks.  Every process initialises libopen-mx from its
own environment; the parent relays the endpoint addresses (every rank gets
the list), implements barriers and collects each rank's JSON result.
Child protocol on stdout, one JSON object per line: {"addr": "..."},
{"barrier": n}, {"result": ...}; the parent answers on stdin with
{"peers": [...]} and {"go": n}.  Scenarios live in shared_scenarios.py and
run as ``fn(rank, size, ep, addresses, link, **args)``.

``run_group(..., on_ready=...)`` lets a test act on the running processes
(for instance SIGKILL one) once every rank has reached a given barrier.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CHILD = HERE / "multiproc_child.py"


def free_base_port() -> int:
    """A UDP base port range (64 ports) unlikely to collide with another test."""
    return random.randrange(20000, 60000 - 64)


class GroupError(AssertionError):
    pass


def run_group(
    scenario: str,
    size: int,
    env: dict[str, str | None] | None = None,
    args: dict[str, Any] | None = None,
    timeout: float = 120.0,
    expect_exit: dict[int, int | None] | None = None,
    on_barrier: Callable[[int, list[subprocess.Popen]], None] | None = None,
) -> list[Any]:
    """Run ``scenario`` on ``size`` ranks; return their results by rank.

    ``env`` entries override the parent's environment (None removes one).
    ``expect_exit`` maps a rank to its expected return code (None: any);
    ranks not named must exit 0.  ``on_barrier(n, procs)`` runs in the parent
    when every live rank reached barrier n, before they are released.
    """
    full_env = dict(os.environ)
    full_env.setdefault("OMX_UDP_ADDR", f"127.0.0.1:{free_base_port()}")
    full_env.update(env or {})
    # None removes a variable: ``{"OMX_UDP_ADDR": None}`` runs on the defaults.
    full_env = {k: v for k, v in full_env.items() if v is not None}
    full_env["PYTHONPATH"] = os.pathsep.join(
        [str(HERE)] + [p for p in full_env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    expect_exit = expect_exit or {}
    procs = [
        subprocess.Popen(
            [sys.executable, str(CHILD), scenario, str(rank), str(size), json.dumps(args or {})],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=full_env,
        )
        for rank in range(size)
    ]
    results: list[Any] = [None] * size
    addrs: list[str | None] = [None] * size
    barriers = [0] * size
    released = [0]
    gone = [False] * size
    lock = threading.Lock()

    def send(rank: int, obj: dict[str, Any]) -> None:
        try:
            procs[rank].stdin.write(json.dumps(obj) + "\n")
            procs[rank].stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass

    def maybe_release() -> None:
        live = [r for r in range(size) if not gone[r]]
        target = released[0] + 1
        if live and all(barriers[r] == target for r in live):
            if on_barrier is not None:
                on_barrier(target, procs)
            released[0] = target
            for r in live:
                if procs[r].poll() is None:
                    send(r, {"go": target})

    def reader(rank: int) -> None:
        for line in procs[rank].stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            with lock:
                if "addr" in msg:
                    addrs[rank] = msg["addr"]
                    if all(addrs):
                        for r in range(size):
                            send(r, {"peers": addrs})
                elif "barrier" in msg:
                    barriers[rank] = msg["barrier"]
                    maybe_release()
                elif "result" in msg:
                    results[rank] = msg["result"]
        with lock:
            gone[rank] = True
            if all(addrs):
                maybe_release()

    errs = [""] * size

    def drain_stderr(rank: int) -> None:
        errs[rank] = procs[rank].stderr.read()

    threads = [threading.Thread(target=reader, args=(r,), daemon=True) for r in range(size)]
    threads += [threading.Thread(target=drain_stderr, args=(r,), daemon=True) for r in range(size)]
    for t in threads:
        t.start()
    late = None
    try:
        for rank, p in enumerate(procs):
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                late = rank
                break
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for t in threads:
            t.join(timeout=5)
    if late is not None:
        raise GroupError(
            f"scenario {scenario}: rank {late} did not finish in {timeout} s\n"
            + "".join(f"rank {r} stderr:\n{errs[r]}\n" for r in range(size))
        )
    for rank, p in enumerate(procs):
        want = expect_exit.get(rank, 0)
        if want is not None and p.returncode != want:
            raise GroupError(
                f"scenario {scenario}: rank {rank} exited {p.returncode}\n{errs[rank]}"
            )
    return results
