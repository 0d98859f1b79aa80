"""Community-strength views of CSGCL (Chen et al., IJCAI 2023).

Communities are found once (Leiden when ``leidenalg``/``igraph`` are installed,
else networkx Louvain); every community ``c`` gets a *strength*, its modularity
term ``S_c = L_c/|E| - (d_c / 2|E|)^2``. Two augmentations use it:

* **Communal Edge Dropping (CED)**: edges inside strong communities are kept
  more often than edges between communities.
* **Communal Attribute Voting (CAV)**: feature columns that strong communities
  use are masked less often.

How an ``edge_index`` is read (all functions here):
    The graph is undirected. Every stored entry ``(u, v)`` names the unordered
    pair ``{u, v}``; the two directions of a PyG undirected edge (and any
    duplicates) are the *same* edge and count once in ``|E|``. With
    ``edge_weight`` the pair's weight is the mean of the weights stored for it
    (both directions carry the same weight in PyG, so this is that weight).
    A self-loop counts once in ``|E|`` and ``L_c`` and twice in the degree,
    as in networkx, so ``sum_c S_c`` equals ``networkx.community.modularity``.

Differences from the reference code (github.com/HanChen-HUST/CSGCL,
``src/functional.py``), all deliberate:

* CED there defaults to ``threshold = 1``: the edges of minimum weight then get
  keep probability 0 and are *always* dropped. Here ``threshold`` must be < 1
  (a clear ``ValueError`` otherwise); the default is 0.7.
* CAV there takes ``log`` of ``sum_i |x_if| S(i)``: zero sums are replaced by
  the largest sum (columns never masked) and negative sums (negative strengths
  are common: any singleton community has ``S < 0``) give NaN. Here every
  sum ``<= 0`` is clamped to the smallest *positive* sum: such a column is
  treated like the least-supported column (highest mask probability), and the
  log range of the other columns is not stretched by an arbitrary epsilon.
* Degenerate cases (all edge weights equal, all column weights equal) fall back
  to uniform probabilities ``1 - p`` (CED keep) / ``p`` (CAV mask) instead of
  dividing 0 by 0.
* The reference drops the two directions of an edge independently; so does
  :func:`communal_edge_drop` by default, ``symmetric=True`` keeps or drops
  both together.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from graphcl.augment.base import Augmentor, apply_edge_mask
from graphcl.validation import (
    check_edge_index,
    check_edge_weight,
    check_features,
    check_generator,
    check_positive_float,
    check_probability,
)

__all__ = [
    "detect_communities",
    "community_strength",
    "communal_edge_weights",
    "communal_edge_keep_prob",
    "communal_edge_drop",
    "communal_attribute_drop_prob",
    "communal_attribute_mask",
    "attach_community_strength",
    "CommunityStrength",
    "CommunalEdgeDrop",
    "CommunalAttributeVoting",
]


# --------------------------------------------------------------------- helpers
def undirected_edges(
    edge_index: Tensor, num_nodes: int | None = None, edge_weight: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor, int]:
    """Unique undirected pairs ``u <= v`` with one float64 weight each (see module notes).

    Returns ``(u, v, w, num_nodes)``; shared with :mod:`graphcl.augment.entropy`.

    Example:
        >>> u, v, w, n = undirected_edges(torch.tensor([[0, 1, 1], [1, 0, 2]]))
        >>> u.tolist(), v.tolist(), w.tolist(), n
        ([0, 1], [1, 2], [1.0, 1.0], 3)
    """
    n = check_edge_index(edge_index, num_nodes)
    ew = check_edge_weight(edge_weight, edge_index.size(1))
    device = edge_index.device
    row, col = edge_index[0].long(), edge_index[1].long()
    lo, hi = torch.minimum(row, col), torch.maximum(row, col)
    key = lo * max(n, 1) + hi
    key, inv = torch.unique(key, sorted=True, return_inverse=True)
    u = torch.div(key, max(n, 1), rounding_mode="floor")
    v = key - u * max(n, 1)
    if ew is None:
        w = torch.ones(key.numel(), dtype=torch.float64, device=device)
    else:
        total = torch.zeros(key.numel(), dtype=torch.float64, device=device)
        total.index_add_(0, inv, ew.double())
        count = torch.bincount(inv, minlength=key.numel()).double()
        w = total / count
    return u, v, w, n


def _check_communities(
    communities: Any, num_nodes: int | None, name: str = "communities"
) -> Tensor:
    if not isinstance(communities, Tensor):
        raise TypeError(f"{name} must be a LongTensor [num_nodes], got {type(communities).__name__}")
    if communities.dtype.is_floating_point or communities.dtype in (torch.bool, torch.complex64):
        raise TypeError(f"{name} must be an integer tensor, got dtype {communities.dtype}")
    if communities.dim() != 1 or (num_nodes is not None and communities.numel() != num_nodes):
        raise ValueError(
            f"{name} must have shape [{num_nodes}] (one id per node), got {list(communities.shape)}"
        )
    if communities.numel() and int(communities.min()) < 0:
        raise ValueError(f"{name} contains a negative community id {int(communities.min())}")
    return communities.long()


def _check_strength(strength: Any, size: int, name: str) -> Tensor:
    if not isinstance(strength, Tensor):
        raise TypeError(f"{name} must be a float tensor, got {type(strength).__name__}")
    if strength.dim() != 1 or strength.numel() < size:
        raise ValueError(f"{name} must be 1-D with at least {size} entries, got {list(strength.shape)}")
    if not strength.dtype.is_floating_point:
        strength = strength.to(torch.get_default_dtype())
    if strength.numel() and not bool(torch.isfinite(strength).all()):
        raise ValueError(f"{name} contains NaN or inf")
    return strength


def _check_threshold(threshold: Any, *, strict: bool) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise TypeError(f"threshold must be a number in [0, 1), got {type(threshold).__name__}")
    t = float(threshold)
    if math.isnan(t) or t < 0.0 or t > 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {t}")
    if strict and t >= 1.0:
        raise ValueError(
            "threshold must be < 1 for communal edge dropping: with threshold=1 the edges of "
            "minimum (normalised) weight get keep probability 0 and are always dropped "
            "(the trap of the CSGCL reference default); use e.g. 0.7 or 0.99"
        )
    return t


def _relabel_by_first_member(membership: np.ndarray) -> np.ndarray:
    """Contiguous ids 0..C-1, communities numbered by their smallest node id."""
    if membership.size == 0:
        return membership.astype(np.int64)
    _, first, inv = np.unique(membership, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[inv.reshape(-1)]


# -------------------------------------------------------- community detection
def detect_communities(
    edge_index: Tensor,
    num_nodes: int | None = None,
    *,
    method: str = "auto",
    resolution: float = 1.0,
    seed: int = 0,
    edge_weight: Tensor | None = None,
) -> Tensor:
    """Community id per node, contiguous ``0..C-1`` (numbered by smallest member).

    ``method``: ``"leiden"`` (``leidenalg`` + ``igraph``, an optional extra,
    imported lazily; RB-configuration quality = modularity at ``resolution``),
    ``"louvain"`` (``networkx.community.louvain_communities``) or ``"auto"``
    (Leiden when installed, else Louvain). Isolated nodes get their own
    community. The same ``seed`` gives the same result.

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2, 3, 4, 4, 5, 2], [1, 2, 0, 0, 4, 5, 3, 3, 3]])
        >>> detect_communities(ei, 7, method="louvain").tolist()
        [0, 0, 0, 1, 1, 1, 2]
    """
    if method not in ("auto", "leiden", "louvain"):
        raise ValueError(f"method must be 'auto', 'leiden' or 'louvain', got {method!r}")
    check_positive_float(resolution, "resolution")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    u, v, w, n = undirected_edges(edge_index, num_nodes, edge_weight)
    device = edge_index.device
    if u.numel() == 0:
        return torch.arange(n, device=device)
    uu, vv, ww = u.tolist(), v.tolist(), w.tolist()
    use_leiden = method == "leiden"
    if method == "auto":
        try:
            import igraph  # noqa: F401
            import leidenalg  # noqa: F401

            use_leiden = True
        except ImportError:
            use_leiden = False
    if use_leiden:
        try:
            import igraph
            import leidenalg
        except ImportError as exc:
            raise ImportError(
                "method='leiden' needs the optional packages leidenalg and igraph "
                "(pip install leidenalg igraph); use method='louvain' or 'auto' otherwise"
            ) from exc
        g = igraph.Graph(n=n, edges=list(zip(uu, vv)), directed=False)
        part = leidenalg.find_partition(
            g,
            leidenalg.RBConfigurationVertexPartition,
            weights=ww,
            resolution_parameter=float(resolution),
            seed=int(seed),
        )
        membership = np.asarray(part.membership, dtype=np.int64)
    else:
        import networkx as nx

        g = nx.Graph()
        g.add_nodes_from(range(n))
        g.add_weighted_edges_from(zip(uu, vv, ww))
        comms = nx.community.louvain_communities(
            g, weight="weight", resolution=float(resolution), seed=int(seed)
        )
        membership = np.empty(n, dtype=np.int64)
        for cid, members in enumerate(comms):
            membership[list(members)] = cid
    return torch.as_tensor(_relabel_by_first_member(membership), device=device)


def community_strength(
    edge_index: Tensor,
    num_nodes: int | None,
    communities: Tensor,
    edge_weight: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Strength ``S_c = L_c/|E| - (d_c / 2|E|)^2`` per community and per node.

    ``L_c``: weight of the (undirected) edges inside ``c``; ``d_c``: sum of the
    degrees of its nodes; ``|E|``: total undirected edge weight, *each undirected
    edge counted once* even though a PyG ``edge_index`` stores both directions.
    ``sum_c S_c`` is the modularity of the partition. A graph without edges gives
    all-zero strengths. Returns ``(strength [C], node_strength [N])`` with
    ``C = communities.max() + 1``, in the default float dtype.

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])  # path 0-1-2, |E| = 2
        >>> s, s_node = community_strength(ei, 3, torch.tensor([0, 0, 1]))
        >>> [round(x, 4) for x in s.tolist()]  # 1/2 - (3/4)^2, 0 - (1/4)^2
        [-0.0625, -0.0625]
    """
    u, v, w, n = undirected_edges(edge_index, num_nodes, edge_weight)
    comm = _check_communities(communities, n).to(edge_index.device)
    dtype = torch.get_default_dtype()
    c = int(comm.max()) + 1 if n else 0
    device = edge_index.device
    m = float(w.sum()) if w.numel() else 0.0
    if m <= 0.0:
        strength = torch.zeros(c, dtype=dtype, device=device)
        return strength, strength[comm]
    deg = torch.zeros(n, dtype=torch.float64, device=device)
    deg.index_add_(0, u, w).index_add_(0, v, w)  # a self-loop adds twice
    intra = comm[u] == comm[v]
    inner = torch.zeros(c, dtype=torch.float64, device=device).index_add_(0, comm[u][intra], w[intra])
    dsum = torch.zeros(c, dtype=torch.float64, device=device).index_add_(0, comm, deg)
    strength = (inner / m - (dsum / (2.0 * m)) ** 2).to(dtype)
    return strength, strength[comm]


