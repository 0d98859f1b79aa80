"""Step kernels of the walk engine, written so that TorchScript can compile them.

The drivers (:func:`first_order_walks`, :func:`second_order_walks`) run a whole block of
walkers through all its steps. :func:`kernel` returns them compiled by ``torch.jit.script``:
the TorchScript interpreter runs the many small ops of the node2vec rejection rounds without
Python's per-op overhead and without holding the GIL, so CPU slices of walkers can run on
several threads at once. Compiled and plain-Python runs give identical walks (the same ops
in the same order); where TorchScript is unavailable the plain functions run, with a warning.
(``torch.jit.script`` is deprecated since torch 2.x but works in the torch 2.13 this project
pins; ``torch.compile`` needs a C++ toolchain at run time, which a pip-only install lacks.)

Everything the kernels read about the graph is in one :class:`StepArrays` tuple, built by
:class:`graphcl.walks.engine._WalkIndex`.
"""

import threading
import warnings
from typing import Any, NamedTuple

import torch
from torch import Tensor

# Set to False to run the kernels as plain Python (tests compare both).
TORCHSCRIPT = True

EMPTY = -1  # empty slot of the edge hash set (the kernels spell it out: TorchScript reads no globals)


class StepArrays(NamedTuple):
    """The graph as the step kernels read it (ids in ``rowptr.dtype``, int32 when the graph allows)."""

    rowptr: Tensor
    col: Tensor
    deg_f: Tensor  # float32 out-degrees
    deg_clamp: Tensor | None  # integer degrees, only when some reach 2**24 (float32 offsets then need a clamp)
    base: Tensor | None  # weighted graphs: float64 cumulative weight before each row,
    wspan: Tensor | None  # ... the row's total weight,
    cumw: Tensor | None  # ... the global cumulative weights,
    row_last: Tensor | None  # ... and the position of each row's last entry
    adj: Tensor | None  # adjacency test: int32 bitmap words or the hash table of edge keys
    adj_bitmap: bool
    adj_n: int  # key = t * adj_n + x
    adj_mask: int  # hash table size - 1
    adj_key32: bool  # keys in int32


# ----------------------------------------------------------------------- basics
def rand(shape: list[int], generator: torch.Generator | None, device: torch.device) -> Tensor:
    """float32 uniforms in ``[0, 1)``."""
    return torch.rand(shape, generator=generator, device=device, dtype=torch.float32)


