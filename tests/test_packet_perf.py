"""omx_perf between two hosts on the packet link, peers from a static
omx_init_peers file and the sender naming its peer by hostname: both sides
print the reference's lines, the sender one line per length in
``length % 9lld:\\t%.3f us\\t%.2f MB/s\\t %.2f MiB/s``.
"""

from __future__ import annotations

import re
import time

import pytest
from packet_harness import host_env, run_tool, tool

pytestmark = pytest.mark.netns

LINE = re.compile(r"^length +(\d+):\t\d+\.\d{3} us\t\d+\.\d{2} MB/s\t \d+\.\d{2} MiB/s$")


def test_omx_perf_between_namespaces(netns_pair, tmp_path):
    envs = [host_env(tmp_path, i, netns_pair.mtu) for i in (0, 1)]
    names = ["perfA:0", "perfB:0"]
    peers_file = tmp_path / "peers"
    peers_file.write_text(
        "# the two hosts of the fabric\n"
        + "".join(f"{h.mac} {n}\n" for h, n in zip(netns_pair.hosts, names, strict=True))
    )
    for i in (0, 1):
        run_tool(netns_pair, i, envs[i], "omx_hostname", "-n", names[i])
        run_tool(netns_pair, i, envs[i], "omx_init_peers", "-d", str(peers_file))
        info = run_tool(netns_pair, i, envs[i], "omx_info").stdout
        assert "Peer table is ready" in info and names[1 - i] in info

    receiver = netns_pair.popen(
        1, [tool("omx_perf"), "-e", "2"], env=envs[1], stdout=-1, stderr=-1, text=True
    )
    # The receiver's endpoint is claimed once it is open.
    end = time.monotonic() + 10
    while "  2\topen by pid" not in run_tool(netns_pair, 1, envs[1], "omx_endpoint_info").stdout:
        assert time.monotonic() < end and receiver.poll() is None, receiver.communicate()
        time.sleep(0.1)
    sender = run_tool(
        netns_pair, 0, envs[0], "omx_perf", "-d", names[1], "-r", "2",
        "-S", "0", "-E", "1048577", "-M", "8", "-N", "20", "-W", "2", "-P", "0",
        timeout=120,
    )  # fmt: skip
    out, err = receiver.communicate(timeout=30)
    assert receiver.returncode == 0, err

    lines = sender.stdout.splitlines()
    assert lines[0] == "Successfully open any endpoint for hostname 'perfA:0' iface 'veth0'"
    assert "Starting sender to 'perfB:0'..." in lines
    lengths = [int(m.group(1)) for m in map(LINE.match, lines) if m]
    assert lengths == [0, 1, 8, 64, 512, 4096, 32768, 262144], sender.stdout
    assert "Successfully open endpoint 2 for hostname 'perfB:0' iface 'veth0'" in out
    assert "Starting receiver..." in out
