"""Collective algorithms for Comm, on the communicator's collective context id.

Every collective call takes the next value of a per-communicator sequence
as its tag: all ranks call collectives in the same order, so the tags
agree, and every receive names its source, so no wildcard can take a
message of another collective.  Algorithms (p = size):

* Barrier: dissemination, ceil(log2 p) rounds of empty messages.
* Bcast: binomial tree; above ``LARGE`` bytes, scatter then ring allgather.
* Reduce: binomial tree (root 0 then a hop to the root for non-commutative ops).
* Allreduce: recursive doubling (non powers of two fold the extra ranks in
  first); above ``LARGE`` bytes, ring reduce-scatter then ring allgather.
* Gather/Scatter: binomial trees carrying whole subtrees.
* Allgather: Bruck (log p rounds) for short blocks, ring for long ones.
* Alltoall: pairwise exchange, a window of peers in flight at once.
* Gatherv/Scatterv: counts are known at the root only, so the root posts
  one non-blocking receive (send) per rank; Allgatherv: ring.
* Pickled variants move pickled bytes with the same trees; a receive
  probes for the size first (its source and tag are exact, so it is safe).
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import comm as _comm
from ._error import OmxError, ReturnCode
from ._lib import check, ffi, lib
from ._msgspec import Msg, VMsg, simple, vector
from ._reduce import Op, as_op

if TYPE_CHECKING:
    from .comm import Comm

__all__ = ["Buf", "VBuf", "as_op"]

LARGE = 32768  # bytes from which bandwidth-optimal algorithms take over (the rndv threshold)
_WINDOW = 16  # peers in flight during Alltoall
_U8 = np.uint8


# ---- buffers -------------------------------------------------------------


class Buf:
    """A parsed collective buffer: ``count`` items per block, ``blocks`` blocks."""

    __slots__ = ("msg", "count", "blocks", "extent", "nbytes", "u8")

    def __init__(self, msg: Msg, blocks: int):
        self.msg = msg
        dt = msg.dtype
        self.count = msg.count
        self.blocks = max(blocks, 1)
        self.extent = dt.extent
        self.nbytes = self.count * self.extent  # one block
        total = self.nbytes * self.blocks
        self.u8 = np.frombuffer(ffi.buffer(msg.cdata), _U8, total, msg.offset)

    @classmethod
    def parse(cls, spec: Any, readonly: bool, blocks: int = 0) -> Buf:
        return cls(simple(spec, readonly, blocks), blocks)

    @classmethod
    def of(cls, arr: np.ndarray, blocks: int = 0) -> Buf:
        return cls(simple(arr, False, blocks), blocks)

    def block(self, i: int, n: int = 1) -> np.ndarray:
        """Bytes of blocks ``i .. i+n``."""
        b = self.nbytes
        return self.u8[i * b : (i + n) * b]

    def array(self) -> np.ndarray:
        """Typed view of the first block (for reductions)."""
        return self.msg.array(0, self.count)

    def same_memory(self, other: Buf) -> bool:
        return (
            self.nbytes == other.nbytes
            and self.nbytes > 0
            and ffi.cast("uintptr_t", self.msg.ptr()) == ffi.cast("uintptr_t", other.msg.ptr())
        )


class VBuf:
    """A parsed vector buffer (per-rank counts and displacements)."""

    __slots__ = ("msg", "u8")

    def __init__(self, msg: VMsg):
        self.msg = msg
        self.u8 = np.frombuffer(ffi.buffer(msg.cdata), _U8)

    @classmethod
    def parse(cls, spec: Any, readonly: bool, blocks: int) -> VBuf:
        return cls(vector(spec, readonly, blocks))

    def block(self, i: int) -> np.ndarray:
        off, n = self.msg.block(i)
        return self.u8[off : off + n]


def check_block(mine: Buf, blocks: Buf, mine_name: str, blocks_name: str) -> None:
    if mine.nbytes != blocks.nbytes:
        raise ValueError(
            f"mismatch in {mine_name} count {mine.count} ({mine.nbytes} bytes) and "
            f"{blocks_name} count {blocks.count} ({blocks.nbytes} bytes) per rank"
        )


def check_reduction(sbuf: Buf, rbuf: Buf) -> None:
    if sbuf.msg.dtype != rbuf.msg.dtype:
        raise ValueError("mismatch in send and receive MPI datatypes")
    if sbuf.count != rbuf.count:
        raise ValueError(f"mismatch in send count {sbuf.count} and receive count {rbuf.count}")


# ---- primitives on the collective context --------------------------------


class _Ops:
    """Outstanding collective sends/receives; ``wait`` completes them all."""

    __slots__ = ("comm", "items", "tag")

    def __init__(self, comm: Comm, tag: int):
        self.comm = comm
        self.tag = tag
        self.items: list[tuple[Any, Any, int]] = []

    def send(self, arr: np.ndarray | bytes, dest: int) -> None:
        comm = self.comm
        cd = ffi.from_buffer(arr)
        h = ffi.new("omx_request_t *")
        match = comm._cbase | (comm._rank << _comm.SRC_SHIFT) | self.tag
        self._post(lib.omx_isend(comm._ep, cd, len(cd), comm._peer(dest)[0], match, ffi.NULL, h))
        self.items.append((h, cd, -1))

    def recv(self, arr: np.ndarray | bytearray, src: int) -> None:
        comm = self.comm
        cd = ffi.from_buffer(arr, require_writable=True)
        h = ffi.new("omx_request_t *")
        match = comm._cbase | (src << _comm.SRC_SHIFT) | self.tag
        self._post(lib.omx_irecv(comm._ep, cd, len(cd), match, _comm.MATCH_ALL, ffi.NULL, h))
        self.items.append((h, cd, len(cd)))

    def _post(self, rc: int) -> None:
        """Raise for a failed post, first withdrawing what this collective already posted.

        Receives not yet matched are cancelled; anything else is handed to a
        Request that keeps its buffer alive until the library is done with it.
        """
        if rc == ReturnCode.SUCCESS:
            return
        res = ffi.new("uint32_t *")
        for h, cd, capacity in self.items:
            if capacity >= 0 and lib.omx_cancel(self.comm._ep, h, res) == 0 and res[0]:
                continue
            _comm.Request(self.comm._ep, [(h, None)], cd).Free()
        self.items.clear()
        raise OmxError(rc)

    def wait(self) -> None:
        st = ffi.new("omx_status_t *")
        first: OmxError | None = None
        for h, _, capacity in self.items:
            _comm._cwait(self.comm._ep, h, st)
            code = int(st[0].code)
            if code != ReturnCode.SUCCESS and first is None:
                if code == ReturnCode.MESSAGE_TRUNCATED:
                    first = OmxError(
                        code,
                        f"Message truncated (MPI_ERR_TRUNCATE) in a collective: "
                        f"{st[0].msg_length} bytes for a {capacity} byte block "
                        "(do the counts agree on every rank?)",
                    )
                else:
                    first = OmxError(code)
        self.items.clear()
        if first is not None:
            raise first

    def recv_bytes(self, src: int) -> bytearray:
        """Blocking receive of a message of unknown size (probe, then receive)."""
        comm = self.comm
        match = comm._cbase | (src << _comm.SRC_SHIFT) | self.tag
        st = ffi.new("omx_status_t *")
        res = ffi.new("uint32_t *")
        while not res[0]:
            check(lib.omx_probe(comm._ep, match, _comm.MATCH_ALL, st, res, _comm.SLICE_MS))
        data = bytearray(st[0].msg_length)
        self.recv(data, src)
        self.wait()
        return data


def _begin(comm: Comm) -> _Ops:
    tag = comm._coll_seq
    comm._coll_seq = (tag + 1) & _comm.TAG_UB
    return _Ops(comm, tag)


def _sendrecv(ops: _Ops, sarr: Any, dest: int, rarr: Any, src: int) -> None:
    ops.recv(rarr, src)
    ops.send(sarr, dest)
    ops.wait()


# ---- barrier and broadcast -----------------------------------------------


def barrier(comm: Comm) -> None:
    ops = _begin(comm)
    n, r = comm._size, comm._rank
    empty = np.empty(0, _U8)
    k = 1
    while k < n:
        _sendrecv(ops, empty, (r + k) % n, empty, (r - k) % n)
        k <<= 1


def _bcast_tree(ops: _Ops, data: np.ndarray, root: int) -> None:
    n, r = ops.comm._size, ops.comm._rank
    rel = (r - root) % n
    mask = 1
    while mask < n:
        if rel & mask:
            ops.recv(data, (rel - mask + root) % n)
            ops.wait()
            break
        mask <<= 1
    mask >>= 1
    while mask > 0:
        if rel + mask < n:
            ops.send(data, (rel + mask + root) % n)
        mask >>= 1
    ops.wait()


def _chunks(total: int, n: int, unit: int) -> list[tuple[int, int]]:
    """Split ``total`` bytes in ``n`` ranges on ``unit`` boundaries: (offset, length)."""
    items = total // unit
    out, off = [], 0
    for i in range(n):
        k = items // n + (1 if i < items % n else 0)
        out.append((off, k * unit))
        off += k * unit
    return out


def bcast(comm: Comm, buf: Buf, root: int) -> None:
    ops = _begin(comm)
    n = comm._size
    data = buf.block(0)
    if n == 1 or data.nbytes == 0:
        return
    if data.nbytes < LARGE or n < 3:
        _bcast_tree(ops, data, root)
        return
    # Scatter the message down the tree, then ring-allgather the pieces.
    r = comm._rank
    parts = _chunks(data.nbytes, n, buf.extent)
    rel = (r - root) % n
    mask = 1
    while mask < n:
        if rel & mask:
            lo = parts[rel][0]
            hi_rank = min(rel + mask, n) - 1
            hi = parts[hi_rank][0] + parts[hi_rank][1]
            ops.recv(data[lo:hi], (rel - mask + root) % n)
            ops.wait()
            break
        mask <<= 1
    mask >>= 1
    while mask > 0:
        child = rel + mask
        if child < n:
            last = min(child + mask, n) - 1
            lo, hi = parts[child][0], parts[last][0] + parts[last][1]
            ops.send(data[lo:hi], (child + root) % n)
        mask >>= 1
    ops.wait()
    left, right = (r - 1) % n, (r + 1) % n
    scratch = np.empty(max(length for _, length in parts), _U8) if rel == 0 else None
    for s in range(n - 1):
        so, sl = parts[(rel - s) % n]
        ro, rl = parts[(rel - s - 1) % n]
        # The root has every piece already and its buffer may be read-only.
        into = data[ro : ro + rl] if scratch is None else scratch[:rl]
        _sendrecv(ops, data[so : so + sl], right, into, left)


# ---- reductions ----------------------------------------------------------


def _combine(op: Op, lower: np.ndarray, higher: np.ndarray) -> None:
    """``higher = lower op higher`` (the lower ranks' operand first)."""
    op.Reduce_local(lower, higher)


def reduce(comm: Comm, sbuf: Buf | None, rbuf: Buf | None, op: Op, root: int) -> None:
    """``sbuf`` None means in place (root only); ``rbuf`` None off the root."""
    ops = _begin(comm)
    n, r = comm._size, comm._rank
    src = sbuf if sbuf is not None else rbuf
    assert src is not None
    acc = src.array().copy()
    if n > 1:
        tree_root = root if op.is_commutative else 0
        rel = (r - tree_root) % n
        tmp = np.empty_like(acc)
        mask = 1
        while mask < n:
            if rel & mask == 0:
                child = rel | mask
                if child < n:
                    ops.recv(tmp.view(_U8), (child + tree_root) % n)
                    ops.wait()
                    _combine(op, acc, tmp)
                    acc, tmp = tmp, acc
            else:
                ops.send(acc.view(_U8), ((rel & ~mask) + tree_root) % n)
                ops.wait()
                break
            mask <<= 1
        if tree_root != root:
            if r == tree_root:
                ops.send(acc.view(_U8), root)
                ops.wait()
            elif r == root:
                ops.recv(acc.view(_U8), tree_root)
                ops.wait()
    if r == root:
        assert rbuf is not None
        rbuf.array()[...] = acc


def allreduce(comm: Comm, sbuf: Buf | None, rbuf: Buf, op: Op) -> None:
    n = comm._size
    out = rbuf.array()
    if sbuf is not None:
        out[...] = sbuf.array()
    if n == 1:
        return
    if not op.is_commutative:
        reduce(comm, None if comm._rank == 0 else rbuf, rbuf if comm._rank == 0 else None, op, 0)
        bcast(comm, rbuf, 0)
        return
    allreduce_array(comm, out, op)


def allreduce_array(comm: Comm, acc: np.ndarray, op: Op) -> None:
    """In-place allreduce of a contiguous 1-D array with a commutative ``op``."""
    if acc.nbytes >= LARGE and acc.shape[0] >= comm._size:
        _allreduce_ring(comm, acc, op)
    elif comm._size > 1:
        _allreduce_doubling(comm, acc, op)


def _allreduce_doubling(comm: Comm, acc: np.ndarray, op: Op) -> None:
    ops = _begin(comm)
    n, r = comm._size, comm._rank
    tmp = np.empty_like(acc)
    p2 = 1 << (n.bit_length() - 1)
    rem = n - p2
    if r < 2 * rem:
        if r % 2 == 0:
            ops.send(acc.view(_U8), r + 1)
            ops.wait()
            newrank = -1
        else:
            ops.recv(tmp.view(_U8), r - 1)
            ops.wait()
            _combine(op, tmp, acc)
            newrank = r // 2
    else:
        newrank = r - rem
    if newrank >= 0:
        mask = 1
        while mask < p2:
            peer_new = newrank ^ mask
            peer = peer_new * 2 + 1 if peer_new < rem else peer_new + rem
            _sendrecv(ops, acc.view(_U8), peer, tmp.view(_U8), peer)
            if peer < r:
                _combine(op, tmp, acc)
            else:
                _combine(op, acc, tmp)
                acc[...] = tmp
            mask <<= 1
    if r < 2 * rem:
        if r % 2:
            ops.send(acc.view(_U8), r - 1)
        else:
            ops.recv(acc.view(_U8), r + 1)
        ops.wait()


def _allreduce_ring(comm: Comm, acc: np.ndarray, op: Op) -> None:
    ops = _begin(comm)
    n, r = comm._size, comm._rank
    count = acc.shape[0]
    bounds = [(count * i) // n for i in range(n + 1)]
    tmp = np.empty(bounds[1] - bounds[0] + 1, acc.dtype)
    left, right = (r - 1) % n, (r + 1) % n
    for s in range(n - 1):
        si, ri = (r - s) % n, (r - s - 1) % n
        piece = acc[bounds[ri] : bounds[ri + 1]]
        into = tmp[: piece.shape[0]]
        _sendrecv(ops, acc[bounds[si] : bounds[si + 1]].view(_U8), right, into.view(_U8), left)
        _combine(op, into, piece)
    for s in range(n - 1):
        si, ri = (r - s + 1) % n, (r - s) % n
        _sendrecv(
            ops,
            acc[bounds[si] : bounds[si + 1]].view(_U8),
            right,
            acc[bounds[ri] : bounds[ri + 1]].view(_U8),
            left,
        )


# ---- gather, scatter, allgather, alltoall --------------------------------


def _lowbit_span(rel: int, n: int) -> int:
    """Ranks in the binomial subtree of relative rank ``rel``."""
    if rel == 0:
        return n
    return min(rel & -rel, n - rel)


def gather(comm: Comm, sbuf: Buf | None, rbuf: Buf | None, root: int) -> None:
    ops = _begin(comm)
    n, r = comm._size, comm._rank
    rel = (r - root) % n
    blk = (sbuf if sbuf is not None else rbuf).nbytes  # type: ignore[union-attr]
    span = _lowbit_span(rel, n)
    if rel == 0 and root == 0:
        assert rbuf is not None
        tmp = rbuf.u8
    elif span == 1:
        assert sbuf is not None
        tmp = sbuf.block(0)
    else:
        tmp = np.empty(span * blk, _U8)
    if sbuf is not None and (span > 1 or rel == 0):
        tmp[:blk] = sbuf.block(0)
    elif sbuf is None and rel == 0 and root != 0:
        assert rbuf is not None
        tmp[:blk] = rbuf.block(root)
    mask = 1
    while mask < n:
        if rel & mask == 0:
            child = rel | mask
            if child < n:
                k = min(mask, n - child)
                ops.recv(tmp[mask * blk : (mask + k) * blk], (child + root) % n)
        else:
            ops.wait()
            ops.send(tmp[: span * blk], ((rel & ~mask) + root) % n)
            break
        mask <<= 1
    ops.wait()
    if rel == 0 and root != 0:
        assert rbuf is not None
        rbuf.u8[root * blk :] = tmp[: (n - root) * blk]
        rbuf.u8[: root * blk] = tmp[(n - root) * blk :]


def scatter(comm: Comm, sbuf: Buf | None, rbuf: Buf | None, root: int) -> None:
    ops = _begin(comm)
    n, r = comm._size, comm._rank
    rel = (r - root) % n
    blk = (rbuf if rbuf is not None else sbuf).nbytes  # type: ignore[union-attr]
    span = _lowbit_span(rel, n)
    if rel == 0:
        assert sbuf is not None
        if root == 0:
            tmp = sbuf.u8
        else:
            tmp = np.empty(n * blk, _U8)
            tmp[: (n - root) * blk] = sbuf.u8[root * blk :]
            tmp[(n - root) * blk :] = sbuf.u8[: root * blk]
    elif span == 1:
        assert rbuf is not None
        tmp = rbuf.block(0)
    else:
        tmp = np.empty(span * blk, _U8)
    if rel != 0:
        mask = rel & -rel
        ops.recv(tmp[: span * blk], ((rel & ~mask) + root) % n)
        ops.wait()
        mask >>= 1
    else:
        mask = 1 << max(0, (n - 1).bit_length() - 1)
    while mask > 0:
        child = rel + mask
        if child < n:
            k = min(mask, n - child)
            ops.send(tmp[mask * blk : (mask + k) * blk], (child + root) % n)
        mask >>= 1
    ops.wait()
    if rbuf is not None and (span > 1 or rel == 0):
        rbuf.block(0)[...] = tmp[:blk]


def allgather(comm: Comm, sbuf: Buf | None, rbuf: Buf) -> None:
    n, r = comm._size, comm._rank
    blk = rbuf.nbytes
    if sbuf is not None:
        rbuf.block(r)[...] = sbuf.block(0)
    if n == 1 or blk == 0:
        return
    ops = _begin(comm)
    if blk * n >= LARGE:
        left, right = (r - 1) % n, (r + 1) % n
        for s in range(n - 1):
            _sendrecv(ops, rbuf.block((r - s) % n), right, rbuf.block((r - s - 1) % n), left)
        return
    tmp = np.empty(n * blk, _U8)
    tmp[:blk] = rbuf.block(r)
    k = 1
    while k < n:
        cnt = min(k, n - k)
        _sendrecv(ops, tmp[: cnt * blk], (r - k) % n, tmp[k * blk : (k + cnt) * blk], (r + k) % n)
        k <<= 1
    rbuf.u8[r * blk :] = tmp[: (n - r) * blk]
    rbuf.u8[: r * blk] = tmp[(n - r) * blk :]


def alltoall(comm: Comm, sbuf: Buf | None, rbuf: Buf) -> None:
    n, r = comm._size, comm._rank
    src = sbuf.u8 if sbuf is not None else rbuf.u8.copy()
    blk = rbuf.nbytes
    rbuf.block(r)[...] = src[r * blk : (r + 1) * blk]
    ops = _begin(comm)
    for first in range(1, n, _WINDOW):
        for s in range(first, min(first + _WINDOW, n)):
            peer = (r - s) % n
            ops.recv(rbuf.block(peer), peer)
        for s in range(first, min(first + _WINDOW, n)):
            peer = (r + s) % n
            ops.send(src[peer * blk : (peer + 1) * blk], peer)
        ops.wait()


# ---- vector variants -----------------------------------------------------


def gatherv(comm: Comm, sbuf: Buf | None, rbuf: VBuf | None, root: int) -> None:
    r = comm._rank
    if r == root and sbuf is not None:
        assert rbuf is not None
        _check_own_block(sbuf, rbuf, r)
    ops = _begin(comm)
    if r != root:
        assert sbuf is not None
        ops.send(sbuf.block(0), root)
        ops.wait()
        return
    assert rbuf is not None
    for i in range(comm._size):
        if i != r:
            ops.recv(rbuf.block(i), i)
    if sbuf is not None:
        rbuf.block(r)[...] = sbuf.block(0)
    ops.wait()


def _check_own_block(buf: Buf, vbuf: VBuf, r: int) -> None:
    if vbuf.block(r).nbytes != buf.nbytes:
        raise ValueError(f"mismatch in count {buf.count} and vector count {vbuf.msg.counts[r]}")


def scatterv(comm: Comm, sbuf: VBuf | None, rbuf: Buf | None, root: int) -> None:
    r = comm._rank
    if r == root and rbuf is not None:
        assert sbuf is not None
        _check_own_block(rbuf, sbuf, r)
    ops = _begin(comm)
    if r != root:
        assert rbuf is not None
        ops.recv(rbuf.block(0), root)
        ops.wait()
        return
    assert sbuf is not None
    for i in range(comm._size):
        if i != r:
            ops.send(sbuf.block(i), i)
    if rbuf is not None:
        rbuf.block(0)[...] = sbuf.block(r)
    ops.wait()


def allgatherv(comm: Comm, sbuf: Buf | None, rbuf: VBuf) -> None:
    n, r = comm._size, comm._rank
    if sbuf is not None:
        _check_own_block(sbuf, rbuf, r)
        rbuf.block(r)[...] = sbuf.block(0)
    if n == 1:
        return
    ops = _begin(comm)
    left, right = (r - 1) % n, (r + 1) % n
    for s in range(n - 1):
        _sendrecv(ops, rbuf.block((r - s) % n), right, rbuf.block((r - s - 1) % n), left)


# ---- pickled objects -----------------------------------------------------


def _dumps(obj: Any) -> bytes:
    return pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)


def bcast_obj(comm: Comm, obj: Any, root: int) -> Any:
    ops = _begin(comm)
    n, r = comm._size, comm._rank
    rel = (r - root) % n
    data: Any = _dumps(obj) if r == root else None
    mask = 1
    while mask < n:
        if rel & mask:
            data = ops.recv_bytes((rel - mask + root) % n)
            break
        mask <<= 1
    mask >>= 1
    while mask > 0:
        if rel + mask < n:
            ops.send(data, (rel + mask + root) % n)
        mask >>= 1
    ops.wait()
    return pickle.loads(data)


def _gather_blobs(ops: _Ops, mine: bytes, root: int) -> list[bytes] | None:
    """Binomial gather of one pickled blob per rank; the root gets them in rank order."""
    n, r = ops.comm._size, ops.comm._rank
    rel = (r - root) % n
    blobs = [mine]
    mask = 1
    while mask < n:
        if rel & mask == 0:
            if rel | mask < n:
                blobs.extend(pickle.loads(ops.recv_bytes(((rel | mask) + root) % n)))
        else:
            ops.send(_dumps(blobs), ((rel & ~mask) + root) % n)
            ops.wait()
            return None
        mask <<= 1
    return blobs[n - root :] + blobs[: n - root]


def gather_obj(comm: Comm, sendobj: Any, root: int) -> list[Any] | None:
    ops = _begin(comm)
    blobs = _gather_blobs(ops, _dumps(sendobj), root)
    return None if blobs is None else [pickle.loads(b) for b in blobs]


def scatter_obj(comm: Comm, sendobj: Sequence[Any] | None, root: int) -> Any:
    n, r = comm._size, comm._rank
    items = list(sendobj) if r == root and sendobj is not None else []
    if r == root and len(items) != n:
        raise ValueError(f"expecting {n} items, got {len(items)}")
    ops = _begin(comm)  # after the checks: a refused call must not use up a tag
    rel = (r - root) % n
    if r == root:
        blobs = [_dumps(x) for x in items]
        blobs = blobs[root:] + blobs[:root]  # relative-rank order
        mask = 1 << max(0, (n - 1).bit_length() - 1)
    else:
        mask = rel & -rel
        blobs = pickle.loads(ops.recv_bytes(((rel & ~mask) + root) % n))
        mask >>= 1
    while mask > 0:
        child = rel + mask
        if child < n:
            k = min(mask, n - child)
            ops.send(_dumps(blobs[mask : mask + k]), (child + root) % n)
        mask >>= 1
    ops.wait()
    return pickle.loads(blobs[0])


def allgather_obj(comm: Comm, sendobj: Any) -> list[Any]:
    ops = _begin(comm)
    n, r = comm._size, comm._rank
    blobs = [_dumps(sendobj)]
    k = 1
    while k < n:
        cnt = min(k, n - k)
        ops.send(_dumps(blobs[:cnt]), (r - k) % n)
        blobs.extend(pickle.loads(ops.recv_bytes((r + k) % n)))
        ops.wait()
        k <<= 1
    # blobs[i] came from rank (r + i) % n
    ordered = blobs[n - r :] + blobs[: n - r]
    return [pickle.loads(b) for b in ordered]


def alltoall_obj(comm: Comm, sendobj: Sequence[Any]) -> list[Any]:
    n, r = comm._size, comm._rank
    items = list(sendobj)
    if len(items) != n:
        raise ValueError(f"expecting {n} items, got {len(items)}")
    ops = _begin(comm)
    out: list[Any] = [None] * n
    out[r] = pickle.loads(_dumps(items[r]))
    for s in range(1, n):
        dest, src = (r + s) % n, (r - s) % n
        ops.send(_dumps(items[dest]), dest)
        out[src] = pickle.loads(ops.recv_bytes(src))
        ops.wait()
    return out


def reduce_obj(comm: Comm, sendobj: Any, op: Op, root: int) -> Any:
    """Binomial tree rooted at rank 0, so operands combine in rank order."""
    ops = _begin(comm)
    n, r = comm._size, comm._rank
    acc = sendobj
    mask = 1
    while mask < n:
        if r & mask == 0:
            if r | mask < n:
                acc = op(acc, pickle.loads(ops.recv_bytes(r | mask)))
        else:
            ops.send(_dumps(acc), r & ~mask)
            ops.wait()
            break
        mask <<= 1
    if root != 0:
        if r == 0:
            ops.send(_dumps(acc), root)
            ops.wait()
        elif r == root:
            acc = pickle.loads(ops.recv_bytes(0))
    return acc if r == root else None


def allreduce_obj(comm: Comm, sendobj: Any, op: Op) -> Any:
    return bcast_obj(comm, reduce_obj(comm, sendobj, op, 0), 0)
