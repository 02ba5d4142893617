"""Smoke test of the benchmark suite (python -m omx_transport.bench).

Tiny sizes and one repetition: the suite runs, prints the value and ratio
tables, writes JSON holding every sample, and (cross-host) leaves no
namespace behind.  No timing is asserted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from omx_transport import netns


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


@pytest.mark.netns
def test_cross_host(tmp_path: Path) -> None:
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("network namespaces need root and iproute2")
    before = set(netns.list_namespaces())
    stdout, data = run_bench(tmp_path, "all", "--cross-host", "--mtu", "1500", "--sizes", "8,4K")
    assert "omx / raw" in ratio_header(stdout) and "omx / MPICH" in ratio_header(stdout)
    assert data["meta"]["topology"] == "cross-host" and data["meta"]["mtu"] == 1500
    check_measured(data, "latency", with_omx_perf(["omx", "mpich", "raw"]), [8, 4096])
    check_measured(data, "bandwidth", ["raw"], [8, 4096])
    assert not {n for n in netns.list_namespaces() if n.startswith(netns.PREFIX)} - before
