"""Two network namespaces joined by a veth pair: a two-host fabric on one machine.

    from omx_transport.netns import veth_pair

    with veth_pair(mtu=9000) as pair:
        pair.run(0, ["ip", "-o", "link"])                  # in host 0's namespace
        server = pair.popen(1, [sys.executable, "srv.py"], env={"OMX_LINK": "packet"})
        ...

Each host has lo and ``veth0`` up (MAC 02:00:00:00:xx:01 / :02, IPv4
10.<x>.<y>.1/24 / .2/24, so the udp link works across the pair too), in a
namespace named ``omxt-<pid>-<n>a`` / ``b``.  Leaving the block, normally or by
an exception (KeyboardInterrupt included), kills what ``popen`` started and
every process left inside the namespaces, then deletes them; an atexit hook
repeats that for anything still listed.  Namespaces of a process that died
without cleaning up (SIGKILL, os._exit) are removed by the next
``veth_pair`` call: their pid is gone.

Creating namespaces needs root (CAP_SYS_ADMIN) and iproute2; otherwise
``veth_pair`` raises ``NetnsUnavailable`` with the reason.  The tests
(``tests/netns.py``, the ``netns_pair`` fixture) and the benchmark suite
(``python -m omx_transport.bench --cross-host``) both use this module.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PREFIX = "omxt-"
IFNAME = "veth0"
_NAME_RE = re.compile(r"^omxt-(\d+)-\d+[ab]$")
_counter = itertools.count()
_lock = threading.Lock()
_live: set[str] = set()

__all__ = ["PREFIX", "IFNAME", "NetnsUnavailable", "Host", "VethPair", "veth_pair",
           "LoOnly", "lo_only_namespace", "list_namespaces"]


class NetnsUnavailable(Exception):
    """Namespaces cannot be created here; str() says why."""


@dataclass
class Host:
    """One side of the pair: namespace name, interface, its MAC and IPv4."""

    ns: str
    ifname: str
    mac: str
    ip: str


class _Runner:
    """run/popen inside the namespace that ``argv(ns_index, ...)`` names."""

    procs: list[subprocess.Popen]

    def argv(self, ns_index: int, argv: Sequence[str]) -> list[str]:
        """``argv`` wrapped to run inside namespace ns_index."""
        raise NotImplementedError

    def run(
        self,
        ns_index: int,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        timeout: float = 120.0,
        check: bool = False,
        **kwargs: Any,
    ) -> subprocess.CompletedProcess:
        """Run argv in host ns_index; env entries are added to os.environ.
        Output is captured as text unless stdout/stderr are given."""
        kwargs.setdefault("text", True)
        if "stdout" not in kwargs and "stderr" not in kwargs:
            kwargs["capture_output"] = True
        return subprocess.run(
            self.argv(ns_index, argv), env=_merged(env), timeout=timeout, check=check, **kwargs
        )

    def popen(
        self,
        ns_index: int,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> subprocess.Popen:
        """Start argv in host ns_index (own process group); killed when the pair goes."""
        kwargs.setdefault("start_new_session", True)
        proc = subprocess.Popen(self.argv(ns_index, argv), env=_merged(env), **kwargs)
        self.procs.append(proc)
        return proc


@dataclass
class VethPair(_Runner):
    """The two hosts of a :func:`veth_pair` and the processes started in them."""

    hosts: list[Host]
    mtu: int
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        """The two namespace names."""
        return [h.ns for h in self.hosts]

    def argv(self, ns_index: int, argv: Sequence[str]) -> list[str]:
        """``argv`` wrapped to run inside host ns_index's namespace."""
        return ["ip", "netns", "exec", self.hosts[ns_index].ns, *map(str, argv)]

    def set_mtu(self, mtu: int) -> None:
        """Change both interfaces' MTU."""
        for h in self.hosts:
            _ip("-n", h.ns, "link", "set", h.ifname, "mtu", str(mtu))
        self.mtu = mtu

    def ping(self, src: int = 0, timeout: float = 3.0) -> bool:
        """One ICMP echo from host src to the other host's veth address."""
        dst = self.hosts[1 - src].ip
        r = self.run(src, [sys.executable, "-c", _PING, dst, str(timeout)], timeout=timeout + 30)
        return r.returncode == 0


@dataclass
class LoOnly(_Runner):
    """A namespace with nothing but ``lo`` (no NIC, no route out), run like a
    :class:`VethPair` whose every index names this one namespace."""

    ns: str
    procs: list[subprocess.Popen] = field(default_factory=list)

    def argv(self, ns_index: int, argv: Sequence[str]) -> list[str]:
        """``argv`` wrapped to run inside the namespace (ns_index is ignored)."""
        return ["ip", "netns", "exec", self.ns, *map(str, argv)]


def _merged(env: Mapping[str, str] | None) -> dict[str, str]:
    out = dict(os.environ)
    out.update(env or {})
    return out


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip() or r.returncode}")
    return r