def select(mask: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """``torch.where(mask, a, b)`` for integer tensors, by bit masks (several times faster on CPU)."""
    return b ^ ((a ^ b) & mask.to(b.dtype).neg_())


def either(mask: Tensor, a: Tensor | None, b: Tensor | None) -> Tensor | None:
    """``torch.where(mask, a, b)`` for boolean tensors; ``None`` stands for all true."""
    if a is None:
        if b is None:
            return None
        return mask | b
    if b is None:
        return ~mask | a
    return (mask & a) | (~mask & b)


def below(r: Tensor, level: float) -> Tensor | None:
    """``r < level``; ``None`` (all true) when ``level >= 1``."""
    if level >= 1.0:
        return None
    return r < level


def accept(r: Tensor, is_t: Tensor, adj: Tensor | None, back: float, inn: float, out: float) -> Tensor:
    """Accept a proposal ``x`` iff ``r < alpha(t, x) / a_max`` (levels ``back``, ``inn``, ``out``).

    ``adj`` (``t -> x``) is ``None`` when the in and out levels are equal.
    """
    if adj is None:
        inner = below(r, inn)
    else:
        inner = either(adj, below(r, inn), below(r, out))
    acc = either(is_t, below(r, back), inner)
    if acc is None:
        return torch.ones_like(is_t)
    return acc


# ------------------------------------------------------------------ first order
def step(a: StepArrays, cur: Tensor, u: Tensor, out: Tensor | None = None) -> Tensor:
    """One first-order step for every walker ``cur`` using uniforms ``u`` (float32, overwritten)."""
    base = a.base
    if base is not None:
        wspan, cumw, row_last = a.wspan, a.cumw, a.row_last
        assert wspan is not None and cumw is not None and row_last is not None
        target = torch.addcmul(base.index_select(0, cur), u.double(), wspan.index_select(0, cur))
        pos = torch.searchsorted(cumw, target, right=True)
        pos = torch.minimum(pos.to(a.rowptr.dtype), row_last.index_select(0, cur))
    else:
        off = u.mul_(a.deg_f.index_select(0, cur)).to(a.rowptr.dtype)
        deg = a.deg_clamp
        if deg is not None:  # float32 rounding can give u * d == d for huge degrees
            off = torch.minimum(off, deg.index_select(0, cur) - 1)
        pos = a.rowptr.index_select(0, cur).add_(off)
    if out is None:
        return a.col.index_select(0, pos)
    # (the op itself: torch_geometric replaces torch.index_select by a Python wrapper)
    return torch.ops.aten.index_select(a.col, 0, pos, out=out)


def first_order_walks(a: StepArrays, start: Tensor, length: int, work_ids: int, rand_ids: int,
                      generator: torch.Generator | None, out: Tensor) -> None:
    """First-order walks into ``out`` (``[B, length + 1]``).

    Steps go to step-major working rows of about ``work_ids`` ids, copied to ``out`` block by
    block; uniforms are drawn about ``rand_ids`` at a time (the same stream as one big draw).
    """
    b = start.numel()
    if length == 0 or b == 0:
        out[:, 0] = start
        return
    dev = start.device
    block = min(length, max(1, work_ids // b))
    per_draw = max(1, rand_ids // b)
    buf = torch.empty([block + 1, b], dtype=start.dtype, device=dev)
    buf[0] = start
    u = torch.empty([0], device=dev)
    j = 0
    while j < length:
        k = min(block, length - j)
        for i in range(k):
            if i % per_draw == 0:
                u = rand([min(per_draw, k - i), b], generator, dev)
            step(a, buf[i], u[i % per_draw], buf[i + 1])
        first = 0 if j == 0 else 1  # the first block also writes the start column
        out[:, j + first : j + 1 + k].copy_(buf[first : k + 1].t())
        buf[0] = buf[k]
        j += k


# -------------------------------------------------------------------- adjacency
def bit_test(words: Tensor, keys: Tensor) -> Tensor:
    """``int32`` 1 where the bit ``keys`` of the bitmap ``words`` is set, else 0."""
    return (words.index_select(0, keys >> 5) >> (keys & 31).to(torch.int32)) & 1


def bitmap_contains(words: Tensor, n: int, key32: bool, t: Tensor, x: Tensor) -> Tensor:
    """Whether ``t -> x`` is set in the dense ``N x N`` bitmap ``words``."""
    dtype = torch.int32 if key32 else torch.long
    return bit_test(words, t.to(dtype) * n + x.to(dtype)).to(torch.bool)


def hash_slots(t: Tensor, x: Tensor, mask: int) -> Tensor:
    """Home slot of the key ``(t, x)`` in a table of ``mask + 1`` slots (no overflow for ids < 2**31)."""
    h = (t.long() * 2654435761) ^ (x.long() * 2246822519)
    h = h ^ (h >> 29)
    return h & mask


def hash_contains(table: Tensor, n: int, mask: int, key32: bool, t: Tensor, x: Tensor) -> Tensor:
    """Whether the key ``t * n + x`` is in the linear-probing hash ``table``.

    Probing goes on only for the queries that met another key: single slots first, then
    blocks of slots per round (clusters are short at the table's load of at most 1/4).
    """
    key = t.long() * n + x.long()
    if key32:
        key = key.to(torch.int32)
    slot = hash_slots(t, x, mask)
    val = table.index_select(0, slot)
    found = val == key
    open_ = ((~found) & (val != -1)).nonzero().squeeze(1)  # -1: EMPTY
    offsets = torch.arange(1, 9, device=slot.device)  # blocks of 8 slots
    rounds = 0
    while open_.numel() > 0:
        rounds += 1
        width = 1 if rounds <= 2 else 8
        slots = (slot.index_select(0, open_).unsqueeze(1) + offsets[:width]) & mask
        block = table.index_select(0, slots.reshape(-1)).view(slots.shape)
        hit = (block == key.index_select(0, open_).unsqueeze(1)).any(1)
        found[open_[hit]] = True
        more = ~hit & (block != -1).all(1)
        open_ = open_[more]
        slot[open_] = slots[more][:, -1]
    return found


def adjacent(a: StepArrays, t: Tensor, x: Tensor) -> Tensor:
    """Whether ``t -> x`` is an edge (answers for sentinel ids are meaningless)."""
    table = a.adj
    assert table is not None
    if a.adj_bitmap:
        return bitmap_contains(table, a.adj_n, a.adj_key32, t, x)
    return hash_contains(table, a.adj_n, a.adj_mask, a.adj_key32, t, x)


# ----------------------------------------------------------------- second order
def second_order_step(a: StepArrays, prev: Tensor, cur: Tensor, out: Tensor, p: float, q: float,
                      mixture: bool, sentinel: int, target: int, max_proposals: int,
                      generator: torch.Generator | None) -> int:
    """One exact node2vec step for every walker (``prev -> cur``) into ``out``, by rejection.

    Returns the number of proposals drawn. Each walker ``t -> v`` uses the cheaper of two exact
    proposal schemes (the expected number of proposals is the scheme's proposal mass over
    ``sum_x alpha(t, x)`` on ``N(v)``):

    * uniform: ``x`` uniform in ``N(v)``, accepted with probability ``alpha(t, x) / a_max``
      (mass ``a_max * d_v``);
    * ``mixture`` (allowed on unweighted graphs without repeated edges when ``1/q`` is the
      smallest factor): ``alpha(t, x) = a_out + (a_in - a_out) [x in N(t), x != t] + (a_back -
      a_out) [x == t]``, so propose from ``N(v)`` with mass ``a_out * d_v`` (always accepted),
      from ``N(t)`` with mass ``(a_in - a_out) * d_t`` (accepted iff ``x in N(v)``, ``x != t``) or
      ``t`` itself with mass ``a_back - a_out`` (accepted iff ``t in N(v)``). A walker that came
      from a low-degree node into a hub then needs about one proposal instead of ``q``.

    Rejected walkers propose again in rounds of about ``target`` proposals (``m`` i.i.d.
    proposals each; the first accepted one is what sequential rejection would return).
    """
    a_back, a_in, a_out = 1.0 / p, 1.0, 1.0 / q
    a_max = max(a_back, max(a_in, a_out))
    l_back, l_in, l_out = a_back / a_max, a_in / a_max, a_out / a_max  # acceptance probabilities
    need_adj = a_in != a_out
    w_in, w_back = a_in - a_out, a_back - a_out  # masses of the mixture's t side
    dev = cur.device
    idx: Tensor | None = None  # None: every walker is pending
    t, v = prev, cur
    m = 1  # proposals per pending walker in this round
    proposals = 0
    done = False
    while not done:
        if m > 1:
            t, v = t.repeat_interleave(m), v.repeat_interleave(m)
        r = rand([2, v.numel()], generator, dev)
        proposals += v.numel()
        if mixture:
            dv = a.deg_f.index_select(0, v)
            a_mass = dv * a_out
            z = a_mass + w_back
            if w_in > 0:
                z.add_(a.deg_f.index_select(0, t), alpha=w_in)
            use = z < dv.mul_(a_max)  # the mixture has the smaller proposal mass
            c = r[1] * z  # where the proposal falls in the mixture's mass
            from_t = use & (c >= a_mass)
            x = step(a, select(from_t, t, v), r[0])
            point: Tensor | None = None
            if w_back > 0:
                point = from_t if w_in == 0 else from_t & (c >= z.sub_(w_back))
                x = select(point, t, x)
            is_t = x == t
            adj = adjacent(a, select(use, v, t), x)  # t -> x (uniform), v -> x (mixture)
            if point is None:
                t_ok = adj & ~is_t
            else:
                t_ok = adj if w_in == 0 else adj & (point | ~is_t)
            mixed = either(use, ~from_t | t_ok, accept(r[1], is_t, adj, l_back, l_in, l_out))
            assert mixed is not None
            acc = mixed
        else:
            x = step(a, v, r[0])
            adj2: Tensor | None = None
            if need_adj:
                adj2 = adjacent(a, t, x)
            acc = accept(r[1], x == t, adj2, l_back, l_in, l_out)
        if sentinel >= 0:
            acc |= x == sentinel
        if m > 1:
            acc = acc.view(-1, m)
            first = acc.to(torch.uint8).argmax(1, keepdim=True)
            x = x.view(-1, m).gather(1, first.long()).squeeze(1)
            acc = acc.any(1)
        if idx is None:
            out.copy_(x)
            pending = (~acc).nonzero().squeeze(1)
        else:
            out.index_copy_(0, idx, x)  # still-rejected slots are overwritten once they accept
            pending = idx[~acc]
        idx = pending
        done = pending.numel() == 0
        if not done:
            m = min(max_proposals, max(1, target // pending.numel()))
            t, v = prev.index_select(0, pending), cur.index_select(0, pending)
    return proposals


def second_order_walks(a: StepArrays, start: Tensor, length: int, p: float, q: float, mixture: bool,
                       sentinel: int, target: int, max_proposals: int, work_ids: int, rand_ids: int,
                       generator: torch.Generator | None, out: Tensor) -> int:
    """node2vec walks into ``out`` (``[B, length + 1]``); returns the number of proposals drawn.

    The first step is first order. Working rows: the two last positions, then a block of new
    steps (half the first-order block: these steps are dearer and the adjacency test holds memory).
    """
    b = start.numel()
    if length < 2 or b == 0:  # no second-order step
        first_order_walks(a, start, length, work_ids, rand_ids, generator, out)
        return 0
    dev = start.device
    block = min(length, max(1, work_ids // (2 * b)))
    buf = torch.empty([block + 2, b], dtype=start.dtype, device=dev)
    buf[0] = start
    step(a, buf[0], rand([b], generator, dev), buf[1])
    proposals = 0
    j = 2  # next position
    while j <= length:
        k = min(block, length - j + 1)
        for i in range(k):
            proposals += second_order_step(a, buf[i], buf[i + 1], buf[i + 2], p, q, mixture, sentinel,
                                           target, max_proposals, generator)
        first = 0 if j == 2 else 2  # the first block also writes the first two columns
        out[:, j - 2 + first : j + k].copy_(buf[first : k + 2].t())
        buf[0] = buf[k]
        buf[1] = buf[k + 1]
        j += k
    return proposals


# ------------------------------------------------------------------ compilation
_COMPILED: dict[str, Any] = {}
_LOCK = threading.Lock()


def kernel(name: str) -> Any:
    """The driver ``name`` compiled by TorchScript (once per process), or the plain function.

    Falls back to plain Python when ``TORCHSCRIPT`` is off or compilation fails (for example
    a torch build without TorchScript, or sources not shipped).
    """
    fn = globals()[name]
    if not TORCHSCRIPT:
        return fn
    with _LOCK:
        if name not in _COMPILED:
            try:
                with warnings.catch_warnings():  # torch.jit.script is deprecated in torch 2.x (still works)
                    warnings.simplefilter("ignore", DeprecationWarning)
                    _COMPILED[name] = _interpreted(torch.jit.script(fn))
            except Exception as exc:  # any failure: run the same code as Python
                warnings.warn(f"graphcl walk kernels run as plain Python (TorchScript failed: {exc})",
                              RuntimeWarning, stacklevel=2)
                _COMPILED[name] = fn
        return _COMPILED[name]


def _interpreted(scripted: Any) -> Any:
    """Run ``scripted`` by the plain TorchScript interpreter, without the profiling executor's passes.

    Those passes only add guards here (no fusion on the CPU; measured slower on small rounds), and
    without them the same kernels run on every device. The switch is thread-local.
    """

    def run(*args: Any) -> Any:
        with torch.jit.optimized_execution(False):
            return scripted(*args)

    return run
