"""The split driver (xen_split) across three network namespaces.

    ns A (veth0, lo): omx_backend, packet link on veth0 (``python -m
                      omx_transport backend``: the installed daemon)
    ns B (veth0, lo): a peer on the direct driver, packet link on veth0
    ns C (lo only)  : frontends, OMX_DRIVER=split:<socket>; no NIC, no raw socket

The backend's socket is a filesystem path (abstract sockets are per network
namespace), so the frontends in ns C reach it while they cannot reach any
NIC.  Every size class goes byte-exact both ways between a frontend and the
peer and between two frontends of the backend; a frontend SIGKILLed
mid-transfer leaves its peers with ENDPOINT_CLOSED and the backend with no
trace of it; the tools print the backend's boards, counters and endpoints
from ns C; the access policy refuses with a reason.  The peers are children
of packet_harness (JSON commands over stdin).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packet_harness import Host, counters, host_env, tool

import omx_transport.netns as netns

pytestmark = pytest.mark.netns

MTU = 9000
SIZES = [0, 32, 33, 128, 129, 8192, 8193, 32 << 10, (32 << 10) + 1, 1 << 20, 64 << 20]
ENDPOINT_CLOSED = 33       # OMX_REMOTE_ENDPOINT_CLOSED
ACCESS_DENIED = 7          # OMX_ACCESS_DENIED


# ---- the fabric ------------------------------------------------------------------------


def backend_tool() -> str:
    try:
        return tool("omx_backend")
    except FileNotFoundError:
        pytest.skip("omx_backend is not installed (pip install . builds the split driver)")


@dataclass
class Fabric:
    pair: Any                  # netns.VethPair: host 0 = backend, host 1 = peer
    lo: netns.LoOnly           # the frontends' namespace
    tmp: Path
    sock: str
    backend: subprocess.Popen
    log: Path

    @property
    def backend_pid(self) -> int:
        return self.backend.pid

    def frontend_env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OMX_")}
        env.update(OMX_DRIVER=f"split:{self.sock}", OMX_STATE_DIR=str(self.tmp / "stateC"))
        env.update(extra)
        return env

    def frontend(self, **extra: str) -> Host:
        return Host(self.lo, 0, self.frontend_env(**extra))

    def peer(self, **extra: str) -> Host:
        return Host(self.pair, 1, host_env(self.tmp, 1, MTU, **extra))

    def tool(self, *argv: str, check: bool = True, env: dict[str, str] | None = None,
             **kwargs: Any) -> subprocess.CompletedProcess:
        """An installed tool in the frontends' namespace, through the backend."""
        r = self.lo.run(0, [tool(argv[0]), *argv[1:]], env=env or self.frontend_env(), **kwargs)
        if check:
            assert r.returncode == 0, f"{argv}: rc {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    def backend_log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start_backend(space: Any, index: int, sock: str, env: dict[str, str], log: Path,
                  *args: str) -> subprocess.Popen:
    """``python -m omx_transport backend --socket sock args`` in a namespace; returns
    once the socket accepts a connection (the daemon replaced the interpreter, so
    the pid is the daemon's)."""
    backend_tool()
    out = open(log, "w")
    proc = space.popen(index, [sys.executable, "-m", "omx_transport", "backend", "--socket", sock,
                               *args], env=env, stdout=out, stderr=subprocess.STDOUT, cwd="/")
    out.close()
    end = time.monotonic() + 15
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(f"the backend exited {proc.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX,
                                                         socket.SOCK_SEQPACKET) as s:
            s.connect(sock)
            break
        time.sleep(0.02)
    else:
        pytest.fail(f"the backend did not listen on {sock} in 15 s:\n{log.read_text()}")
    comm = Path(f"/proc/{proc.pid}/comm").read_text().strip()
    assert comm == "omx_backend", comm
    return proc


