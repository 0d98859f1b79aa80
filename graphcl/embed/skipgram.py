"""Skip-gram with negative sampling (SGNS, word2vec) on random walks, in torch.

What is trained (the word2vec ``sg=1, hs=0`` objective, Mikolov et al. 2013):
for every walk token at position ``t`` (the centre) an effective window ``r_t`` is
drawn uniformly from ``1..window`` (``shrink_window=True``; otherwise
``r_t = window``) and every token ``s`` with ``0 < |s - t| <= r_t`` gives one
(centre, context) pair. Each pair is one stochastic step on

    log sigmoid(u_c . v_o) + sum_{k=1..negative} log sigmoid(-u_c . v_{n_k})

with ``n_k`` drawn from the unigram distribution of node occurrences in the walks
raised to ``ns_exponent`` (0.75); a negative equal to the positive context is
skipped (as word2vec does). ``u`` are the input vectors (the returned
embedding), ``v`` the output vectors. Initialisation as word2vec: ``u`` uniform in
``[-0.5/dim, 0.5/dim]``, ``v`` zero. The learning rate decays linearly from
``lr`` to ``lr * 1e-4`` over the tokens of all epochs.

The updates are plain SGD applied by ``index_add_`` to mini-batches of pairs
(sparse: only the touched rows change). Pairs are generated from chunks of walks
and shuffled inside the chunk, so memory stays bounded by ``chunk_pairs``. The
differences to word2vec's sequential updates: the pairs of one mini-batch read
the same parameter snapshot (like word2vec's Hogwild threads, but in bigger
groups), their updates are summed per row, and a row touched more than
``max_row_updates`` times in one batch (hub nodes in big batches) has its summed
update scaled down to ``max_row_updates`` updates' worth. Padding tokens ``-1``
(walkers that stopped) are ignored.

Aggregated fast path (``aggregate=True``): the (centre, context) co-occurrences of
the walks are counted once, vectorised (:func:`cooccurrence_counts`). A pair of
tokens at distance ``o`` (``1 <= o <= window``) is in the centre's shrunken window
with probability ``(window - o + 1) / window`` (``r_t`` uniform in ``1..window``;
``1`` without ``shrink_window``), so each ordered pair ``(w[t], w[t+o])`` and
``(w[t+o], w[t])`` contributes that weight; summed over the corpus, ``C[i, j]`` is
exactly the expected number of times word2vec forms the pair (centre ``i``,
context ``j``) in one epoch, and ``sum C`` the expected number of pairs per epoch.
Each epoch then draws ``round(sum C)`` pairs i.i.d. from ``C / sum C`` (inverse-CDF
sampling over the unique pairs) and runs the same mini-batch SGD step, negatives and
learning-rate schedule (decayed over the drawn pairs) as above. The expected
per-epoch objective is therefore word2vec's expected SGNS objective
``sum_ij C[i, j] (log sigmoid(u_i . v_j) + K E_n log sigmoid(-u_i . v_n))``; what
differs is only the order of the pairs (i.i.d. draws instead of walk order, which
the non-aggregated path shuffles within chunks anyway) and the per-epoch pair
counts (random around ``C`` instead of one realisation of the window draws).

Estimators of the fast paths (all keyword options of :func:`train_skipgram`; the
expected per-epoch gradient stays word2vec's, what changes is its estimator):

- ``shared_negatives=S`` (``mode="pairs"``): the ``negative`` private draws of every pair
  are replaced by ``S`` draws per mini-batch shared by all its pairs, each weighted
  ``negative / S`` (unbiased for ``negative * E_n log sigmoid(-u.v_n)``; a draw equal to
  the pair's context is skipped, as word2vec skips it). Scores are one ``[B, d] x [d, S]``
  matmul instead of ``B * negative`` row gathers (:meth:`SkipGram.step_shared`).
- ``mode="walks"``: a step takes a block of consecutive walks (about ``batch_size`` pairs)
  and ALL their (centre, context) pairs within the shrunken windows -- the same pair
  multiset word2vec forms on those walks -- as batched ``[L, d] x [d, L]`` matmuls masked
  to the windows (:meth:`SkipGram.step_walks`): every token's rows are gathered once
  instead of once per pair. Each centre token draws ``negative`` negatives shared by its
  window pairs, weighted by the number of those pairs (unbiased as above). Pairs of one
  walk are not shuffled among other walks, so a hub row takes bursts of same-direction
  updates; the row cap default is therefore 48 in this mode (PPI DeepWalk: cap 256 diverged to
  Macro-F1 0.085, 16 gave 0.166, 48 gave 0.175; gensim 0.186) (``max_row_updates="auto"``).
  With ``shared_negatives=S`` the walk's pairs share ``S`` draws instead: ~2.5x faster, but
  0.167 (S=16, cap 64) on the same walks. Figures: benchmarks/results/embed_trainer_study.json.
- ``sample``: word2vec's frequent-token downsampling (:func:`subsample_keep_probability`,
  gensim's formula), drawn afresh every epoch on the walk tokens, which are then closed
  up before the windows are formed (:func:`subsample_walks`); negatives keep the raw
  unigram counts, the learning rate decays over raw tokens, as in gensim.
- ``pair_fraction=f``: every pair kept with probability ``f``, learning rate ``lr / f``
  (unbiased thinning). Larger steps: ``f = 0.25`` diverged on PPI in our measurement.
"""

from __future__ import annotations

import torch
from torch import Tensor

from graphcl.validation import check_generator, check_positive_float, check_positive_int

__all__ = [
    "SkipGram",
    "train_skipgram",
    "skipgram_pairs",
    "cooccurrence_counts",
    "cooccurrence_matrix",
    "unigram_distribution",
    "sample_negatives",
    "check_walks",
    "subsample_keep_probability",
    "subsample_walks",
]


def check_walks(walks: object, num_nodes: int, name: str = "walks") -> Tensor:
    """Validate a ``[W, L]`` integer walk tensor with ids in ``[0, num_nodes)`` or ``-1``.

    Example:
        >>> check_walks(torch.tensor([[0, 1, -1]]), 2).shape
        torch.Size([1, 3])
    """
    if not isinstance(walks, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [num_walks, length], "
                        f"got {type(walks).__name__}")
    if walks.dtype.is_floating_point or walks.dtype.is_complex or walks.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor, got dtype {walks.dtype}")
    if walks.dim() != 2:
        raise ValueError(f"{name} must have shape [num_walks, length], got {list(walks.shape)}")
    check_positive_int(num_nodes, "num_nodes")
    if walks.numel():
        lo, hi = int(walks.min()), int(walks.max())
        if lo < -1:
            raise ValueError(f"{name} contains id {lo}; only -1 is allowed as padding")
        if hi >= num_nodes:
            raise ValueError(f"{name} contains node id {hi} >= num_nodes={num_nodes}")
    return walks.long()


