"""Peer discovery across two hosts on the packet link: omxoed in each
namespace (short broadcast intervals), no static peers file; each host sees
the other in omx_info, with its hostname (host queries), within 10 s.  Then
the host-query protocol's edges: a restarted daemon (serial change), names
cleared and queried again, stale and foreign replies dropped and counted.
"""

from __future__ import annotations

import re
import sys
import time

import pytest
from packet_harness import Host, counters, run_tool, tool

pytestmark = pytest.mark.netns

# HOST_REPLY bytes from a raw socket: the head, type 4, name length, the
# querier's index, magic, then the name.
REPLY = r"""
import socket, struct, sys
dst, src, magic, name = sys.argv[1], sys.argv[2], int(sys.argv[3], 0), sys.argv[4].encode() + b"\0"
mac = lambda s: bytes.fromhex(s.replace(":", ""))
body = struct.pack("!BBH4xI4x", 4, len(name), 0xFFFF, magic) + name
frame = mac(dst) + mac(src) + b"\x86\xdf" + b"\xff\xff" + body
frame += bytes(max(0, 60 - len(frame)))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("veth0", 0))
s.send(frame)
"""


# Print the first RAW broadcast seen on veth0, in hex.
CAPTURE = r"""
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x86DF))
s.bind(("veth0", 0))
s.settimeout(10)
print("listening", flush=True)
while True:
    f = s.recv(2048)
    if f[:6] == b"\xff" * 6 and len(f) > 16 and f[16] == 1:
        print(f.hex(), flush=True)
        break
"""


def state_env(tmp_path, i):
    d = tmp_path / f"state{i}"
    d.mkdir(mode=0o700, exist_ok=True)
    # No OMX_IFNAMES: every Ethernet interface that is up (veth0), then lo.
    return {"OMX_LINK": "packet", "OMX_STATE_DIR": str(d)}


def peers(info: str) -> dict[str, str]:
    """{mac: hostname} from omx_info's peer list."""
    return dict(re.findall(r"^  \d+\) (\S+) (\S+)$", info, re.M))


def wait_for(fn, timeout: float):
    end = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > end:
            return value
        time.sleep(0.2)