# ------------------------------------------------------------------------ CED
def communal_edge_weights(edge_index: Tensor, communities: Tensor, strength: Tensor) -> Tensor:
    """Min-max normalised CED weight of every stored edge, ``[E]`` in ``[0, 1]``.

    ``w_uv = S_c`` when ``u`` and ``v`` are both in community ``c``, else
    ``-(S_cu + S_cv)``; then ``(w - min) / (max - min)``. All weights equal
    (including a single edge) gives all ones.

    Example:
        >>> ei = torch.tensor([[0, 1, 2], [1, 2, 3]])
        >>> w = communal_edge_weights(ei, torch.tensor([0, 0, 1, 1]), torch.tensor([0.3, 0.1]))
        >>> [round(x, 4) for x in w.tolist()]  # raw [0.3, -0.4, 0.1]
        [1.0, 0.0, 0.7143]
    """
    n = check_edge_index(edge_index)
    comm = _check_communities(communities, None).to(edge_index.device)
    if comm.numel() < n:
        raise ValueError(f"communities has {comm.numel()} entries but edge_index uses node id {n - 1}")
    c = int(comm.max()) + 1 if comm.numel() else 0
    strength = _check_strength(strength, c, "strength")
    if edge_index.size(1) == 0:
        return torch.zeros(0, dtype=strength.dtype, device=edge_index.device)
    cu, cv = comm[edge_index[0].long()], comm[edge_index[1].long()]
    su, sv = strength[cu], strength[cv]
    w = torch.where(cu == cv, su, -(su + sv))
    lo, hi = w.min(), w.max()
    span = hi - lo
    if not bool(span > 0):
        return torch.ones_like(w)
    return (w - lo) / span


