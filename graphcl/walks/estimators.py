"""Monte-Carlo estimators built from walker ensembles, to measure variance reduction.

Two unbiased estimators whose quality depends only on how well the walkers of an
ensemble cover the graph, so that i.i.d., antithetic and repelling ensembles
(:mod:`graphcl.walks.repelling`) can be compared at equal walker counts:

* graph random features (GRFs, Choromanski 2023; Reid et al. 2024) for the
  2-regularised Laplacian kernel ``K = (I + sigma^2 L~)^-2``;
* PageRank from halting walks.

Every function takes ``ensemble`` in ``"iid" | "antithetic" | "repelling" |
"repelling+antithetic"``. Results are ``float64`` tensors on the graph's device.
"""

from __future__ import annotations

import torch
from torch import Tensor

from graphcl.graph import CSRGraph
from graphcl.validation import check_generator, check_positive_float, check_positive_int, check_probability
from graphcl.walks.repelling import _check_graph, _ensemble_flags, _iterate_walks

__all__ = [
    "exact_regularised_laplacian_kernel",
    "grf_features",
    "grf_kernel_estimate",
    "exact_pagerank",
    "pagerank_estimate",
    "relative_frobenius_error",
]


def _weighted_degree(graph: CSRGraph) -> Tensor:
    if graph.weight is None:
        return graph.degree.to(torch.float64)
    out = torch.zeros(graph.num_nodes, dtype=torch.float64, device=graph.device)
    return out.index_add_(0, graph.row, graph.weight.to(torch.float64))


def _normalised_adjacency(graph: CSRGraph) -> Tensor:
    """Dense ``W~ = D^-1/2 W D^-1/2`` (float64; rows of isolated nodes are zero)."""
    n = graph.num_nodes
    dw = _weighted_degree(graph)
    inv_sqrt = torch.where(dw > 0, dw.clamp_min(1e-300).rsqrt(), torch.zeros_like(dw))
    w = (
        torch.ones(graph.num_edges, dtype=torch.float64, device=graph.device)
        if graph.weight is None
        else graph.weight.to(torch.float64)
    )
    row = graph.row
    a = torch.zeros(n, n, dtype=torch.float64, device=graph.device)
    a[row, graph.col] = w * inv_sqrt[row] * inv_sqrt[graph.col]
    return a


def exact_regularised_laplacian_kernel(graph: CSRGraph, sigma: float = 0.5) -> Tensor:
    """Exact 2-regularised Laplacian kernel ``K = (I + sigma^2 L~)^-2`` (dense ``[N, N]``).

    ``L~ = I - D^-1/2 W D^-1/2`` is the symmetric normalised Laplacian (weighted
    degrees when the graph has weights; an isolated node has a zero row in
    ``W~``). ``O(N^3)``: meant as the ground truth on small graphs.

    Example:
        >>> g = CSRGraph.from_edge_index(torch.tensor([[0], [1]]), undirected=True)
        >>> k = exact_regularised_laplacian_kernel(g, 1.0)
        >>> round(float(k[0, 0]), 4), round(float(k[0, 1]), 4)
        (0.5556, 0.4444)
    """
    graph = _check_graph(graph)
    sigma = check_positive_float(sigma, "sigma")
    n = graph.num_nodes
    eye = torch.eye(n, dtype=torch.float64, device=graph.device)
    lap = eye - _normalised_adjacency(graph)
    inv = torch.linalg.inv(eye + sigma**2 * lap)
    return inv @ inv


