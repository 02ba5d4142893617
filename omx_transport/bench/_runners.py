"""How each contender is launched, and where (one host, or two namespaces over veth).

A contender runs the whole plan (every size, its warm-up and timed
iterations) in one launch and answers ``result`` / ``skip`` lines, parsed
into a :class:`RunOutcome`.  The harness calls :meth:`Contender.run` once per
repetition, interleaving the contenders.

Topologies:

* :class:`LocalTopology` - both sides on this host, client on CPU A and
  server on CPU B.  Open-MX uses whatever ``OMX_LINK`` says (udp on
  127.0.0.1 by default, a private base port so concurrent tests do not
  collide) with the driver's intra-host shared path (link ``shared``), or
  with link ``udp`` the udp link alone (``OMX_DISABLE_SHARED=1``), every
  frame a datagram on 127.0.0.1; MPICH uses its shared memory.
* :class:`CrossHostTopology` - side 0 in namespace a, side 1 in namespace b,
  joined by veth0 at the chosen MTU.  Open-MX uses the packet link
  (``OMX_LINK=packet OMX_IFNAMES=veth0 OMX_MTU=MTU+14``); MPICH goes over
  libfabric's tcp provider with shared memory disabled.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..netns import VethPair

SUBJECT, REFERENCE = "subject", "reference"
_RESULT = re.compile(r"^result size=(\d+) iters=(\d+) us=([0-9.eE+-]+) mbps=([0-9.eE+-]+)\s*$")
_SKIP = re.compile(r"^skip size=(\d+) reason=(.*)$")
_PERF = re.compile(r"^length\s+(\d+):\s+([0-9.]+) us\s+([0-9.]+) MB/s")
_WORKER = "omx_transport.bench._worker"


@dataclass
class Measurement:
    """One size of one run: time per message (one-way for latency) and MB/s (10^6 B/s)."""

    size: int
    iters: int
    us: float
    mbps: float


@dataclass
class RunOutcome:
    """What one launch of a contender produced."""

    results: dict[int, Measurement] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    argv: list[str] = field(default_factory=list)


def parse_lines(text: str, out: RunOutcome) -> None:
    """Add the ``result``, ``skip`` and ``#`` lines of ``text`` to ``out``."""
    for line in text.splitlines():
        line = line.strip()
        if m := _RESULT.match(line):
            size = int(m.group(1))
            out.results[size] = Measurement(size, int(m.group(2)), float(m.group(3)),
                                            float(m.group(4)))
        elif m := _SKIP.match(line):
            out.skipped[int(m.group(1))] = m.group(2).strip()
        elif line.startswith("#") and line[1:].strip() not in out.notes:
            out.notes.append(line[1:].strip())


def plan_arg(plan: Sequence[tuple[int, int]]) -> str:
    """``[(size, iters), ...]`` as the ``SIZE:ITERS,...`` argument every program takes."""
    return ",".join(f"{s}:{n}" for s, n in plan)


def find_program(name: str) -> str | None:
    """Path of an installed program: $OMX_BENCH_BINDIR, this Python's bin, scripts, PATH."""
    dirs = [os.environ.get("OMX_BENCH_BINDIR", ""), str(Path(sys.executable).parent),
            sysconfig.get_path("scripts")]
    for d in dirs:
        if d and os.access(os.path.join(d, name), os.X_OK):
            return os.path.join(d, name)
    return shutil.which(name)


