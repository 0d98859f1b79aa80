"""GCA adaptive augmentation (Zhu et al., WWW 2021): centrality-aware edge dropping and
feature masking.

Edges: ``s_e = log phi(dst_e)`` for a node centrality ``phi`` (degree, PageRank,
eigenvector); ``w_e = (s_max - s_e) / (s_max - mean s)``;
``p_e = min(w_e / mean(w) * p, threshold)``. Unimportant edges (towards low
centrality nodes) are dropped more often; ``threshold`` (0.7) caps every
probability so no edge is dropped for sure.

Features: ``w_f = log sum_i |x_if| phi_i``, normalised the same way, and column
``f`` is masked with probability ``min(w_f / mean(w) * p, threshold)``.

Centralities: ``"degree"`` (degree in the symmetrised graph, as GCA),
``"pagerank"`` (standard PageRank, damping 0.85, teleport ``(1 - d)/N``,
dangling mass spread uniformly; GCA's own code iterates a lazy random walk
instead) and ``"eigenvector"`` (power iteration on ``A + I`` of the symmetrised
graph, as networkx). Degenerate cases: when all scores are equal (``s_max ==
mean s``) every weight is 1, i.e. uniform probability ``min(p, threshold)``;
zero centrality sums are clamped to ``1e-12`` before the log (no NaN/inf).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from graphcl.augment.base import Augmentor, _num_nodes, apply_edge_mask
from graphcl.graph import CSRGraph
from graphcl.validation import (
    check_edge_index,
    check_features,
    check_generator,
    check_probability,
)

__all__ = [
    "node_centrality",
    "gca_edge_weights",
    "gca_feature_weights",
    "gca_drop_probabilities",
    "adaptive_drop_edge",
    "adaptive_mask_feature",
    "AdaptiveDropEdge",
    "AdaptiveMaskFeature",
]

_CENTRALITIES = ("degree", "pagerank", "eigenvector")


def _check_centrality(kind: str) -> str:
    if kind not in _CENTRALITIES:
        raise ValueError(f"centrality must be one of {_CENTRALITIES}, got {kind!r}")
    return kind


def node_centrality(
    edge_index: Tensor,
    num_nodes: int | None = None,
    kind: str = "degree",
    *,
    damping: float = 0.85,
    max_iter: int = 100,
    tol: float = 1e-7,
) -> Tensor:
    """Node centrality ``[N]`` (float): ``"degree"``, ``"pagerank"`` or ``"eigenvector"``.

    Example:
        >>> ei = torch.tensor([[0, 0, 1, 2], [1, 2, 0, 0]])
        >>> node_centrality(ei, 3, "degree").tolist()
        [2.0, 1.0, 1.0]
    """
    n = check_edge_index(edge_index, num_nodes)
    _check_centrality(kind)
    damping = check_probability(damping, "damping")
    device = edge_index.device
    dtype = torch.get_default_dtype()
    if n == 0:
        return torch.zeros(0, dtype=dtype, device=device)
    if kind == "degree":
        g = CSRGraph.from_edge_index(edge_index, n, undirected=True)
        return g.degree.to(dtype)
    if kind == "pagerank":
        g = CSRGraph.from_edge_index(edge_index, n)
        row, col = g.row, g.col
        deg = g.degree.to(dtype)
        inv = torch.where(deg > 0, 1.0 / deg.clamp(min=1), torch.zeros_like(deg))
        x = torch.full((n,), 1.0 / n, dtype=dtype, device=device)
        for _ in range(max_iter):
            msg = torch.zeros(n, dtype=dtype, device=device).index_add_(0, col, (x * inv)[row])
            dangling = x[deg == 0].sum()
            new = damping * (msg + dangling / n) + (1.0 - damping) / n
            done = float((new - x).abs().sum()) < tol
            x = new
            if done:
                break
        return x
    g = CSRGraph.from_edge_index(edge_index, n, undirected=True)
    row, col = g.row, g.col
    x = torch.full((n,), 1.0 / n**0.5, dtype=dtype, device=device)
    for _ in range(max_iter):
        new = x + torch.zeros(n, dtype=dtype, device=device).index_add_(0, row, x[col])
        new = new / new.norm().clamp(min=1e-30)
        done = float((new - x).abs().sum()) < tol * n
        x = new
        if done:
            break
    return x


def _normalise_scores(s: Tensor) -> Tensor:
    """``(s_max - s) / (s_max - mean s)``; all ones when the scores are all equal."""
    if s.numel() == 0:
        return s
    smax, smean = s.max(), s.mean()
    denom = smax - smean
    if float(denom) <= 1e-12 * max(1.0, abs(float(smax))):
        return torch.ones_like(s)
    return (smax - s) / denom


def gca_edge_weights(
    edge_index: Tensor,
    num_nodes: int | None = None,
    centrality: str | Tensor = "degree",
) -> Tensor:
    """GCA edge weights ``w_e = (s_max - s_e) / (s_max - mean s)``, ``s_e = log phi(dst_e)``.

    ``centrality`` is a kind (see :func:`node_centrality`) or a precomputed ``[N]`` tensor.

    Example:
        >>> ei = torch.tensor([[0, 0, 1, 2], [1, 2, 0, 0]])
        >>> gca_edge_weights(ei, 3).shape
        torch.Size([4])
    """
    n = check_edge_index(edge_index, num_nodes)
    phi = _centrality_tensor(edge_index, n, centrality)
    s = torch.log(phi[edge_index[1]].clamp(min=1e-12))
    return _normalise_scores(s)


def gca_feature_weights(x: Tensor, centrality: Tensor) -> Tensor:
    """GCA feature weights: ``w_f = log sum_i |x_if| phi_i``, normalised like the edge weights.

    Example:
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
        >>> gca_feature_weights(x, torch.tensor([1.0, 3.0])).tolist()
        [0.0, 2.0]
    """
    x = check_features(x)
    if not isinstance(centrality, Tensor) or centrality.shape != (x.size(0),):
        raise ValueError(f"centrality must be a tensor of shape [{x.size(0)}] (one value per node)")
    c = centrality.to(device=x.device, dtype=x.dtype if x.dtype.is_floating_point else None)
    w = torch.log((x.abs().to(c.dtype).t() @ c).clamp(min=1e-12))
    return _normalise_scores(w)


def gca_drop_probabilities(weights: Tensor, p: float, threshold: float = 0.7) -> Tensor:
    """``min(w / mean(w) * p, threshold)``: per-item drop probabilities.

    Example:
        >>> [round(v, 4) for v in gca_drop_probabilities(torch.tensor([0.0, 1.0, 2.0]), 0.5).tolist()]
        [0.0, 0.5, 0.7]
    """
    p = check_probability(p, "p")
    threshold = check_probability(threshold, "threshold")
    if not isinstance(weights, Tensor) or weights.dim() != 1:
        raise ValueError("weights must be a 1-D tensor")
    if weights.numel() == 0:
        return weights.clone()
    if bool((weights < 0).any()) or not bool(torch.isfinite(weights).all()):
        raise ValueError("weights must be finite and non-negative")
    mean = weights.mean()
    if float(mean) <= 0:
        return torch.zeros_like(weights)
    return (weights / mean * p).clamp(max=threshold)


def _centrality_tensor(edge_index: Tensor, n: int, centrality: str | Tensor) -> Tensor:
    if isinstance(centrality, Tensor):
        if centrality.shape != (n,):
            raise ValueError(f"centrality tensor must have shape [{n}], got {list(centrality.shape)}")
        return centrality.to(edge_index.device)
    return node_centrality(edge_index, n, _check_centrality(centrality))


def adaptive_drop_edge(
    edge_index: Tensor,
    weights: Tensor,
    p: float,
    threshold: float = 0.7,
    *,
    generator: torch.Generator | None = None,
    training: bool = True,
) -> tuple[Tensor, Tensor]:
    """Drop edge ``e`` with probability ``min(w_e / mean(w) * p, threshold)``.

    ``weights`` comes from :func:`gca_edge_weights`. Returns ``(edge_index, edge_mask)``.

    Example:
        >>> ei = torch.tensor([[0, 0, 1, 2], [1, 2, 0, 0]])
        >>> w = gca_edge_weights(ei, 3)
        >>> out, mask = adaptive_drop_edge(ei, w, 0.3, generator=torch.Generator().manual_seed(0))
    """
    check_edge_index(edge_index)
    if not isinstance(weights, Tensor) or weights.shape != (edge_index.size(1),):
        raise ValueError(f"weights must have shape [{edge_index.size(1)}] (one per edge)")
    check_generator(generator, edge_index.device)
    probs = gca_drop_probabilities(weights.to(edge_index.device), p, threshold)
    if not training:
        mask = torch.ones(edge_index.size(1), dtype=torch.bool, device=edge_index.device)
    else:
        u = torch.rand(probs.numel(), generator=generator, device=edge_index.device)
        mask = u >= probs
    return edge_index[:, mask], mask


def adaptive_mask_feature(
    x: Tensor,
    weights: Tensor,
    p: float,
    threshold: float = 0.7,
    *,
    generator: torch.Generator | None = None,
    training: bool = True,
) -> tuple[Tensor, Tensor]:
    """Mask column ``f`` (set to 0 for all nodes) with probability
    ``min(w_f / mean(w) * p, threshold)``. Returns ``(x, keep)``.

    Example:
        >>> x = torch.rand(5, 4)
        >>> w = gca_feature_weights(x, torch.ones(5))
        >>> out, keep = adaptive_mask_feature(x, w, 0.3, generator=torch.Generator().manual_seed(0))
    """
    x = check_features(x)
    if not isinstance(weights, Tensor) or weights.shape != (x.size(1),):
        raise ValueError(f"weights must have shape [{x.size(1)}] (one per feature column)")
    check_generator(generator, x.device)
    probs = gca_drop_probabilities(weights.to(x.device), p, threshold)
    if not training:
        return x, torch.ones(x.size(1), dtype=torch.bool, device=x.device)
    keep = torch.rand(probs.numel(), generator=generator, device=x.device) >= probs
    return x * keep.to(x.dtype), keep


class _CachedWeights(Augmentor):
    """GCA view base: ``p``, ``centrality``, ``threshold``, and a cache of the weights
    for the last seen ``edge_index`` (same tensor object, unchanged)."""

    def __init__(
        self, p: float = 0.3, centrality: str = "degree", threshold: float = 0.7, **kw: Any
    ):
        super().__init__(**kw)
        self.p = check_probability(p, "p")
        self.centrality = _check_centrality(centrality)
        self.threshold = check_probability(threshold, "threshold")
        self._cache: tuple | None = None

    def _cached(self, t: Tensor, n: int, compute) -> Tensor:
        c = self._cache
        if c is not None and c[0] is t and c[1] == t._version and c[2] == n:
            return c[3]
        val = compute()
        self._cache = (t, t._version, n, val)
        return val


class AdaptiveDropEdge(_CachedWeights):
    """View: GCA centrality-aware edge dropping on ``Data``/``Batch``.

    Weights are cached for the last ``edge_index`` seen (a full-graph training
    loop computes them once).

    Example:
        >>> view = AdaptiveDropEdge(0.3, centrality="degree", seed=0)
    """

    def apply(self, data, generator):
        n = _num_nodes(data)
        ei = data.edge_index
        w = self._cached(ei, n, lambda: gca_edge_weights(ei, n, self.centrality))
        out, mask = adaptive_drop_edge(ei, w, self.p, self.threshold, generator=generator)
        return apply_edge_mask(data, out, mask)


class AdaptiveMaskFeature(_CachedWeights):
    """View: GCA centrality-aware feature masking of ``data.x``.

    Example:
        >>> view = AdaptiveMaskFeature(0.2, centrality="degree", seed=0)
    """

    def apply(self, data, generator):
        n = _num_nodes(data)
        x = data.x

        def compute() -> Tensor:
            phi = node_centrality(data.edge_index, n, self.centrality)
            return gca_feature_weights(x, phi)

        w = self._cached(x, n, compute)
        data.x, _ = adaptive_mask_feature(x, w, self.p, self.threshold, generator=generator)
        return data