@pytest.fixture
def fabric(netns_pair, tmp_path) -> Iterator[Fabric]:
    with contextlib.ExitStack() as stack:
        try:
            lo = stack.enter_context(netns.lo_only_namespace())
        except netns.NetnsUnavailable as exc:
            pytest.skip(f"network namespaces unavailable: {exc}")
        # A short path (sun_path holds 108 bytes) that every namespace sees.
        sockdir = Path(tempfile.mkdtemp(prefix="omx-split-"))
        stack.callback(shutil.rmtree, sockdir, ignore_errors=True)
        sock = str(sockdir / "backend.sock")
        log = tmp_path / "backend.log"
        backend = start_backend(netns_pair, 0, sock, host_env(tmp_path, 0, MTU), log)
        fab = Fabric(netns_pair, lo, tmp_path, sock, backend, log)
        yield fab
        if backend.poll() is not None:
            pytest.fail(f"the backend died (rc {backend.returncode}):\n{fab.backend_log()}")


# ---- helpers ---------------------------------------------------------------------------


def namespace_of(pid: int) -> int:
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def memfd_inodes(pid: int) -> set[int]:
    """Inodes of the memfds a process maps."""
    out = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split(None, 5)
        if len(parts) == 6 and parts[5].startswith("/memfd:"):
            out.add(int(parts[4]))
    return out


def dev_shm() -> set[str]:
    try:
        return set(os.listdir("/dev/shm"))
    except FileNotFoundError:
        return set()