def _tail(text: str, n: int = 600) -> str:
    text = text.strip()
    return text if len(text) <= n else "..." + text[-n:]


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def _run(argv: list[str], env: Mapping[str, str], timeout: float, cwd: str) -> tuple[int, str]:
    """Run argv in its own process group; (status, stdout+stderr); kills the group on timeout."""
    proc = subprocess.Popen(argv, env=dict(env), cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out = proc.stdout.read() if proc.stdout else ""
        return -1, f"timed out after {timeout:.0f} s\n{out}"
    except BaseException:
        _kill_group(proc)
        raise
    return proc.returncode, out


def _wait_line(proc: subprocess.Popen, pattern: str, timeout: float) -> tuple[bool, str]:
    """Read proc's stdout until a line contains pattern; (found, what was read)."""
    assert proc.stdout is not None
    seen: list[str] = []
    end = time.monotonic() + timeout
    fd = proc.stdout.fileno()
    buf = b""
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            text = line.decode(errors="replace")
            seen.append(text)
            if pattern in text:
                return True, "\n".join(seen)
    return False, "\n".join(seen) + buf.decode(errors="replace")


# ---- topologies ------------------------------------------------------------


class Topology:
    """Where the two sides run and with which environment."""

    name = "local"

    def __init__(self, cpus: tuple[int, int] | None) -> None:
        self.cpus = cpus
        self.workdir = tempfile.mkdtemp(prefix="omx-bench-")

    def wrap(self, side: int, argv: Sequence[str], pin: bool = True) -> list[str]:
        """argv to start ``argv`` on side 0 (client, rank 0) or 1 (server, rank 1)."""
        if pin and self.cpus is not None:
            return ["taskset", "-c", str(self.cpus[side]), *map(str, argv)]
        return list(map(str, argv))

    def popen(self, side: int, argv: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen:
        """Start a server on ``side`` (own process group, stdout piped, stderr merged)."""
        return subprocess.Popen(self.wrap(side, argv), env=dict(env), cwd=self.workdir,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def omx_env(self) -> dict[str, str]:
        """Environment added for Open-MX processes."""
        return {}

    def mpi_env(self) -> dict[str, str]:
        """Environment added for MPI jobs."""
        return {}

    def omx_hostname(self, side: int) -> str:
        """The Open-MX hostname of side's board (what ``omx_perf -d`` takes)."""
        return f"{socket.gethostname()}:0"

    def describe(self) -> str:
        """One line for the report header."""
        return "one host"

    def close(self) -> None:
        """Remove the working directory."""
        shutil.rmtree(self.workdir, ignore_errors=True)


class LocalTopology(Topology):
    """Both sides on this host."""

    name = "local"
    LINKS = ("shared", "udp")

    def __init__(self, cpus: tuple[int, int] | None, link: str = "shared") -> None:
        super().__init__(cpus)
        if link not in self.LINKS:
            raise ValueError(f"link {link!r} is not one of {', '.join(self.LINKS)} for --local")
        self.link = link
        # A private udp base port: tests running at the same time use the default one.
        self._omx = {}
        if "OMX_UDP_ADDR" not in os.environ:
            self._omx["OMX_UDP_ADDR"] = f"127.0.0.1:{random.randrange(20000, 60000, 64)}"
        if link == "udp":
            self._omx.update(OMX_LINK="udp", OMX_DISABLE_SHARED="1")

    def omx_env(self) -> dict[str, str]:
        return dict(self._omx)

    def udp_mtu(self) -> int:
        """The udp link's frame size (OMX_MTU, default 9000): the UDP floor's datagram size."""
        try:
            mtu = int(os.environ.get("OMX_MTU", "9000"))
        except ValueError:
            return 9000
        return min(max(mtu, 1500), 65507)  # the link clamps it the same way

    def describe(self) -> str:
        if self.link == "udp":
            return (f"one host (omx udp link on 127.0.0.1, frames of {self.udp_mtu()} bytes, "
                    f"shared path off; MPICH shared memory)")
        link = os.environ.get("OMX_LINK", "udp")
        return f"one host (omx link {link} and the intra-host shared path, MPICH shared memory)"


class CrossHostTopology(Topology):
    """Side 0 and side 1 in the two namespaces of a veth pair."""

    name = "cross-host"

    def __init__(self, pair: VethPair, cpus: tuple[int, int] | None) -> None:
        super().__init__(cpus)
        self.pair = pair
        self.mtu = pair.mtu
        self.peers_file = os.path.join(self.workdir, "peers")
        with open(self.peers_file, "w") as f:
            for h in pair.hosts:
                f.write(f"{h.mac} {h.ns}:0\n")

    def wrap(self, side: int, argv: Sequence[str], pin: bool = True) -> list[str]:
        return self.pair.argv(side, super().wrap(side, argv, pin))

    def popen(self, side: int, argv: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen:
        # Registered with the pair, so leaving veth_pair kills it whatever happens.
        return self.pair.popen(side, super().wrap(side, argv), env=dict(env), cwd=self.workdir,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def omx_env(self) -> dict[str, str]:
        return {
            "OMX_LINK": "packet",
            "OMX_IFNAMES": self.pair.hosts[0].ifname,
            "OMX_MTU": str(self.mtu + 14),  # the frame, Ethernet header included
            "OMX_PEERS_FILE": self.peers_file,
        }

    def mpi_env(self) -> dict[str, str]:
        return {
            "MPIR_CVAR_CH4_NETMOD": "ofi",
            "FI_PROVIDER": "tcp",
            "MPIR_CVAR_NOLOCAL": "1",
            "FI_TCP_IFACE": self.pair.hosts[0].ifname,
        }

    def omx_hostname(self, side: int) -> str:
        return f"{self.pair.hosts[side].ns}:0"

    def describe(self) -> str:
        return (f"two namespaces over veth, MTU {self.mtu} (omx packet link, "
                f"MPICH ofi/tcp with MPIR_CVAR_NOLOCAL=1)")


# ---- contenders ------------------------------------------------------------


class Contender:
    """Something measured: a subject (omx) or a reference (MPI, a floor)."""

    key = ""
    label = ""
    role = REFERENCE
    versus: str | None = None  # compared with this contender only (a variant of it)

    def unavailable(self) -> str | None:
        """Why it cannot run here, or None."""
        return None

    def command(self, mode: str, plan: Sequence[tuple[int, int]]) -> list[str]:
        """The main command line (for the report)."""
        raise NotImplementedError

    def run(self, mode: str, plan: Sequence[tuple[int, int]], timeout: float) -> RunOutcome:
        """Measure every (size, iters) of plan once."""
        raise NotImplementedError


class MpiWorker(Contender):
    """The Python worker under ``mpiexec -n 2``: the omx Comm or mpi4py's communicator."""

    def __init__(self, topo: Topology, api: str, key: str, label: str, role: str) -> None:
        self.topo, self.api, self.key, self.label, self.role = topo, api, key, label, role
        self.mpiexec = find_program("mpiexec")

    def unavailable(self) -> str | None:
        if not self.mpiexec:
            return "mpiexec not found (pip install mpich)"
        try:
            import mpi4py  # noqa: F401
        except ImportError:
            return "mpi4py is not installed (pip install 'omx-transport[mpi]')"
        return None

    def env(self) -> dict[str, str]:
        """The job's environment."""
        env = dict(os.environ)
        env.update(self.topo.mpi_env())
        if self.api != "mpi4py":
            env.update(self.topo.omx_env())
        return env

    def command(self, mode: str, plan: Sequence[tuple[int, int]]) -> list[str]:
        worker = [sys.executable, "-m", _WORKER, "--api", self.api, "--mode", mode,
                  "--plan", plan_arg(plan)]
        assert self.mpiexec
        return [self.mpiexec, "-n", "1", *self.topo.wrap(0, worker), ":",
                "-n", "1", *self.topo.wrap(1, worker)]

    def run(self, mode: str, plan: Sequence[tuple[int, int]], timeout: float) -> RunOutcome:
        out = RunOutcome(argv=self.command(mode, plan))
        t0 = time.monotonic()
        rc, text = _run(out.argv, self.env(), timeout, self.topo.workdir)
        out.seconds = time.monotonic() - t0
        parse_lines(text, out)
        if rc != 0:
            out.error = f"exit {rc}: {_tail(text)}"
        return out


class ForkFloor(Contender):
    """A floor program that forks its own peer (omx_floor_shm, omx_floor_cma)."""

    role = REFERENCE

    def __init__(self, topo: Topology, program: str, key: str, label: str) -> None:
        self.topo, self.program, self.key, self.label = topo, program, key, label
        self.path = find_program(program)

    def unavailable(self) -> str | None:
        return None if self.path else f"{self.program} not found (pip install . builds it)"

    def command(self, mode: str, plan: Sequence[tuple[int, int]]) -> list[str]:
        cpus = "-" if self.topo.cpus is None else f"{self.topo.cpus[0]},{self.topo.cpus[1]}"
        assert self.path
        return [self.path, "--mode", mode, "--plan", plan_arg(plan), "--cpus", cpus]

    def run(self, mode: str, plan: Sequence[tuple[int, int]], timeout: float) -> RunOutcome:
        out = RunOutcome(argv=self.command(mode, plan))
        t0 = time.monotonic()
        rc, text = _run(out.argv, os.environ, timeout, self.topo.workdir)
        out.seconds = time.monotonic() - t0
        parse_lines(text, out)
        if rc != 0:
            out.error = f"exit {rc}: {_tail(text)}"
        return out


class ServerClient(Contender):
    """Two programs: a server started on side 1 first, then clients on side 0."""

    ready = ""

    def server_argv(self, mode: str, plan: Sequence[tuple[int, int]]) -> list[str]:
        """The server's command line."""
        raise NotImplementedError

    def client_argvs(self, mode: str, plan: Sequence[tuple[int, int]]) -> list[list[str]]:
        """Client command lines, run one after the other."""
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        """Environment of both sides."""
        return dict(os.environ)

    def client_env(self, env: dict[str, str]) -> dict[str, str]:
        """Environment of the clients (the server gets ``env``)."""
        return env

    def parse_client(self, text: str, out: RunOutcome, step: tuple[int, int] | None) -> None:
        """Turn one client's output into results."""
        parse_lines(text, out)

    def steps_of_clients(self, plan: Sequence[tuple[int, int]]) -> list[tuple[int, int] | None]:
        """Which plan step each client command measures (None: all of them)."""
        return [None]

    def on_ready(self, text: str) -> None:
        """The server's output up to its ready line (before client_argvs is asked)."""

    def command(self, mode: str, plan: Sequence[tuple[int, int]]) -> list[str]:
        server = self.topo.wrap(1, self.server_argv(mode, plan))
        client = self.topo.wrap(0, self.client_argvs(mode, plan)[0])
        return [*server, "&", *client]

    topo: Topology

    def run(self, mode: str, plan: Sequence[tuple[int, int]], timeout: float) -> RunOutcome:
        out = RunOutcome(argv=self.command(mode, plan))
        env = self.env()
        t0 = time.monotonic()
        server = self.topo.popen(1, self.server_argv(mode, plan), env)
        try:
            ok, text = _wait_line(server, self.ready, min(timeout, 30.0))
            if not ok:
                out.error = f"server never printed {self.ready!r}: {_tail(text)}"
                return out
            parse_lines(text, out)
            self.on_ready(text)
            clients = zip(self.client_argvs(mode, plan), self.steps_of_clients(plan), strict=True)
            for argv, step in clients:
                left = timeout - (time.monotonic() - t0)
                rc, text = _run(self.topo.wrap(0, argv), self.client_env(env), max(left, 1.0),
                                self.topo.workdir)
                self.parse_client(text, out, step)
                if rc != 0:
                    out.error = f"client exit {rc}: {_tail(text)}"
                    break
        finally:
            _kill_group(server)
            out.seconds = time.monotonic() - t0
        return out


class RawFloor(ServerClient):
    """omx_floor_raw across the two namespaces."""

    role = REFERENCE
    ready = "ready"

    def __init__(self, topo: CrossHostTopology) -> None:
        self.topo = topo
        self.key, self.label = "raw", "raw AF_PACKET floor (C)"
        self.path = find_program("omx_floor_raw")

    def unavailable(self) -> str | None:
        return None if self.path else "omx_floor_raw not found (pip install . builds it)"

    def _common(self, mode: str, plan: Sequence[tuple[int, int]]) -> list[str]:
        assert isinstance(self.topo, CrossHostTopology)
        return ["--ifname", self.topo.pair.hosts[0].ifname, "--mode", mode,
                "--plan", plan_arg(plan)]

    def server_argv(self, mode: str, plan: Sequence[tuple[int, int]]) -> list[str]:
        assert self.path
        return [self.path, "server", *self._common(mode, plan)]

    def client_argvs(self, mode: str, plan: Sequence[tuple[int, int]]) -> list[list[str]]:
        assert self.path and isinstance(self.topo, CrossHostTopology)
        return [[self.path, "client", *self._common(mode, plan),
                 "--peer", self.topo.pair.hosts[1].mac]]


class SockFloor(ServerClient):
    """omx_floor_sock -t udp|tcp: a plain UDP or TCP socket ping-pong and stream.

    The server binds an ephemeral port on side 1's address and announces it
    (and, for udp, the credit window its receive buffer allows) in its ready
    line; the client on side 0 is started with both.
    """

    role = REFERENCE
    ready = "ready"
    _READY = re.compile(r"ready port=(\d+) window=(\d+)")

    def __init__(self, topo: Topology, kind: str) -> None:
        self.topo, self.kind = topo, kind
        self.key = kind
        self.label = f"{kind.upper()} socket floor (C)"
        self.path = find_program("omx_floor_sock")
        self.port, self.window = "<port>", "<window>"

    def unavailable(self) -> str | None:
        return None if self.path else "omx_floor_sock not found (pip install . builds it)"

    def _addr(self) -> str:
        if isinstance(self.topo, CrossHostTopology):
            return self.topo.pair.hosts[1].ip
        return "127.0.0.1"

    def _common(self, mode: str, plan: Sequence[tuple[int, int]]) -> list[str]:
        argv = ["-t", self.kind, "--mode", mode, "--plan", plan_arg(plan), "--addr", self._addr()]
        if self.kind == "udp" and isinstance(self.topo, LocalTopology):
            argv += ["--mtu", str(self.topo.udp_mtu())]
        return argv

    def server_argv(self, mode: str, plan: Sequence[tuple[int, int]]) -> list[str]:
        assert self.path
        return [self.path, "server", *self._common(mode, plan)]

    def on_ready(self, text: str) -> None:
        m = self._READY.search(text)
        if m:
            self.port, self.window = m.group(1), m.group(2)

    def client_argvs(self, mode: str, plan: Sequence[tuple[int, int]]) -> list[list[str]]:
        assert self.path
        return [[self.path, "client", *self._common(mode, plan), "--port", self.port,
                 "--window", self.window]]


class OmxPerf(ServerClient):
    """The C tool omx_perf (reference options): a receiver, then one sender per size."""

    role = SUBJECT
    ready = "Starting receiver"

    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        self.key, self.label = "omx_perf", "omx_perf (C)"
        self.path = find_program("omx_perf")

    def unavailable(self) -> str | None:
        return None if self.path else "omx_perf not found (native/tools not built yet?)"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.topo.omx_env())
        return env

    def server_argv(self, mode: str, plan: Sequence[tuple[int, int]]) -> list[str]:
        assert self.path
        return [self.path, "-s", "-e", "0"]

    def client_argvs(self, mode: str, plan: Sequence[tuple[int, int]]) -> list[list[str]]:
        assert self.path
        dest = self.topo.omx_hostname(1)
        out = []
        for size, iters in plan:
            argv = [self.path, "-d", dest, "-r", "0", "-S", str(size), "-E", str(size + 1),
                    "-N", str(iters), "-W", str(max(2, iters // 10)), "-P", "0"]
            out.append(argv + (["-U"] if mode == "bw" else []))
        return out

    def steps_of_clients(self, plan: Sequence[tuple[int, int]]) -> list[tuple[int, int] | None]:
        return list(plan)

    def parse_client(self, text: str, out: RunOutcome, step: tuple[int, int] | None) -> None:
        assert step is not None
        for line in text.splitlines():
            m = _PERF.match(line.strip())
            if m and int(m.group(1)) == step[0]:
                us = float(m.group(2))
                out.results[step[0]] = Measurement(step[0], step[1], us,
                                                   step[0] / us if us > 0 else 0.0)


class OmxPerfSplit(OmxPerf):
    """omx_perf whose client goes through the split driver (issue 8).

    Each launch starts an ``omx_backend`` on side 0 with the link environment
    the direct client uses (same board), runs the client with
    ``OMX_DRIVER=split:SOCKET`` and stops the backend whatever happens; the
    server is the direct one of :class:`OmxPerf`.  The backend shares the
    client's CPU: with two CPUs there is none of its own (dom0's, under Xen),
    and left to float it measured about twice slower at 8 B.
    """

    versus = "omx_perf"

    def __init__(self, topo: Topology) -> None:
        super().__init__(topo)
        self.key, self.label = "omx_perf_split", "omx_perf split driver (C)"
        self.backend = find_program("omx_backend")
        self.sock = os.path.join(topo.workdir, "backend.sock")
        self.log = os.path.join(topo.workdir, "backend.log")

    def unavailable(self) -> str | None:
        return super().unavailable() or (
            None if self.backend else "omx_backend not found (pip install . builds it)")

    def client_env(self, env: dict[str, str]) -> dict[str, str]:
        return {**env, "OMX_DRIVER": f"split:{self.sock}"}

    def command(self, mode: str, plan: Sequence[tuple[int, int]]) -> list[str]:
        assert self.backend
        backend = self.topo.wrap(0, [self.backend, "--socket", self.sock])
        return [*backend, "&", "OMX_DRIVER=split:" + self.sock, *super().command(mode, plan)]

    def _start_backend(self) -> subprocess.Popen:
        """Start the backend on side 0 (own process group), its output in backend.log."""
        assert self.backend
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.sock)
        argv = [self.backend, "--socket", self.sock]
        if self.topo.cpus is not None:
            argv = ["taskset", "-c", str(self.topo.cpus[0]), *argv]
        env = self.env()
        env.pop("OMX_DRIVER", None)
        with open(self.log, "wb") as log:
            if isinstance(self.topo, CrossHostTopology):
                return self.topo.pair.popen(0, argv, env=env, cwd=self.topo.workdir,
                                            stdout=log, stderr=subprocess.STDOUT)
            return subprocess.Popen(argv, env=env, cwd=self.topo.workdir, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def _wait_backend(self, proc: subprocess.Popen, timeout: float) -> str | None:
        """None once the backend's socket accepts a connection, else why not."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if proc.poll() is not None:
                return f"omx_backend exited {proc.returncode}: {self._log_tail()}"
            with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX,
                                                             socket.SOCK_SEQPACKET) as s:
                s.connect(self.sock)
                return None
            time.sleep(0.02)
        return f"omx_backend did not listen on {self.sock} in {timeout:.0f} s: {self._log_tail()}"

    def _log_tail(self) -> str:
        try:
            return _tail(Path(self.log).read_text(errors="replace"))
        except OSError:
            return ""

    def run(self, mode: str, plan: Sequence[tuple[int, int]], timeout: float) -> RunOutcome:
        backend = self._start_backend()
        try:
            why = self._wait_backend(backend, min(timeout, 15.0))
            if why:
                return RunOutcome(argv=self.command(mode, plan), error=why)
            out = super().run(mode, plan, timeout)
            if backend.poll() is not None and not out.error:
                out.error = f"omx_backend exited {backend.returncode} during the run"
            return out
        finally:
            _kill_group(backend)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.sock)


def contenders_for(topo: Topology) -> list[Contender]:
    """Every contender of a topology, subjects first."""
    omx = MpiWorker(topo, "omx", "omx", "omx Comm (Python)", SUBJECT)
    perf = OmxPerf(topo)
    tcp = SockFloor(topo, "tcp")
    split = OmxPerfSplit(topo)
    if isinstance(topo, CrossHostTopology):
        mpich = MpiWorker(topo, "mpi4py", "mpich", "mpi4py + MPICH ofi/tcp", REFERENCE)
        return [omx, perf, split, mpich, RawFloor(topo), tcp]
    mpich = MpiWorker(topo, "mpi4py", "mpich", "mpi4py + MPICH shm", REFERENCE)
    shm = ForkFloor(topo, "omx_floor_shm", "shm", "shm two-copy floor (C)")
    cma = ForkFloor(topo, "omx_floor_cma", "cma", "CMA single-copy floor (C)")
    # The split row needs the link alone: the intra-host shared path of a direct
    # server does not reach the backend's frontends.
    splits = [split] if isinstance(topo, LocalTopology) and topo.link == "udp" else []
    return [omx, perf, *splits, mpich, shm, cma, SockFloor(topo, "udp"), tcp]
