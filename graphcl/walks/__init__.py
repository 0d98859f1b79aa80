"""Random walks on a :class:`~graphcl.graph.CSRGraph`, vectorised in pure torch.

The engine (:mod:`graphcl.walks.engine`) moves all walkers one step per loop
iteration on CPU or CUDA:

* :func:`random_walk` -- first-order walks (uniform, or proportional to the edge
  weight) when ``p == q == 1``; exact node2vec second-order walks otherwise, by
  rejection sampling (propose a neighbour as a first-order step, accept with
  ``alpha(t, x) / max(1/p, 1, 1/q)``, the three ``alpha`` cases exclusive), so no
  ``O(sum deg^2)`` alias tables are built.
* :func:`walks_per_node` -- the DeepWalk/node2vec corpus: every node as a start,
  several shuffled passes, generated in memory-bounded batches.
* :func:`random_walk_with_restart`, :func:`rwr_subgraph`, :func:`rwr_subgraphs`,
  :func:`rwr_induced_subgraphs` (the same as one disjoint union) -- walks with restart
  to the ego and the induced subgraphs GCC samples.

Walkers on nodes without out-neighbours stop (their rows continue with ``-1``);
randomness comes only from the ``generator`` argument.

Example:
    >>> import torch
    >>> from graphcl.graph import CSRGraph
    >>> g = CSRGraph.from_edge_index(torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]))
    >>> random_walk(g, torch.tensor([0]), 3, generator=torch.Generator().manual_seed(0)).shape
    torch.Size([1, 4])
"""

from graphcl.walks.engine import (
    random_walk,
    random_walk_with_restart,
    rwr_induced_subgraphs,
    rwr_subgraph,
    rwr_subgraphs,
    walks_per_node,
)
from graphcl.walks.estimators import (
    exact_pagerank,
    exact_regularised_laplacian_kernel,
    grf_features,
    grf_kernel_estimate,
    pagerank_estimate,
)
from graphcl.walks.repelling import ENSEMBLES, repelling_walks, walk_ensemble

__all__ = [
    "random_walk",
    "walks_per_node",
    "random_walk_with_restart",
    "rwr_subgraph",
    "rwr_subgraphs",
    "rwr_induced_subgraphs",
    "repelling_walks",
    "walk_ensemble",
    "ENSEMBLES",
    "grf_features",
    "grf_kernel_estimate",
    "exact_regularised_laplacian_kernel",
    "pagerank_estimate",
    "exact_pagerank",
]
