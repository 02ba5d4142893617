"""A raw socket in one namespace floods a live endpoint of the other with
100 000 garbage and truncated 0x86DF frames (random types, lengths,
endpoint bytes, sessions and sources).  The endpoint keeps working (a
message exchange afterwards is byte-exact), no process dies, and
omx_counters shows the drops.

The garbage never forges the one thing Open-MX cannot tell from a real
frame: a connect from the live peer's own endpoint (sessions are the only
protection, and connects carry none of the receiver's).
"""

from __future__ import annotations

import sys

import pytest
from packet_harness import Host, counters, host_env, run_tool

pytestmark = pytest.mark.netns

FRAMES = 100_000

INJECT = r"""
import random, socket, sys
count, mtu, dst, src, live_dst, live_src, seed = sys.argv[1:8]
count, mtu, live_dst, live_src = int(count), int(mtu), int(live_dst), int(live_src)
rnd = random.Random(int(seed))
dst, src = bytes.fromhex(dst.replace(":", "")), bytes.fromhex(src.replace(":", ""))
types = [1, 3, 4, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
s.bind(("veth0", 0))
sent = 0
for i in range(count):
    r = rnd.random()
    d = dst if r < 0.9 else (b"\xff" * 6 if r < 0.95 else rnd.randbytes(6))
    known = rnd.random() < 0.8
    sm = src if known else bytes([rnd.randrange(256) & 0xFE]) + rnd.randbytes(5)
    n = rnd.randrange(14, 60) if rnd.random() < 0.3 else rnd.randrange(60, min(mtu + 14, 2048) + 1)
    if rnd.random() < 0.02:
        n = rnd.randrange(60, mtu + 15)
    body = bytearray(rnd.randbytes(max(0, n - 14)))
    if len(body) > 2:
        body[2] = rnd.choice(types) if rnd.random() < 0.7 else rnd.randrange(256)
    if len(body) > 3:
        body[3] = live_dst if rnd.random() < 0.7 else rnd.randrange(256)
    if known and len(body) > 4 and body[4] == live_src:
        body[4] ^= 0x80
    frame = d + sm + b"\x86\xdf" + bytes(body)
    while True:
        try:
            s.send(frame)
            sent += 1
            break
        except BlockingIOError:
            continue
        except OSError:
            break
print(sent)
"""


def test_garbage_flood_leaves_endpoint_working(netns_pair, tmp_path):
    mtu = netns_pair.mtu
    env_a, env_b = host_env(tmp_path, 0, mtu), host_env(tmp_path, 1, mtu)
    host_a, host_b = netns_pair.hosts
    with Host(netns_pair, 0, env_a) as a, Host(netns_pair, 1, env_b) as b:
        addr_a = a.call(op="open", index=3)["addr"]
        # Endpoint 0 also takes the board-level frames (host queries, raw, unknown types).
        addr_b = b.call(op="open", index=0)["addr"]
        a.post(op="connect", ep=3, to=addr_b)
        b.post(op="connect", ep=0, to=addr_a)
        assert a.result() == {"status": 0} and b.result() == {"status": 0}
        run_tool(netns_pair, 1, env_b, "omx_counters", "-c")

        # b waits in a receive during the flood; a, idle, keeps calling progress.
        b.post(op="recv", ep=0, size=50000, seed=1, match=1, timeout=240)
        r = netns_pair.run(
            0,
            [sys.executable, "-c", INJECT, str(FRAMES), str(mtu), host_b.mac, host_a.mac, "0", "3",
             "20260101"],
            timeout=240,
        )
        assert r.returncode == 0, r.stderr
        assert int(r.stdout) == FRAMES

        # Then the endpoints exchange data, byte-exact.
        assert a.call(op="send", ep=3, to=addr_b, size=50000, seed=1, match=1)["status"] == 0
        got = b.result()
        assert got["status"] == 0 and got["exact"], got
        a.post(op="recv", ep=3, size=50000, seed=2, match=2)
        assert b.call(op="send", ep=0, to=addr_a, size=50000, seed=2, match=2)["status"] == 0
        got = a.result()
        assert got["status"] == 0 and got["exact"], got
        for size in (0, 100, 9000, 1 << 20):
            b.post(op="recv", ep=0, size=size, seed=size, match=3)
            assert a.call(op="send", ep=3, to=addr_b, size=size, seed=size, match=3)["status"] == 0
            assert b.result()["exact"]
        text = run_tool(netns_pair, 1, env_b, "omx_counters", "-b", "0").stdout
        a.finish()
        b.finish()

    c = counters(text)
    drops = {k: v for k, v in c.items() if k.startswith("Drop ")}
    # Each kind of refusal the flood provokes is counted.
    for label in ("Drop Bad Frame Length", "Drop Bad Peer Address", "Drop Bad Session",
                  "Drop Unknown Type", "Drop Bad Data Length"):
        assert drops.get(label, 0) > 0, (label, text)
    assert sum(drops.values()) >= FRAMES // 10, text
    assert text.splitlines()[1] == "=" * 55
