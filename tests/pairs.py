"""Two-process test harness: each scenario runs as two fresh processes.

Every process initialises libopen-mx from its own environment (link,
faults, resend limits), so a scenario gets exactly the configuration it
asks for.  The parent relays endpoint addresses, implements a barrier and
collects each side's JSON result.  Child protocol on stdout, one JSON
object per line: {"addr": "..."}, {"barrier": n}, {"result": ...}.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CHILD = HERE / "pair_child.py"


def free_base_port() -> int:
    """A UDP base port range (64 ports) unlikely to collide with another test."""
    return random.randrange(20000, 60000 - 64)


class PairError(AssertionError):
    pass


def run_pair(
    scenario: str,
    env: dict[str, str] | None = None,
    args: dict[str, Any] | None = None,
    timeout: float = 120.0,
    expect_exit: tuple[int | None, int | None] = (0, 0),
) -> list[Any]:
    """Run ``scenario`` as roles 0 and 1; return [result0, result1].

    ``expect_exit`` gives each role's expected return code (None: any, e.g. a
    process that kills itself).
    """
    full_env = dict(os.environ)
    full_env.setdefault("OMX_UDP_ADDR", f"127.0.0.1:{free_base_port()}")
    full_env.update(env or {})
    full_env["PYTHONPATH"] = os.pathsep.join(
        [str(HERE)] + [p for p in full_env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    procs = [
        subprocess.Popen(
            [sys.executable, str(CHILD), scenario, str(role), json.dumps(args or {})],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=full_env,
        )
        for role in (0, 1)
    ]
    results: list[Any] = [None, None]
    addrs: list[str | None] = [None, None]
    cond = threading.Condition()
    barriers = [0, 0]
    released = [0]

    def send(role: int, obj: dict[str, Any]) -> None:
        try:
            procs[role].stdin.write(json.dumps(obj) + "\n")
            procs[role].stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def reader(role: int) -> None:
        for line in procs[role].stdout:
            msg = json.loads(line)
            with cond:
                if "addr" in msg:
                    addrs[role] = msg["addr"]
                    if all(addrs):
                        send(0, {"peer": addrs[1]})
                        send(1, {"peer": addrs[0]})
                elif "barrier" in msg:
                    barriers[role] = msg["barrier"]
                    if barriers[0] == barriers[1] == released[0] + 1:
                        released[0] += 1
                        send(0, {"go": released[0]})
                        send(1, {"go": released[0]})
                elif "result" in msg:
                    results[role] = msg["result"]
                cond.notify_all()

    errs = ["", ""]

    def drain_stderr(role: int) -> None:
        errs[role] = procs[role].stderr.read()

    threads = [threading.Thread(target=reader, args=(r,), daemon=True) for r in (0, 1)]
    threads += [threading.Thread(target=drain_stderr, args=(r,), daemon=True) for r in (0, 1)]
    for t in threads:
        t.start()
    # Not communicate(): it would close stdin, which the children read from.
    late = None
    try:
        for role, p in enumerate(procs):
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                late = role
                break
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for t in threads:
            t.join(timeout=5)
    if late is not None:
        raise PairError(
            f"scenario {scenario}: role {late} did not finish in {timeout} s\n"
            f"role 0 stderr:\n{errs[0]}\nrole 1 stderr:\n{errs[1]}"
        )
    for role, p in enumerate(procs):
        want = expect_exit[role]
        if want is not None and p.returncode != want:
            raise PairError(f"scenario {scenario}: role {role} exited {p.returncode}\n{errs[role]}")
    return results