def test_omxoed_discovers_peers(netns_pair, tmp_path):
    envs = [state_env(tmp_path, i) for i in (0, 1)]
    macs = [h.mac for h in netns_pair.hosts]
    names = ["nodeA:0", "nodeB:0"]
    for i in (0, 1):
        run_tool(netns_pair, i, envs[i], "omx_hostname", "-n", names[i])
        info = run_tool(netns_pair, i, envs[i], "omx_info").stdout
        assert "Found 2 boards (8 max) supporting 32 endpoints each:" in info
        assert f" {names[i]} (board #0 name veth0 addr {macs[i]})" in info
        assert " localhost (board #1 name lo addr 00:00:00:00:00:00)" in info
        assert "Peer table is not configured yet" in info
        assert peers(info) == {macs[i]: names[i], "00:00:00:00:00:00": "localhost"}

    capture = netns_pair.popen(1, [sys.executable, "-c", CAPTURE], stdout=-1, text=True)
    assert capture.stdout.readline() == "listening\n"
    logs = [tmp_path / f"omxoed{i}.log" for i in (0, 1)]
    argv = [tool("omxoed"), "-i", "200", "-I", "2000", "-v"]
    start = time.monotonic()
    oed = [netns_pair.popen(i, [*argv, "-l", str(logs[i])], env=envs[i]) for i in (0, 1)]

    # The broadcast: 64 bytes, type RAW at 16, the board address as
    # nic_id_hi/lo (big-endian u32) at 32 and 36, a serial at 40.
    frame = bytes.fromhex(capture.communicate(timeout=15)[0].strip())
    mac = bytes.fromhex(macs[0].replace(":", ""))
    assert len(frame) == 64 and frame[6:12] == mac and frame[12:14] == b"\x86\xdf"
    assert frame[32:40] == b"\0\0" + mac and frame[40:44] != b"\0\0\0\0"

    def both_named():
        got = [peers(run_tool(netns_pair, i, envs[i], "omx_info").stdout) for i in (0, 1)]
        return got if got[0].get(macs[1]) == names[1] and got[1].get(macs[0]) == names[0] else None

    assert wait_for(both_named, 10.0), [logs[i].read_text() for i in (0, 1)]
    assert time.monotonic() - start < 10.0
    info = run_tool(netns_pair, 0, envs[0], "omx_info").stdout
    assert "Peer table is ready, mapper is 00:00:00:00:00:00" in info
    assert "\n" + "=" * 48 + "\n" in info
    ep_info = run_tool(netns_pair, 0, envs[0], "omx_endpoint_info").stdout
    assert re.search(r"^  raw\topen by pid \d+ \(omxoed\)$", ep_info, re.M), ep_info
    assert ep_info.splitlines()[1] == "=" * 46
    assert "0 regular endpoints open (out of 32)" in ep_info
    assert "Now managing 1 NICs..." in logs[0].read_text()
    # One raw opener per board: a second daemon finds no board to manage.
    second = run_tool(netns_pair, 0, envs[0], "omxoed", check=False, timeout=30)
    assert second.returncode == 1
    assert "another omxoed runs" in second.stderr and "No NICs found" in second.stderr

    # A restarted daemon has a new serial: the other one broadcasts again.
    oed[1].kill()
    oed[1].wait()
    oed[1] = netns_pair.popen(1, [*argv, "-l", str(logs[1])], env=envs[1])
    assert wait_for(lambda: "restarted" in logs[0].read_text(), 10.0), logs[0].read_text()

    # Names cleared (local ones stay): queried again at once, and back.
    run_tool(netns_pair, 0, envs[0], "omx_counters", "-c")
    run_tool(netns_pair, 0, envs[0], "omx_hostname", "-c")
    assert wait_for(
        lambda: peers(run_tool(netns_pair, 0, envs[0], "omx_info").stdout).get(macs[1]) == names[1],
        8.0,
    )
    c = counters(run_tool(netns_pair, 0, envs[0], "omx_counters", "-b", "0").stdout)
    assert c.get("Send Host Query", 0) >= 1 and c.get("Recv Host Reply", 0) >= 1, c
    assert peers(run_tool(netns_pair, 0, envs[0], "omx_info").stdout)[macs[0]] == names[0]

    # A reply with the magic from before the clear is stale; one from an
    # address that is not a peer is refused; a current one renames.
    run_tool(netns_pair, 0, envs[0], "omx_counters", "-c")
    inject = [sys.executable, "-c", REPLY]
    replies = (
        (macs[1], "0x13052008", "stale"),
        ("02:99:99:99:99:99", "0x13052009", "x"),
        (macs[1], "0x13052009", "renamed:0"),
    )
    for src, magic, name in replies:
        r = netns_pair.run(1, [*inject, macs[0], src, magic, name])
        assert r.returncode == 0, r.stderr
    time.sleep(0.3)
    c = counters(run_tool(netns_pair, 0, envs[0], "omx_counters", "-b", "0").stdout)
    assert c.get("Drop Host Reply Bad Magic") == 1, c
    assert c.get("Drop Bad Peer Address") == 1, c
    assert c.get("Recv Host Reply", 0) >= 1, c
    assert peers(run_tool(netns_pair, 0, envs[0], "omx_info").stdout)[macs[1]] == "renamed:0"
    for p in oed:
        p.kill()
        p.wait()


def test_endpoint_zero_serves_host_queries_without_omxoed(netns_pair, tmp_path):
    envs = [state_env(tmp_path, i) for i in (0, 1)]
    macs = [h.mac for h in netns_pair.hosts]
    for i, name in enumerate(("qA:0", "qB:0")):
        run_tool(netns_pair, i, envs[i], "omx_hostname", "-n", name)
    with Host(netns_pair, 0, envs[0]) as a, Host(netns_pair, 1, envs[1]) as b:
        addr_a = a.call(op="open", index=0)["addr"]
        addr_b = b.call(op="open", index=0)["addr"]
        # Connecting adds the peer without a name; endpoint 0's process, the
        # board's only listener, queries it and answers the other's query.
        b.post(op="connect", ep=0, to=addr_a)
        assert a.call(op="connect", ep=0, to=addr_b) == {"status": 0}
        assert b.result() == {"status": 0}

        def named(i, name):
            info = run_tool(netns_pair, i, envs[i], "omx_info").stdout
            return peers(info).get(macs[1 - i]) == name

        assert wait_for(lambda: named(0, "qB:0") and named(1, "qA:0"), 8.0)
        a.finish()
        b.finish()
    c = counters(run_tool(netns_pair, 0, envs[0], "omx_counters", "-b", "0").stdout)
    assert c.get("Send Host Query", 0) >= 1 and c.get("Recv Host Query", 0) >= 1, c
    assert c.get("Send Host Reply", 0) >= 1 and c.get("Recv Host Reply", 0) >= 1, c
    # With a second board (lo), omx_counters shows the shared board and both.
    text = run_tool(netns_pair, 0, envs[0], "omx_counters").stdout
    assert text.count("=" * 55) == 3 and "(board #1 name lo addr 00:00:00:00:00:00)" in text
    ep_all = run_tool(netns_pair, 0, envs[0], "omx_endpoint_info", "-a").stdout
    assert ep_all.count("regular endpoints open (out of 32)") == 2
