"""The host tools (omx_info, omx_hostname, omx_init_peers, omx_counters,
omx_endpoint_info) on the udp link: the reference's options and output
formats, and the host-wide state they read and change from processes other
than the one that made it.  Each test has its own board (base port) and
state directory.
"""

from __future__ import annotations

import os
import random
import re
import stat
import subprocess
import sys
import textwrap

import pytest
from packet_harness import counters, tool

CHILD = textwrap.dedent(
    """
    import sys, threading
    from omx_transport import Endpoint
    a, b = Endpoint(index=3), Endpoint(index=4)
    # b progresses (answers the connect, receives) in a wait of its own.
    for i, size in enumerate((10, 100, 5000, 100000)):
        r = b.irecv(bytearray(size))
        t = threading.Thread(target=r.wait, kwargs={"timeout": 30})
        t.start()
        if i == 0:
            peer = a.connect(b.address)
        a.isend(bytes(size), peer).wait(timeout=30)
        t.join()
    print("ready", flush=True)
    sys.stdin.readline()
    """
)


@pytest.fixture
def env(tmp_path):
    state = tmp_path / "state"
    port = random.randrange(20000, 60000 - 64)
    out = dict(os.environ)
    out.update(OMX_LINK="udp", OMX_UDP_ADDR=f"127.0.0.1:{port}", OMX_STATE_DIR=str(state))
    out.pop("OMX_IFNAMES", None)
    out["_board"] = f"7f:00:00:01:{port >> 8:02x}:{port & 0xFF:02x}"
    return out


def run(env, *argv, rc=0):
    r = subprocess.run(
        [tool(argv[0]), *argv[1:]],
        env={k: v for k, v in env.items() if not k.startswith("_")},
        capture_output=True, text=True, timeout=60, cwd="/",
    )  # fmt: skip
    if rc is not None:
        assert r.returncode == rc, f"{argv}: rc {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def peer_lines(info: str) -> list[tuple[str, str]]:
    return re.findall(r"^  \d+\) (\S+) (\S+)$", info, re.M)


def test_omx_info_format_and_state_files(env):
    out = run(env, "omx_info").stdout.splitlines()
    host = os.uname().nodename
    assert out[0] == "Open-MX version 0.1.0"
    assert out[1].startswith(" build: ") and out[2] == ""
    assert out[3] == "Found 1 boards (8 max) supporting 32 endpoints each:"
    assert out[4] == f" {host}:0 (board #0 name udp addr {env['_board']})"
    assert out[5] == "   managed by driver 'udp'"
    assert out[6:9] == ["", "Peer table is not configured yet", "=" * 48]
    assert out[9:] == [f"  0) {env['_board']} {host}:0"]
    quiet = run(env, "omx_info", "-q").stdout.splitlines()
    assert quiet == out[3:5]
    # The runtime directory and the state file are private to the user.
    state = env["OMX_STATE_DIR"]
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o700
    files = os.listdir(state)
    assert len(files) == 1 and re.fullmatch(r"host-[0-9a-f]{16}-udp-[0-9a-f]{12}", files[0])
    assert stat.S_IMODE(os.stat(os.path.join(state, files[0])).st_mode) == 0o600


def test_omx_hostname(env):
    host = os.uname().nodename
    shown = run(env, "omx_hostname").stdout
    assert shown == f"Board #0 (udp {env['_board']}) hostname was {host}:0\n"
    verbose = run(env, "omx_hostname", "-v", "-n", "renamed:0").stdout.splitlines()
    assert verbose[1] == f"Changing board #0 (udp {env['_board']}) hostname into renamed:0"
    # Another process sees the new name, in the board and in the peer table.
    info = run(env, "omx_info").stdout
    assert " renamed:0 (board #0 name udp" in info
    assert peer_lines(info) == [(env["_board"], "renamed:0")]
    r = run(env, "omx_hostname", "-b", "5", rc=1)
    assert r.stderr == "Cannot find board #5\n"


