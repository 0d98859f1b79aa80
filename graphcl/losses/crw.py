"""Contrastive random walk (CRW; Jabri, Owens, Efros, NeurIPS 2020) on sets of node embeddings.

Embedding sets ``Z_0 .. Z_T`` (graph views, snapshots, or a graph and its
perturbed copy) are the "frames" of a walk. Rows are L2-normalised and the
transition from set ``t`` to ``t + 1`` is ``A_t = softmax_row(Z_t Z_{t+1}^T / tau)``;
the backward transition is computed separately, ``B_t = softmax_row(Z_{t+1} Z_t^T / tau)``.
Edge dropout sets each affinity entry to ``-inf`` with probability
``edge_dropout`` before the softmax, independently for every matrix (a row
whose every entry was dropped is left intact, so it stays a distribution).

For a cycle length ``k`` (``1 <= k <= T``) the palindrome walk
``0 -> 1 -> .. -> k -> .. -> 1 -> 0`` has return matrix
``P_k = A_0 .. A_{k-1} B_{k-1} .. B_0`` and loss
``-mean_i log(P_k[i, i] + eps)`` (cross-entropy against the identity); the
CRW loss averages this over the cycle lengths.

Memory: the dense form holds ``N x N`` matrices. With ``candidates`` every
walker at node ``i`` may only step to a fixed candidate set (``k`` nearest
neighbours in embedding space, or graph neighbours, padded with ``-1``); the
walks are then enumerated as sparse paths, ``O(N * k^c)`` memory for cycle
length ``c`` (``O(N * k)`` for two sets).

The bipartite variant (Mix and Localize, Hu et al. 2022) is the cycle between
two node types: :func:`crw_bipartite`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from graphcl.similarity import topk_similar
from graphcl.validation import (
    check_edge_index,
    check_generator,
    check_positive_float,
    check_positive_int,
    check_probability,
)

__all__ = ["crw", "crw_bipartite", "crw_neighborhood", "crw_transition", "crw_return_probabilities",
           "neighbor_candidates"]

#: Added to return probabilities before the log (as the reference code), so the loss stays finite.
DEFAULT_EPS = 1e-20


# ----------------------------------------------------------------------------- checks
def _check_embeddings(embeddings: Sequence[Tensor], minimum: int = 2) -> list[Tensor]:
    if isinstance(embeddings, Tensor) or not isinstance(embeddings, Sequence):
        raise TypeError("embeddings must be a sequence (list/tuple) of [N_t, d] tensors")
    zs = list(embeddings)
    if len(zs) < minimum:
        raise ValueError(f"embeddings must hold at least {minimum} embedding sets, got {len(zs)}")
    for t, z in enumerate(zs):
        if not isinstance(z, Tensor):
            raise TypeError(f"embeddings[{t}] must be a torch.Tensor, got {type(z).__name__}")
        if z.dim() != 2 or z.size(0) == 0:
            raise ValueError(f"embeddings[{t}] must have shape [N_t, d] with N_t > 0, got {list(z.shape)}")
        if not z.dtype.is_floating_point:
            raise TypeError(f"embeddings[{t}] must be floating point, got {z.dtype}")
        if z.size(1) != zs[0].size(1) or z.device != zs[0].device:
            raise ValueError(f"embeddings[{t}] must match embeddings[0] in width and device")
    return zs


def _check_candidates(cand: Tensor, rows: int, cols: int, name: str) -> Tensor:
    if not isinstance(cand, Tensor) or cand.dtype.is_floating_point or cand.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor")
    if cand.dim() != 2 or cand.size(0) != rows or cand.size(1) == 0:
        raise ValueError(f"{name} must have shape [{rows}, k] with k >= 1, got {list(cand.shape)}")
    if cand.numel() and (int(cand.min()) < -1 or int(cand.max()) >= cols):
        raise ValueError(f"{name} entries must lie in [0, {cols}) (or -1 for padding)")
    return cand.long()


# ------------------------------------------------------------------------ transitions
def _dropout_logits(logits: Tensor, valid: Tensor | None, p: float, generator: torch.Generator | None) -> Tensor:
    """Set valid entries to ``-inf`` with probability ``p``; rows left without any entry are kept whole."""
    if valid is not None:
        logits = logits.masked_fill(~valid, float("-inf"))
    if p == 0.0:
        return logits
    drop = torch.rand(logits.shape, generator=generator, device=logits.device) < p
    if valid is not None:
        drop &= valid
        alive = valid & ~drop
    else:
        alive = ~drop
    drop &= alive.any(1, keepdim=True)  # never empty a row
    return logits.masked_fill(drop, float("-inf"))


def crw_transition(
    source: Tensor,
    target: Tensor,
    tau: float,
    edge_dropout: float = 0.0,
    *,
    candidates: Tensor | None = None,
    normalize: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Row-stochastic transition ``softmax_row(source target^T / tau)`` with edge dropout.

    Without ``candidates`` returns the dense ``[len(source), len(target)]``
    matrix. With ``candidates`` (``[len(source), k]`` indices into ``target``,
    ``-1`` = padding) returns ``[len(source), k]`` probabilities over the
    candidates (padding entries are 0).

    Example:
        >>> z = torch.eye(3)
        >>> crw_transition(z, z, tau=0.01).diagonal().tolist()
        [1.0, 1.0, 1.0]
    """
    zs = _check_embeddings([source, target])
    tau = check_positive_float(tau, "tau")
    p = check_probability(edge_dropout, "edge_dropout")
    check_generator(generator, source.device)
    a, b = (F.normalize(z, dim=1) for z in zs) if normalize else zs
    if candidates is None:
        logits, valid = (a @ b.t()) / tau, None
    else:
        cand = _check_candidates(candidates, a.size(0), b.size(0), "candidates")
        valid = cand >= 0
        logits = (a.unsqueeze(1) * b[cand.clamp_min(0)]).sum(-1) / tau
    return torch.softmax(_dropout_logits(logits, valid, p, generator), dim=1)