def communal_edge_keep_prob(
    edge_index: Tensor,
    communities: Tensor,
    strength: Tensor,
    p: float,
    threshold: float = 0.7,
) -> Tensor:
    """CED keep probability ``clip(w_uv / mean(w) * (1 - p), 1 - threshold, 1)`` per edge.

    ``w`` from :func:`communal_edge_weights`; ``p`` is the base drop rate and
    ``threshold < 1`` the largest drop probability (see the module notes on why
    ``threshold = 1`` is refused).

    Example:
        >>> ei = torch.tensor([[0, 1, 2], [1, 2, 3]])
        >>> k = communal_edge_keep_prob(ei, torch.tensor([0, 0, 1, 1]), torch.tensor([0.3, 0.1]), 0.5)
        >>> [round(x, 4) for x in k.tolist()]  # w = [1, 0, 5/7], mean 4/7
        [0.875, 0.3, 0.625]
    """
    p = check_probability(p, "p")
    t = _check_threshold(threshold, strict=True)
    w = communal_edge_weights(edge_index, communities, strength)
    if w.numel() == 0:
        return w
    return (w / w.mean() * (1.0 - p)).clamp(min=1.0 - t, max=1.0)


def communal_edge_drop(
    edge_index: Tensor,
    communities: Tensor,
    strength: Tensor,
    p: float,
    threshold: float = 0.7,
    generator: torch.Generator | None = None,
    *,
    symmetric: bool = False,
) -> tuple[Tensor, Tensor]:
    """Communal Edge Dropping: keep each edge with :func:`communal_edge_keep_prob`.

    Returns ``(kept edge_index, keep mask [E])``. With ``symmetric=True`` one
    draw is made per unordered pair, so both directions are kept or dropped
    together; by default each stored edge is drawn independently (as in CSGCL).
    Randomness comes only from ``generator`` (or torch's global generator).

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
        >>> g = torch.Generator().manual_seed(0)
        >>> out, mask = communal_edge_drop(ei, torch.tensor([0, 0, 1]), torch.tensor([0.2, -0.1]),
        ...                                0.3, generator=g)
        >>> out.shape[0], mask.dtype
        (2, torch.bool)
    """
    keep = communal_edge_keep_prob(edge_index, communities, strength, p, threshold)
    generator = check_generator(generator, edge_index.device)
    e = edge_index.size(1)
    if e == 0:
        mask = torch.zeros(0, dtype=torch.bool, device=edge_index.device)
        return edge_index, mask
    if symmetric:
        row, col = edge_index[0].long(), edge_index[1].long()
        n = int(torch.maximum(row, col).max()) + 1
        key = torch.minimum(row, col) * n + torch.maximum(row, col)
        uniq, inv = torch.unique(key, return_inverse=True)
        draw = torch.rand(uniq.numel(), generator=generator, device=edge_index.device)[inv]
    else:
        draw = torch.rand(e, generator=generator, device=edge_index.device)
    mask = draw < keep.to(draw.dtype)
    return edge_index[:, mask], mask


