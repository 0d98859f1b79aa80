"""CRW-GCL: a GNN encoder trained with the contrastive random walk between graph views.

Every epoch draws ``num_views`` fresh views of the graph (edge dropout
``p_drop_edge`` on undirected edges, as many random non-edges added with
``p_add_edge``, element-wise feature dropout ``p_drop_feature`` and feature-column
masking ``p_mask_feature``, node-level feature-row swaps ``p_swap_feature``:
that fraction of nodes take another node's feature row, node-level feature
zeroing ``p_zero_feature``: each node's whole row is zeroed with that
probability, so a walker can only find it through its neighbours), or, when a list of snapshots is given, one view of
every snapshot in order. One shared encoder (plus an optional projection head)
embeds them and the palindrome walks ``view_0 -> .. -> view_k -> .. -> view_0``
must return to their start node (:func:`graphcl.losses.crw`, with the
affinity edge dropout of Jabri et al.). With ``symmetric`` the reversed
sequence is walked too. The walk never uses the node identities across views:
only the return to the start is supervised. With ``view_features: structural``
(graphs without node features) every view's input features are recomputed from
the view's own edges (:func:`graphcl.eval.matching.structural_features`), so the
views are perturbed the way a noisy copy of the graph is.

With ``clean_anchor`` frame 0 is the unperturbed graph. With
``neighborhood_weight > 0`` the loss adds the cycle through the graph
(:func:`graphcl.losses.crw.crw_neighborhood`: view 0 -> view 1 -> one graph step
in view 1 -> back to view 0, which must land in the start's closed neighbourhood;
``lazy_step`` chooses a lazy or a strict graph step). A palindrome is satisfied by
any consistent matching, including one that follows a node's features to the node
that carries them in the other view (row swaps); the cycle through the graph is not.
``p_flip_feature`` moves that fraction of binary feature entries (the entry noise of
the correspondence benchmark). ``encoder: hops`` is :class:`HopEncoder` (the node's
own features and its 1..k-hop neighbourhood means as separately normalised blocks
with learnable scales, learning rate ``scale_lr``); with ``lr: 0`` its projections
stay at their random initialisation and only the block scales, i.e. how much the
node's own features count against its neighbourhood, are learned.

The temperature matters for what the scales learn (issue 8): the palindrome is lowest
with the node's own features alone (following the features is a consistent matching,
row swaps included), and so is the neighbourhood cycle at a soft walk (tau 0.07: its
loss is dominated by the easy nodes, which a sharper own-feature match serves). With a
sharp walk (tau 0.03, the default since session 6) the easy nodes saturate, the nodes
whose features moved dominate, and the cycle's minimum moves to a neighbourhood weight
that helps matching.

Training runs through :func:`graphcl.train.fit`; the model after the last epoch
is used (no test data touches model choice). Evaluation: linear probe on the
frozen encoder outputs (:func:`graphcl.eval.linear_probe`) and node
correspondence between the graph and a perturbed, permuted copy
(:func:`graphcl.eval.matching.perturbed_copy`, :func:`graphcl.eval.matching.correspondence_hits`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphcl.config import setting
from graphcl.losses import crw
from graphcl.losses.crw import crw_neighborhood
from graphcl.methods import RunContext, register
from graphcl.nn import ENCODERS, ProjectionHead
from graphcl.utils import make_generator, seed_everything
from graphcl.validation import check_features, check_positive_int, check_probability

__all__ = ["CRWModel", "HopEncoder", "crw_views", "train_crw", "run"]

_KEYS = ("encoder", "num_layers", "hidden", "activation", "projection", "lr", "weight_decay", "epochs", "num_views",
         "tau", "edge_dropout", "candidates", "symmetric", "p_drop_edge", "p_add_edge", "p_drop_feature",
         "p_mask_feature", "p_swap_feature", "p_zero_feature", "view_features", "clean_anchor", "neighborhood_weight",
         "scale_lr", "p_flip_feature", "lazy_step")
VIEW_FEATURES = ("given", "structural")


class HopEncoder(nn.Module):
    """Multi-hop encoder: block ``k`` is ``s_k * normalize(P^k X W_k)`` for ``k = 0 .. hops``, concatenated.

    ``P = D^-1 A`` averages over the graph neighbours (isolated nodes get a zero
    block), ``W_k`` are separate linear maps ``in -> hidden`` and ``s_k = exp(g_k)``
    learnable block scales (initially 1). Block 0 sees the node's own features only,
    block ``k`` its ``k``-hop neighbourhood, so training can weigh the node's own
    features against its neighbourhood (and the cosine between two outputs is the
    ``s_k^2``-weighted sum of the blocks' cosines). Output width ``(hops + 1) * hidden``.

    Example:
        >>> enc = HopEncoder(8, 16, hops=2)
        >>> enc(torch.randn(4, 8), torch.tensor([[0, 1], [1, 2]])).shape
        torch.Size([4, 48])
    """

    def __init__(self, in_dim: int, hidden: int, hops: int = 2) -> None:
        super().__init__()
        check_positive_int(in_dim, "in_dim")
        check_positive_int(hidden, "hidden")
        check_positive_int(hops, "hops", minimum=0)
        self.hops, self.hidden = hops, hidden
        self.out_dim = (hops + 1) * hidden
        self.lins = nn.ModuleList(nn.Linear(in_dim, hidden, bias=False) for _ in range(hops + 1))
        self.log_scale = nn.Parameter(torch.zeros(hops + 1))

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        """Node embeddings ``[N, (hops + 1) * hidden]``."""
        from graphcl.sparse import normalized_adjacency, sparse_features, sparse_linear, spmm

        check_features(x, None, "x")
        n = x.size(0)
        ei = edge_index[:, edge_index[0] != edge_index[1]]
        prop = normalized_adjacency(ei, n, kind="rw").to(x.dtype) if self.hops else None
        blocks = []
        xs = sparse_features(x)  # bag-of-words inputs: sparse first products
        for k, lin in enumerate(self.lins):
            h = sparse_linear(xs, lin)
            for _ in range(k):
                h = spmm(prop, h)
            blocks.append(self.log_scale[k].exp() * F.normalize(h, dim=1))
        return torch.cat(blocks, 1)


class CRWModel(nn.Module):
    """Encoder and an optional projection head.

    ``encoder``: any of :data:`graphcl.nn.ENCODERS` (``in -> 2h -> h``, ``num_layers``
    convolutions) or ``"hops"`` (:class:`HopEncoder` with ``num_layers`` hops, width
    ``(num_layers + 1) * h``; ``activation`` unused).

    Example:
        >>> m = CRWModel(8, hidden=16)
        >>> m(torch.randn(4, 8), torch.tensor([[0, 1], [1, 2]])).shape
        torch.Size([4, 16])
    """

    def __init__(self, in_dim: int, hidden: int = 256, encoder: str = "gcn", num_layers: int = 2,
                 activation: str = "prelu", projection: bool = True) -> None:
        super().__init__()
        if encoder not in ENCODERS and encoder != "hops":
            raise ValueError(f"encoder must be one of {sorted(ENCODERS) + ['hops']}, got {encoder!r}")
        check_positive_int(hidden, "hidden")
        if encoder == "hops":
            self.encoder = HopEncoder(in_dim, hidden, hops=num_layers)
            width = self.encoder.out_dim
        else:
            self.encoder = ENCODERS[encoder](in_dim, 2 * hidden, hidden, num_layers=num_layers,
                                             activation=activation)
            width = hidden
        self.head = ProjectionHead(width, width, width) if projection else nn.Identity()

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        """Encoder output (the evaluated embedding)."""
        return self.encoder(x, edge_index)

    def project(self, z: Tensor) -> Tensor:
        return self.head(z)


def crw_views(x: Tensor, edge_index: Tensor, config: dict, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """One stochastic view ``(x, edge_index)`` with the view settings of ``config``.

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
        >>> cfg = {"p_drop_edge": 0.0, "p_add_edge": 0.0, "p_drop_feature": 0.0, "p_mask_feature": 0.0,
        ...        "p_swap_feature": 0.0, "p_zero_feature": 0.0, "view_features": "given"}
        >>> crw_views(torch.ones(3, 2), ei, cfg, None)[1].shape
        torch.Size([2, 4])
    """
    from graphcl.augment import add_edge, drop_edge, dropout_feature, mask_feature, swap_feature_rows
    from graphcl.eval.matching import flip_feature_entries, structural_features

    p_de = check_probability(float(config.get("p_drop_edge", 0.0)), "p_drop_edge")
    p_ae = check_probability(float(config.get("p_add_edge", 0.0)), "p_add_edge")
    p_df = check_probability(float(config.get("p_drop_feature", 0.0)), "p_drop_feature")
    p_ff = check_probability(float(config.get("p_flip_feature", 0.0)), "p_flip_feature")
    p_mf = check_probability(float(config.get("p_mask_feature", 0.0)), "p_mask_feature")
    p_sf = check_probability(float(config.get("p_swap_feature", 0.0)), "p_swap_feature")
    p_zf = check_probability(float(config.get("p_zero_feature", 0.0)), "p_zero_feature")
    kind = config.get("view_features", "given")
    if kind not in VIEW_FEATURES:
        raise ValueError(f"view_features must be one of {VIEW_FEATURES}, got {kind!r}")
    ei = edge_index
    if p_ae > 0:
        ei, _ = add_edge(edge_index, x.size(0), p_ae, undirected=True, generator=generator)
    if p_de > 0:
        # dropping after adding: the added edges are dropped too, so the kept fraction stays 1 - p_drop_edge
        ei, _ = drop_edge(ei, p_de, undirected=True, generator=generator)
    if kind == "structural":
        return structural_features(ei, x.size(0)).to(x.dtype), ei
    xv = x
    if p_ff > 0:  # binary features: p of the non-zeros moved to random zero entries (the benchmark's entry noise)
        xv = flip_feature_entries(xv, p_ff, generator=generator)
    if p_df > 0:
        xv, _ = dropout_feature(xv, p_df, generator=generator)
    if p_mf > 0:
        xv, _ = mask_feature(xv, p_mf, generator=generator)
    if p_sf > 0:
        xv, _ = swap_feature_rows(xv, p_sf, generator=generator)
    if p_zf > 0:
        keep = torch.rand(xv.size(0), 1, generator=generator, device=xv.device) >= p_zf
        xv = xv * keep.to(xv.dtype)
    return xv, ei


def _setting(config: dict, key: str) -> Any:
    return setting(config, key, "CRW-GCL")


def train_crw(
    data: Any | Sequence[Any],
    config: dict,
    *,
    device: torch.device | str = "cpu",
    seed: int = 0,
    progress: bool = False,
    checkpoint: str | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Train CRW-GCL on one graph (``x``, ``edge_index``) or a list of snapshots over one feature space.

    Returns ``{"model", "embedding" (CPU float32 [N, hidden] of the graph, or of
    the last snapshot), "train" (fit's summary), "history"}``.

    Example:
        >>> from graphcl.data import sbm
        >>> from graphcl.config import load_config
        >>> g = sbm([20, 20], p_in=0.3, p_out=0.02, num_features=8, seed=0)
        >>> cfg = dict(load_config("crw"), epochs=2, hidden=8)  # hops encoder: 3 blocks of 8
        >>> train_crw(g, cfg)["embedding"].shape
        torch.Size([40, 24])
    """
    from graphcl.train import fit

    for key in _KEYS:
        _setting(config, key)
    device = torch.device(device)
    snapshots = list(data) if isinstance(data, (list, tuple)) else None
    graphs = snapshots if snapshots is not None else [data]
    if not graphs:
        raise ValueError("data must be a graph or a non-empty list of snapshots")
    for g in graphs:
        if getattr(g, "x", None) is None:
            raise ValueError("CRW-GCL needs node features (data.x)")
    xs = [g.x.to(device=device, dtype=torch.float32) for g in graphs]
    eis = [g.edge_index.to(device) for g in graphs]
    epochs = int(config["epochs"])
    num_views = check_positive_int(int(config["num_views"]), "num_views", minimum=2)
    if snapshots is not None and len(snapshots) < 2:
        raise ValueError("a snapshot sequence needs at least 2 snapshots")
    tau = float(config["tau"])
    p_drop = check_probability(float(config["edge_dropout"]), "edge_dropout")
    cand = config["candidates"]
    cand = None if cand in (None, "dense", 0) else int(cand)

    seed_everything(seed)
    model = CRWModel(xs[0].size(1), int(config["hidden"]), str(config["encoder"]), int(config["num_layers"]),
                     str(config["activation"]), bool(config["projection"])).to(device)
    scales = [q for name, q in model.named_parameters() if name.endswith("log_scale")]  # HopEncoder block scales
    rest = [q for name, q in model.named_parameters() if not name.endswith("log_scale")]
    groups = [{"params": rest}] + ([{"params": scales, "lr": float(config["scale_lr"]), "weight_decay": 0.0}]
                                   if scales else [])
    opt = torch.optim.Adam(groups, lr=float(config["lr"]), weight_decay=float(config["weight_decay"]))
    gen = make_generator(seed, device)

    clean_anchor = bool(config["clean_anchor"])
    nb_weight = float(config["neighborhood_weight"])
    lazy = bool(config["lazy_step"])
    if not nb_weight >= 0:
        raise ValueError(f"neighborhood_weight must be >= 0, got {nb_weight!r}")

    def step(epoch: int) -> dict[str, float]:
        model.train()
        opt.zero_grad(set_to_none=True)
        if snapshots is None:
            frames = [crw_views(xs[0], eis[0], config, gen) for _ in range(num_views)]
            if clean_anchor:  # frame 0 is the unperturbed graph; the others are perturbed views of it
                frames[0] = (xs[0], eis[0])
        else:
            frames = [crw_views(x, ei, config, gen) for x, ei in zip(xs, eis)]
        zs = [model.project(model(xv, ev)) for xv, ev in frames]
        shared = nb_weight > 0 and len(zs) == 2 and cand is None and not bool(config["symmetric"])
        if shared:  # one affinity matrix for both terms
            nbh, ret = crw_neighborhood(zs[0], zs[1], frames[0][1], frames[1][1], tau, p_drop, with_return=True,
                                        lazy=lazy, generator=gen)
        else:
            ret = crw(zs, tau, p_drop, candidates=cand, generator=gen)
            if bool(config["symmetric"]):
                ret = 0.5 * (ret + crw(zs[::-1], tau, p_drop, candidates=cand, generator=gen))
            if nb_weight > 0:
                nbh = sum(crw_neighborhood(zs[t], zs[t + 1], frames[t][1], frames[t + 1][1], tau, p_drop,
                                           lazy=lazy, generator=gen) for t in range(len(zs) - 1)) / (len(zs) - 1)
        loss = ret
        out = {"return": ret.item()}
        if nb_weight > 0:
            loss = loss + nb_weight * nbh
            out["neighborhood"] = nbh.item()
        loss.backward()
        grads = [q.grad.norm() for q in model.parameters() if q.grad is not None]
        out["grad_norm"] = float(torch.stack(grads).norm()) if grads else 0.0
        opt.step()
        out["loss"] = loss.item()
        return out

    result = fit(step, epochs, state={"model": model, "opt": opt}, checkpoint=checkpoint, resume=resume,
                 generators={"views": gen}, progress=progress, desc="crw")
    model.eval()
    with torch.no_grad():
        emb = model(xs[-1], eis[-1]).float().cpu()
    return {"model": model, "embedding": emb, "train": result.to_dict(), "history": result.history}


def embed(model: CRWModel, x: Tensor, edge_index: Tensor) -> Tensor:
    """Frozen encoder output of a trained model on any graph over the same features (CPU float32).

    Example:
        >>> m = CRWModel(3, hidden=4)
        >>> embed(m, torch.ones(2, 3), torch.tensor([[0], [1]])).shape
        torch.Size([2, 4])
    """
    p = next(model.parameters())
    model.eval()
    with torch.no_grad():
        return model(x.to(device=p.device, dtype=torch.float32), edge_index.to(p.device)).float().cpu()


@register("crw", description="CRW-GCL: contrastive random walk between graph views, hop encoder; "
          "linear probe + node correspondence", default_dataset="cora")
def run(dataset: str, config: dict, ctx: RunContext) -> dict:
    from graphcl.data import load
    from graphcl.eval import correspondence_hits, linear_probe
    from graphcl.eval.matching import perturbed_copy, structural_features

    data = load(dataset, root=ctx.root)
    structural = config.get("view_features", "given") == "structural"
    if getattr(data, "x", None) is None:
        if not structural:
            raise ValueError(f"method 'crw' needs node features; {dataset!r} has none (set view_features: structural)")
        data.x = structural_features(data.edge_index, data.num_nodes)
    out = train_crw(data, config, device=ctx.device, seed=ctx.seed, progress=not ctx.quiet,
                    checkpoint=ctx.checkpoint, resume=ctx.resume)
    emb = out["embedding"]
    metrics: dict[str, Any] = {}
    y = getattr(data, "y", None)
    if y is not None and y.dim() == 1:
        probe = linear_probe(emb, y, num_seeds=int(config.get("num_seeds", 5)),
                             train_ratio=float(config.get("train_ratio", 0.1)),
                             val_ratio=float(config.get("val_ratio", 0.1)), seed=ctx.seed)
        probe["protocol"] = f"{probe['protocol']}; model after the final epoch ({config['epochs']})"
        metrics["node_classification"] = probe
    p = float(config.get("correspondence_p", 0.1))
    gen = torch.Generator().manual_seed(10_000 + ctx.seed)
    x2, ei2, truth = perturbed_copy(None if structural else data.x, data.edge_index, p, num_nodes=data.num_nodes,
                                    feature_noise="entries+rows", generator=gen)
    if structural:
        x2 = structural_features(ei2, data.num_nodes)
    hits = correspondence_hits(emb, embed(out["model"], x2, ei2), truth)
    feats = ("structural features recomputed on the copy" if structural else
             f"{p:.0%} of feature non-zeros moved and the feature rows of {p:.0%} of the nodes swapped among them")
    hits["protocol"] = (f"copy with {p:.0%} of undirected edges dropped and as many added, {feats}, ids permuted "
                        f"(generator seed {10_000 + ctx.seed}); {hits['protocol']}")
    metrics["node_correspondence"] = hits
    train = {k: v for k, v in out["train"].items() if k != "history"}
    return {"metrics": metrics, "history": out["history"], "train": train, "embedding": emb,
            "labels": y if y is not None and y.dim() == 1 else None}
