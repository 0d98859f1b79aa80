"""GCC: graph contrastive coding for GNN pre-training (Qiu et al. KDD 2020).

Instance discrimination between subgraphs. An instance is an ego node ``v``
drawn with probability proportional to ``deg(v) ** 0.75`` from the disjoint
union of the pre-training graphs; its query and key are two subgraphs induced
by independent random walks with restart from ``v`` (restart probability 0.8,
``max_steps`` steps, at most ``max_nodes`` distinct nodes, ego first:
:func:`graphcl.walks.rwr_subgraphs`). Nodes are described by structure only
(:mod:`graphcl.augment.subgraph_features`): the top-``pos_dim`` eigenvectors of
the subgraph's normalised adjacency (deterministic sign rule, rows
L2-normalised), a learned embedding of the degree inside the subgraph (clamped
at ``max_degree``) and the ego flag. The encoder is GCC's GIN: a
:class:`graphcl.nn.GINGraphEncoder` stack, a sum readout of the input and of
every layer, one linear map per readout (dropout 0.5 while training) summed,
L2-normalised.

Two ways to get negatives, as in the paper:

* ``mode: moco``: the key encoder is an exponential moving average of the
  query encoder (``key = m * key + (1 - m) * query``, ``m = 0.999``), keys of past
  batches wait in a FIFO queue of ``queue_size`` entries (16384) and serve as
  negatives; loss ``-log softmax([q.k+, q.queue] / tau)[0]``.
* ``mode: e2e``: one encoder for queries and keys, in-batch negatives:
  :func:`graphcl.losses.infonce` with inter-view negatives only (the symmetric
  form of GCC's ``k q^T / tau`` cross-entropy).

Adam (lr 0.005, weight decay 1e-5), learning rate warmed up linearly over the
first 10 % of steps then decayed linearly to 0, gradient norm clipped at 1.
Training runs through :func:`graphcl.train.fit`; one fit "epoch" is
``steps_per_epoch`` optimiser steps.

Transfer: the frozen encoder embeds a whole graph (GCC's graph-classification
protocol: the entire graph is the "subgraph", its eigenvectors the positional
features and its highest-degree node the ego, :func:`embed_graphs`) or a node
(one walk-with-restart subgraph per node, :func:`embed_nodes`).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphcl.augment.subgraph_features import SubgraphBatch, collate_subgraphs, subgraph_batch
from graphcl.config import setting
from graphcl.graph import CSRGraph
from graphcl.losses import infonce
from graphcl.methods import RunContext, register
from graphcl.nn import GINGraphEncoder, readout
from graphcl.utils import make_generator, seed_everything
from graphcl.validation import check_positive_int, check_probability
from graphcl.walks import rwr_induced_subgraphs

__all__ = [
    "GCCEncoder",
    "GCCSampler",
    "MoCoQueue",
    "ema_update",
    "moco_loss",
    "e2e_loss",
    "warmup_linear",
    "pretrain_gcc",
    "embed_graphs",
    "embed_nodes",
    "graph_edge_lists",
    "rwr_induced_subgraphs",
    "degree_histogram_features",
    "run",
]

MODES = ("moco", "e2e")


# ----------------------------------------------------------------------------- model
class GCCEncoder(nn.Module):
    """GCC's structural GIN encoder of a :class:`SubgraphBatch` -> ``[B, out_dim]`` (L2-normalised).

    Input of a node: ``[positional (pos_dim) | degree embedding (degree_dim) | ego flag]``.

    Example:
        >>> from graphcl.augment.subgraph_features import collate_subgraphs
        >>> b = collate_subgraphs([(3, torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]))] * 2, k=8)
        >>> GCCEncoder(pos_dim=8, hidden=16, out_dim=4).eval()(b).shape
        torch.Size([2, 4])
    """

    def __init__(self, pos_dim: int = 32, degree_dim: int = 16, max_degree: int = 512, hidden: int = 64,
                 num_layers: int = 4, out_dim: int = 64, readout: str = "sum", dropout: float = 0.5,
                 normalize: bool = True) -> None:
        super().__init__()
        self.pos_dim = check_positive_int(pos_dim, "pos_dim")
        self.degree_dim = check_positive_int(degree_dim, "degree_dim", minimum=0)
        self.max_degree = check_positive_int(max_degree, "max_degree")
        check_positive_int(hidden, "hidden")
        check_positive_int(num_layers, "num_layers")
        self.out_dim = check_positive_int(out_dim, "out_dim")
        self.dropout = check_probability(dropout, "dropout")
        self.normalize = bool(normalize)
        self.readout_kind = readout
        self.in_dim = pos_dim + degree_dim + 1
        self.degree_embedding = nn.Embedding(max_degree + 1, degree_dim) if degree_dim > 0 else None
        self.gin = GINGraphEncoder(self.in_dim, hidden, num_layers, readout=readout, concat=True, batch_norm=True)
        widths = [self.in_dim] + [hidden] * num_layers
        self.heads = nn.ModuleList(nn.Linear(w, out_dim) for w in widths)
        self._widths = widths

    def features(self, b: SubgraphBatch) -> Tensor:
        """Node inputs ``[N, in_dim]`` of a batch."""
        if b.pos.size(1) != self.pos_dim:
            raise ValueError(f"batch positional features have width {b.pos.size(1)}, the encoder expects "
                             f"pos_dim={self.pos_dim}")
        parts = [b.pos]
        if self.degree_embedding is not None:
            parts.append(self.degree_embedding(b.degree.clamp(max=self.max_degree)))
        parts.append(b.ego.to(b.pos.dtype).unsqueeze(1))
        return torch.cat(parts, dim=1)

    def forward(self, b: SubgraphBatch) -> Tensor:
        x = self.features(b)
        _, g = self.gin(x, b.edge_index, b.batch, b.num_graphs)
        pooled = [readout(x, b.batch, self.readout_kind, b.num_graphs)] + list(torch.split(g, self._widths[1:], 1))
        out = 0
        for head, h in zip(self.heads, pooled):
            out = out + F.dropout(head(h), self.dropout, self.training)
        if self.normalize:
            out = F.normalize(out, p=2, dim=-1, eps=1e-5)
        return out


# ----------------------------------------------------------------------------- MoCo parts
class MoCoQueue(nn.Module):
    """FIFO queue of the ``size`` most recent keys (MoCo negatives), checkpointable buffers.

    ``enqueue(keys)`` writes the keys in order at the write pointer (wrapping
    around, overwriting the oldest); ``negatives()`` returns the filled part.

    Example:
        >>> q = MoCoQueue(3, 1)
        >>> q.enqueue(torch.tensor([[1.0], [2.0]])); q.enqueue(torch.tensor([[3.0], [4.0]]))
        >>> q.negatives().flatten().tolist()
        [4.0, 2.0, 3.0]
    """

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        self.size = check_positive_int(size, "queue_size")
        check_positive_int(dim, "dim")
        self.register_buffer("queue", torch.zeros(size, dim))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, keys: Tensor) -> None:
        if keys.dim() != 2 or keys.size(1) != self.queue.size(1):
            raise ValueError(f"keys must have shape [B, {self.queue.size(1)}], got {list(keys.shape)}")
        keys = keys.detach()[-self.size:].to(self.queue.dtype)
        b = keys.size(0)
        idx = (self.ptr + torch.arange(b, device=self.queue.device)) % self.size
        self.queue[idx] = keys
        self.ptr.fill_(int((self.ptr + b) % self.size))
        self.count.fill_(min(int(self.count) + b, self.size))

    def negatives(self) -> Tensor:
        """The stored keys ``[count, dim]`` (slot order; all slots once full)."""
        return self.queue[: int(self.count)]


@torch.no_grad()
def ema_update(target: nn.Module, source: nn.Module, momentum: float) -> None:
    """``target_param = momentum * target_param + (1 - momentum) * source_param`` for every parameter.

    Example:
        >>> a, b = nn.Linear(1, 1), nn.Linear(1, 1)
        >>> _ = nn.init.constant_(a.weight, 1.0), nn.init.constant_(b.weight, 3.0)
        >>> ema_update(a, b, 0.75); a.weight.item()
        1.5
    """
    momentum = check_probability(momentum, "momentum")
    for pt, ps in zip(target.parameters(), source.parameters()):
        pt.mul_(momentum).add_(ps.detach(), alpha=1.0 - momentum)


def moco_loss(q: Tensor, k: Tensor, negatives: Tensor, tau: float = 0.07) -> Tensor:
    """MoCo InfoNCE: ``mean_i -log( e^{q_i.k_i/tau} / (e^{q_i.k_i/tau} + sum_j e^{q_i.n_j/tau}) )``.

    ``q``, ``k`` ``[B, d]`` (already normalised), ``negatives`` ``[K, d]`` (may be empty).

    Example:
        >>> q = torch.tensor([[1.0, 0.0]]); k = torch.tensor([[1.0, 0.0]]); n = torch.tensor([[0.0, 1.0]])
        >>> round(moco_loss(q, k, n, tau=1.0).item(), 4)  # log(1 + e^-1)
        0.3133
    """
    if q.shape != k.shape or q.dim() != 2:
        raise ValueError(f"q and k must have the same shape [B, d], got {list(q.shape)} and {list(k.shape)}")
    if negatives.dim() != 2 or negatives.size(1) != q.size(1):
        raise ValueError(f"negatives must have shape [K, {q.size(1)}], got {list(negatives.shape)}")
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    pos = (q * k).sum(dim=1, keepdim=True)
    logits = torch.cat([pos, q @ negatives.t()], dim=1) / tau
    return F.cross_entropy(logits, torch.zeros(q.size(0), dtype=torch.long, device=q.device))


def e2e_loss(q: Tensor, k: Tensor, tau: float = 0.07) -> Tensor:
    """End-to-end loss: :func:`graphcl.losses.infonce` with in-batch (inter-view) negatives only.

    Example:
        >>> q = torch.eye(3); round(e2e_loss(q, q, tau=1.0).item(), 4)  # -log(e / (e + 2))
        0.5514
    """
    return infonce(q, k, tau, intra_view_negatives=False)


def warmup_linear(progress: float, warmup: float = 0.1) -> float:
    """Learning-rate factor: ``progress / warmup`` during warm-up, then linear decay to 0 at ``progress = 1``.

    Example:
        >>> [round(warmup_linear(p, 0.1), 3) for p in (0.0, 0.05, 0.1, 0.55, 1.0)]
        [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    if progress < warmup:
        return progress / warmup
    return max((1.0 - progress) / (1.0 - warmup), 0.0) if warmup < 1 else 1.0


# ----------------------------------------------------------------------------- data
def graph_edge_lists(obj: Any) -> list[tuple[int, Tensor]]:
    """``(num_nodes, edge_index)`` of every graph in ``obj``: a ``Data``, a ``CSRGraph``, a list-like of
    ``Data`` (e.g. :class:`graphcl.data.TUGraphs`) or a list of any of these.

    Example:
        >>> from torch_geometric.data import Data
        >>> graph_edge_lists(Data(edge_index=torch.tensor([[0], [1]]), num_nodes=3))[0][0]
        3
    """
    if isinstance(obj, CSRGraph):
        return [(obj.num_nodes, obj.to_edge_index())]
    from torch_geometric.data import Data

    if isinstance(obj, Data):
        if not isinstance(obj.edge_index, Tensor):
            raise ValueError("a graph has no edge_index")
        n = obj.num_nodes
        if n is None:
            raise ValueError("a graph has no num_nodes")
        return [(int(n), obj.edge_index)]
    if isinstance(obj, (list, tuple)) or (hasattr(obj, "__len__") and hasattr(obj, "__getitem__")):
        out: list[tuple[int, Tensor]] = []
        for i in range(len(obj)):
            out.extend(graph_edge_lists(obj[i]))
        return out
    raise TypeError(f"cannot read graphs from {type(obj).__name__}; pass Data, CSRGraph or a list of them")


def _undirected_unique(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Both directions of every edge, duplicates and self-loops removed."""
    ei = torch.cat([edge_index, edge_index.flip(0)], dim=1).long()
    ei = ei[:, ei[0] != ei[1]]
    key = torch.unique(ei[0] * max(num_nodes, 1) + ei[1])
    return torch.stack([key // max(num_nodes, 1), key % max(num_nodes, 1)])


class GCCSampler:
    """Draws GCC instances from the disjoint union of ``graphs`` (treated as undirected).

    ``ego_probabilities`` is ``deg ** ego_power / sum`` over all nodes of all graphs;
    ``sample(batch_size, generator)`` returns ``(query, key)`` :class:`SubgraphBatch`es:
    two independent walk-with-restart subgraphs of the same egos.

    Example:
        >>> from graphcl.data import sbm
        >>> s = GCCSampler([sbm([20, 20], p_in=0.3, p_out=0.05, seed=0)], pos_dim=8)
        >>> q, k = s.sample(4, torch.Generator().manual_seed(0))
        >>> q.num_graphs, bool(q.ego[q.ptr[:-1]].all())
        (4, True)
    """

    def __init__(self, graphs: Any, *, restart_prob: float = 0.8, max_steps: int = 256,
                 max_nodes: int | None = 128, ego_power: float = 0.75, pos_dim: int = 32, group_size: int = 32,
                 eig_dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu") -> None:
        self.restart_prob = check_probability(restart_prob, "restart_prob")
        self.max_steps = check_positive_int(max_steps, "max_steps")
        self.max_nodes = None if max_nodes is None else check_positive_int(max_nodes, "max_nodes")
        if not isinstance(ego_power, (int, float)) or isinstance(ego_power, bool) or ego_power < 0:
            raise ValueError(f"ego_power must be a number >= 0, got {ego_power!r}")
        self.ego_power = float(ego_power)
        self.pos_dim = check_positive_int(pos_dim, "pos_dim")
        self.group_size = check_positive_int(group_size, "group_size")
        self.eig_dtype = eig_dtype
        parts = graph_edge_lists(graphs)
        if not parts:
            raise ValueError("graphs must hold at least one graph")
        device = torch.device(device)
        sizes = [n for n, _ in parts]
        offsets = [0]
        for n in sizes:
            offsets.append(offsets[-1] + n)
        total = offsets[-1]
        ei = torch.cat([e.to(device).long() + off for (_, e), off in zip(parts, offsets[:-1])], dim=1)
        self.graph = CSRGraph.from_edge_index(_undirected_unique(ei, total), num_nodes=total)
        self.offsets = torch.tensor(offsets, dtype=torch.long, device=device)
        deg = self.graph.degree.to(torch.float64)
        w = torch.where(deg > 0, deg.pow(self.ego_power), torch.zeros_like(deg))
        if float(w.sum()) <= 0:
            raise ValueError("graphs have no edges: no ego can be drawn")
        self.ego_probabilities = w / w.sum()

    @property
    def num_nodes(self) -> int:
        return self.graph.num_nodes

    def sample_egos(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` ego ids of the union graph, drawn with replacement from :attr:`ego_probabilities`."""
        n = check_positive_int(n, "n")
        return torch.multinomial(self.ego_probabilities, n, replacement=True, generator=generator)

    def subgraphs(self, egos: Tensor, generator: torch.Generator | None = None) -> SubgraphBatch:
        """One walk-with-restart subgraph per ego (ego first), featurised."""
        ei, ptr, _ = rwr_induced_subgraphs(self.graph, egos, self.restart_prob, self.max_steps, self.max_nodes,
                                           generator, symmetric=True)  # the union graph is symmetric
        # the engine's output is valid by construction, and symmetric (the union graph is)
        return subgraph_batch(ei, ptr, None, self.pos_dim, group_size=self.group_size, dtype=self.eig_dtype,
                              validate=False, symmetric=True)

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> tuple[SubgraphBatch,
                                                                                          SubgraphBatch]:
        """Query and key batches of ``batch_size`` fresh instances."""
        egos = self.sample_egos(batch_size, generator)
        both = self.subgraphs(torch.cat([egos, egos]), generator)
        return _split_batch(both, batch_size)

    def sample_many(self, num_batches: int, batch_size: int,
                    generator: torch.Generator | None = None) -> list[tuple[SubgraphBatch, SubgraphBatch]]:
        """``num_batches`` (query, key) batches drawn with one batched walk and featurisation.

        The walk engine advances all walkers one step per Python iteration, so
        one call for many instances costs far less per instance than many calls.
        """
        num_batches = check_positive_int(num_batches, "num_batches")
        batch_size = check_positive_int(batch_size, "batch_size")
        egos = self.sample_egos(num_batches * batch_size, generator).view(num_batches, batch_size)
        order = torch.cat([egos, egos], dim=1).reshape(-1)  # per batch: queries then keys
        big = self.subgraphs(order, generator)
        cuts = _batch_cuts(big)
        out = []
        for i in range(num_batches):
            g0 = 2 * i * batch_size
            out.append((_slice_batch(big, g0, g0 + batch_size, cuts),
                        _slice_batch(big, g0 + batch_size, g0 + 2 * batch_size, cuts)))
        return out


def _batch_cuts(b: SubgraphBatch) -> tuple[list[int], list[int]]:
    """Node offsets ``ptr`` and edge offsets of every graph of a batch as Python lists (one host read each;
    edges must be sorted by source, as the sampler's are)."""
    return b.ptr.tolist(), torch.searchsorted(b.edge_index[0], b.ptr).tolist()


def _slice_batch(b: SubgraphBatch, g0: int, g1: int, cuts: tuple[list[int], list[int]] | None = None) -> SubgraphBatch:
    """Graphs ``g0 .. g1-1`` of a batch (``cuts``: :func:`_batch_cuts` of ``b``, computed when not given)."""
    ptr, edge_ptr = _batch_cuts(b) if cuts is None else cuts
    n0, n1, e0, e1 = ptr[g0], ptr[g1], edge_ptr[g0], edge_ptr[g1]
    return SubgraphBatch(b.edge_index[:, e0:e1] - n0, b.batch[n0:n1] - g0, b.ptr[g0:g1 + 1] - n0, b.pos[n0:n1],
                         b.degree[n0:n1], b.ego[n0:n1], g1 - g0)


def _split_batch(b: SubgraphBatch, first: int) -> tuple[SubgraphBatch, SubgraphBatch]:
    """Split a batch into its first ``first`` graphs and the rest."""
    cuts = _batch_cuts(b)
    return _slice_batch(b, 0, first, cuts), _slice_batch(b, first, b.num_graphs, cuts)


# ----------------------------------------------------------------------------- training
def _setting(config: dict, key: str) -> Any:
    return setting(config, key, "GCC")


def build_encoder(config: dict) -> GCCEncoder:
    """A :class:`GCCEncoder` from a GCC config."""
    return GCCEncoder(int(_setting(config, "pos_dim")), int(_setting(config, "degree_dim")),
                      int(_setting(config, "max_degree")), int(_setting(config, "hidden")),
                      int(_setting(config, "num_layers")), int(_setting(config, "out_dim")),
                      str(_setting(config, "readout")), float(_setting(config, "dropout")))


def _eig_dtype(config: dict) -> torch.dtype:
    name = str(config.get("eig_dtype", "float64"))
    if name not in ("float32", "float64"):
        raise ValueError(f"eig_dtype must be 'float32' or 'float64', got {name!r}")
    return getattr(torch, name)


def make_sampler(graphs: Any, config: dict, device: torch.device | str = "cpu") -> GCCSampler:
    """A :class:`GCCSampler` over ``graphs`` with a GCC config's walk and feature settings."""
    max_nodes = config.get("max_nodes")
    return GCCSampler(graphs, restart_prob=float(_setting(config, "restart_prob")),
                      max_steps=int(_setting(config, "max_steps")),
                      max_nodes=None if max_nodes is None else int(max_nodes),
                      ego_power=float(_setting(config, "ego_power")), pos_dim=int(_setting(config, "pos_dim")),
                      group_size=int(config.get("eig_group_size", 32)), eig_dtype=_eig_dtype(config),
                      device=device)


def pretrain_gcc(
    graphs: Any,
    config: dict,
    *,
    mode: str | None = None,
    device: torch.device | str = "cpu",
    seed: int = 0,
    progress: bool = False,
    checkpoint: str | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Pre-train a GCC encoder on ``graphs`` (anything :func:`graph_edge_lists` reads, or a :class:`GCCSampler`).

    ``mode`` (default ``config["mode"]``) is ``"moco"`` or ``"e2e"``. Runs
    ``epochs * steps_per_epoch`` steps of ``moco_batch_size`` / ``e2e_batch_size``
    instances. ``epochs: 0`` returns the encoder at random initialisation.
    Instances are drawn ``{mode}_pool_batches`` batches at a time
    (:meth:`GCCSampler.sample_many`: one batched walk for many instances is far
    cheaper per instance); a pool never spans two epochs.

    Returns ``{"model" (the query encoder, eval mode), "train" (fit's summary),
    "history" (per epoch: loss, lr, sample_s, step_s, sample_share, instances),
    "sampling" (totals: instances, seconds sampling, seconds in steps, share)}``.

    Example:
        >>> from graphcl.data import sbm
        >>> from graphcl.config import load_config
        >>> cfg = dict(load_config("gcc"), epochs=1, steps_per_epoch=2, moco_batch_size=4, hidden=8, out_dim=8)
        >>> out = pretrain_gcc([sbm([20, 20], p_in=0.3, p_out=0.05, seed=0)], cfg)
        >>> out["sampling"]["instances"]
        8
    """
    from graphcl.train import fit

    mode = str(mode if mode is not None else _setting(config, "mode")).lower()
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    device = torch.device(device)
    epochs = int(_setting(config, "epochs"))
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    steps = check_positive_int(int(_setting(config, "steps_per_epoch")), "steps_per_epoch")
    batch_size = check_positive_int(int(_setting(config, f"{mode}_batch_size")), f"{mode}_batch_size")
    pool_batches = check_positive_int(int(_setting(config, f"{mode}_pool_batches")), f"{mode}_pool_batches")
    tau = float(_setting(config, "tau"))
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    momentum = check_probability(float(_setting(config, "momentum")), "momentum")
    lr = float(_setting(config, "lr"))
    warmup = float(_setting(config, "warmup"))
    if not 0 <= warmup < 1:
        raise ValueError(f"warmup must be in [0, 1), got {warmup}")
    clip = float(_setting(config, "clip_norm"))
    sampler = graphs if isinstance(graphs, GCCSampler) else make_sampler(graphs, config, device)

    seed_everything(seed)  # weight init, dropout
    model = build_encoder(config).to(device)
    key_model = queue = None
    state: dict[str, Any] = {"model": model}
    if mode == "moco":
        key_model = copy.deepcopy(model)
        for p in key_model.parameters():
            p.requires_grad_(False)
        queue = MoCoQueue(int(_setting(config, "queue_size")), model.out_dim).to(device)
        state.update(key_model=key_model, queue=queue)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=float(_setting(config, "weight_decay")))
    state["opt"] = opt
    gen = make_generator(seed, device)
    total_steps = max(epochs * steps, 1)
    totals = {"instances": 0, "sample_s": 0.0, "step_s": 0.0}

    def one_step(global_step: int, q_batch: SubgraphBatch, k_batch: SubgraphBatch) -> float:
        model.train()
        q = model(q_batch)
        if mode == "moco":
            key_model.eval()
            for m in key_model.modules():  # GCC: the key encoder normalises with batch statistics
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.train()
            with torch.no_grad():
                k = key_model(k_batch)
            loss = moco_loss(q, k, queue.negatives(), tau)
        else:
            k = model(k_batch)
            loss = e2e_loss(q, k, tau)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        factor = warmup_linear(global_step / total_steps, warmup)
        for group in opt.param_groups:
            group["lr"] = lr * factor
        opt.step()
        if mode == "moco":
            ema_update(key_model, model, momentum)
            queue.enqueue(k)
        return loss.item()

    def step(epoch: int) -> dict[str, float]:
        losses, sample_s, step_s = [], 0.0, 0.0
        pool: list[tuple[SubgraphBatch, SubgraphBatch]] = []
        for i in range(steps):
            t0 = time.perf_counter()
            if not pool:  # a pool never outlives its epoch, so a resumed run samples as an uninterrupted one
                pool = sampler.sample_many(min(pool_batches, steps - i), batch_size, gen)
                pool = [(q.to(device), k.to(device)) for q, k in pool]
                pool.reverse()
            t1 = time.perf_counter()
            q_batch, k_batch = pool.pop()
            losses.append(one_step(epoch * steps + i, q_batch, k_batch))
            t2 = time.perf_counter()
            sample_s += t1 - t0
            step_s += t2 - t0
        totals["instances"] += steps * batch_size
        totals["sample_s"] += sample_s
        totals["step_s"] += step_s
        return {"loss": sum(losses) / len(losses), "lr": opt.param_groups[0]["lr"], "sample_s": sample_s,
                "step_s": step_s, "sample_share": sample_s / max(step_s, 1e-12), "instances": steps * batch_size}

    result = fit(step, epochs, state=state, keep_best=False, checkpoint=checkpoint, resume=resume,
                 generators={"sampler": gen}, progress=progress, desc=f"gcc-{mode}")
    model.eval()
    sampling = dict(totals, share=totals["sample_s"] / max(totals["step_s"], 1e-12),
                    instances_per_s=totals["instances"] / max(totals["sample_s"], 1e-12),
                    subgraphs_per_s=2 * totals["instances"] / max(totals["sample_s"], 1e-12))
    return {"model": model, "train": result.to_dict(), "history": result.history, "sampling": sampling,
            "mode": mode}


# ----------------------------------------------------------------------------- transfer
@torch.no_grad()
def embed_graphs(model: GCCEncoder, graphs: Any, *, batch_size: int = 256, group_size: int = 32,
                 eig_dtype: torch.dtype = torch.float64) -> Tensor:
    """Frozen GCC embeddings ``[G, out_dim]`` (CPU float32) of whole graphs.

    As GCC's graph-classification protocol: each entire graph (undirected,
    duplicates and self-loops dropped) is one instance, its own eigenvectors are
    the positional features and its highest-degree node (the first on ties) the ego.

    Example:
        >>> from torch_geometric.data import Data
        >>> g = Data(edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), num_nodes=3)
        >>> embed_graphs(GCCEncoder(pos_dim=4, hidden=8, out_dim=4), [g, g]).shape
        torch.Size([2, 4])
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    parts = graph_edge_lists(graphs)
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for s in range(0, len(parts), batch_size):
        chunk = []
        egos = []
        for n, ei in parts[s:s + batch_size]:
            ei = _undirected_unique(ei.to(dev), n)
            chunk.append((n, ei))
            deg = torch.bincount(ei[0], minlength=n)
            egos.append(int(torch.argmax(deg)) if n > 0 else 0)
        b = collate_subgraphs(chunk, model.pos_dim, torch.tensor(egos, device=dev), group_size=group_size,
                              dtype=eig_dtype)
        out.append(model(b).float().cpu())
    model.train(was_training)
    if not out:
        return torch.zeros(0, model.out_dim)
    return torch.cat(out)


@torch.no_grad()
def embed_nodes(model: GCCEncoder, graph: Any, config: dict, *, seed: int = 0, batch_size: int = 256) -> Tensor:
    """Frozen GCC embeddings ``[N, out_dim]`` (CPU float32) of every node: one walk-with-restart
    subgraph per node (settings from ``config``), encoded.

    Example:
        >>> from graphcl.data import sbm
        >>> from graphcl.config import load_config
        >>> cfg = dict(load_config("gcc"), pos_dim=4, hidden=8, out_dim=4)
        >>> embed_nodes(build_encoder(cfg), sbm([10, 10], p_in=0.5, p_out=0.1, seed=0), cfg).shape
        torch.Size([20, 4])
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    dev = next(model.parameters()).device
    sampler = make_sampler(graph, config, dev)
    gen = make_generator(seed, dev)
    was_training = model.training
    model.eval()
    out = []
    for s in range(0, sampler.num_nodes, batch_size):
        nodes = torch.arange(s, min(s + batch_size, sampler.num_nodes), device=dev)
        out.append(model(sampler.subgraphs(nodes, gen)).float().cpu())
    model.train(was_training)
    return torch.cat(out)


def degree_histogram_features(graphs: Any, max_degree: int = 64) -> Tensor:
    """Reference features: each graph's normalised histogram of node degrees (clamped at ``max_degree``).

    Example:
        >>> from torch_geometric.data import Data
        >>> g = Data(edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), num_nodes=3)
        >>> [round(v, 3) for v in degree_histogram_features([g], max_degree=3)[0].tolist()]
        [0.0, 0.667, 0.333, 0.0]
    """
    max_degree = check_positive_int(max_degree, "max_degree")
    rows = []
    for n, ei in graph_edge_lists(graphs):
        ei = _undirected_unique(ei, n)
        deg = torch.bincount(ei[0], minlength=n).clamp(max=max_degree)
        h = torch.bincount(deg, minlength=max_degree + 1).float()
        rows.append(h / max(n, 1))
    return torch.stack(rows)


# ----------------------------------------------------------------------------- method entry point
def _load_graphs(names: Sequence[str], root: str | None) -> list[Any]:
    from graphcl.data import load

    graphs = []
    for name in names:
        try:
            graphs.append(load(name, root=root, degree_features=False))
        except TypeError:  # node datasets take no TU options
            graphs.append(load(name, root=root))
    return graphs


def _is_tu(obj: Any) -> bool:
    """A graph-classification set (a list-like of graphs), not one graph."""
    from torch_geometric.data import Data

    return not isinstance(obj, Data) and hasattr(obj, "__len__") and hasattr(obj, "__getitem__")


@register("gcc", description="GCC: RWR subgraph instance discrimination (MoCo / E2E), frozen transfer",
          default_dataset="imdb-binary")
def run(dataset: str, config: dict, ctx: RunContext) -> dict:
    from graphcl.data import load
    from graphcl.eval import graph_classification_svm, linear_probe

    names = [str(n).lower() for n in _setting(config, "pretrain_datasets")]
    if not names:
        raise ValueError("pretrain_datasets must name at least one dataset")
    if dataset.lower() in names:
        raise ValueError(f"pretrain_datasets must not contain the evaluation dataset {dataset!r}")
    graphs = _load_graphs(names, ctx.root)
    t0 = time.perf_counter()
    out = pretrain_gcc(graphs, config, device=ctx.device, seed=ctx.seed, progress=not ctx.quiet,
                       checkpoint=ctx.checkpoint, resume=ctx.resume)
    pretrain_s = time.perf_counter() - t0
    model = out["model"]
    try:
        target = load(dataset, root=ctx.root, degree_features=False)
    except TypeError:
        target = load(dataset, root=ctx.root)
    schedule = (f"GCC {out['mode']} pre-trained on {names} for {config['epochs']} x {config['steps_per_epoch']} "
                f"steps of {config[out['mode'] + '_batch_size']} instances, frozen")
    if _is_tu(target):
        emb = embed_graphs(model, target, batch_size=int(config.get("embed_batch_size", 256)),
                           eig_dtype=_eig_dtype(config))
        labels = target.y if hasattr(target, "y") else torch.cat([g.y for g in target])
        res = graph_classification_svm(emb, labels, folds=int(_setting(config, "folds")),
                                       num_seeds=int(_setting(config, "num_seeds")), seed=ctx.seed)
        res["protocol"] = f"{res['protocol']}; {schedule}; whole-graph embeddings (ego = max-degree node)"
        metrics = {"graph_classification": res}
    else:
        y = getattr(target, "y", None)
        if y is None or y.dim() != 1:
            raise ValueError(f"method 'gcc' evaluates TU graph sets or single-label node sets; {dataset!r} is neither")
        emb = embed_nodes(model, target, config, seed=ctx.seed)
        labels = y
        res = linear_probe(emb, y, num_seeds=int(_setting(config, "num_seeds")), seed=ctx.seed)
        res["protocol"] = f"{res['protocol']}; {schedule}; one RWR subgraph per node"
        metrics = {"node_classification": res}
    train = {k: v for k, v in out["train"].items() if k != "history"}
    train.update(pretrain_s=pretrain_s, sampling=out["sampling"])
    return {"metrics": metrics, "history": out["history"], "train": train, "embedding": emb, "labels": labels}

