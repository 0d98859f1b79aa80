"""Spectral embedding baseline (Laplacian eigenmaps) with a linear probe.

The method every install can run with no training: the ``dim`` eigenvectors of
``D^-1/2 A D^-1/2`` with the largest eigenvalues (the smallest of the
normalised Laplacian), optionally concatenated with the node features.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
from torch import Tensor

from graphcl.methods import RunContext, register
from graphcl.validation import check_edge_index, check_edge_weight, check_positive_int

__all__ = ["spectral_embedding"]


def spectral_embedding(
    edge_index: Tensor,
    num_nodes: int | None = None,
    dim: int = 16,
    edge_weight: Tensor | None = None,
    *,
    seed: int = 0,
) -> Tensor:
    """Laplacian-eigenmap embedding ``[N, dim]`` of an undirected graph.

    Rows are the ``dim`` leading eigenvectors of the symmetrically normalised
    adjacency (isolated nodes get zero rows); each column's sign is fixed so
    that its largest-magnitude entry is positive. Returned on the input's device.

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
        >>> spectral_embedding(ei, dim=2).shape
        torch.Size([4, 2])
    """
    n = check_edge_index(edge_index, num_nodes)
    check_positive_int(dim, "dim")
    if dim >= n:
        raise ValueError(f"dim must be < num_nodes={n}, got {dim}")
    w = check_edge_weight(edge_weight, edge_index.size(1))
    ei = edge_index.detach().cpu().numpy()
    vals = np.ones(ei.shape[1]) if w is None else w.detach().cpu().double().numpy()
    a = sp.coo_matrix((vals, (ei[0], ei[1])), shape=(n, n)).tocsr()
    a = ((a + a.T) * 0.5).tocsr()  # symmetrise directed input
    deg = np.asarray(a.sum(1)).ravel()
    inv = np.zeros_like(deg)
    inv[deg > 0] = deg[deg > 0] ** -0.5
    m = sp.diags(inv) @ a @ sp.diags(inv)
    if n <= 2000:
        evals, evecs = np.linalg.eigh(m.toarray())
        vecs = evecs[:, np.argsort(-evals)[:dim]]
    else:
        rng = np.random.default_rng(seed)
        v0 = rng.standard_normal(n)
        evals, evecs = spla.eigsh(m, k=dim, which="LA", v0=v0)
        vecs = evecs[:, np.argsort(-evals)]
    idx = np.abs(vecs).argmax(0)
    vecs = vecs * np.sign(vecs[idx, np.arange(vecs.shape[1])] + 1e-300)
    return torch.as_tensor(vecs, dtype=torch.float32, device=edge_index.device)


@register("spectral", description="Laplacian-eigenmap embedding + logistic-regression probe",
          default_dataset="karate")
def run(dataset: str, config: dict, ctx: RunContext) -> dict:
    from graphcl.data import load
    from graphcl.eval import linear_probe

    data = load(dataset, root=ctx.root)
    y = getattr(data, "y", None)
    if y is None or y.dim() != 1:
        raise ValueError(f"method 'spectral' needs single-label node classes; {dataset!r} has none")
    emb = spectral_embedding(data.edge_index, data.num_nodes, int(config["dim"]), seed=ctx.seed)
    if config.get("use_features", True) and getattr(data, "x", None) is not None:
        x = torch.nn.functional.normalize(data.x.float(), dim=1)
        emb = torch.cat([emb, x], dim=1)
    probe = linear_probe(
        emb,
        y,
        num_seeds=int(config["num_seeds"]),
        train_ratio=float(config["train_ratio"]),
        val_ratio=float(config["val_ratio"]),
        seed=ctx.seed,
    )
    return {"metrics": {"node_classification": probe}, "embedding": emb, "labels": y}
