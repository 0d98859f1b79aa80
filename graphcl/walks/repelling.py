"""Repelling random walks (Reid, Berger, Choromanski, Weller, ICLR 2024).

An *ensemble* of ``m`` walkers starts from one node. At every step the live
walkers of one ensemble that stand on the same node ``v`` (say ``k`` of them,
``d = deg(v)`` out-neighbours) are moved **jointly**:

* ``k <= d``: one ``U ~ Unif(0, 1)`` per (ensemble, node) group; the walker of
  rank ``i`` goes to neighbour ``floor(d * frac(i / k + U))`` (systematic
  sampling: the ``k`` walkers land on ``k`` distinct neighbours).
* ``k > d``: the walkers are cut into blocks of ``d``; every full block takes a
  random cyclic shift of all ``d`` neighbours (each neighbour used once per
  block) and the remainder takes consecutive neighbours from a random offset,
  so every neighbour receives ``floor(k / d)`` or ``ceil(k / d)`` walkers.

Which walker gets which rank is a fresh random permutation at every step, so
each walker's marginal transition is exactly uniform over ``v``'s neighbours:
the walk of any single walker is an ordinary simple random walk, and estimators
built from walks stay unbiased while the ensemble explores the graph better.

Implementation notes:

* Fully vectorised over all ensembles and walkers; the only Python loop is over
  steps. Walkers are grouped by the key ``ensemble * N + node`` with one stable
  sort of a random permutation, which yields the random rank within each group.
* The systematic offset is drawn as an integer ``z`` uniform in ``[0, d * s)``
  (``s`` the block size), and walker ``r`` of the block goes to neighbour
  ``((d * r + z) // s) % d``. This is exactly the continuous rule above (the
  assignment only changes when ``d * U`` crosses a multiple of ``1 / s``) but
  integer-exact: no floating point rounding can ever put two walkers of one
  block on the same neighbour.
* Halting: before each move, each live walker halts with probability ``p_halt``
  (so a walk has ``Geometric`` length, possibly 0). With ``antithetic=True``
  walkers ``(2j, 2j + 1)`` of an ensemble use halting uniforms ``U`` and
  ``(U + 0.5) mod 1`` (antithetic termination, Reid et al. NeurIPS 2023).
* **Edge weights are ignored** by the walker: the moves are uniform over the
  out-neighbours (a weighted estimator corrects for weights with importance
  weights, see :mod:`graphcl.walks.estimators`). A walker that reaches a node
  without out-neighbours stops (its later positions are ``-1``).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from graphcl.graph import CSRGraph
from graphcl.validation import (
    check_generator,
    check_node_ids,
    check_positive_int,
    check_probability,
)

__all__ = ["repelling_walks", "walk_ensemble", "ENSEMBLES"]

#: Ensemble types understood by :func:`walk_ensemble` and the estimators.
ENSEMBLES = ("iid", "antithetic", "repelling", "repelling+antithetic")


def _ensemble_flags(ensemble: str, num_walkers: int | None = None) -> tuple[bool, bool]:
    """``(repelling, antithetic)`` for an ensemble name; antithetic ensembles pair walkers
    (2j, 2j+1), so ``num_walkers`` (when given) must then be even."""
    if not isinstance(ensemble, str) or ensemble not in ENSEMBLES:
        raise ValueError(f"ensemble must be one of {ENSEMBLES}, got {ensemble!r}")
    antithetic = ensemble.endswith("antithetic")
    if antithetic and num_walkers is not None and num_walkers % 2:
        raise ValueError(
            f"ensemble={ensemble!r} pairs walkers (2j, 2j+1): num_walkers must be even, "
            f"got {num_walkers}"
        )
    return ensemble.startswith("repelling"), antithetic


def _check_graph(graph: CSRGraph) -> CSRGraph:
    if not isinstance(graph, CSRGraph):
        raise TypeError(
            f"graph must be a graphcl.graph.CSRGraph (build one with CSRGraph.from_edge_index), "
            f"got {type(graph).__name__}"
        )
    return graph


def _check_start(start: Tensor | int, num_nodes: int, device: torch.device) -> Tensor:
    if isinstance(start, bool):
        raise TypeError("start must be an int node id or a 1-D LongTensor of node ids, got bool")
    if isinstance(start, int):
        if not 0 <= start < num_nodes:
            raise ValueError(f"start node id {start} out of range [0, {num_nodes})")
        return torch.tensor([start], dtype=torch.long, device=device)
    start = check_node_ids(start, num_nodes, "start")
    return start.to(device)


def _next_neighbour_index(
    ens: Tensor,
    node: Tensor,
    deg: Tensor,
    num_nodes: int,
    repelling: bool,
    generator: torch.Generator | None,
) -> Tensor:
    """Index (into the node's sorted neighbour list) of the next node for each moving walker.

    ``ens``/``node``/``deg``: ensemble id, current node and its degree (``> 0``) of
    the ``M`` walkers that move this step.
    """
    m_total = node.numel()
    device = node.device
    if m_total == 0:
        return torch.empty(0, dtype=torch.long, device=device)
    if not repelling:
        u = torch.rand(m_total, dtype=torch.float64, device=device, generator=generator)
        return torch.minimum((u * deg).long(), deg - 1)
    # Random rank inside each (ensemble, node) group: shuffle, then stable sort by group.
    gkey = ens * num_nodes + node
    perm = torch.randperm(m_total, device=device, generator=generator)
    order = perm[torch.argsort(gkey[perm], stable=True)]
    gs = gkey[order]
    new_group = torch.ones(m_total, dtype=torch.bool, device=device)
    new_group[1:] = gs[1:] != gs[:-1]
    gid = torch.cumsum(new_group, 0) - 1
    gstart = torch.nonzero(new_group).squeeze(1)
    gsize = torch.diff(gstart, append=torch.tensor([m_total], device=device))
    first = gstart[gid]
    rank = torch.arange(m_total, device=device) - first
    k = gsize[gid]
    d = deg[order]
    s = torch.minimum(k, d)  # block size: k walkers when k <= d, else blocks of d
    r = rank % s
    b = rank // s
    # One uniform per (group, block): the draw at the block's first sorted position.
    u = torch.rand(m_total, dtype=torch.float64, device=device, generator=generator)
    ds = d * s
    z = torch.minimum((u[first + b * s] * ds).long(), ds - 1)
    idx_sorted = torch.div(d * r + z, s, rounding_mode="floor") % d
    idx = torch.empty_like(idx_sorted)
    idx[order] = idx_sorted
    return idx


def _iterate_walks(
    graph: CSRGraph,
    start: Tensor,
    num_walkers: int,
    *,
    length: int | None,
    p_halt: float,
    antithetic: bool,
    repelling: bool,
    teleport: bool = False,
    groups: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[int, Tensor, Tensor, Tensor, Tensor, Tensor]]:
    """Step the ensembles; yields ``(t, ids, pos, edge, halted_ids, halted_pos)`` per step.

    Walker ``w`` of start entry ``j`` has the flat id ``j * m + w``. After step
    ``t >= 1``: ``ids`` (sorted) are the walkers still live, ``pos`` their nodes,
    ``edge`` the CSR edge id each one just used (``-1`` after a teleport);
    ``halted_ids``/``halted_pos`` are the walkers that halted at this step and the
    node they halted on. Only live walkers are touched, so a step costs
    ``O(live)``. Stops after ``length`` steps or (``length=None``) once no walker
    is live. With ``teleport=True`` a walker on a node without out-neighbours
    jumps to a uniformly random node instead of stopping (PageRank's
    dangling-node rule). ``groups`` ``[B]`` optionally merges start entries into
    one repelling ensemble (entries with equal group id interact); by default
    every entry is its own ensemble.
    """
    device = graph.device
    n = graph.num_nodes
    m = num_walkers
    rowptr, col = graph.rowptr, graph.col
    degree = graph.degree
    ens_of_entry = torch.arange(start.numel(), device=device) if groups is None else groups
    ids = torch.arange(start.numel() * m, device=device)
    pos = start.repeat_interleave(m)
    t = 0
    while (length is None or t < length) and ids.numel() > 0:
        t += 1
        if p_halt <= 0.0:
            halt = torch.zeros(ids.numel(), dtype=torch.bool, device=device)
        elif p_halt >= 1.0:
            halt = torch.ones(ids.numel(), dtype=torch.bool, device=device)
        elif antithetic:
            # one uniform per live pair (2j, 2j+1); the odd member uses (U + 0.5) mod 1
            pair, inv = torch.unique_consecutive(ids // 2, return_inverse=True)
            u = torch.rand(pair.numel(), dtype=torch.float64, device=device, generator=generator)
            u = u[inv] + 0.5 * (ids % 2)
            halt = torch.remainder(u, 1.0) < p_halt
        else:
            u = torch.rand(ids.numel(), dtype=torch.float64, device=device, generator=generator)
            halt = u < p_halt
        halted_ids, halted_pos = ids[halt], pos[halt]
        ids, cur = ids[~halt], pos[~halt]
        d = degree[cur]
        has_nb = d > 0
        mv_ids, cur_mv, d_mv = ids[has_nb], cur[has_nb], d[has_nb]
        ens = ens_of_entry[torch.div(mv_ids, m, rounding_mode="floor")]
        idx = _next_neighbour_index(ens, cur_mv, d_mv, n, repelling, generator)
        e = rowptr[cur_mv] + idx
        if teleport and not bool(has_nb.all()):
            new_pos = torch.empty_like(cur)
            edge = torch.full_like(cur, -1)
            new_pos[has_nb] = col[e]
            edge[has_nb] = e
            n_stuck = int((~has_nb).sum())
            new_pos[~has_nb] = torch.randint(
                n, (n_stuck,), device=device, generator=generator
            )
            pos = new_pos
        else:
            ids, pos, edge = mv_ids, col[e], e
        yield t, ids, pos, edge, halted_ids, halted_pos


def walk_ensemble(
    graph: CSRGraph,
    start: Tensor | int,
    num_walkers: int,
    length: int,
    *,
    ensemble: str = "repelling",
    p_halt: float = 0.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Walker ensembles of a named type: ``"iid"``, ``"antithetic"``, ``"repelling"`` or
    ``"repelling+antithetic"`` (see :data:`ENSEMBLES`).

    ``"iid"`` walkers move and halt independently, ``"antithetic"`` ones move
    independently with antithetic halting; ``"repelling"`` is
    :func:`repelling_walks`. Same output as :func:`repelling_walks`.

    Example:
        >>> g = CSRGraph.from_edge_index(torch.tensor([[0, 0, 0], [1, 2, 3]]), undirected=True)
        >>> w = walk_ensemble(g, 0, 3, 1, ensemble="iid", generator=torch.Generator().manual_seed(0))
        >>> w.shape
        torch.Size([1, 3, 2])
    """
    repelling, antithetic = _ensemble_flags(ensemble)
    return _walks(graph, start, num_walkers, length, p_halt, antithetic, repelling, generator)


def _walks(
    graph: CSRGraph,
    start: Tensor | int,
    num_walkers: int,
    length: int,
    p_halt: float,
    antithetic: bool,
    repelling: bool,
    generator: torch.Generator | None,
) -> Tensor:
    graph = _check_graph(graph)
    num_walkers = check_positive_int(num_walkers, "num_walkers", minimum=1)
    length = check_positive_int(length, "length", minimum=0)
    p_halt = check_probability(p_halt, "p_halt")
    if not isinstance(antithetic, bool):
        raise TypeError(f"antithetic must be a bool, got {type(antithetic).__name__}")
    if antithetic and num_walkers % 2:
        raise ValueError(
            f"antithetic=True pairs walkers (2j, 2j+1): num_walkers must be even, got {num_walkers}"
        )
    generator = check_generator(generator, graph.device)
    start = _check_start(start, graph.num_nodes, graph.device)
    b = start.numel()
    out = torch.full((b, num_walkers, length + 1), -1, dtype=torch.long, device=graph.device)
    out[:, :, 0] = start.unsqueeze(1)
    flat = out.view(b * num_walkers, length + 1)
    for t, ids, pos, _, _, _ in _iterate_walks(
        graph,
        start,
        num_walkers,
        length=length,
        p_halt=p_halt,
        antithetic=antithetic,
        repelling=repelling,
        generator=generator,
    ):
        flat[ids, t] = pos
    return out


def repelling_walks(
    graph: CSRGraph,
    start: Tensor | int,
    num_walkers: int,
    length: int,
    *,
    p_halt: float = 0.0,
    antithetic: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Repelling random walks: ``num_walkers`` interacting walkers per start node.

    Args:
        graph: a :class:`~graphcl.graph.CSRGraph`; moves are uniform over the
            out-neighbours, edge weights are ignored.
        start: 1-D LongTensor of start nodes (one independent ensemble of
            ``num_walkers`` walkers per entry), or an int (a single ensemble).
        num_walkers: walkers per ensemble (``>= 1``).
        length: number of steps (``>= 0``).
        p_halt: per-step halting probability in ``[0, 1]`` (checked before each move).
        antithetic: pair walkers ``(2j, 2j + 1)`` with halting uniforms ``U`` and
            ``(U + 0.5) mod 1`` (needs an even ``num_walkers``).
        generator: optional ``torch.Generator`` on the graph's device.

    Returns:
        LongTensor ``[len(start), num_walkers, length + 1]`` (``[1, ...]`` for an
        int ``start``) of positions; column 0 is the start node, ``-1`` after a
        walker halted or reached a node without out-neighbours.

    Example:
        >>> ei = torch.tensor([[0, 0, 0, 0], [1, 2, 3, 4]])
        >>> g = CSRGraph.from_edge_index(ei, undirected=True)
        >>> w = repelling_walks(g, 0, 4, 1, generator=torch.Generator().manual_seed(0))
        >>> sorted(w[0, :, 1].tolist())  # 4 walkers, 4 neighbours: all distinct
        [1, 2, 3, 4]
    """
    return _walks(graph, start, num_walkers, length, p_halt, antithetic, True, generator)