def unigram_distribution(walks: Tensor, num_nodes: int, ns_exponent: float = 0.75) -> Tensor:
    """Negative-sampling distribution: node occurrence counts in ``walks`` to the power
    ``ns_exponent``, normalised (``-1`` padding ignored). Float64 ``[num_nodes]``.

    Example:
        >>> unigram_distribution(torch.tensor([[0, 0, 0, 1]]), 2, 1.0)
        tensor([0.7500, 0.2500], dtype=torch.float64)
    """
    walks = check_walks(walks, num_nodes)
    if isinstance(ns_exponent, bool) or not isinstance(ns_exponent, (int, float)):
        raise TypeError(f"ns_exponent must be a number, got {type(ns_exponent).__name__}")
    tok = walks.reshape(-1)
    tok = tok[tok >= 0]
    if tok.numel() == 0:
        raise ValueError("walks contain no node (all padding)")
    counts = torch.bincount(tok, minlength=num_nodes).double()
    w = torch.where(counts > 0, counts.pow(float(ns_exponent)), torch.zeros_like(counts))
    return w / w.sum()


def sample_negatives(
    cdf: Tensor, shape: tuple[int, ...], generator: torch.Generator | None = None
) -> Tensor:
    """Draw node ids with probabilities given by a cumulative distribution ``cdf``
    (the ``cumsum`` of :func:`unigram_distribution`) by inverse-CDF sampling.

    Example:
        >>> cdf = torch.tensor([0.5, 1.0], dtype=torch.float64)
        >>> sample_negatives(cdf, (4,), torch.Generator().manual_seed(0)).shape
        torch.Size([4])
    """
    u = torch.rand(shape, generator=generator, device=cdf.device, dtype=cdf.dtype)
    u = u * cdf[-1]
    idx = torch.searchsorted(cdf, u, right=True)
    return idx.clamp_(max=cdf.numel() - 1)


def subsample_keep_probability(counts: Tensor, sample: float) -> Tensor:
    """word2vec's frequent-token downsampling: the probability of KEEPING a token of a
    node with ``counts[i]`` occurrences, ``min(1, (sqrt(c / t) + 1) * t / c)`` with
    ``t = sample * sum(counts)`` (gensim's formula; ``sample=0``: keep all). Float64.

    Example:
        >>> subsample_keep_probability(torch.tensor([1.0, 99.0]), 0.01)
        tensor([1.0000, 0.1106], dtype=torch.float64)
    """
    if isinstance(sample, bool) or not isinstance(sample, (int, float)) or not sample >= 0:
        raise ValueError(f"sample must be a number >= 0, got {sample!r}")
    counts = counts.double()
    if sample == 0:
        return torch.ones_like(counts)
    t = float(sample) * float(counts.sum())
    safe = counts.clamp(min=1e-300)
    keep = ((safe / t).sqrt() + 1.0) * t / safe
    return torch.where(counts > 0, keep.clamp(max=1.0), torch.ones_like(counts))


