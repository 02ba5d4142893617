"""Smoke test of the benchmark suite (python -m omx_transport.bench).

Tiny sizes and one repetition: the suite runs, prints the value and ratio
tables, writes JSON holding every sample, and (cross-host) leaves no
namespace behind.  The socket floor (omx_floor_sock) is also run on its own:
udp and tcp, both modes, sizes that need several datagrams and acks, and a
datagram-size mismatch it must refuse.  No timing is asserted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from omx_transport import netns
from omx_transport.bench._runners import find_program


def run_bench(tmp_path: Path, *args: str) -> tuple[str, dict[str, Any]]:
    out = tmp_path / "bench.json"
    argv = [sys.executable, "-m", "omx_transport.bench", *args, "--reps", "1", "--iters", "20",
            "--timeout", "60", "--json", str(out)]
    # Outside the checkout, so the installed package is the one imported.
    r = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    if r.returncode == 2 and "needs network namespaces" in r.stderr:
        pytest.skip(r.stderr.strip())
    assert r.returncode == 0, f"rc {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout, json.loads(out.read_text())


def split_installed() -> bool:
    bindir = Path(sys.executable).parent
    return (bindir / "omx_perf").exists() and (bindir / "omx_backend").exists()


def check_split(stdout: str, data: dict[str, Any], sizes: list[int]) -> None:
    """The split row was measured in both modes and its ratio to the direct one printed."""
    assert "split / omx_perf" in ratio_header(stdout)
    for mode in ("latency", "bandwidth"):
        check_measured(data, mode, ["omx_perf", "omx_perf_split"], sizes)
        got = [r for r in data["modes"][mode]["ratios"]
               if (r["subject"], r["reference"]) == ("omx_perf_split", "omx_perf")]
        assert [r["size"] for r in got] == sizes and all(r["ratio"] for r in got), got


def with_omx_perf(keys: list[str]) -> list[str]:
    """Also expect omx_perf when it is installed beside this Python (the suite finds it there)."""
    return keys + (["omx_perf"] if (Path(sys.executable).parent / "omx_perf").exists() else [])


def ratio_header(stdout: str) -> str:
    return next(line for line in stdout.splitlines() if " / " in line and line.startswith("| size"))


def check_measured(data: dict[str, Any], mode: str, keys: list[str], sizes: list[int]) -> None:
    res = data["modes"][mode]
    assert [p["size"] for p in res["plan"]] == sizes
    got = {(s["contender"], s["size"]) for s in res["samples"]}
    for key in keys:
        for size in sizes:
            assert (key, size) in got, f"{key} has no sample at {size} B: {res['runs']}"
    assert all(r["ratio"] is None or r["ratio"] > 0 for r in res["ratios"])


def test_local_latency(tmp_path: Path) -> None:
    stdout, data = run_bench(tmp_path, "latency", "--local", "--sizes", "0,8")
    assert "| size | omx Comm (Python) |" in stdout
    header = ratio_header(stdout)
    for col in ("omx / MPICH", "omx / shm", "omx / CMA", "omx / omx_perf"):
        assert col in header
    assert data["meta"]["topology"] == "local"
    check_measured(data, "latency", with_omx_perf(["omx", "mpich", "shm", "cma"]), [0, 8])


def test_local_bandwidth_floors(tmp_path: Path) -> None:
    stdout, data = run_bench(tmp_path, "bandwidth", "--local", "--sizes", "64K",
                             "--only", "mpich,shm,cma")
    assert "MPICH / shm" in stdout and "MB/s" in stdout
    check_measured(data, "bandwidth", ["mpich", "shm", "cma"], [65536])


def test_local_udp_link(tmp_path: Path) -> None:
    """--link udp: omx over the udp link beside the UDP and TCP socket floors."""
    stdout, data = run_bench(tmp_path, "all", "--local", "--link", "udp", "--sizes", "8,64K",
                             "--only", "omx_perf,udp,tcp")
    assert "shared path off" in stdout and "UDP socket floor (C)" in stdout
    assert data["meta"]["link"] == "udp"
    assert "omx_perf / UDP" in ratio_header(stdout) and "omx_perf / TCP" in ratio_header(stdout)
    for mode in ("latency", "bandwidth"):
        check_measured(data, mode, with_omx_perf(["udp", "tcp"]), [8, 65536])


def test_local_udp_split(tmp_path: Path) -> None:
    """omx_perf through an omx_backend on the udp link beside the direct one (issue 8)."""
    if not split_installed():
        pytest.skip("omx_perf and omx_backend are not installed beside this Python")
    stdout, data = run_bench(tmp_path, "all", "--local", "--link", "udp", "--sizes", "8,64K",
                             "--only", "omx_perf,omx_perf_split")
    check_split(stdout, data, [8, 65536])


@pytest.mark.parametrize(
    "args", [["--cross-host", "--link", "udp"], ["--local", "--link", "packet"]]
)
def test_link_topology_mismatch(tmp_path: Path, args: list[str]) -> None:
    r = subprocess.run([sys.executable, "-m", "omx_transport.bench", "latency", *args],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "does not go with" in r.stderr


def floor_sock(kind: str, mode: str, plan: str, server_extra: Sequence[str] = (),
               client_extra: Sequence[str] = ()) -> tuple[int, str, int, str]:
    """Run omx_floor_sock server and client on 127.0.0.1 until the server ends.

    Returns (client status, client output, server status, server output); a
    client still waiting for a server that failed is killed (status < 0).
    """
    path = find_program("omx_floor_sock")
    assert path, "omx_floor_sock is not installed beside this Python (pip install . builds it)"
    common = ["-t", kind, "--mode", mode, "--plan", plan]
    procs: list[subprocess.Popen] = []
    try:
        server = subprocess.Popen([path, "server", *common, *server_extra], text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        procs.append(server)
        assert server.stdout is not None
        ready = server.stdout.readline()
        assert ready.startswith("ready port="), ready
        port, window = (f.split("=")[1] for f in ready.split()[1:3])
        client = subprocess.Popen([path, "client", *common, "--port", port, "--window", window,
                                   *client_extra], text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        procs.append(client)
        server_out, _ = server.communicate(timeout=60)
        if server.returncode != 0:
            client.kill()
        client_out, _ = client.communicate(timeout=60)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return client.returncode, client_out, server.returncode, ready + server_out


@pytest.mark.parametrize("kind", ["udp", "tcp"])
@pytest.mark.parametrize("mode", ["lat", "bw"])
def test_floor_sock(kind: str, mode: str) -> None:
    # 100000 B at 4000-byte datagrams is 25 datagrams: with a window of 4 the
    # acks run many times per message; 0 B is one empty datagram (one TCP byte).
    sizes = [0, 8, 4000, 100000]
    plan = ",".join(f"{s}:3" for s in sizes)
    extra = ["--mtu", "4000", "--window", "4"]
    crc, cout, src, sout = floor_sock(kind, mode, plan, extra, extra)
    assert crc == 0 and src == 0, cout + sout
    got = [int(line.split()[1].split("=")[1]) for line in cout.splitlines()
           if line.startswith("result ")]
    assert got == sizes, cout
    assert f"# {kind} client {'ping-pong' if mode == 'lat' else 'stream'}" in cout
    if kind == "udp":
        assert "window 4, ack every 2" in cout


def test_floor_sock_udp_checks_lengths() -> None:
    """Datagrams of another size are refused, not counted: a broken stream cannot pass."""
    crc, cout, src, sout = floor_sock("udp", "bw", "20000:3", ["--mtu", "4000"], ["--mtu", "3000"])
    assert src != 0 and "a 3000-byte datagram where 4000 bytes were expected" in sout, sout
    assert "result " not in cout, cout


@pytest.mark.netns
def test_cross_host(tmp_path: Path) -> None:
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("network namespaces need root and iproute2")
    before = set(netns.list_namespaces())
    stdout, data = run_bench(tmp_path, "all", "--cross-host", "--mtu", "1500", "--sizes", "8,4K")
    header = ratio_header(stdout)
    assert "omx / raw" in header and "omx / MPICH" in header and "omx / TCP" in header
    assert data["meta"]["topology"] == "cross-host" and data["meta"]["mtu"] == 1500
    check_measured(data, "latency", with_omx_perf(["omx", "mpich", "raw", "tcp"]), [8, 4096])
    check_measured(data, "bandwidth", ["raw", "tcp"], [8, 4096])
    if split_installed():
        check_split(stdout, data, [8, 4096])
    assert not {n for n in netns.list_namespaces() if n.startswith(netns.PREFIX)} - before
