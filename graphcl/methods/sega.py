"""SEGA: structural-entropy guided anchor view (Wu et al., ICML 2023), unsupervised TU.

The anchor view of a graph is its height-``k`` coding tree of minimal
structural entropy (:func:`graphcl.augment.precompute_coding_trees`, built once
before training; default ``k = 5``). It is encoded bottom-up by
:class:`TreeEncoder`: leaf inputs are the node features concatenated with the
one-hot degree (capped at ``max_degree = 100``), every level ``l = 1..k`` computes
``h_parent = MLP_l(sum of its children's h)`` with
``MLP = Linear -> BN -> ReLU -> Linear -> BN -> ReLU`` (hidden 32), every level is
sum-pooled per graph, the ``k`` pooled vectors are concatenated and mapped by a
linear layer to the GIN's width (96). A projection ``Linear -> ReLU -> Linear``
follows. The other view is GraphCL's: the GIN of :mod:`graphcl.methods.graphcl_tu`
on an augmented graph (drop 10 % of nodes by default). Loss: NT-Xent with
``tau = 0.2``, the tree view as anchor (:func:`graphcl.methods.graphcl_tu.nt_xent`;
``symmetric_loss`` averages both directions as SEGA's ``--loss_sym``). Adam,
lr 0.01 for both networks, batch 128, 20 epochs. Settings from the reference
code (``unsupervised/`` of SEGA's release: ``tree_depth 5``, ``tree_hidden_dim 32``,
``tree_learning_rate 0.01``, ``degreeDim 100`` for these datasets).

Checked against ALGORITHMS.md and the reference ``unsupervised_TU`` code
(``treecl.py``, ``hrn.py``): tree height 5; anchor = the coding tree (leaf
inputs ``[x, one_hot(degree)]``, degrees without self-loops); ``HRNEncoder``
with ``link_input``/``drop_root`` off = levels 1..k pooled (the leaves are not),
``dim_align`` to 96, dropout 0; tree model at PyTorch's default init (only the
GIN model is Xavier-initialised); the GIN sees ONLY the augmented view in
training (``dnodes``), the tree is the anchor of the one-directional NT-Xent
(T = 0.2); two Adams at lr 0.01 (= one Adam with two groups); batch 128, 20
epochs; embeddings of the original graphs in eval mode. Remaining differences,
none of them a paper setting: the tree builder (:mod:`graphcl.augment.entropy`
notes: entropy-decreasing merges and moves, identity levels when no growth
helps, where the reference merges to one root, compresses, and always grows;
``tree_builder: reference`` uses :func:`graphcl.augment.coding_tree_reference`, the reference's algorithm);
self-loops on both views (:mod:`graphcl.methods.graphcl_tu` notes); Bernoulli
node dropping (the reference drops exactly ``int(n / 10)``); batches reshuffled
every epoch (the reference shuffles the dataset once).

Evaluation: the reference scores three embeddings (GIN ``G``, tree ``T`` and
their concatenation ``GT``) at epochs 10 and 20 and reports the best, which
selects on test folds. Here ONE embedding, fixed in the config before any
result (``embedding: GT``), after the final epoch, goes to the SVM
(:func:`graphcl.methods.graphcl_tu.evaluate_embeddings`); the others can be
scored as diagnostics only. With ``selection: inner_cv`` the embedding is
instead chosen among ``select_embeddings`` (default ``[GT, G, T]``) together
with ``C`` by the SVM's inner CV inside every outer training fold
(:func:`graphcl.eval.graph_classification_svm` with a candidate mapping): the
reference's choice of embedding type, made without the test folds. GraphCL's
matching option chooses among augmentations
(:func:`graphcl.methods.graphcl_tu.graphcl_candidates`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import scatter

from graphcl.augment.entropy import attach_tree, precompute_coding_trees, tree_level_graph
from graphcl.augment.entropy_reference import coding_tree_reference
from graphcl.augment.graph_views import resolve_augmentations
from graphcl.methods import RunContext, register
from graphcl.methods.graphcl_tu import (
    GraphCLModel,
    _labels,
    embed_graphs,
    encode_view,
    evaluate_embeddings,
    nt_xent,
    prepare_graphs,
    projection_head,
    protocol_note,
    selection_mode,
    train_contrastive,
)
from graphcl.nn import readout
from graphcl.utils import seed_everything
from graphcl.validation import check_positive_int

__all__ = ["TreeEncoder", "SEGAModel", "tree_inputs", "prepare_trees", "batch_parents", "train_sega",
           "sega_candidates", "run", "EMBEDDINGS", "TREE_BUILDERS"]

#: Embeddings SEGA can hand to the classifier.
EMBEDDINGS = ("G", "T", "GT")


def tree_inputs(x: Tensor, edge_index: Tensor, max_degree: int = 100) -> Tensor:
    """Leaf inputs of the tree encoder: ``[x, one_hot(min(out_degree, max_degree))]``.

    Example:
        >>> tree_inputs(torch.ones(3, 1), torch.tensor([[0, 0, 1], [1, 2, 0]]), max_degree=2).tolist()
        [[1.0, 0.0, 0.0, 1.0], [1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]]
    """
    check_positive_int(max_degree, "max_degree", minimum=0)
    deg = torch.bincount(edge_index[0].long(), minlength=x.size(0)).clamp(max=max_degree)
    return torch.cat([x.float(), F.one_hot(deg, max_degree + 1).to(torch.float32)], dim=1)


#: Coding-tree builders (config key ``tree_builder``).
TREE_BUILDERS = ("greedy", "reference")


def prepare_trees(graphs: Sequence[Any], height: int = 5, max_degree: int = 100,
                  builder: str = "greedy") -> tuple[list[Any], float]:
    """``graphs`` with their coding trees (``tree_batch_0..k-1``) and ``tree_x`` attached;
    also the wall time (s) of the tree precompute alone.

    ``builder``: ``greedy`` (:func:`graphcl.augment.precompute_coding_trees`,
    vectorised) or ``reference`` (:func:`graphcl.augment.coding_tree_reference`
    per graph, SEGA's reference algorithm).

    Example:
        >>> from torch_geometric.data import Data
        >>> g = Data(x=torch.ones(3, 1), edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), y=torch.tensor([0]))
        >>> out, _ = prepare_trees([g], 2, max_degree=3)
        >>> out[0].tree_x.shape, out[0].tree_height
        (torch.Size([3, 5]), 2)
    """
    if builder not in TREE_BUILDERS:
        raise ValueError(f"builder must be one of {TREE_BUILDERS}, got {builder!r}")
    t0 = time.perf_counter()
    if builder == "greedy":
        out = precompute_coding_trees(graphs, height)
    else:
        out = [attach_tree(d, coding_tree_reference(d.edge_index, d.num_nodes, height, getattr(d, "edge_weight", None)))
               for d in graphs]
    seconds = time.perf_counter() - t0
    for d in out:
        d.tree_x = tree_inputs(d.x, d.edge_index, max_degree)
    return out, seconds


def batch_parents(b: Any, height: int) -> list[Tensor]:
    """The batched coding tree (``parents`` list) of a PyG ``Batch`` built from :func:`prepare_trees` graphs."""
    return [b[f"tree_batch_{level}"] for level in range(height)]


class TreeEncoder(nn.Module):
    """Bottom-up coding-tree encoder of SEGA (module notes).

    ``forward(x, parents, num_graphs)``: ``x`` leaf inputs ``[N, in_dim]``,
    ``parents`` the batched tree (``parents[l]`` maps level-``l`` nodes to
    level-``l+1`` nodes, the top level to graph ids); returns ``[num_graphs, out_dim]``.

    Example:
        >>> enc = TreeEncoder(2, 8, 4, height=2).eval()  # train mode needs >= 2 nodes per level (batch norm)
        >>> enc(torch.randn(3, 2), [torch.tensor([0, 0, 1]), torch.tensor([0, 0])], 1).shape
        torch.Size([1, 4])
    """

    def __init__(self, in_dim: int, hidden: int = 32, out_dim: int = 96, height: int = 5,
                 readout: str = "sum") -> None:
        super().__init__()
        check_positive_int(in_dim, "in_dim")
        check_positive_int(hidden, "hidden")
        check_positive_int(out_dim, "out_dim")
        self.height = check_positive_int(height, "height")
        self.readout_kind = readout
        self.mlps = nn.ModuleList()
        for level in range(height):
            d = in_dim if level == 0 else hidden
            self.mlps.append(nn.Sequential(nn.Linear(d, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                                           nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU()))
        self.align = nn.Linear(height * hidden, out_dim)

    def forward(self, x: Tensor, parents: Sequence[Tensor], num_graphs: int) -> Tensor:
        if len(parents) != self.height:
            raise ValueError(f"parents must hold {self.height} levels, got {len(parents)}")
        graph_of = tree_level_graph(list(parents))  # graph id of the nodes of levels 0..k-1
        h, pooled = x, []
        for level, mlp in enumerate(self.mlps):
            idx = parents[level]
            last = level == self.height - 1
            size = num_graphs if last else int(idx.max()) + 1
            h = mlp(scatter(h, idx, dim=0, dim_size=size, reduce="sum"))
            gid = torch.arange(num_graphs, device=h.device) if last else graph_of[level + 1]
            pooled.append(readout(h, gid, self.readout_kind, num_graphs))
        return self.align(torch.cat(pooled, dim=1))


class SEGAModel(nn.Module):
    """GraphCL's GIN model plus the tree encoder and its projection head.

    Example:
        >>> m = SEGAModel(3, 5, tree_height=2)
        >>> m.tree.align.out_features == m.gin.out_dim
        True
    """

    def __init__(self, in_dim: int, tree_in_dim: int, *, hidden: int = 32, num_layers: int = 3,
                 readout: str = "sum", tree_hidden: int = 32, tree_height: int = 5) -> None:
        super().__init__()
        self.gin = GraphCLModel(in_dim, hidden, num_layers, readout)
        d = self.gin.out_dim
        self.tree = TreeEncoder(tree_in_dim, tree_hidden, d, tree_height, readout)
        self.tree_head = projection_head(d, d)

    def encode_tree(self, b: Any) -> Tensor:
        """Tree-view embedding (before the projection) of a batch from :func:`prepare_trees` graphs."""
        return self.tree(b.tree_x, batch_parents(b, self.tree.height), b.num_graphs)


def _embedding(model: SEGAModel, b: Any, config: dict, kind: str) -> Tensor:
    parts = []
    if "G" in kind:
        parts.append(encode_view(model.gin, b, config))
    if "T" in kind:
        parts.append(model.encode_tree(b))
    return torch.cat(parts, dim=1)


def train_sega(graphs: Sequence[Any], config: dict, *, device: torch.device | str = "cpu", seed: int = 0,
               progress: bool = False, checkpoint: str | None = None, resume: bool = False,
               trees: tuple[list[Any], float] | None = None) -> dict[str, Any]:
    """Train SEGA on ``graphs`` (from :func:`graphcl.methods.graphcl_tu.prepare_graphs`).

    ``trees``: the output of :func:`prepare_trees` when already computed (it
    does not depend on the seed). Returns ``model``, ``embeddings`` (dict
    ``G``/``T``/``GT`` of CPU tensors, original graphs, final epoch),
    ``train``, ``epoch_times`` and ``precompute_s``.

    Example:
        >>> from graphcl.config import load_config
        >>> from torch_geometric.data import Data
        >>> gs = [Data(x=torch.randn(5, 3), edge_index=torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]]),
        ...            y=torch.tensor([i % 2])) for i in range(8)]
        >>> out = train_sega(gs, dict(load_config("sega"), epochs=1, batch_size=4, tree_height=2))
        >>> out["embeddings"]["GT"].shape
        torch.Size([8, 192])
    """
    device = torch.device(device)
    resolve_augmentations(config["aug"])
    if config["embedding"] not in EMBEDDINGS:
        raise ValueError(f"embedding must be one of {EMBEDDINGS}, got {config['embedding']!r}")
    height = int(config["tree_height"])
    if trees is None:
        trees = prepare_trees(graphs, height, int(config["max_degree"]), str(config.get("tree_builder", "greedy")))
    tgraphs, precompute_s = trees
    if int(tgraphs[0].tree_height) != height:
        raise ValueError(f"trees have height {int(tgraphs[0].tree_height)}, config tree_height is {height}")
    seed_everything(seed)
    model = SEGAModel(tgraphs[0].x.size(1), tgraphs[0].tree_x.size(1), hidden=int(config["hidden"]),
                      num_layers=int(config["num_layers"]), readout=str(config["readout"]),
                      tree_hidden=int(config["tree_hidden"]), tree_height=height).to(device)
    tree_params = list(model.tree.parameters()) + list(model.tree_head.parameters())
    opt = torch.optim.Adam([{"params": model.gin.parameters(), "lr": float(config["lr"])},
                            {"params": tree_params, "lr": float(config["tree_lr"])}])
    tau, sym = float(config["tau"]), bool(config["symmetric_loss"])

    def loss_fn(b: Any, gen: torch.Generator) -> Tensor:
        anchor = model.tree_head(model.encode_tree(b))
        z_aug = model.gin.project(encode_view(model.gin, b, config, gen))
        return nt_xent(anchor, z_aug, tau, symmetric=sym)

    out = train_contrastive(tgraphs, loss_fn, model, opt, epochs=int(config["epochs"]),
                            batch_size=int(config["batch_size"]), seed=seed, device=device, progress=progress,
                            checkpoint=checkpoint, resume=resume, desc="sega")
    model.eval()
    both = embed_graphs(tgraphs, lambda b: _embedding(model, b, config, "GT"),
                        batch_size=int(config["eval_batch_size"]), device=device)
    d = model.gin.out_dim
    embs = {"G": both[:, :d], "T": both[:, d:], "GT": both}
    return {"model": model, "embeddings": embs, "precompute_s": precompute_s, **out}


def sega_candidates(embeddings: dict[str, Tensor], config: dict) -> dict[str, Tensor]:
    """SEGA's candidate embeddings for ``selection: inner_cv``: ``config['select_embeddings']``
    (kinds of :data:`EMBEDDINGS`, in that order) taken from :func:`train_sega`'s ``embeddings``.

    Example:
        >>> e = {"G": torch.zeros(2, 1), "T": torch.ones(2, 1), "GT": torch.zeros(2, 2)}
        >>> list(sega_candidates(e, {"select_embeddings": ["GT", "G"]}))
        ['GT', 'G']
    """
    kinds = [str(k) for k in config["select_embeddings"]]
    if not kinds or len(set(kinds)) != len(kinds) or any(k not in EMBEDDINGS for k in kinds):
        raise ValueError(f"select_embeddings must be a non-empty list of distinct kinds from {EMBEDDINGS}, "
                         f"got {config['select_embeddings']!r}")
    return {k: embeddings[k] for k in kinds}


@register("sega", description="SEGA: coding-tree anchor view vs GIN on a GraphCL view, NT-Xent, SVM 10-fold",
          default_dataset="mutag")
def run(dataset: str, config: dict, ctx: RunContext) -> dict:
    graphs = prepare_graphs(dataset, str(config["features"]), ctx.root)
    out = train_sega(graphs, config, device=ctx.device, seed=ctx.seed, progress=not ctx.quiet,
                     checkpoint=ctx.checkpoint, resume=ctx.resume)
    y = _labels(graphs)
    if selection_mode(config) == "inner_cv":
        cands = sega_candidates(out["embeddings"], config)
        kind = next(iter(cands))  # the embedding returned: the first candidate
        res = evaluate_embeddings(cands, y, config, seed=ctx.seed)
        res["protocol"] = f"{res['protocol']}; {protocol_note(config)}"
    else:
        kind = str(config["embedding"])
        res = evaluate_embeddings(out["embeddings"][kind], y, config, seed=ctx.seed)
        res["protocol"] = f"{res['protocol']}; embedding {kind} (fixed in the config); {protocol_note(config)}"
    train = {k: v for k, v in out["train"].items() if k != "history"}
    train["precompute_s"] = out["precompute_s"]
    return {"metrics": {"graph_classification": res}, "history": out["train"]["history"], "train": train,
            "embedding": out["embeddings"][kind], "labels": y}