# ----------------------------------------------------------------------- sparse paths
class _Paths:
    """Sparse matrix as coalesced ``(row, col, value)`` triples with ``num_cols`` columns."""

    def __init__(self, row: Tensor, col: Tensor, val: Tensor, num_cols: int) -> None:
        self.row, self.col, self.val, self.num_cols = row, col, val, num_cols

    @classmethod
    def from_candidates(cls, cand: Tensor, prob: Tensor, num_cols: int) -> _Paths:
        rows = torch.arange(cand.size(0), device=cand.device).unsqueeze(1).expand_as(cand)
        keep = cand >= 0
        return cls(rows[keep], cand[keep], prob[keep], num_cols)

    def step(self, cand: Tensor, prob: Tensor, num_cols: int) -> _Paths:
        """``self @ T`` where ``T`` has fixed-width rows ``cand``/``prob`` (summing duplicate paths)."""
        nxt, pr = cand[self.col], prob[self.col]  # [P, k]
        keep = nxt >= 0
        row = self.row.unsqueeze(1).expand_as(nxt)[keep]
        val = (self.val.unsqueeze(1) * pr)[keep]
        key = row * num_cols + nxt[keep]
        uniq, inv = torch.unique(key, return_inverse=True)
        summed = val.new_zeros(uniq.numel()).index_add(0, inv, val)
        return _Paths(uniq // num_cols, uniq % num_cols, summed, num_cols)


def _diag_of_product(left: _Paths, right: _Paths, n: int) -> Tensor:
    """``diag(L R)`` where ``L`` is ``[n, m]`` and ``R`` is ``[m, n]``, both sparse."""
    m = left.num_cols
    lkey = left.row * m + left.col
    rkey = right.col * m + right.row  # entry R[j, i] is the pair (i, j)
    order = torch.argsort(rkey)
    rsorted = rkey[order]
    pos = torch.searchsorted(rsorted, lkey).clamp_max(max(rsorted.numel() - 1, 0))
    hit = rsorted[pos] == lkey if rsorted.numel() else torch.zeros_like(lkey, dtype=torch.bool)
    prod = left.val[hit] * right.val[order[pos[hit]]]
    return left.val.new_zeros(n).index_add(0, left.row[hit], prod)


# ---------------------------------------------------------------------- return probs
def _knn(a: Tensor, b: Tensor, k: int) -> Tensor:
    with torch.no_grad():
        return topk_similar(a.detach(), b.detach(), min(k, b.size(0)), metric="cosine").indices


def crw_return_probabilities(
    embeddings: Sequence[Tensor],
    tau: float,
    edge_dropout: float = 0.0,
    *,
    candidates: int | Sequence[tuple[Tensor, Tensor]] | None = None,
    cycle_lengths: Sequence[int] | None = None,
    normalize: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Return probabilities ``P_k[i, i]`` of the palindrome walks, ``[len(cycle_lengths), N_0]``.

    ``candidates``: ``None`` (dense), an int ``k`` (the ``k`` most cosine-similar
    nodes of the next/previous set, found blockwise by
    :func:`graphcl.similarity.topk_similar`, no gradient through the choice), or
    one ``(forward [N_t, k], backward [N_{t+1}, k'])`` index pair per
    transition (``-1`` = padding; e.g. :func:`neighbor_candidates`).

    Example:
        >>> z = torch.eye(4)
        >>> crw_return_probabilities([z, z, z], tau=0.01).shape
        torch.Size([2, 4])
    """
    zs = _check_embeddings(embeddings)
    tau = check_positive_float(tau, "tau")
    p = check_probability(edge_dropout, "edge_dropout")
    check_generator(generator, zs[0].device)
    T = len(zs) - 1
    lengths = list(range(1, T + 1)) if cycle_lengths is None else [int(k) for k in cycle_lengths]
    if not lengths or any(not 1 <= k <= T for k in lengths):
        raise ValueError(f"cycle_lengths must be non-empty values in [1, {T}], got {cycle_lengths}")
    kmax = max(lengths)
    if normalize:
        zs = [F.normalize(z, dim=1) for z in zs]
    n0 = zs[0].size(0)

    if candidates is None:
        fwd, bwd = [], []
        for t in range(kmax):
            logits = (zs[t] @ zs[t + 1].t()) / tau  # one affinity matrix, two separately dropped softmaxes
            fwd.append(torch.softmax(_dropout_logits(logits, None, p, generator), dim=1))
            bwd.append(torch.softmax(_dropout_logits(logits.t(), None, p, generator), dim=1))
        out = []
        for k in lengths:
            left = fwd[0]
            for t in range(1, k):
                left = left @ fwd[t]
            right = bwd[k - 1]
            for t in range(k - 2, -1, -1):
                right = right @ bwd[t]
            out.append((left * right.t()).sum(1))  # diag(L R) without forming L R
        return torch.stack(out)

    if isinstance(candidates, int) and not isinstance(candidates, bool):
        k = check_positive_int(candidates, "candidates")
        pairs = [(_knn(zs[t], zs[t + 1], k), _knn(zs[t + 1], zs[t], k)) for t in range(kmax)]
    else:
        if isinstance(candidates, (Tensor, str)) or not isinstance(candidates, Sequence):
            raise TypeError("candidates must be None, an int, or a sequence of (forward, backward) index pairs")
        if len(candidates) < kmax:
            raise ValueError(f"candidates must hold {kmax} (forward, backward) pairs, got {len(candidates)}")
        pairs = []
        for t in range(kmax):
            f_c, b_c = candidates[t]
            pairs.append((_check_candidates(f_c, zs[t].size(0), zs[t + 1].size(0), f"candidates[{t}][0]"),
                          _check_candidates(b_c, zs[t + 1].size(0), zs[t].size(0), f"candidates[{t}][1]")))
    fwd = [(c, crw_transition(zs[t], zs[t + 1], tau, p, candidates=c, normalize=False, generator=generator))
           for t, (c, _) in enumerate(pairs)]
    bwd = [(c, crw_transition(zs[t + 1], zs[t], tau, p, candidates=c, normalize=False, generator=generator))
           for t, (_, c) in enumerate(pairs)]
    out = []
    for k in lengths:
        left = _Paths.from_candidates(fwd[0][0], fwd[0][1], zs[1].size(0))
        for t in range(1, k):
            left = left.step(fwd[t][0], fwd[t][1], zs[t + 1].size(0))
        right = _Paths.from_candidates(bwd[k - 1][0], bwd[k - 1][1], zs[k - 1].size(0))
        for t in range(k - 2, -1, -1):
            right = right.step(bwd[t][0], bwd[t][1], zs[t].size(0))
        out.append(_diag_of_product(left, right, n0))
    return torch.stack(out)


def crw(
    embeddings: Sequence[Tensor],
    tau: float = 0.07,
    edge_dropout: float = 0.0,
    *,
    candidates: int | Sequence[tuple[Tensor, Tensor]] | None = None,
    cycle_lengths: Sequence[int] | None = None,
    normalize: bool = True,
    eps: float = DEFAULT_EPS,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Contrastive-random-walk loss over embedding sets ``Z_0 .. Z_T`` (scalar).

    ``mean_k mean_i -log(P_k[i, i] + eps)`` over the palindrome cycle lengths
    ``k`` (default ``1 .. T``); see the module docstring and
    :func:`crw_return_probabilities` for ``candidates``. Row ``i`` of every
    set is a node; rows of different sets need not correspond (the loss never
    uses a correspondence, only the return to the start).

    Example:
        >>> z = torch.randn(6, 4)
        >>> float(crw([z, z], tau=0.01)) < 0.01
        True
    """
    if not (isinstance(eps, (int, float)) and eps >= 0):
        raise ValueError(f"eps must be a number >= 0, got {eps!r}")
    ret = crw_return_probabilities(embeddings, tau, edge_dropout, candidates=candidates,
                                   cycle_lengths=cycle_lengths, normalize=normalize, generator=generator)
    return -(ret + eps).log().mean()


def crw_bipartite(
    za: Tensor,
    zb: Tensor,
    tau: float = 0.07,
    edge_dropout: float = 0.0,
    *,
    symmetric: bool = True,
    candidates: int | tuple[Tensor, Tensor] | None = None,
    normalize: bool = True,
    eps: float = DEFAULT_EPS,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Cycle between two node types (Mix and Localize): ``NLL(log(A_ab A_ba), I)`` over the ``a`` nodes.

    ``symmetric=True`` averages it with the ``b -> a -> b`` cycle. ``candidates``
    is ``None``, an int ``k``, or one ``(a -> b [N_a, k], b -> a [N_b, k'])`` pair.

    Example:
        >>> a, b = torch.randn(5, 3), torch.randn(7, 3)
        >>> crw_bipartite(a, b, tau=0.1).shape
        torch.Size([])
    """
    _check_embeddings([za, zb])
    pair = None if candidates is None or isinstance(candidates, int) else [tuple(candidates)]
    cand_ab = candidates if pair is None else pair
    loss = crw([za, zb], tau, edge_dropout, candidates=cand_ab, normalize=normalize, eps=eps, generator=generator)
    if not symmetric:
        return loss
    cand_ba = candidates if pair is None else [(pair[0][1], pair[0][0])]
    back = crw([zb, za], tau, edge_dropout, candidates=cand_ba, normalize=normalize, eps=eps, generator=generator)
    return 0.5 * (loss + back)


def crw_neighborhood(
    za: Tensor,
    zb: Tensor,
    edge_index_a: Tensor,
    edge_index_b: Tensor,
    tau: float = 0.07,
    edge_dropout: float = 0.0,
    *,
    normalize: bool = True,
    eps: float = DEFAULT_EPS,
    with_return: bool = False,
    lazy: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """Cycle through the graph: ``a -> b`` by affinity, one lazy graph step in ``b``, back to ``a``.

    Rows of ``za``/``zb`` are the nodes of two views of one graph (``edge_index_a``,
    ``edge_index_b``: their edges, both directions). A walker leaves node ``i`` of
    ``a`` (transition ``A = softmax_row(Za Zb^T / tau)``), takes one step of the lazy
    random walk on ``b``'s graph (``W_b = D^-1 (A_b + I)``), and returns to ``a``
    (``B = softmax_row(Zb Za^T / tau)``, dropped separately). It must land in the
    closed neighbourhood ``N[i]`` of its start: loss
    ``-mean_i log(sum_{j in N[i]} (A W_b B)[i, j] + eps)``. Unlike the palindrome
    ``a -> b -> a``, which any consistent one-to-one matching satisfies (e.g. one that
    follows a node's features to whichever node carries them in ``b``), this cycle is
    only satisfied when the matching also maps neighbourhoods onto neighbourhoods.
    Dense ``N x N`` transitions (memory ``O(N^2)``); no ``N^3`` product is formed.
    ``lazy=False``: the graph step always moves to a neighbour (``W_b = D^-1 A_b``; a node
    without neighbours in ``b`` stays put). The lazy walk lets a walker that followed a
    node's features to the wrong node return through the self-loop, which bounds that
    node's penalty by ``log(deg + 1)``; the non-lazy walk does not.
    ``with_return=True`` returns ``(loss, palindrome)`` where ``palindrome`` is the
    return loss ``-mean_i log((A B)[i, i] + eps)`` of the same transitions (what
    :func:`crw` gives for ``[za, zb]``), so both share one affinity matrix.

    Example:
        >>> z = torch.eye(3)
        >>> ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
        >>> float(crw_neighborhood(z, z, ei, ei, tau=0.01)) < 1e-6
        True
    """
    from graphcl.sparse import normalized_adjacency, spmm

    if not (isinstance(eps, (int, float)) and eps >= 0):
        raise ValueError(f"eps must be a number >= 0, got {eps!r}")
    a, b = _check_embeddings([za, zb])
    tau = check_positive_float(tau, "tau")
    p = check_probability(edge_dropout, "edge_dropout")
    check_generator(generator, a.device)
    na = check_edge_index(edge_index_a, a.size(0), "edge_index_a")
    nb = check_edge_index(edge_index_b, b.size(0), "edge_index_b")
    if normalize:
        a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    logits = (a @ b.t()) / tau
    fwd = torch.softmax(_dropout_logits(logits, None, p, generator), dim=1)  # [Na, Nb]
    bwd = torch.softmax(_dropout_logits(logits.t(), None, p, generator), dim=1)  # [Nb, Na]
    eb = edge_index_b[:, edge_index_b[0] != edge_index_b[1]].long()
    if not lazy:  # self-loops only where a node has no neighbour, so every row sums to 1
        alone = torch.ones(nb, dtype=torch.bool, device=a.device)
        alone[eb[0]] = False
        stay = alone.nonzero().flatten()
        eb = torch.cat([eb, torch.stack([stay, stay])], 1)
    w_b = normalized_adjacency(eb, nb, add_self_loops=lazy, kind="rw").to(a.dtype)  # rows sum to 1
    q = spmm(w_b.t().coalesce(), fwd.t().contiguous()).t()  # A W_b = (W_b^T A^T)^T, [Na, Nb]
    ea = edge_index_a[:, edge_index_a[0] != edge_index_a[1]].long()
    loops = torch.arange(na, device=a.device)
    keys = torch.unique(torch.cat([ea[1], loops]) * na + torch.cat([ea[0], loops]))  # M_a^T, binary, self-loops
    closed_t = torch.sparse_coo_tensor(torch.stack([keys // na, keys % na]),
                                       torch.ones(keys.numel(), dtype=a.dtype, device=a.device), (na, na),
                                       is_coalesced=True, check_invariants=False)
    r_t = spmm(closed_t, bwd.t().contiguous())  # (B M_a)^T = M_a^T B^T, [Na, Nb]
    ret = (q * r_t).sum(1)  # diag(A W_b B M_a)
    loss = -(ret + eps).log().mean()
    if not with_return:
        return loss
    return loss, -((fwd * bwd.t()).sum(1) + eps).log().mean()


# ------------------------------------------------------------------------ candidates
def neighbor_candidates(
    edge_index: Tensor,
    num_nodes: int | None = None,
    *,
    self_loops: bool = True,
    max_degree: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Graph-neighbour candidate sets ``[N, k]`` (``-1``-padded), for walks between views of one node set.

    Row ``i`` lists ``i`` itself (``self_loops``) and the targets of ``i``'s
    edges (duplicates removed). ``max_degree`` keeps at most that many
    neighbours per node, a uniformly random subset drawn with ``generator``.

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
        >>> neighbor_candidates(ei).tolist()
        [[0, 1, -1], [0, 1, 2], [1, 2, -1]]
    """
    n = check_edge_index(edge_index, num_nodes)
    check_generator(generator, edge_index.device)
    device = edge_index.device
    src, dst = edge_index[0].long(), edge_index[1].long()
    keep = src != dst
    src, dst = src[keep], dst[keep]
    key = torch.unique(src * max(n, 1) + dst)
    src, dst = key // max(n, 1), key % max(n, 1)
    if max_degree is not None:
        check_positive_int(max_degree, "max_degree")
        r = torch.rand(src.numel(), generator=generator, device=device)
        order = torch.argsort(src.double() * 2 + r.double())  # random order inside each row
        src, dst = src[order], dst[order]
    deg = torch.bincount(src, minlength=n)
    start = torch.cumsum(deg, 0) - deg
    slot = torch.arange(src.numel(), device=device) - start[src]
    if max_degree is not None:
        ok = slot < max_degree
        src, dst, slot = src[ok], dst[ok], slot[ok]
        deg = deg.clamp_max(max_degree)
    offset = 1 if self_loops else 0
    width = max(int(deg.max()) if n else 0, 0) + offset
    out = torch.full((n, max(width, 1)), -1, dtype=torch.long, device=device)
    if self_loops:
        out[:, 0] = torch.arange(n, device=device)
    out[src, slot + offset] = dst
    if self_loops:  # keep each row sorted for readability
        out = torch.where(out < 0, torch.full_like(out, n), out).sort(1).values
        out[out == n] = -1
    return out