def subsample_walks(
    walks: Tensor, keep_prob: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """Drop every token ``v`` of ``walks`` independently with probability ``1 - keep_prob[v]``
    and close the gaps (kept tokens move left in their order, ``-1`` pads the tail), as
    word2vec does before it forms windows. Same shape as ``walks``.

    Example:
        >>> subsample_walks(torch.tensor([[0, 1, 0, 2]]), torch.tensor([1.0, 0.0, 1.0]))
        tensor([[ 0,  0,  2, -1]])
    """
    valid = walks >= 0
    p = keep_prob.to(walks.device)[walks.clamp(min=0)]
    u = torch.rand(walks.shape, generator=generator, device=walks.device, dtype=p.dtype)
    keep = valid & (u < p)
    order = torch.sort((~keep).to(torch.int8), dim=1, stable=True).indices
    out = walks.gather(1, order)
    out.masked_fill_(~keep.gather(1, order), -1)
    return out


def skipgram_pairs(
    walks: Tensor,
    window: int,
    *,
    shrink_window: bool = True,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """All (centre, context) pairs of ``walks`` within the (shrunken) windows.

    With ``shrink_window`` every centre token draws its window ``r`` uniformly in
    ``1..window`` (word2vec's ``reduced_windows``); pairs touching ``-1`` padding are
    dropped. Pairs come grouped by offset (not shuffled). Returns two 1-D tensors.

    Example:
        >>> c, o = skipgram_pairs(torch.tensor([[0, 1, 2]]), 1, shrink_window=False)
        >>> sorted(zip(c.tolist(), o.tolist()))
        [(0, 1), (1, 0), (1, 2), (2, 1)]
    """
    check_positive_int(window, "window")
    walks = walks.long()
    n, length = walks.shape
    valid = walks >= 0
    if shrink_window:
        r = torch.randint(1, window + 1, (n, length), generator=generator, device=walks.device)
    else:
        r = None
    centres, contexts = [], []
    for off in range(1, min(window, length - 1) + 1):
        a, b = walks[:, :-off], walks[:, off:]
        both = valid[:, :-off] & valid[:, off:]
        # centre a (position t), context b (t + off)
        m = both if r is None else both & (r[:, :-off] >= off)
        centres.append(a[m])
        contexts.append(b[m])
        # centre b (position t + off), context a (t)
        m = both if r is None else both & (r[:, off:] >= off)
        centres.append(b[m])
        contexts.append(a[m])
    if not centres:
        empty = walks.new_empty(0)
        return empty, empty
    return torch.cat(centres), torch.cat(contexts)


_DENSE_COUNT_LIMIT = 1 << 25  # entries of the dense float64 count buffer (256 MiB): row blocks beyond
_COUNT_CHUNK_PAIRS = 1 << 24  # forward pairs materialised at once while counting


def cooccurrence_counts(
    walks: Tensor,
    num_nodes: int,
    window: int,
    *,
    shrink_window: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    """Expected (centre, context) pair counts of one word2vec epoch over ``walks``.

    For every offset ``o = 1..window`` the token pairs ``(w[:, t], w[:, t + o])`` and
    ``(w[:, t + o], w[:, t])`` (both tokens not ``-1``) get the weight
    ``(window - o + 1) / window``, the probability that a window shrunk uniformly to
    ``1..window`` covers offset ``o`` (weight 1 without ``shrink_window``); weights
    of equal pairs are summed. Returns ``centre``, ``context`` (int64, unique pairs
    sorted by ``centre * num_nodes + context``) and ``weight`` (float64, ``> 0``).

    Counting is vectorised: integer weights ``window - o + 1`` are summed by ``index_add_``
    into a dense float64 buffer of at most ``max(N, 2**25)`` entries (exact sums; the
    division by ``window`` comes last). When ``N * N`` exceeds it, the centre ids are
    processed in row blocks of ``2**25 // N`` rows (one pass over the walks per block), so
    memory is that buffer plus the ``O(nnz)`` output, never ``N * N``.

    Example:
        >>> c, o, w = cooccurrence_counts(torch.tensor([[0, 1, 2]]), 3, 2)
        >>> list(zip(c.tolist(), o.tolist(), w.tolist()))
        [(0, 1, 1.0), (0, 2, 0.5), (1, 0, 1.0), (1, 2, 1.0), (2, 0, 0.5), (2, 1, 1.0)]
    """
    walks = check_walks(walks, num_nodes)
    check_positive_int(window, "window")
    n = int(num_nodes)
    dev = walks.device
    length = walks.size(1)
    offsets = range(1, min(window, length - 1) + 1)
    per_chunk = max(1, _COUNT_CHUNK_PAIRS // max(1, window * length))
    rows = max(1, min(n, _DENSE_COUNT_LIMIT // n))  # centre rows per block
    centres, contexts, weights = [], [], []
    for r0 in range(0, n, rows):
        r1 = min(n, r0 + rows)
        acc = torch.zeros((r1 - r0) * n, dtype=torch.float64, device=dev)
        single = r0 == 0 and r1 == n  # one block: forward pairs only, transpose added below
        for start in range(0, walks.size(0), per_chunk):
            chunk = walks[start:start + per_chunk]
            # token is a centre of this block (-1 padding never is)
            inside = None if single else (chunk >= r0) & (chunk < r1)
            for off in offsets:
                a, b = chunk[:, :-off], chunk[:, off:]
                # integer weight (window - off + 1), divided by window at the end: exact sums
                wt = torch.tensor(float(window - off + 1) if shrink_window else 1.0,
                                  dtype=torch.float64, device=dev)
                both = (a >= 0) & (b >= 0)
                if single:
                    key = a[both] * n + b[both]
                    acc.index_add_(0, key, wt.expand(key.numel()))
                    continue
                for cen, ctx, ins in ((a, b, inside[:, :-off]), (b, a, inside[:, off:])):
                    m = both & ins
                    key = (cen[m] - r0) * n + ctx[m]
                    acc.index_add_(0, key, wt.expand(key.numel()))
        if single:
            mat = acc.view(n, n)
            acc = (mat + mat.t()).reshape(-1)
        nz = acc.nonzero().squeeze(1)
        weights.append(acc[nz])
        centres.append(nz // n + r0)
        contexts.append(nz % n)
        del acc
    weight = torch.cat(weights)
    if shrink_window:
        weight = weight / window
    return torch.cat(centres), torch.cat(contexts), weight


_DENSE_MATRIX_LIMIT = 1 << 30  # entries of cooccurrence_matrix's dense [N, N] output (8 GiB float64)


def _check_transition(transition: object, n: int, device: torch.device) -> Tensor:
    if not isinstance(transition, Tensor):
        raise TypeError(f"transition must be a torch.Tensor, got {type(transition).__name__}")
    if transition.layout not in (torch.strided, torch.sparse_coo, torch.sparse_csr):
        raise ValueError(f"transition must be dense, sparse COO or sparse CSR, got {transition.layout}")
    if tuple(transition.shape) != (n, n) or not transition.dtype.is_floating_point:
        raise ValueError(f"transition must be a floating [{n}, {n}] matrix, got "
                         f"{transition.dtype} {list(transition.shape)}")
    if transition.device != device:
        raise ValueError(f"transition is on {transition.device} but walks are on {device}")
    return transition


def cooccurrence_matrix(
    walks: Tensor,
    num_nodes: int,
    window: int,
    *,
    shrink_window: bool = True,
    transition: Tensor | None = None,
    dtype: torch.dtype = torch.float64,
    p: float = 1.0,
    q: float = 1.0,
) -> Tensor:
    """Dense ``[N, N]`` expected (centre, context) pair counts of one word2vec epoch.

    Without ``transition``: the matrix of :func:`cooccurrence_counts` (same weights
    ``(window - o + 1) / window`` per offset ``o``, or 1 without ``shrink_window``), counted
    in one pass into a dense buffer.

    With ``transition`` (row-stochastic ``[N, N]`` ``P``, dense or sparse; for DeepWalk
    walks ``D^-1 A``, :func:`graphcl.sparse.normalized_adjacency` ``kind="rw"``): the
    Rao-Blackwellised counts. The forward pair ``(w[t], w[t+o])`` contributes the weight of
    offset ``o`` times the row ``P[w[t+o-1], :]``, the exact distribution of ``w[t+o]``
    given the walk up to ``t+o-1``, instead of the indicator of the sampled ``w[t+o]``:
    ``F = G P`` with ``G[i, k]`` the weighted count of (``w[t] = i``, ``w[t+o-1] = k``,
    ``w[t+o]`` present). The result is ``F + F^T`` (backward pairs are the transposed
    forward pairs). For walks that are first-order Markov chains with transition ``P``
    (DeepWalk: uniform steps, a walk stops only on a node without out-edges) its
    expectation equals that of the sampled counts, with less variance; for other walks
    (downsampled walks, or node2vec walks counted with the wrong ``p``) it is a different
    matrix.

    ``p`` (with ``transition``, ``q`` must be 1): the walks are node2vec walks with return
    parameter ``p`` and ``q = 1`` (:func:`graphcl.walks.random_walk`), second-order Markov
    on the nodes: having come from ``u`` to ``v``, ``Pr(x) = P[v, x] (1 + (1/p - 1)
    [x == u]) / (1 + (1/p - 1) P[v, u])``, a row of ``P`` plus a point mass on ``u``. A
    context at walk position ``s >= 2`` then contributes that exact distribution (``G1[i, v]
    += wt / (1 + (1/p - 1) P[v, u])``, ``G2[i, u] += wt (1/p - 1) P[v, u] / (1 + (1/p - 1)
    P[v, u])``, ``F = G1 P + G2``); position 1 (the first step) is first order. Same
    expectation as the sampled counts of such walks, less variance. ``p = 1`` is the
    first-order path above (bit-equal). ``q != 1`` raises: the step would then depend on
    whether ``u -> x`` is an edge (common neighbours of ``u`` and ``v``), which is not
    implemented.

    ``G`` is summed exactly in float64; ``F`` and the result are ``dtype``. Memory is
    ``O(N^2)`` (a few dense ``[N, N]`` buffers): ``N * N`` above ``2**30`` raises, use
    :func:`cooccurrence_counts` there.

    Example:
        >>> walks = torch.tensor([[0, 1, 2]])
        >>> cooccurrence_matrix(walks, 3, 2).tolist()
        [[0.0, 1.0, 0.5], [1.0, 0.0, 1.0], [0.5, 1.0, 0.0]]
        >>> P = torch.tensor([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5], [0.0, 1.0, 0.0]])
        >>> cooccurrence_matrix(walks, 3, 1, transition=P).tolist()
        [[0.0, 1.5, 0.0], [1.5, 0.0, 0.5], [0.0, 0.5, 0.0]]
        >>> C = cooccurrence_matrix(walks, 3, 1, transition=P, p=0.5)  # node2vec, q = 1
        >>> (C * 3).round().tolist()  # step 1 -> 2 having come from 0: (2/3, 0, 1/3)
        [[0.0, 5.0, 0.0], [5.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    """
    walks = check_walks(walks, num_nodes)
    check_positive_int(window, "window")
    n = int(num_nodes)
    if n * n > _DENSE_MATRIX_LIMIT:
        raise ValueError(f"num_nodes={n}: a dense [N, N] matrix has {n * n} entries (limit "
                         f"{_DENSE_MATRIX_LIMIT}); use cooccurrence_counts")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    dev = walks.device
    p = check_positive_float(p, "p")
    q = check_positive_float(q, "q")
    if transition is not None:
        transition = _check_transition(transition, n, dev)
        if q != 1.0:
            raise ValueError(f"q must be 1 for Rao-Blackwellised counts, got q={q!r}: with q != 1 the "
                             "node2vec step depends on the common neighbours of the previous and "
                             "current node (not implemented)")
    elif p != 1.0 or q != 1.0:
        raise ValueError(f"p and q are used only with transition (the Rao-Blackwellised counts), "
                         f"got p={p!r}, q={q!r} without transition")
    if transition is None or p == 1.0:
        # Rao-Blackwell: index the token before the context; its P row is applied below
        fwd = _pair_counts(walks, n, window, shrink_window, lag=0 if transition is None else 1).to(dtype)
        if transition is not None:
            fwd = _times_transition(fwd, transition)
    else:
        fwd = _second_order_counts(walks, n, window, shrink_window, transition, p, dtype)
    out = fwd + fwd.t()
    if shrink_window:
        out.div_(window)
    return out


def _pair_counts(walks: Tensor, n: int, window: int, shrink_window: bool, lag: int,
                 coef: Tensor | None = None, min_pos: int = 0) -> Tensor:
    """Float64 ``[n, n]`` sums over the forward pairs (centre ``w[t]``, context ``w[s]``, ``s = t + o``,
    ``o = 1..window``, both real tokens, ``s >= min_pos``) of ``weight(o) * coef[s]`` at
    ``(w[t], w[s - lag])``; ``weight(o) = window - o + 1`` with ``shrink_window``, else 1, and
    ``coef`` 1 when ``None``. ``lag = 0`` counts the contexts themselves, ``lag >= 1`` the tokens
    before them (whose exact step distributions are applied afterwards)."""
    dev = walks.device
    length = walks.size(1)
    per_chunk = max(1, _COUNT_CHUNK_PAIRS // max(1, window * length))
    acc = torch.zeros(n * n, dtype=torch.float64, device=dev)
    for start in range(0, walks.size(0), per_chunk):
        chunk = walks[start:start + per_chunk]
        for off in range(1, min(window, length - 1) + 1):
            t0 = max(0, min_pos - off)
            a, b = chunk[:, t0:length - off], chunk[:, t0 + off:]
            ctx = chunk[:, t0 + off - lag:length - lag]
            both = (a >= 0) & (b >= 0)
            key = a[both] * n + ctx[both]
            wt = torch.tensor(float(window - off + 1) if shrink_window else 1.0, dtype=torch.float64, device=dev)
            if coef is None:
                acc.index_add_(0, key, wt.expand(key.numel()))
            else:
                acc.index_add_(0, key, coef[start:start + per_chunk, t0 + off:][both] * wt)
    return acc.view(n, n)


def _times_transition(G: Tensor, transition: Tensor) -> Tensor:
    """``G @ P`` for a dense ``G`` and a dense or sparse ``P`` (in ``G``'s dtype)."""
    P = transition.to(G.dtype)
    if P.layout == torch.strided:
        return G @ P
    # (G P)^T = P^T G^T: sparse @ dense
    Pt = P.t()
    Pt = (Pt.coalesce() if Pt.layout == torch.sparse_coo else Pt).to_sparse_csr()
    return (Pt @ G.t()).t()


def _transition_lookup(P: Tensor, row: Tensor, col: Tensor) -> Tensor:
    """``P[row, col]`` (float64) for a dense or sparse ``[n, n]`` ``P``; absent entries are 0."""
    if P.layout == torch.strided:
        return P[row, col].to(torch.float64)
    n = P.size(0)
    coo = (P.to_sparse_coo() if P.layout != torch.sparse_coo else P).coalesce()
    keys = coo.indices()[0] * n + coo.indices()[1]  # sorted and unique after coalesce
    vals = coo.values().to(torch.float64)
    if keys.numel() == 0:
        return torch.zeros(row.shape, dtype=torch.float64, device=row.device)
    query = row * n + col
    pos = torch.searchsorted(keys, query).clamp_(max=keys.numel() - 1)
    return torch.where(keys[pos] == query, vals[pos], torch.zeros((), dtype=torch.float64,
                                                                   device=row.device))


def _second_order_counts(walks: Tensor, n: int, window: int, shrink_window: bool, transition: Tensor,
                         p: float, dtype: torch.dtype) -> Tensor:
    """Forward Rao-Blackwellised counts ``F = G1 P + G2`` of node2vec walks with return parameter
    ``p`` and ``q = 1`` (see :func:`cooccurrence_matrix`)."""
    dev = walks.device
    # per context position s >= 2 (u = w[s-2], v = w[s-1]): x = (1/p - 1) P[v, u];
    # the step is the row P[v, :] with weight 1 / (1 + x) plus the point mass x / (1 + x) on u
    stay = torch.ones(walks.shape, dtype=torch.float64, device=dev)  # 1 / (1 + x); s = 0, 1: 1
    back = torch.zeros(walks.shape, dtype=torch.float64, device=dev)  # x / (1 + x)
    if walks.size(1) > 2:
        u, v = walks[:, :-2], walks[:, 1:-1]
        ok = (u >= 0) & (v >= 0)
        x = torch.zeros(u.shape, dtype=torch.float64, device=dev)
        x[ok] = (1.0 / p - 1.0) * _transition_lookup(transition, v[ok], u[ok])
        stay[:, 2:] = 1.0 / (1.0 + x)
        back[:, 2:] = x / (1.0 + x)
        del u, v, ok, x
    # G1 indexes v = w[s-1] (its P row is applied here), G2 indexes u = w[s-2] (s >= 2)
    fwd = _times_transition(_pair_counts(walks, n, window, shrink_window, 1, stay).to(dtype), transition)
    fwd.add_(_pair_counts(walks, n, window, shrink_window, 2, back, min_pos=2))  # float64 G2 into dtype
    return fwd


class SkipGram(torch.nn.Module):
    """Input (``emb``) and output (``ctx``) vectors of SGNS, updated by manual sparse SGD.

    Example:
        >>> m = SkipGram(5, 8, generator=torch.Generator().manual_seed(0))
        >>> m.step(torch.tensor([0]), torch.tensor([1]), torch.tensor([[2, 3]]), lr=0.1)
        >>> m.emb.shape
        torch.Size([5, 8])
    """

    def __init__(
        self,
        num_nodes: int,
        dim: int,
        *,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_positive_int(num_nodes, "num_nodes")
        check_positive_int(dim, "dim")
        device = torch.device(device) if device is not None else torch.device("cpu")
        emb = torch.rand(num_nodes, dim, generator=generator, device=device)
        emb.sub_(0.5).div_(dim)
        self.emb = torch.nn.Parameter(emb, requires_grad=False)
        self.ctx = torch.nn.Parameter(torch.zeros(num_nodes, dim, device=device),
                                      requires_grad=False)

    @torch.no_grad()
    def step(
        self,
        centre: Tensor,
        context: Tensor,
        negatives: Tensor,
        lr: float,
        max_row_updates: int | None = None,
        weight: Tensor | None = None,
    ) -> None:
        """One SGD step (gradient ascent on the SGNS log-likelihood) on a batch of pairs.

        ``centre``, ``context``: ``[B]``; ``negatives``: ``[B, K]``. Negatives equal to the
        pair's context are skipped. The pair updates of a batch are summed per row; a row
        touched more than ``max_row_updates`` times in the batch has its summed update
        scaled by ``max_row_updates / count`` (keeps big batches stable on hub nodes).
        ``weight`` (``[B]``, optional) scales each pair's gradient (counts then sum weights).
        """
        idx = torch.cat([context.unsqueeze(1), negatives], dim=1)  # [B, K+1]
        flat = idx.reshape(-1)
        u = self.emb.index_select(0, centre)  # [B, d] (index_select: far faster than [] on CPU)
        v = self.ctx.index_select(0, flat).view(idx.size(0), idx.size(1), -1)  # [B, K+1, d]
        score = torch.bmm(v, u.unsqueeze(2)).squeeze(2)  # [B, K+1]
        g = torch.sigmoid(score).neg_()
        g[:, 0] += 1.0
        if negatives.numel():
            g[:, 1:].masked_fill_(negatives == context.unsqueeze(1), 0.0)
        g.mul_(lr)
        if weight is not None:
            g.mul_(weight.to(g.dtype).unsqueeze(1))
        du = torch.bmm(g.unsqueeze(1), v).squeeze(1)  # [B, d]
        if max_row_updates is not None:
            n = self.emb.size(0)
            cap = float(max_row_updates)
            w_in = w_out = None
            if weight is not None:
                w_in = weight.to(g.dtype)
                w_out = w_in.unsqueeze(1).expand_as(idx).reshape(-1)
            s_in = (cap / torch.bincount(centre, w_in, minlength=n).float()).clamp_(max=1.0)
            s_out = (cap / torch.bincount(flat, w_out, minlength=n).float()).clamp_(max=1.0)
            du.mul_(s_in[centre].unsqueeze(1))
            g = g * s_out[idx]
        dv = g.unsqueeze(2) * u.unsqueeze(1)  # [B, K+1, d]
        self.emb.index_add_(0, centre, du)
        self.ctx.index_add_(0, flat, dv.reshape(-1, u.size(1)))

    @torch.no_grad()
    def step_shared(
        self,
        centre: Tensor,
        context: Tensor,
        negatives: Tensor,
        lr: float,
        negative: int,
        max_row_updates: int | None = None,
    ) -> None:
        """One SGD step on a batch of pairs whose negatives are SHARED by the whole batch.

        ``centre``, ``context``: ``[B]``; ``negatives``: ``[S]`` node ids drawn i.i.d. from
        the noise distribution. Every pair's negative term ``negative * E_n log sigmoid(-u.v_n)``
        is estimated by ``negative / S * sum_s log sigmoid(-u.v_{n_s})`` over the shared
        draws (unbiased, as word2vec's ``negative`` private draws; a shared negative equal
        to the pair's context is skipped). The scores are one ``[B, d] x [d, S]`` matmul.
        ``max_row_updates`` caps the summed update of a row as in :meth:`step`, counting a
        shared negative as ``B * negative / S`` pair updates.
        """
        s = negatives.numel()
        u = self.emb.index_select(0, centre)  # [B, d]
        vo = self.ctx.index_select(0, context)  # [B, d]
        vn = self.ctx.index_select(0, negatives)  # [S, d]
        gp = torch.sigmoid((u * vo).sum(1)).neg_().add_(1.0).mul_(lr)  # [B]
        gn = torch.sigmoid(u @ vn.t()).mul_(-lr * negative / s)  # [B, S]
        gn.masked_fill_(negatives.unsqueeze(0) == context.unsqueeze(1), 0.0)
        du = torch.addmm(gp.unsqueeze(1) * vo, gn, vn)  # [B, d]
        dvo = gp.unsqueeze(1) * u
        dvn = gn.t() @ u  # [S, d]
        if max_row_updates is not None:
            n = self.emb.size(0)
            cap = float(max_row_updates)
            s_in = (cap / torch.bincount(centre, minlength=n).float()).clamp_(max=1.0)
            cnt = torch.bincount(context, minlength=n).float()
            cnt.add_(torch.bincount(negatives, minlength=n).float(),
                     alpha=centre.numel() * negative / s)
            s_out = (cap / cnt).clamp_(max=1.0)
            du.mul_(s_in[centre].unsqueeze(1))
            dvo.mul_(s_out[context].unsqueeze(1))
            dvn.mul_(s_out[negatives].unsqueeze(1))
        self.emb.index_add_(0, centre, du)
        self.ctx.index_add_(0, torch.cat([context, negatives]), torch.cat([dvo, dvn]))


    @torch.no_grad()
    def step_walks(
        self,
        walks: Tensor,
        radius: Tensor,
        negatives: Tensor,
        lr: float,
        negative: int,
        max_row_updates: int | None = None,
    ) -> None:
        """One SGD step on ALL skip-gram pairs of a block of walks, as dense batched matmuls.

        ``walks``: ``[W, L]`` (``-1`` padding); ``radius``: ``[W, L]`` effective window of every
        centre token (pairs ``(t, s)`` with ``0 < |s - t| <= radius[t]``); ``negatives``:
        ``[W, L, S]`` noise draws of every centre token, shared by that token's pairs, or
        ``[W, S]`` draws shared by all pairs of a walk. The rows of the walk tokens are
        gathered once and the scores of every (centre, context) slot of a walk are one
        ``[L, d] x [d, L]`` product masked to the windows: no per-pair gather. Each pair's
        negative term ``negative * E_n log sigmoid(-u.v_n)`` is estimated by
        ``negative / S * sum_j log sigmoid(-u.v_{n_j})`` over the shared draws (unbiased),
        skipping a draw equal to the pair's context as word2vec does. ``max_row_updates`` as
        in :meth:`step` (a draw shared by ``m`` pairs counts ``m * negative / S`` updates).
        """
        nb, length = walks.shape
        d = self.emb.size(1)
        dt = self.emb.dtype
        valid = walks >= 0
        ids = walks.clamp(min=0)
        pos = torch.arange(length, device=walks.device)
        dist = (pos.unsqueeze(0) - pos.unsqueeze(1)).abs()  # [L, L]
        mask = (dist > 0) & (dist <= radius.unsqueeze(2))  # centre t (rows), context s (cols)
        mask &= valid.unsqueeze(2) & valid.unsqueeze(1)
        mf = mask.to(dt)
        flat = ids.reshape(-1)
        u = self.emb.index_select(0, flat).view(nb, length, d)
        v = self.ctx.index_select(0, flat).view(nb, length, d)
        gp = torch.bmm(u, v.transpose(1, 2)).sigmoid_().neg_().add_(1.0).mul_(mf).mul_(lr)
        cnt = mf.sum(2, keepdim=True)  # [W, L, 1] pairs per centre token
        du = torch.bmm(gp, v)
        dv = torch.bmm(gp.transpose(1, 2), u)
        per_token = negatives.dim() == 3
        s = negatives.size(-1) if negative > 0 else 0
        if s and per_token:  # [W, L, S]: draws of each centre token, shared by its pairs
            vn = self.ctx.index_select(0, negatives.reshape(-1)).view(nb, length, s, d)
            eq = ids.view(nb, 1, length, 1) == negatives.unsqueeze(2)  # [W, L(t), L(s), S]
            npairs = cnt - (eq & mask.unsqueeze(3)).sum(2).to(dt)  # [W, L, S]
            gn = (vn @ u.unsqueeze(3)).squeeze(3)  # [W, L, S]
            gn = gn.sigmoid_().mul_(npairs).mul_(-lr * negative / s)
            du.add_((gn.unsqueeze(2) @ vn).squeeze(2))
            dvn = gn.unsqueeze(3) * u.unsqueeze(2)  # [W, L, S, d]
        elif s:  # [W, S]: draws shared by all pairs of a walk
            vn = self.ctx.index_select(0, negatives.reshape(-1)).view(nb, s, d)
            eq = (ids.unsqueeze(2) == negatives.unsqueeze(1)).to(dt)  # [W, L(s), S]
            npairs = cnt - torch.bmm(mf, eq)  # pairs of centre t whose context != draw j
            gn = torch.bmm(u, vn.transpose(1, 2)).sigmoid_().mul_(npairs).mul_(-lr * negative / s)
            du.baddbmm_(gn, vn)
            dvn = torch.bmm(gn.transpose(1, 2), u)
        if max_row_updates is not None:
            n = self.emb.size(0)
            cap = float(max_row_updates)
            n_u = torch.bincount(flat, cnt.reshape(-1), minlength=n)
            n_v = torch.bincount(flat, mf.sum(1).reshape(-1), minlength=n)
            if s:
                if per_token:
                    per_draw = (cnt * (negative / s)).expand(nb, length, s)
                else:
                    per_draw = (cnt.sum((1, 2)) * (negative / s)).unsqueeze(1).expand(nb, s)
                n_v += torch.bincount(negatives.reshape(-1), per_draw.reshape(-1), minlength=n)
            s_u = (cap / n_u.to(dt)).clamp_(max=1.0)
            s_v = (cap / n_v.to(dt)).clamp_(max=1.0)
            du.mul_(s_u[ids].unsqueeze(2))
            dv.mul_(s_v[ids].unsqueeze(2))
            if s:
                dvn.mul_(s_v[negatives].unsqueeze(-1))
        self.emb.index_add_(0, flat, du.reshape(-1, d))
        if s:
            self.ctx.index_add_(0, torch.cat([flat, negatives.reshape(-1)]),
                                torch.cat([dv.reshape(-1, d), dvn.reshape(-1, d)]))
        else:
            self.ctx.index_add_(0, flat, dv.reshape(-1, d))


_AUTO_ROW_CAP = {"pairs": 256, "walks": 48}  # max_row_updates="auto" (measured, see docstring)


def _default_batch_size(device: torch.device) -> int:
    return 262144 if device.type == "cuda" else 8192


def train_skipgram(
    walks: Tensor,
    num_nodes: int,
    dim: int = 128,
    window: int = 10,
    negative: int = 5,
    epochs: int = 1,
    lr: float = 0.025,
    *,
    min_lr_ratio: float = 1e-4,
    batch_size: int | None = None,
    chunk_pairs: int | None = None,
    max_row_updates: int | None | str = "auto",
    ns_exponent: float = 0.75,
    shrink_window: bool = True,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
    progress: bool = True,
    aggregate: bool = False,
    shared_negatives: int | None = None,
    sample: float = 0.0,
    pair_fraction: float = 1.0,
    mode: str = "pairs",
) -> Tensor:
    """Train SGNS on ``walks`` (``[W, L]`` node ids, ``-1`` padding) and return the input
    vectors ``[num_nodes, dim]`` on ``device`` (default: the walks' device).

    Nodes that never occur in the walks keep their random initial vectors. See the
    module docstring for exactly what is trained. ``batch_size`` pairs per SGD step
    (default 8192 on CPU, 262144 on CUDA); ``chunk_pairs`` bounds how many pairs are
    materialised at once (default ``32 * batch_size``). ``max_row_updates`` (default 256,
    ``None``: off) caps how many summed pair updates one row takes per step: beyond it
    the row's summed update is scaled down to that many (without it, large batches
    diverge on hub nodes). ``aggregate=True`` counts the co-occurrences once and trains on
    pairs drawn from them (same expected objective, see the module docstring).

    Fast-path options (module docstring, "Estimators"): ``shared_negatives=S`` draws ``S``
    negatives per mini-batch shared by all its pairs (:meth:`SkipGram.step_shared`, one
    matmul instead of ``B * negative`` row gathers); ``sample`` is word2vec's frequent-token
    downsampling threshold (gensim's default ``1e-3``; ``0``: off), applied to the walk
    tokens every epoch (once, before counting, with ``aggregate``); ``pair_fraction=f < 1``
    trains on a random fraction ``f`` of the pairs with the learning rate scaled by
    ``1 / f`` (unbiased for the same per-epoch gradient, ``f`` times the SGD steps).
    ``mode="walks"`` trains on blocks of whole walks (:meth:`SkipGram.step_walks`; there
    ``shared_negatives=S`` means ``S`` draws per walk instead of ``negative`` per centre
    token). ``max_row_updates="auto"``: 256 in ``"pairs"`` mode, 48 in ``"walks"`` mode.

    Example:
        >>> walks = torch.tensor([[0, 1, 0, 1], [2, 3, 2, 3]])
        >>> z = train_skipgram(walks, 4, dim=8, window=2, epochs=5, progress=False,
        ...                    generator=torch.Generator().manual_seed(0))
        >>> z.shape
        torch.Size([4, 8])
    """
    walks = check_walks(walks, num_nodes)
    check_positive_int(dim, "dim")
    check_positive_int(window, "window")
    check_positive_int(negative, "negative", minimum=0)
    check_positive_int(epochs, "epochs")
    check_positive_float(lr, "lr")
    if not 0 <= min_lr_ratio <= 1:
        raise ValueError(f"min_lr_ratio must be in [0, 1], got {min_lr_ratio}")
    device = torch.device(device) if device is not None else walks.device
    if batch_size is None:
        batch_size = _default_batch_size(device)
    check_positive_int(batch_size, "batch_size")
    if chunk_pairs is None:
        chunk_pairs = 32 * batch_size
    check_positive_int(chunk_pairs, "chunk_pairs")
    if mode not in ("pairs", "walks"):
        raise ValueError(f"mode must be 'pairs' or 'walks', got {mode!r}")
    if max_row_updates == "auto":
        max_row_updates = _AUTO_ROW_CAP[mode]
    if max_row_updates is not None:
        check_positive_int(max_row_updates, "max_row_updates")
    check_generator(generator, device)
    if walks.size(1) < 2:
        raise ValueError(f"walks must have at least 2 columns, got {walks.size(1)}")
    if shared_negatives is not None:
        check_positive_int(shared_negatives, "shared_negatives")
    if (isinstance(pair_fraction, bool) or not isinstance(pair_fraction, (int, float))
            or not 0 < pair_fraction <= 1):
        raise ValueError(f"pair_fraction must be a number in (0, 1], got {pair_fraction!r}")
    if not isinstance(aggregate, bool):
        raise TypeError(f"aggregate must be a bool, got {type(aggregate).__name__}")
    if mode == "walks" and (aggregate or pair_fraction != 1):
        raise ValueError("mode='walks' trains on the walks themselves: it excludes aggregate=True "
                         "and pair_fraction < 1")

    walks = walks.to(device)
    tok = walks.reshape(-1)
    counts = torch.bincount(tok[tok >= 0], minlength=num_nodes)
    keep_prob = subsample_keep_probability(counts, sample)  # validates sample
    cdf = torch.cumsum(unigram_distribution(walks, num_nodes, ns_exponent), 0)
    model = SkipGram(num_nodes, dim, device=device, generator=generator)
    shared = shared_negatives if negative > 0 else None

    def step(c: Tensor, o: Tensor, neg: Tensor, cur_lr: float) -> None:
        if shared is None:
            model.step(c, o, neg, cur_lr, max_row_updates)
        else:
            model.step_shared(c, o, neg, cur_lr, negative, max_row_updates)

    def draw_negatives(n_pairs: int) -> Tensor:
        if shared is None:
            return sample_negatives(cdf, (n_pairs, negative), generator)
        n_batches = -(-n_pairs // batch_size)
        return sample_negatives(cdf, (n_batches, shared), generator)

    def batch_negatives(neg: Tensor, b: int) -> Tensor:
        return neg[b:b + batch_size] if shared is None else neg[b // batch_size]

    if aggregate:
        if sample > 0:
            walks = subsample_walks(walks, keep_prob, generator)
        _train_aggregated(model, walks, num_nodes, window, epochs, lr, step, draw_negatives,
                          batch_negatives, min_lr_ratio=min_lr_ratio, batch_size=batch_size,
                          chunk_pairs=chunk_pairs, shrink_window=shrink_window,
                          generator=generator, progress=progress, pair_fraction=pair_fraction)
        return model.emb.data
    if mode == "walks":
        _train_walks(model, walks, window, negative, epochs, lr, cdf, keep_prob,
                     shared=shared_negatives if negative > 0 else None, min_lr_ratio=min_lr_ratio,
                     batch_size=batch_size, chunk_pairs=chunk_pairs,
                     max_row_updates=max_row_updates, sample=sample,
                     shrink_window=shrink_window, generator=generator, progress=progress)
        return model.emb.data

    length = walks.size(1)
    walks_per_chunk = max(1, chunk_pairs // (2 * window * length))
    tokens_per_walk = (walks >= 0).sum(1)
    total_tokens = int(tokens_per_walk.sum()) * epochs
    done_tokens = 0
    n_walks = walks.size(0)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_tokens, desc="skip-gram", unit="tok", unit_scale=True)
    for _ in range(epochs):
        for start in range(0, n_walks, walks_per_chunk):
            chunk = walks[start:start + walks_per_chunk]
            chunk_tokens = int(tokens_per_walk[start:start + walks_per_chunk].sum())
            if sample > 0:
                chunk = subsample_walks(chunk, keep_prob, generator)
            c, o = skipgram_pairs(chunk, window, shrink_window=shrink_window,
                                  generator=generator)
            if pair_fraction < 1:
                m = torch.rand(c.numel(), generator=generator, device=device) < pair_fraction
                c, o = c[m], o[m]
            n_pairs = c.numel()
            if n_pairs:
                perm = torch.randperm(n_pairs, generator=generator, device=device)
                c, o = c[perm], o[perm]
                neg = draw_negatives(n_pairs)
                for b in range(0, n_pairs, batch_size):
                    frac = (done_tokens + chunk_tokens * b / n_pairs) / total_tokens
                    cur_lr = lr * max(1.0 - frac, min_lr_ratio) / pair_fraction
                    step(c[b:b + batch_size], o[b:b + batch_size], batch_negatives(neg, b),
                         cur_lr)
            done_tokens += chunk_tokens
            if bar is not None:
                bar.update(chunk_tokens)
    if bar is not None:
        bar.close()
    return model.emb.data


def _train_aggregated(
    model: SkipGram,
    walks: Tensor,
    num_nodes: int,
    window: int,
    epochs: int,
    lr: float,
    step,
    draw_negatives,
    batch_negatives,
    *,
    min_lr_ratio: float,
    batch_size: int,
    chunk_pairs: int,
    shrink_window: bool,
    generator: torch.Generator | None,
    progress: bool,
    pair_fraction: float,
) -> None:
    """SGD on pairs drawn i.i.d. from the expected co-occurrence counts (``aggregate=True``)."""
    centre, context, weight = cooccurrence_counts(walks, num_nodes, window,
                                                  shrink_window=shrink_window)
    if centre.numel() == 0:
        return
    pair_cdf = torch.cumsum(weight, 0)
    per_epoch = max(1, int(round(float(pair_cdf[-1]) * pair_fraction)))
    total = per_epoch * epochs
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="skip-gram (aggregated)", unit="pair", unit_scale=True)
    done = 0
    chunk_pairs = max(chunk_pairs, batch_size)
    while done < total:
        n_chunk = min(chunk_pairs, total - done)
        pick = sample_negatives(pair_cdf, (n_chunk,), generator)
        c, o = centre[pick], context[pick]
        neg = draw_negatives(n_chunk)
        for b in range(0, n_chunk, batch_size):
            cur_lr = lr * max(1.0 - (done + b) / total, min_lr_ratio) / pair_fraction
            step(c[b:b + batch_size], o[b:b + batch_size], batch_negatives(neg, b), cur_lr)
        done += n_chunk
        if bar is not None:
            bar.update(n_chunk)
    if bar is not None:
        bar.close()


def _train_walks(
    model: SkipGram,
    walks: Tensor,
    window: int,
    negative: int,
    epochs: int,
    lr: float,
    cdf: Tensor,
    keep_prob: Tensor,
    *,
    shared: int | None,
    min_lr_ratio: float,
    batch_size: int,
    chunk_pairs: int,
    max_row_updates: int | None,
    sample: float,
    shrink_window: bool,
    generator: torch.Generator | None,
    progress: bool,
) -> None:
    """``mode="walks"``: SGD steps on blocks of whole walks (:meth:`SkipGram.step_walks`)."""
    per_walk = shared is not None
    n_walks, length = walks.shape
    dev = walks.device
    per_step = max(1, batch_size // (length * (window + 1)))  # ~batch_size pairs per step
    per_chunk = max(per_step, (chunk_pairs // (length * (window + 1))) // per_step * per_step)
    tokens_per_walk = (walks >= 0).sum(1)
    total_tokens = int(tokens_per_walk.sum()) * epochs
    done = 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_tokens, desc="skip-gram (walk blocks)", unit="tok", unit_scale=True)
    for _ in range(epochs):
        for start in range(0, n_walks, per_chunk):
            chunk = walks[start:start + per_chunk]
            if sample > 0:
                chunk = subsample_walks(chunk, keep_prob, generator)
            if shrink_window:
                radius = torch.randint(1, window + 1, chunk.shape, generator=generator, device=dev)
            else:
                radius = torch.full(chunk.shape, window, dtype=torch.long, device=dev)
            shape = (chunk.size(0), shared) if per_walk else (*chunk.shape, negative)
            neg = sample_negatives(cdf, shape, generator)
            tok = tokens_per_walk[start:start + per_chunk]
            cum = torch.cumsum(tok, 0).tolist()
            for b in range(0, chunk.size(0), per_step):
                before = cum[b - 1] if b else 0
                cur_lr = lr * max(1.0 - (done + before) / total_tokens, min_lr_ratio)
                model.step_walks(chunk[b:b + per_step], radius[b:b + per_step],
                                 neg[b:b + per_step], cur_lr, negative, max_row_updates)
            done += cum[-1]
            if bar is not None:
                bar.update(cum[-1])
    if bar is not None:
        bar.close()