# ------------------------------------------------------------------------ CAV
def communal_attribute_drop_prob(
    x: Tensor, node_strength: Tensor, p: float, threshold: float = 0.7
) -> Tensor:
    """CAV mask probability per feature column, ``[F]``.

    ``s_f = sum_i |x_if| S(i)``; sums ``<= 0`` are clamped to the smallest
    positive sum (no NaN/-inf from the log, see module notes); ``w_f = log s_f``
    normalised ``(max - w) / (max - min)`` (all equal: ones);
    ``p_f = clip(w_f / mean(w) * p, 0, threshold)``.

    Example:
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
        >>> communal_attribute_drop_prob(x, torch.tensor([0.5, 0.5]), 0.2).tolist()
        [0.0, 0.4000000059604645]
    """
    x = check_features(x, None, "x")
    p = check_probability(p, "p")
    t = _check_threshold(threshold, strict=False)
    node_strength = _check_strength(node_strength, x.size(0), "node_strength")
    if node_strength.numel() != x.size(0):
        raise ValueError(
            f"node_strength has {node_strength.numel()} entries but x has {x.size(0)} rows"
        )
    f = x.size(1)
    dtype = x.dtype if x.dtype.is_floating_point else torch.get_default_dtype()
    if f == 0:
        return torch.zeros(0, dtype=dtype, device=x.device)
    s = x.abs().double().t() @ node_strength.to(x.device).double()
    pos = s > 0
    if bool(pos.any()):
        s = torch.where(pos, s, s[pos].min())
        w = s.log()
        hi, lo = w.max(), w.min()
        w = (hi - w) / (hi - lo) if bool(hi > lo) else torch.ones_like(w)
    else:
        w = torch.ones_like(s)
    prob = (w / w.mean() * p).clamp(min=0.0, max=t)
    return prob.to(dtype)


