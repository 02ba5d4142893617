"""Endpoint, Request and OmxError behaviour within one process."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import omx_transport as omx
from omx_transport import Endpoint, OmxError, ReturnCode


def connect_both(a: Endpoint, b: Endpoint):
    """Connect two endpoints of this process to each other.

    A connect is answered by the remote *library*, so each side must be
    progressing while the other connects: run one of them in a thread.
    """
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("b", b.connect(a.address)))
    t.start()
    a_to_b = a.connect(b.address)
    t.join(30)
    return a_to_b, box["b"]


@pytest.fixture
def pair():
    with Endpoint() as a, Endpoint() as b:
        yield (a, b, *connect_both(a, b))


def test_open_gives_distinct_addresses_and_closes():
    with Endpoint() as a, Endpoint() as b:
        assert a.address.nic_id == b.address.nic_id
        assert a.address.endpoint_index != b.address.endpoint_index
        assert omx.EndpointAddress.parse(str(a.address)) == a.address
    assert a.closed and b.closed
    with pytest.raises(OmxError) as err:
        a.iprobe()
    assert err.value == ReturnCode.BAD_ENDPOINT


def test_endpoint_index_in_use_is_busy():
    with Endpoint() as a:
        with pytest.raises(OmxError) as err:
            Endpoint(index=a.address.endpoint_index)
        assert int(err.value) == ReturnCode.BUSY
        assert "busy" in str(err.value).lower()


def test_numpy_round_trip_and_status(pair):
    a, b, a_to_b, _ = pair
    src = np.arange(1000, dtype=np.float64)
    dst = np.zeros_like(src)
    rreq = b.irecv(dst, match=0xABC, mask=omx.MATCH_ALL)
    sreq = a.isend(src, a_to_b, match=0xABC)
    # 8000 B is a large message on the intra-host path: the receiver must be
    # progressing (waited on) before the rendezvous send can complete.
    rst = rreq.wait(10)
    assert sreq.wait(10).ok
    assert np.array_equal(src, dst)
    assert (rst.match_info, rst.msg_length, rst.xfer_length) == (0xABC, 8000, 8000)
    assert rst.source == tuple(a.address)
    assert rreq.test() == rst


def test_read_only_buffer_sends_but_cannot_receive(pair):
    a, b, a_to_b, _ = pair
    ro = np.arange(10, dtype=np.uint8)
    ro.setflags(write=False)
    with pytest.raises(BufferError):
        b.irecv(ro)
    with pytest.raises(BufferError):
        b.irecv(b"immutable bytes")
    dst = bytearray(10)
    r = b.irecv(dst)
    a.isend(ro, a_to_b).wait(10)
    r.wait(10)
    assert bytes(dst) == bytes(range(10))


def test_non_contiguous_buffer_is_refused(pair):
    a, _, a_to_b, _ = pair
    with pytest.raises((ValueError, BufferError)):
        a.isend(np.arange(20)[::2], a_to_b)


def test_match_outside_mask_is_refused(pair):
    _, b, _, _ = pair
    with pytest.raises(OmxError) as err:
        b.irecv(bytearray(4), match=0x10, mask=0x01)
    assert err.value == ReturnCode.BAD_MATCH_MASK


def test_probe_then_receive(pair):
    a, b, a_to_b, _ = pair
    assert b.iprobe() is None
    a.isend(b"hello", a_to_b, match=7).wait(10)
    st = b.probe(match=7, mask=omx.MATCH_ALL, timeout=10)
    assert (st.match_info, st.msg_length) == (7, 5)
    assert b.iprobe(match=8, mask=omx.MATCH_ALL) is None
    buf = bytearray(5)
    b.irecv(buf, match=7, mask=omx.MATCH_ALL).wait(10)
    assert bytes(buf) == b"hello"
    assert b.iprobe() is None


def test_wait_timeout_keeps_request_pending(pair):
    a, b, a_to_b, _ = pair
    buf = bytearray(8)
    r = b.irecv(buf, match=1, mask=omx.MATCH_ALL)
    with pytest.raises(TimeoutError):
        r.wait(0.05)
    assert r.test() is None
    a.isend(b"12345678", a_to_b, match=1).wait(10)
    assert r.wait(10).ok and bytes(buf) == b"12345678"


def test_blocked_wait_releases_the_gil(pair):
    a, b, a_to_b, _ = pair
    buf = bytearray(4)
    r = b.irecv(buf, match=2, mask=omx.MATCH_ALL)
    done = threading.Event()
    t = threading.Thread(target=lambda: (r.wait(20), done.set()))
    t.start()
    # This loop only runs if the waiting thread let go of the GIL.
    spins = 0
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:
        spins += 1
    assert spins > 1000 and not done.is_set()
    a.isend(b"ping", a_to_b, match=2).wait(10)
    t.join(20)
    assert done.is_set() and bytes(buf) == b"ping"


def test_omx_error_carries_the_status():
    err = OmxError(ReturnCode.REMOTE_ENDPOINT_UNREACHABLE)
    assert int(err) == 92 and err == 92 and err.code is ReturnCode.REMOTE_ENDPOINT_UNREACHABLE
    assert isinstance(err, RuntimeError)
    assert str(err)