def wait_for(cond, timeout: float, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


def exchange(src: Host, src_ep: int, dst: Host, dst_ep: int, to: str, size: int, seed: int) -> None:
    dst.post(op="recv", ep=dst_ep, size=size, seed=seed, match=size + 1)
    src.post(op="send", ep=src_ep, to=to, size=size, seed=seed, match=size + 1)
    sent, got = src.result(), dst.result()
    assert sent == {"status": 0, "xfer": size}, (size, sent)
    assert got == {"status": 0, "msg": size, "xfer": size, "exact": True}, (size, got)


def connect(a: Host, ep_a: int, addr_a: str, b: Host, ep_b: int, addr_b: str) -> None:
    a.post(op="connect", ep=ep_a, to=addr_b)
    b.post(op="connect", ep=ep_b, to=addr_a)
    assert a.result() == {"status": 0} and b.result() == {"status": 0}


# ---- tests -----------------------------------------------------------------------------


def test_every_size_class_from_a_namespace_without_nic(fabric):
    ip_links = fabric.lo.run(0, ["ip", "-o", "link"], check=True).stdout
    names = {line.split(":")[1].strip().split("@")[0] for line in ip_links.splitlines()}
    assert names == {"lo"}, ip_links
    with fabric.frontend() as f, fabric.frontend() as f2, fabric.peer() as p:
        # The frontends really live in the lo-only namespace, the backend does not.
        lo_ns = os.stat(f"/run/netns/{fabric.lo.ns}").st_ino
        assert namespace_of(f.proc.pid) == namespace_of(f2.proc.pid) == lo_ns
        assert namespace_of(fabric.backend_pid) != lo_ns
        addr_f = f.call(op="open", index=3)["addr"]
        addr_f2 = f2.call(op="open", index=5)["addr"]
        addr_p = p.call(op="open", index=4)["addr"]
        backend_mac, peer_mac = (h.mac for h in fabric.pair.hosts)
        # A frontend's endpoint is a shadow endpoint of the backend's board.
        assert addr_f == f"{backend_mac}/3" and addr_f2 == f"{backend_mac}/5"
        assert addr_p == f"{peer_mac}/4"
        connect(f, 3, addr_f, p, 4, addr_p)
        connect(f, 3, addr_f, f2, 5, addr_f2)
        # No raw socket in the frontends' namespace (the peer's namespace has its own).
        assert len(Path(f"/proc/{f.proc.pid}/net/packet").read_text().splitlines()) == 1
        assert len(Path(f"/proc/{p.proc.pid}/net/packet").read_text().splitlines()) > 1
        for size in SIZES:
            exchange(f, 3, p, 4, addr_p, size, seed=size)
            exchange(p, 4, f, 3, addr_f, size, seed=size + 1)
            exchange(f, 3, f2, 5, addr_f2, size, seed=size + 2)
            exchange(f2, 5, f, 3, addr_f, size, seed=size + 3)
        for h in (f, f2, p):
            h.finish()
    # The frontends' traffic between them stayed inside the backend (shared path).
    shared = counters(fabric.tool("omx_counters", "-s").stdout)
    assert shared.get("Shared Pull", 0) > 0 and shared.get("Shared Tiny", 0) > 0, shared


def test_sigkill_frontend_mid_transfer(fabric):
    """A frontend dies while its peer pulls a large message from it: the peer and
    a second frontend see ENDPOINT_CLOSED, the backend closes the shadow endpoint,
    unmaps its memory and closes its fds; nothing is left in /dev/shm."""
    size = 64 << 20
    quick = {"OMX_ZOMBIE_SEND": "0", "OMX_RESEND_DELAY_MS": "100"}
    # The peer requests one pull block at a time, each request delayed: the
    # transfer lasts long enough to be cut in the middle.
    slow = {**quick, "OMX_PULL_BLOCKS": "1", "OMX_FAULT": "delay=1.0,delay_ms=5,seed=1",
            "OMX_CHECKSUM": "0"}
    shm_before = dev_shm()
    with fabric.frontend(**quick) as f2, fabric.peer(**slow) as p:
        addr_f2 = f2.call(op="open", index=5)["addr"]
        addr_p = p.call(op="open", index=4)["addr"]
        time.sleep(0.3)
        fds_before = fd_count(fabric.backend_pid)
        with fabric.frontend(**quick) as victim:
            addr_v = victim.call(op="open", index=3)["addr"]
            connect(victim, 3, addr_v, p, 4, addr_p)
            connect(victim, 3, addr_v, f2, 5, addr_f2)
            exchange(victim, 3, p, 4, addr_p, 4096, seed=1)
            victim_memfds = memfd_inodes(victim.proc.pid)
            # The check below can fail: the backend maps the victim's memory now.
            assert memfd_inodes(fabric.backend_pid) & victim_memfds
            assert fd_count(fabric.backend_pid) > fds_before
            board0 = counters(fabric.tool("omx_counters", "-b", "0").stdout)
            pulls = board0.get("Send Pull Reply", 0)
            p.post(op="recv", ep=4, size=size, seed=7, match=99)
            victim.post(op="send", ep=3, to=addr_p, size=size, seed=7, match=99)

            def pulling() -> bool:
                now = counters(fabric.tool("omx_counters", "-b", "0").stdout)
                return now.get("Send Pull Reply", 0) > pulls + 32

            assert wait_for(pulling, 20), "the pull never started"
            os.killpg(victim.proc.pid, signal.SIGKILL)
            victim.proc.wait(timeout=10)
        got = p.result(timeout=60)
        assert got["status"] == ENDPOINT_CLOSED and got["xfer"] < size, got
        # Later messages to the dead endpoint, from the link and from the backend's own
        # shared path, are refused the same way.
        assert p.call(op="send", ep=4, to=addr_v, size=8, timeout=30)["status"] == ENDPOINT_CLOSED
        assert f2.call(op="send", ep=5, to=addr_v, size=8, timeout=30)["status"] == ENDPOINT_CLOSED
        # Nothing of the victim stays in the backend.
        assert wait_for(lambda: fd_count(fabric.backend_pid) == fds_before, 5), (
            fd_count(fabric.backend_pid), fds_before)
        assert not memfd_inodes(fabric.backend_pid) & victim_memfds
        info = fabric.tool("omx_endpoint_info").stdout
        assert not re.search(r"^  3\topen", info, re.M), info
        # The survivors still talk.
        connect(f2, 5, addr_f2, p, 4, addr_p)
        exchange(f2, 5, p, 4, addr_p, 100000, seed=3)
        f2.finish()
        p.finish()
    assert dev_shm() - shm_before == set()


def test_tools_through_the_backend(fabric):
    backend_mac = fabric.pair.hosts[0].mac
    info = fabric.tool("omx_info").stdout
    found = r"^Found 1 boards \(\d+ max\) supporting \d+ endpoints each:$"
    assert re.search(found, info, re.M), info
    assert re.search(rf"\(board #0 name veth0 addr {backend_mac}\)", info), info
    with fabric.frontend() as f, fabric.peer() as p:
        addr_f = f.call(op="open", index=3)["addr"]
        addr_p = p.call(op="open", index=4)["addr"]
        before = counters(fabric.tool("omx_counters", "-b", "0").stdout)
        connect(f, 3, addr_f, p, 4, addr_p)
        for i in range(10):
            exchange(f, 3, p, 4, addr_p, 16, seed=i)
            exchange(p, 4, f, 3, addr_f, 16, seed=i)
        after = counters(fabric.tool("omx_counters", "-b", "0").stdout)
        # The frontend's traffic went through the backend's engine, on its board.
        for label in ("Send Tiny", "Recv Tiny"):
            assert after.get(label, 0) - before.get(label, 0) >= 10, (label, before, after)
        eps = fabric.tool("omx_endpoint_info").stdout
        assert re.search(r"^  3\topen by pid \d+ \(", eps, re.M), eps
        assert re.search(r"^1 regular endpoints open \(out of \d+\)$", eps, re.M), eps
        # The peer table of the backend, seen from the guest, knows the peer.
        assert fabric.pair.hosts[1].mac in fabric.tool("omx_info").stdout
        f.finish()
        p.finish()


def test_policy_refuses_with_a_reason(netns_pair, tmp_path):
    """uid 65534 is outside the default policy (the backend's uid and root); an
    index outside --endpoints is refused to root as well."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run a frontend as another uid")
    setpriv = shutil.which("setpriv")
    if not setpriv:
        pytest.skip("setpriv (util-linux) is needed to run a frontend as another uid")
    with netns.lo_only_namespace() as lo:
        sockdir = Path(tempfile.mkdtemp(prefix="omx-split-"))
        os.chmod(sockdir, 0o755)
        sock = str(sockdir / "backend.sock")
        port = 20000 + os.getpid() % 20000
        env = {"OMX_LINK": "udp", "OMX_UDP_ADDR": f"127.0.0.1:{port}",
               "OMX_STATE_DIR": str(tmp_path / "state")}
        try:
            backend = start_backend(lo, 0, sock, env, tmp_path / "backend.log",
                                    "--endpoints", "0-7")
            os.chmod(sock, 0o666)
            fe = {k: v for k, v in os.environ.items() if not k.startswith("OMX_")}
            fe.update(OMX_DRIVER=f"split:{sock}", OMX_VERBOSE="1")

            # Enter the namespace as root, then become uid 65534 for the tool.
            r = lo.run(0, [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                           tool("omx_info")], env=fe, cwd="/")
            assert r.returncode != 0, r.stdout
            assert re.search(r"uid 65534|65534", r.stderr), r.stderr
            # Root, inside the policy, is served; outside --endpoints it is refused.
            code = (
                "from omx_transport import Endpoint, OmxError\n"
                "with Endpoint(index=3) as ep: print('open', ep.address)\n"
                "try:\n    Endpoint(index=9)\nexcept OmxError as e: print('refused', int(e))\n"
            )
            r = lo.run(0, [sys.executable, "-c", code], env=fe, cwd="/")
            assert r.returncode == 0, r.stderr
            assert "open " in r.stdout and f"refused {ACCESS_DENIED}" in r.stdout, r.stdout
            assert backend.poll() is None
        finally:
            shutil.rmtree(sockdir, ignore_errors=True)