def list_namespaces() -> list[str]:
    """Names from ``ip netns list`` (first word of each line)."""
    r = _ip("netns", "list", check=False)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def _kill_inside(ns: str) -> None:
    r = _ip("netns", "pids", ns, check=False)
    for word in r.stdout.split():
        with contextlib.suppress(ValueError, ProcessLookupError, PermissionError):
            os.kill(int(word), signal.SIGKILL)


def _delete(ns: str) -> None:
    _kill_inside(ns)
    for _ in range(50):
        r = _ip("netns", "del", ns, check=False)
        if r.returncode == 0 or ns not in list_namespaces():
            break
        time.sleep(0.1)
    with _lock:
        _live.discard(ns)


def _sweep_stale() -> None:
    """Remove namespaces of earlier test processes that are gone."""
    for ns in list_namespaces():
        m = _NAME_RE.match(ns)
        if not m or int(m.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            _delete(ns)
        except PermissionError:
            pass


@atexit.register
def _cleanup_all() -> None:
    with _lock:
        left = list(_live)
    for ns in left:
        _delete(ns)


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                p.kill()
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=10)


def _check_prerequisites() -> None:
    if os.geteuid() != 0:
        raise NetnsUnavailable("creating network namespaces needs root (CAP_SYS_ADMIN)")
    if not shutil.which("ip"):
        raise NetnsUnavailable("the 'ip' command (iproute2) is not installed")


def _wait_up(hosts: list[Host], timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while True:
        states = [
            _ip("-n", h.ns, "-o", "link", "show", h.ifname, check=False).stdout for h in hosts
        ]
        if all("LOWER_UP" in s for s in states):
            return
        if time.monotonic() > end:
            raise RuntimeError(f"veth pair did not come up: {states}")
        time.sleep(0.05)


@contextlib.contextmanager
def veth_pair(mtu: int = 9000) -> Iterator[VethPair]:
    """Two fresh namespaces joined by veth0 <-> veth0 at the given MTU."""
    _check_prerequisites()
    _sweep_stale()
    pid, n = os.getpid(), next(_counter)
    names = [f"{PREFIX}{pid}-{n}a", f"{PREFIX}{pid}-{n}b"]
    x, y, m = 16 + pid % 200, n % 256, (pid + n) % 256
    hosts = [
        Host(names[i], IFNAME, f"02:00:00:00:{m:02x}:{i + 1:02x}", f"10.{x}.{y}.{i + 1}")
        for i in range(2)
    ]
    pair = VethPair(hosts, mtu)
    try:
        for ns in names:
            r = _ip("netns", "add", ns, check=False)
            if r.returncode != 0:
                raise NetnsUnavailable(f"ip netns add {ns}: {r.stderr.strip()}")
            with _lock:
                _live.add(ns)
        a, b = hosts
        r = _ip(
            "link", "add", a.ifname, "netns", a.ns, "address", a.mac, "mtu", str(mtu),
            "type", "veth", "peer", "name", b.ifname, "netns", b.ns, "address", b.mac,
            "mtu", str(mtu), check=False,
        )  # fmt: skip
        if r.returncode != 0:
            raise NetnsUnavailable(f"cannot create a veth pair (MTU {mtu}): {r.stderr.strip()}")
        for h in hosts:
            _ip("-n", h.ns, "link", "set", "lo", "up")
            _ip("-n", h.ns, "link", "set", h.ifname, "up")
            _ip("-n", h.ns, "addr", "add", f"{h.ip}/24", "dev", h.ifname)
        _wait_up(hosts)
        yield pair
    finally:
        _stop(pair.procs)
        for ns in names:
            with _lock:
                created = ns in _live
            if created:
                _delete(ns)


@contextlib.contextmanager
def lo_only_namespace() -> Iterator[LoOnly]:
    """A fresh namespace with only ``lo`` up, named like veth_pair's (a run
    killed before its cleanup is swept by the next one); removed, with what
    runs in it, on exit."""
    _check_prerequisites()
    _sweep_stale()
    name = f"{PREFIX}{os.getpid()}-{next(_counter)}a"
    r = _ip("netns", "add", name, check=False)
    if r.returncode != 0:
        raise NetnsUnavailable(f"ip netns add {name}: {r.stderr.strip()}")
    with _lock:
        _live.add(name)
    space = LoOnly(name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        yield space
    finally:
        _stop(space.procs)
        _delete(name)


# ICMP echo with a raw socket: no dependency on the ping binary.
_PING = r"""
import os, select, socket, struct, sys, time
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF
dst, timeout = sys.argv[1], float(sys.argv[2])
ident = os.getpid() & 0xFFFF
body = b"omx-transport netns ping"
hdr = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
pkt = struct.pack("!BBHHH", 8, 0, csum(hdr + body), ident, 1) + body
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.sendto(pkt, (dst, 0))
end = time.monotonic() + timeout
while time.monotonic() < end:
    r, _, _ = select.select([s], [], [], max(0.0, end - time.monotonic()))
    if not r:
        break
    data, addr = s.recvfrom(2048)
    ihl = (data[0] & 0x0F) * 4
    typ, _, _, rid, _ = struct.unpack("!BBHHH", data[ihl:ihl + 8])
    if addr[0] == dst and typ == 0 and rid == ident:
        sys.exit(0)
sys.exit(1)
"""
