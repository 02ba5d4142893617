"""Processes on the two-host packet fabric (tests/test_packet_*.py).

Each host of a ``netns_pair`` gets its own runtime directory for the
host-wide state (``OMX_STATE_DIR``) and runs children of this module: a
small command interpreter around ``omx_transport.Endpoint`` driven by JSON
lines on stdin.  While it waits for the next command a child keeps calling
progress on its endpoints, so acks and resends go out (Open-MX has no
progress thread) until the test is done with it.

    with Host(pair, 0, env) as a, Host(pair, 1, env) as b:
        ea = a.call(op="open", index=3)["addr"]
        ...

The installed tools (omx_info, omxoed, ...) are found beside the Python
interpreter, where ``pip install .`` puts them, or on PATH.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

CHILD = r"""
import json, os, select, sys, time
import numpy as np
from omx_transport import Endpoint, EndpointAddress, OmxError

def pattern(size, seed):
    # A prime-length block tiled: a misplaced fragment or pull reply shows.
    offset = (seed * 40503) % 2**32
    block = ((np.arange(65521, dtype=np.uint32) * 2654435761 + offset) >> 11).astype(np.uint8)
    return np.resize(block, size) if size else np.zeros(0, np.uint8)

eps, peers = {}, {}

def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()

def code(exc):
    return int(exc)

def do(cmd):
    op = cmd["op"]
    if op == "open":
        ep = Endpoint(index=cmd.get("index", 0xFFFFFFFF))
        eps[cmd.get("name", ep.address.endpoint_index)] = ep
        return {"addr": str(ep.address), "session": ep.session_id}
    ep = eps.get(cmd.get("ep"))
    if op == "close":
        eps.pop(cmd["ep"]).close()
        return {}
    if op == "connect":
        try:
            peers[(cmd["ep"], cmd["to"])] = ep.connect(cmd["to"], timeout=cmd.get("timeout", 20))
            return {"status": 0}
        except OmxError as exc:
            return {"status": code(exc)}
    if op == "send":
        buf = pattern(cmd["size"], cmd.get("seed", 0))
        fn = ep.issend if cmd.get("sync") else ep.isend
        req = fn(buf, peers[(cmd["ep"], cmd["to"])], match=cmd.get("match", 0))
        st = req.wait(timeout=cmd.get("timeout", 120), check=False)
        return {"status": int(st.error), "xfer": st.xfer_length}
    if op == "recv":
        size = cmd["size"]
        buf = np.zeros(size + 16, np.uint8)
        match = cmd.get("match", 0)
        req = ep.irecv(buf[:size], match=match, mask=cmd.get("mask", (1 << 64) - 1 if match else 0))
        st = req.wait(timeout=cmd.get("timeout", 120), check=False)
        ok = bool(np.array_equal(buf[:size], pattern(size, cmd.get("seed", 0))))
        ok = ok and not buf[size:].any()
        return {"status": int(st.error), "msg": st.msg_length, "xfer": st.xfer_length, "exact": ok}
    if op == "exit":
        return {"bye": True}
    raise ValueError(op)

def main():
    while True:
        while not select.select([sys.stdin], [], [], 0.005)[0]:
            for ep in list(eps.values()):
                ep.progress()
        line = sys.stdin.readline()
        if not line:
            return
        cmd = json.loads(line)
        try:
            out = do(cmd)
        except Exception as exc:  # reported to the test, which fails with it
            out = {"exception": f"{type(exc).__name__}: {exc}"}
        reply(out)
        if cmd["op"] == "exit":
            # Linger in the library: the last acks go out.
            end = time.monotonic() + cmd.get("linger", 0.3)
            while time.monotonic() < end:
                for ep in eps.values():
                    ep.progress()
                time.sleep(0.002)
            for ep in eps.values():
                ep.close()
            return

main()
"""


def tool(name: str) -> str:
    """Path of an installed tool (beside this Python, else on PATH)."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} is not installed (pip install .)")
    return found


def host_env(tmp: Path, index: int, mtu: int, **extra: str) -> dict[str, str]:
    """Environment of host ``index``: packet link on veth0, a private state dir."""
    state = tmp / f"state{index}"
    state.mkdir(mode=0o700, exist_ok=True)
    env = {
        "OMX_LINK": "packet",
        "OMX_IFNAMES": "veth0",
        "OMX_MTU": str(mtu + 14),
        "OMX_STATE_DIR": str(state),
    }
    env.update(extra)
    return env


class Host:
    """One child interpreter in one namespace of the pair."""

    def __init__(self, pair: Any, index: int, env: dict[str, str], timeout: float = 180.0):
        self.pair, self.index, self.env, self.timeout = pair, index, env, timeout
        self.proc = pair.popen(
            index,
            [sys.executable, "-c", CHILD],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd="/",  # import the installed package, never a source tree in the cwd
        )

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)

    def post(self, **cmd: Any) -> None:
        """Send a command without waiting for its answer."""
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def result(self, timeout: float | None = None) -> dict[str, Any]:
        """The answer to the oldest command posted."""
        ready = select.select([self.proc.stdout], [], [], timeout or self.timeout)[0]
        if not ready:
            raise AssertionError(f"host {self.index}: no answer in {timeout or self.timeout} s")
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=10)
            raise AssertionError(
                f"host {self.index} exited {self.proc.returncode}:\n{self.proc.stderr.read()}"
            )
        out = json.loads(line)
        if "exception" in out:
            raise AssertionError(f"host {self.index}: {out['exception']}")
        return out

    def call(self, **cmd: Any) -> dict[str, Any]:
        self.post(**cmd)
        return self.result()

    def finish(self, linger: float = 0.3) -> str:
        """Ask the child to exit after lingering in the library; returns its stderr."""
        self.call(op="exit", linger=linger)
        self.proc.wait(timeout=30)
        err = self.proc.stderr.read()
        assert self.proc.returncode == 0, f"host {self.index} exited {self.proc.returncode}:\n{err}"
        return err


def run_tool(pair: Any, index: int, env: dict[str, str], *argv: str, check: bool = True,
             timeout: float = 60) -> subprocess.CompletedProcess:
    """Run an installed tool in host ``index``'s namespace."""
    r = pair.run(index, [tool(argv[0]), *argv[1:]], env=env, timeout=timeout)
    if check:
        assert r.returncode == 0, f"{' '.join(argv)}: rc {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def counters(text: str) -> dict[str, int]:
    """{label: value} from omx_counters output (one board)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        head, sep, rest = line.partition(":")
        if sep and head.isdigit() and len(head) == 3:
            value, _, label = rest.strip().partition(" ")
            out[label.strip()] = int(value)
    return out


def environ_has_root() -> bool:
    return os.geteuid() == 0