def communal_attribute_mask(
    x: Tensor,
    node_strength: Tensor,
    p: float,
    threshold: float = 0.7,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Communal Attribute Voting: mask whole feature columns (shared by all nodes).

    Column ``f`` is set to 0 with probability :func:`communal_attribute_drop_prob`.
    Returns ``(masked copy of x, feature_mask [F] bool, True = masked)``.

    Example:
        >>> x = torch.ones(3, 4)
        >>> out, mask = communal_attribute_mask(x, torch.full((3,), 0.1), 0.5,
        ...                                     generator=torch.Generator().manual_seed(0))
        >>> bool((out[:, mask] == 0).all()) and bool((out[:, ~mask] == 1).all())
        True
    """
    prob = communal_attribute_drop_prob(x, node_strength, p, threshold)
    generator = check_generator(generator, x.device)
    draw = torch.rand(prob.numel(), generator=generator, device=x.device)
    mask = draw < prob.to(draw.dtype)
    return x.masked_fill(mask.unsqueeze(0), 0), mask


# ------------------------------------------------------------------ transforms
def attach_community_strength(
    data: Any,
    *,
    method: str = "auto",
    resolution: float = 1.0,
    seed: int = 0,
) -> Any:
    """Copy of ``data`` with ``community`` [N], ``community_strength`` [C] and ``node_strength`` [N].

    Meant for one (node-level) graph: ``community`` ids are not offset when PyG
    batches several graphs. The CED edge weights are not stored (they are a
    cheap gather, recomputed per view, and a per-edge tensor would be mistaken
    for a node attribute by PyG whenever ``num_edges == num_nodes``).

    Example:
        >>> from torch_geometric.data import Data
        >>> d = attach_community_strength(Data(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=3))
        >>> d.community.tolist(), d.community_strength.numel()
        ([0, 0, 1], 2)
    """
    ew = getattr(data, "edge_weight", None)
    comm = detect_communities(
        data.edge_index, data.num_nodes, method=method, resolution=resolution, seed=seed,
        edge_weight=ew,
    )
    strength, node_strength = community_strength(data.edge_index, data.num_nodes, comm, ew)
    out = data.clone()
    out.community = comm
    out.community_strength = strength
    out.node_strength = node_strength
    return out


class CommunityStrength:
    """Transform form of :func:`attach_community_strength` (run it once, as a pre-transform).

    Example:
        >>> from torch_geometric.data import Data
        >>> d = CommunityStrength(method="louvain")(Data(edge_index=torch.tensor([[0], [1]]),
        ...                                              num_nodes=2))
        >>> d.node_strength.shape
        torch.Size([2])
    """

    def __init__(self, method: str = "auto", resolution: float = 1.0, seed: int = 0) -> None:
        self.method, self.resolution, self.seed = method, resolution, seed

    def __call__(self, data: Any) -> Any:
        return attach_community_strength(
            data, method=self.method, resolution=self.resolution, seed=self.seed
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(method={self.method!r}, resolution={self.resolution})"


def _with_strengths(data: Any) -> Any:
    if getattr(data, "community", None) is None or getattr(data, "community_strength",
                                                             None) is None or getattr(
        data, "node_strength", None
    ) is None:
        # Not precomputed: detect now (slow; prefer CommunityStrength as a pre-transform).
        data = attach_community_strength(data)
    return data


class CommunalEdgeDrop(Augmentor):
    """View: :func:`communal_edge_drop` on ``data.edge_index`` (edge attributes follow).

    Uses ``data.community`` / ``data.community_strength`` (computed with the
    default detector when absent: better precompute them once with
    :class:`CommunityStrength`). Randomness as in every graphcl view: ``seed``
    (one generator per device, seeded once) or ``generator``; with neither,
    torch's global generator.

    Example:
        >>> from torch_geometric.data import Data
        >>> d = Data(edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), num_nodes=3)
        >>> v = CommunalEdgeDrop(p=0.3, seed=0)(CommunityStrength(method="louvain")(d))
        >>> v.edge_index.size(1) <= 4
        True
    """

    def __init__(
        self,
        p: float,
        threshold: float = 0.7,
        *,
        symmetric: bool = False,
        generator: torch.Generator | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(generator=generator, seed=seed)
        self.p = check_probability(p, "p")
        self.threshold = _check_threshold(threshold, strict=True)
        self.symmetric = bool(symmetric)

    def apply(self, data: Any, generator: torch.Generator | None) -> Any:
        data = _with_strengths(data)
        edge_index, mask = communal_edge_drop(
            data.edge_index, data.community, data.community_strength, self.p, self.threshold,
            generator, symmetric=self.symmetric,
        )
        return apply_edge_mask(data, edge_index, mask)


class CommunalAttributeVoting(Augmentor):
    """View: :func:`communal_attribute_mask` on ``data.x`` (uses ``data.node_strength``).

    Example:
        >>> from torch_geometric.data import Data
        >>> d = Data(x=torch.ones(3, 5), edge_index=torch.tensor([[0, 1], [1, 0]]))
        >>> v = CommunalAttributeVoting(p=0.5, seed=0)(CommunityStrength(method="louvain")(d))
        >>> v.x.shape
        torch.Size([3, 5])
    """

    def __init__(
        self,
        p: float,
        threshold: float = 0.7,
        *,
        generator: torch.Generator | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(generator=generator, seed=seed)
        self.p = check_probability(p, "p")
        self.threshold = _check_threshold(threshold, strict=False)

    def apply(self, data: Any, generator: torch.Generator | None) -> Any:
        data = _with_strengths(data)
        data.x, _ = communal_attribute_mask(
            data.x, data.node_strength, self.p, self.threshold, generator
        )
        return data
