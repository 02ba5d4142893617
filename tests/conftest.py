import os
import random
import sys
from pathlib import Path

# The harness modules (pairs, scenarios) live beside the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent))

# In-process tests get their own UDP port range; libopen-mx reads it once.
os.environ.setdefault("OMX_UDP_ADDR", f"127.0.0.1:{random.randrange(20000, 60000 - 64)}")


# ---- two-host fabric: network namespaces joined by a veth pair (tests/netns.py) ----
import contextlib  # noqa: E402

import netns  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def netns_pair(request):
    """A netns.VethPair (two namespaces, veth0 each side, IPv4 .1/.2); MTU 9000,
    or the value given by indirect parametrisation.  Skips when namespaces
    cannot be created (not root, no iproute2, kernel refusal)."""
    mtu = getattr(request, "param", 9000)
    with contextlib.ExitStack() as stack:
        try:
            pair = stack.enter_context(netns.veth_pair(mtu=mtu))
        except netns.NetnsUnavailable as exc:
            pytest.skip(f"network namespaces unavailable: {exc}")
        yield pair