def _grf_features_batched(
    graph: CSRGraph,
    num_walkers: int,
    num_draws: int,
    sigma: float,
    p_halt: float,
    ensemble: str,
    generator: torch.Generator | None,
) -> Tensor:
    """``[num_draws, N, N]`` independent GRF feature matrices from one batched walk."""
    repelling, antithetic = _ensemble_flags(ensemble, num_walkers)
    n = graph.num_nodes
    device = graph.device
    m = num_walkers
    c = 1.0 / (1.0 + sigma**2)
    rho = sigma**2 * c  # U = rho * W~
    dw = _weighted_degree(graph)
    inv_sqrt = torch.where(dw > 0, dw.clamp_min(1e-300).rsqrt(), torch.zeros_like(dw))
    deg = graph.degree.to(torch.float64)
    ew = None if graph.weight is None else graph.weight.to(torch.float64)
    row = graph.row

    start = torch.arange(n, device=device).repeat(num_draws)  # entry = draw * N + node
    phi = torch.zeros(num_draws * n * n, dtype=torch.float64, device=device)
    entries = torch.arange(num_draws * n, device=device)
    phi.index_add_(0, entries * n + start, torch.full_like(entries, c, dtype=torch.float64))
    load = torch.full((num_draws * n * m,), c / m, dtype=torch.float64, device=device)
    for _, ids, _pos, edge, _, _ in _iterate_walks(
        graph,
        start,
        m,
        length=None,
        p_halt=p_halt,
        antithetic=antithetic,
        repelling=repelling,
        generator=generator,
    ):
        u, v = row[edge], graph.col[edge]
        w_uv = rho * inv_sqrt[u] * inv_sqrt[v]
        if ew is not None:
            w_uv = w_uv * ew[edge]
        step_load = load[ids] * w_uv * deg[u] / (1.0 - p_halt)
        load[ids] = step_load
        entry = torch.div(ids, m, rounding_mode="floor")
        phi.index_add_(0, entry * n + v, step_load)
    return phi.view(num_draws, n, n)


def _check_grf_args(graph, num_walkers, sigma, p_halt, generator):
    graph = _check_graph(graph)
    num_walkers = check_positive_int(num_walkers, "num_walkers", minimum=1)
    sigma = check_positive_float(sigma, "sigma")
    p_halt = check_probability(p_halt, "p_halt")
    if not 0.0 < p_halt < 1.0:
        raise ValueError(f"p_halt must be in (0, 1) for graph random features, got {p_halt}")
    if not graph.is_symmetric():
        raise ValueError(
            "graph must be undirected (symmetric, with equal weights both ways) for the "
            "regularised Laplacian kernel; build it with undirected=True"
        )
    generator = check_generator(generator, graph.device)
    return graph, num_walkers, sigma, p_halt, generator


