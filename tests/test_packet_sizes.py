"""Every message size class across two hosts on the packet link (AF_PACKET
over a veth pair between two network namespaces), byte-exact, both ways,
at Ethernet MTUs 1500, 9000 and 65535: tiny (0, 32), small (128), medium
(8193, 32 KiB), large through rendezvous and pull (32 KiB + 1, 1 MiB,
64 MiB).
"""

from __future__ import annotations

import pytest
from packet_harness import Host, host_env

pytestmark = pytest.mark.netns

SIZES = [0, 32, 128, 8192 + 1, 32 << 10, (32 << 10) + 1, 1 << 20, 64 << 20]


@pytest.mark.parametrize("netns_pair", [1500, 9000, 65535], indirect=True, ids=lambda m: f"mtu{m}")
def test_every_size_class_byte_exact(netns_pair, tmp_path):
    mtu = netns_pair.mtu
    with (
        Host(netns_pair, 0, host_env(tmp_path, 0, mtu)) as a,
        Host(netns_pair, 1, host_env(tmp_path, 1, mtu)) as b,
    ):
        addr_a = a.call(op="open", index=3)["addr"]
        addr_b = b.call(op="open", index=4)["addr"]
        assert addr_a.endswith("/3") and addr_b.endswith("/4")
        assert addr_a.split("/")[0] == netns_pair.hosts[0].mac
        a.post(op="connect", ep=3, to=addr_b)
        b.post(op="connect", ep=4, to=addr_a)
        assert a.result() == {"status": 0} and b.result() == {"status": 0}
        for size in SIZES:
            for src, dst, src_ep, dst_ep, to, seed in (
                (a, b, 3, 4, addr_b, size),
                (b, a, 4, 3, addr_a, size + 1),
            ):
                dst.post(op="recv", ep=dst_ep, size=size, seed=seed, match=size)
                src.post(op="send", ep=src_ep, to=to, size=size, seed=seed, match=size)
                sent, got = src.result(), dst.result()
                assert sent == {"status": 0, "xfer": size}, (size, sent)
                assert got == {"status": 0, "msg": size, "xfer": size, "exact": True}, (size, got)
        err_a, err_b = a.finish(), b.finish()
    # No warning at any of these MTUs (a 1500-byte Ethernet MTU is a good one).
    assert "bad MTU" not in err_a + err_b