def test_omx_init_peers(env, tmp_path):
    peers = tmp_path / "peers"
    peers.write_text(
        "# static peers\n\n02:00:00:00:00:0a nodeA:0\n  02:00:00:00:00:0b   nodeB:0  # trailing\n"
    )
    run(env, "omx_init_peers", str(peers))
    info = run(env, "omx_info").stdout
    assert "Peer table is not configured yet" in info
    assert peer_lines(info)[1:] == [
        ("02:00:00:00:00:0a", "nodeA:0"),
        ("02:00:00:00:00:0b", "nodeB:0"),
    ]
    # -a appends (one pair on the command line), -d marks the table configured.
    run(env, "omx_init_peers", "-a", "-d", "02:00:00:00:00:0c", "nodeC:0")
    info = run(env, "omx_info").stdout
    assert "Peer table is ready, mapper is 00:00:00:00:00:00" in info
    assert len(peer_lines(info)) == 4
    # The default replaces the table (the local board stays first).
    run(env, "omx_init_peers", "02:00:00:00:00:0d", "nodeD:0")
    assert [n for _, n in peer_lines(run(env, "omx_info").stdout)][1:] == ["nodeD:0"]
    peers.write_text("02:00:00:00:00:0a nodeA:0\nnot-a-mac host\n")
    r = run(env, "omx_init_peers", str(peers), rc=1)
    assert "Unrecognized peer line 'not-a-mac host'" in r.stderr
    r = run(env, "omx_init_peers", str(tmp_path / "missing"), rc=1)
    assert "Cannot open file" in r.stderr
    # Nothing changed by the failures above; omx_hostname -c forgets the names
    # of non-local peers only.
    run(env, "omx_hostname", "-c")
    names = [n for _, n in peer_lines(run(env, "omx_info").stdout)]
    assert names[0] != "<unknown>" and names[1:] == ["<unknown>"]


def test_counters_and_endpoint_info_from_another_process(env):
    child_env = {k: v for k, v in env.items() if not k.startswith("_")}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], env=child_env, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/",
    )  # fmt: skip
    try:
        assert child.stdout.readline() == "ready\n", child.stderr.read()
        info = run(env, "omx_endpoint_info").stdout.splitlines()
        assert info[1] == "=" * 46
        assert re.fullmatch(rf"  3\topen by pid {child.pid} \(python[0-9.]*\)", info[2]), info
        assert re.fullmatch(rf"  4\topen by pid {child.pid} \(python[0-9.]*\)", info[3]), info
        assert info[-1] == "2 regular endpoints open (out of 32)"
        verbose = run(env, "omx_endpoint_info", "-v").stdout
        assert "  0\tnot open" in verbose and "  raw\tnot open" in verbose
        text = run(env, "omx_counters").stdout
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    assert child.returncode == 0, child.stderr.read()

    boards = text.split("\n\n")
    assert len(boards) == 2
    shared, board = (b.splitlines() for b in boards)
    assert re.fullmatch(r"\S+ \(addr 00:00:00:00:00:00\)", shared[0])
    assert board[0].endswith(f"(board #0 name udp addr {env['_board']})")
    assert shared[1] == board[1] == "=" * 55
    for line in shared[2:] + board[2:]:
        assert re.fullmatch(r"\d{3}: [ \d]{9} \S.*", line), line
    # The exchange counted, on the board or on the shared (intra-host) board.
    seen = counters("\n".join(shared)) | counters("\n".join(board))
    assert seen.get("Send Tiny", 0) + seen.get("Shared Tiny", 0) >= 1, text
    # The counters outlive the process; -v lists every one; -c clears.
    every = run(env, "omx_counters", "-b", "0", "-v").stdout.splitlines()
    assert len(every) == 2 + len(re.findall(r"^\d{3}:", "\n".join(every), re.M))
    assert every[2].startswith("000: ") and every[2].endswith(" Send Tiny")
    run(env, "omx_counters", "-c")
    cleared = run(env, "omx_counters").stdout
    assert not re.search(r"^\d{3}:", cleared, re.M), cleared
    assert run(env, "omx_counters", "-s").stdout.count("=" * 55) == 1


def test_mismatched_state_file_is_replaced(env, tmp_path):
    peers = tmp_path / "peers"
    peers.write_text("02:00:00:00:00:0a nodeA:0\n")
    run(env, "omx_init_peers", str(peers))
    assert len(peer_lines(run(env, "omx_info").stdout)) == 2
    state = env["OMX_STATE_DIR"]
    path = os.path.join(state, os.listdir(state)[0])
    with open(path, "r+b") as f:  # the layout version, right after the magic
        f.seek(8)
        f.write(b"\xff\xff\xff\x7f")
    r = run(env, "omx_info")
    assert len(peer_lines(r.stdout)) == 1, r.stdout
    os.truncate(path, 4096)  # a wrong size is refused too
    assert len(peer_lines(run(env, "omx_info").stdout)) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_packet_link_without_rights_names_the_udp_link(env):
    env = dict(env, OMX_LINK="packet", OMX_IFNAMES="lo")
    env.pop("OMX_STATE_DIR")
    argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
            tool("omx_info"), "-q"]
    r = subprocess.run(argv, env={k: v for k, v in env.items() if not k.startswith("_")},
                       capture_output=True, text=True, timeout=60, cwd="/")
    assert r.returncode != 0
    assert "Failed to initialize" in r.stderr and "OMX_LINK=udp" in r.stderr, r.stderr
