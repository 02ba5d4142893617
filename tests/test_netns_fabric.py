"""The two-host fabric (tests/netns.py) and the packet link across it.

The C test tests/native/test_link_packet.c drives both hosts from one
process (it enters each namespace to open that host's link).  It is built
from this source tree, since the package under test is installed without its
C tests: by default with meson into <repo>/build/netns-ctest (set up on first
use, recompiled when sources change, serialised by a lock file), or taken
from $OMX_NETNS_CTEST (a built test_link_packet) when set.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import netns
import pytest

pytestmark = pytest.mark.netns

ROOT = Path(__file__).resolve().parent.parent
SKIP_RC = 77


def ctest_binary() -> Path:
    given = os.environ.get("OMX_NETNS_CTEST")
    if given:
        path = Path(given)
        if not path.is_file():
            pytest.fail(f"OMX_NETNS_CTEST={given} is not a file")
        return path
    if not shutil.which("meson") or not shutil.which("ninja"):
        pytest.skip("meson and ninja are needed to build test_link_packet (or set OMX_NETNS_CTEST)")
    build = ROOT / "build" / "netns-ctest"
    build.parent.mkdir(exist_ok=True)
    with open(build.parent / ".netns-ctest.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        steps = []
        if not (build / "build.ninja").exists():
            steps.append(["meson", "setup", str(build), str(ROOT), "-Dpython=false"])
        steps.append(["meson", "compile", "-C", str(build), "tests/native/test_link_packet"])
        for argv in steps:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=600)
            if r.returncode != 0:
                pytest.fail(f"{' '.join(argv)} failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}")
    return build / "tests" / "native" / "test_link_packet"


def run_ctest(argv: list[str]) -> subprocess.CompletedProcess:
    r = subprocess.run([str(ctest_binary()), *argv], capture_output=True, text=True, timeout=300)
    if r.returncode == SKIP_RC:
        pytest.skip(r.stdout.strip() or "test_link_packet skipped")
    assert r.returncode == 0, f"rc {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def test_fixture_creates_and_removes_namespaces():
    try:
        with netns.veth_pair(mtu=1500) as pair:
            names = pair.names
            assert all(n.startswith(netns.PREFIX) for n in names)
            assert set(names) <= set(netns.list_namespaces())
            for i, host in enumerate(pair.hosts):
                link = pair.run(i, ["ip", "-o", "link", "show", host.ifname], check=True).stdout
                assert "mtu 1500" in link and host.mac in link
                assert "UP" in pair.run(i, ["ip", "-o", "link", "show", "lo"], check=True).stdout
                addrs = pair.run(i, ["ip", "-o", "-4", "addr", "show", host.ifname], check=True)
                assert f"{host.ip}/24" in addrs.stdout
            sleeper = pair.popen(0, ["sleep", "600"])
            raise KeyboardInterrupt  # cleanup must survive an interrupt too
    except netns.NetnsUnavailable as exc:
        pytest.skip(f"network namespaces unavailable: {exc}")
    except KeyboardInterrupt:
        pass
    assert sleeper.poll() is not None
    assert not set(names) & set(netns.list_namespaces())


def test_ping_across_veth(netns_pair):
    assert netns_pair.ping(0)
    assert netns_pair.ping(1)


@pytest.mark.parametrize("netns_pair", [1500, 9000, 65535], indirect=True, ids=lambda m: f"mtu{m}")
def test_link_packet_between_namespaces(netns_pair):
    a, b = netns_pair.hosts
    r = run_ctest([a.ns, a.ifname, b.ns, b.ifname])
    frame = netns_pair.mtu + 14
    assert f"60..{frame} byte-exact" in r.stdout
    assert "test_link_packet: all passed" in r.stdout


def test_link_packet_on_private_lo():
    if os.geteuid() != 0:
        pytest.skip("needs root to unshare a network namespace")
    r = run_ctest([])
    assert "test_link_packet: all passed" in r.stdout