def grf_features(
    graph: CSRGraph,
    num_walkers: int,
    *,
    sigma: float = 0.5,
    p_halt: float = 0.5,
    ensemble: str = "repelling",
    num_draws: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Graph random features ``Phi`` ``[N, N]`` with ``E[Phi_i . Phi_j] = K_ij`` (``i != j``).

    Kernel: ``K = (I + sigma^2 L~)^-2 = c^2 (I - U)^-2 = c^2 sum_k (k + 1) U^k`` with
    ``c = 1 / (1 + sigma^2)`` and ``U = sigma^2 c W~`` (``W~ = D^-1/2 W D^-1/2``).
    The modulation function ``f`` must satisfy ``sum_{j<=k} f(j) f(k-j) = c^2 (k+1)``,
    so ``f(k) = c`` for every walk length ``k``.

    From node ``i`` an ensemble of ``m`` walkers is run until all halt (halting
    with ``p_halt`` before each move, moves uniform over the ``d(v)`` neighbours).
    A walker whose walk prefix is ``i = v_0, v_1, ..., v_s`` adds to ``Phi[i, v_s]``

    .. math::
        \frac{f(s)}{m} \prod_{t<s} \frac{U_{v_t v_{t+1}}\, d(v_t)}{1 - p_{halt}}

    i.e. the weight of the prefix divided by its probability ``prod (1-p) / d(v_t)``.
    Thus ``E[Phi_i] = c e_i^T (I - U)^-1`` for every ensemble type whose walkers
    have the simple-random-walk marginal (all of them), and since the ensembles
    of different start nodes are independent, ``E[Phi_i . Phi_j] = K_ij`` for
    ``i != j`` (the diagonal needs two independent draws: see
    :func:`grf_kernel_estimate`). Weighted graphs use weighted ``W~`` through the
    importance weights while the walks stay uniform. ``num_draws=R`` returns
    ``[R, N, N]`` independent feature matrices from one batched walk.

    Example:
        >>> import networkx as nx
        >>> ei = torch.tensor(list(nx.karate_club_graph().edges())).T
        >>> g = CSRGraph.from_edge_index(ei, undirected=True)
        >>> phi = grf_features(g, 8, generator=torch.Generator().manual_seed(0))
        >>> phi.shape
        torch.Size([34, 34])
    """
    graph, num_walkers, sigma, p_halt, generator = _check_grf_args(
        graph, num_walkers, sigma, p_halt, generator
    )
    r = 1 if num_draws is None else check_positive_int(num_draws, "num_draws", minimum=1)
    phi = _grf_features_batched(graph, num_walkers, r, sigma, p_halt, ensemble, generator)
    return phi[0] if num_draws is None else phi


def _kernel_from_features(phi: Tensor, phi2: Tensor | None) -> Tensor:
    """``phi @ phi.T`` per draw; with ``phi2`` its diagonal becomes ``rowdot(phi, phi2)``."""
    k = phi @ phi.transpose(-1, -2)
    if phi2 is not None:
        diag = (phi * phi2).sum(-1)
        k.diagonal(dim1=-2, dim2=-1).copy_(diag)
    return k


def grf_kernel_estimate(
    graph: CSRGraph,
    num_walkers: int,
    *,
    sigma: float = 0.5,
    p_halt: float = 0.5,
    ensemble: str = "repelling",
    diagonal: str = "independent",
    num_draws: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Unbiased GRF estimate of ``K = (I + sigma^2 L~)^-2``: ``Phi @ Phi.T`` (see :func:`grf_features`).

    ``Phi_i . Phi_j`` is unbiased for ``i != j`` because different start nodes use
    independent ensembles, but ``Phi_i . Phi_i`` is biased upwards by the variance
    of ``Phi_i``. With ``diagonal="independent"`` (default) the diagonal is
    ``Phi_i . Phi'_i`` with ``Phi'`` a second, independent feature matrix, which
    makes every entry unbiased; ``diagonal="same"`` keeps plain ``Phi @ Phi.T``
    (as in the authors' code). ``num_draws=R`` returns ``[R, N, N]`` independent
    estimates from one batched walk (for error statistics); ``None`` gives ``[N, N]``.

    Example:
        >>> import networkx as nx
        >>> ei = torch.tensor(list(nx.karate_club_graph().edges())).T
        >>> g = CSRGraph.from_edge_index(ei, undirected=True)
        >>> k = grf_kernel_estimate(g, 8, generator=torch.Generator().manual_seed(0))
        >>> bool(torch.allclose(k, k.T))
        True
    """
    graph, num_walkers, sigma, p_halt, generator = _check_grf_args(
        graph, num_walkers, sigma, p_halt, generator
    )
    if diagonal not in ("independent", "same"):
        raise ValueError(f"diagonal must be 'independent' or 'same', got {diagonal!r}")
    r = 1 if num_draws is None else check_positive_int(num_draws, "num_draws", minimum=1)
    two = diagonal == "independent"
    phi = _grf_features_batched(
        graph, num_walkers, 2 * r if two else r, sigma, p_halt, ensemble, generator
    )
    k = _kernel_from_features(phi[:r], phi[r:] if two else None)
    return k[0] if num_draws is None else k


def relative_frobenius_error(estimate: Tensor, exact: Tensor) -> Tensor:
    """``||estimate - exact||_F / ||exact||_F`` over the last two dims (batched).

    Example:
        >>> relative_frobenius_error(torch.eye(2) * 1.1, torch.eye(2)).item()  # doctest: +ELLIPSIS
        0.1000...
    """
    diff = (estimate - exact).flatten(-2).norm(dim=-1)
    return diff / exact.flatten(-2).norm(dim=-1)


# --------------------------------------------------------------------- PageRank
def _check_alpha(alpha: float) -> float:
    alpha = check_probability(alpha, "alpha")
    if alpha >= 1.0:
        raise ValueError(f"alpha (damping) must be in [0, 1), got {alpha}")
    return alpha


def exact_pagerank(
    graph: CSRGraph, alpha: float = 0.85, *, tol: float = 1e-13, max_iter: int = 10_000
) -> Tensor:
    """PageRank by power iteration on the unweighted graph (edge weights ignored).

    ``pi = (1 - alpha) / N + alpha * (pi P + dangling mass / N)`` with ``P = D^-1 A``
    row-stochastic over out-edges; a node without out-edges spreads its mass
    uniformly (the networkx convention). Sparse: ``O(E)`` per iteration.

    Example:
        >>> g = CSRGraph.from_edge_index(torch.tensor([[0, 1], [1, 2]]), undirected=True)
        >>> [round(x, 4) for x in exact_pagerank(g).tolist()]
        [0.2568, 0.4865, 0.2568]
    """
    graph = _check_graph(graph)
    alpha = _check_alpha(alpha)
    n = graph.num_nodes
    device = graph.device
    if n == 0:
        return torch.zeros(0, dtype=torch.float64, device=device)
    deg = graph.degree.to(torch.float64)
    dangling = deg == 0
    row, col = graph.row, graph.col
    inv_deg = torch.where(dangling, torch.zeros_like(deg), 1.0 / deg.clamp_min(1.0))
    pi = torch.full((n,), 1.0 / n, dtype=torch.float64, device=device)
    for _ in range(max_iter):
        new = torch.zeros_like(pi).index_add_(0, col, (pi * inv_deg)[row])
        new = alpha * (new + pi[dangling].sum() / n) + (1.0 - alpha) / n
        delta = float((new - pi).abs().sum())
        pi = new
        if delta < tol:
            break
    return pi


def _pagerank_batched(
    graph: CSRGraph,
    num_walkers: int,
    num_draws: int,
    alpha: float,
    ensemble: str,
    estimator: str,
    coupling: str,
    generator: torch.Generator | None,
) -> Tensor:
    repelling, antithetic = _ensemble_flags(ensemble, num_walkers)
    n = graph.num_nodes
    device = graph.device
    m = num_walkers
    start = torch.arange(n, device=device).repeat(num_draws)
    draw_of_start = torch.arange(num_draws, device=device).repeat_interleave(n)
    counts = torch.zeros(num_draws * n, dtype=torch.float64, device=device)
    if estimator == "visits":
        counts += m  # every walker visits its start node at step 0
    per_draw = n * m  # walker id // (n * m) is its draw
    for _, ids, pos, _, h_ids, h_pos in _iterate_walks(
        graph,
        start,
        m,
        length=None,
        p_halt=1.0 - alpha,
        antithetic=antithetic,
        repelling=repelling,
        teleport=True,
        groups=None if coupling == "per_start" else draw_of_start,
        generator=generator,
    ):
        if estimator == "visits":
            key = torch.div(ids, per_draw, rounding_mode="floor") * n + pos
        else:
            key = torch.div(h_ids, per_draw, rounding_mode="floor") * n + h_pos
        counts.index_add_(0, key, torch.ones(key.numel(), dtype=torch.float64, device=device))
    counts = counts.view(num_draws, n) / (n * m)
    if estimator == "visits":
        counts = counts * (1.0 - alpha)
    return counts


def pagerank_estimate(
    graph: CSRGraph,
    num_walkers: int,
    *,
    alpha: float = 0.85,
    ensemble: str = "repelling",
    estimator: str = "visits",
    coupling: str = "per_start",
    num_draws: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Unbiased Monte-Carlo PageRank from ``num_walkers`` walkers started at every node.

    Each walker halts with probability ``1 - alpha`` before each move (walkers on
    a node without out-edges jump to a uniformly random node, as in
    :func:`exact_pagerank`). Since ``P(walk from i is at j after k moves and alive)
    = alpha^k (P^k)_ij`` and ``pi = (1 - alpha) / N * 1^T sum_k alpha^k P^k``:

    * ``estimator="terminal"``: ``pi_j ~ (#walkers halting at j) / (N m)``;
    * ``estimator="visits"``: ``pi_j ~ (1 - alpha) (#visits of j, start included) / (N m)``.

    Both are unbiased for every ensemble type (each walker's marginal is the
    simple random walk with geometric halting); "visits" has the lower variance.
    ``coupling="per_start"`` makes the ``m`` walkers of each start node one
    repelling ensemble (as for GRFs); ``"global"`` makes all ``N m`` walkers of a
    draw one ensemble (still unbiased since the estimator is a plain sum over
    walkers, and more walkers meet, so repulsion acts more often).
    ``num_draws=R`` gives ``[R, N]`` independent estimates.

    Example:
        >>> g = CSRGraph.from_edge_index(torch.tensor([[0, 1], [1, 2]]), undirected=True)
        >>> pr = pagerank_estimate(g, 4, estimator="terminal", generator=torch.Generator().manual_seed(0))
        >>> round(float(pr.sum()), 6)  # every walker halts exactly once
        1.0
    """
    graph = _check_graph(graph)
    num_walkers = check_positive_int(num_walkers, "num_walkers", minimum=1)
    alpha = _check_alpha(alpha)
    if estimator not in ("terminal", "visits"):
        raise ValueError(f"estimator must be 'terminal' or 'visits', got {estimator!r}")
    generator = check_generator(generator, graph.device)
    r = 1 if num_draws is None else check_positive_int(num_draws, "num_draws", minimum=1)
    if coupling not in ("per_start", "global"):
        raise ValueError(f"coupling must be 'per_start' or 'global', got {coupling!r}")
    out = _pagerank_batched(
        graph, num_walkers, r, alpha, ensemble, estimator, coupling, generator
    )
    return out[0] if num_draws is None else out
