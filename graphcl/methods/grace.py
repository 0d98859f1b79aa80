"""GRACE: deep graph contrastive representation learning (Zhu et al. 2020).

Every epoch draws two fresh views (edge dropout with ``p_e1``/``p_e2``, each
stored direction independently unless ``undirected_drop``; feature-column
masking with ``p_f1``/``p_f2``) from a generator seeded by ``ctx.seed``, encodes
both with one shared GNN encoder (GCN ``in -> 2h -> h`` by default), projects
them with ``Linear -> ELU -> Linear`` and minimises the symmetric InfoNCE loss
(:func:`graphcl.losses.infonce`, blockwise, O(N * block) memory)
with Adam. Training runs through :func:`graphcl.train.fit`.

Model choice: by default the model after the last epoch, as in the paper. With
``eval_every > 0`` the linear probe runs on the frozen embeddings every
``eval_every`` epochs, and for each evaluation split the epoch with the best
validation accuracy on that split is the one whose test accuracy is reported
(selection on validation only; a per-split choice so that no split's
validation nodes decide for another split, whose test nodes they may be).

Evaluation: frozen encoder outputs (not the projection), L2-normalised,
logistic-regression probe over ``num_seeds`` random 10/10/80 splits
(:func:`graphcl.eval.linear_probe`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from graphcl.losses import infonce
from graphcl.methods import RunContext, register
from graphcl.nn import ENCODERS, ProjectionHead
from graphcl.utils import make_generator, seed_everything
from graphcl.validation import check_positive_int, check_probability

__all__ = ["GRACEModel", "train_grace", "run"]


class GRACEModel(nn.Module):
    """Shared encoder ``f`` plus projection head ``g`` (GRACE's ``Linear -> ELU -> Linear``).

    Example:
        >>> m = GRACEModel(8, hidden=16, proj_hidden=16)
        >>> m(torch.randn(4, 8), torch.tensor([[0, 1], [1, 2]])).shape
        torch.Size([4, 16])
    """

    def __init__(self, in_dim: int, hidden: int = 128, proj_hidden: int = 128, encoder: str = "gcn",
                 num_layers: int = 2, activation: str = "relu") -> None:
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {sorted(ENCODERS)}, got {encoder!r}")
        check_positive_int(hidden, "hidden")
        self.encoder = ENCODERS[encoder](in_dim, 2 * hidden, hidden, num_layers=num_layers, activation=activation)
        self.head = ProjectionHead(hidden, proj_hidden, hidden)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        """Encoder output (the embedding that is evaluated)."""
        return self.encoder(x, edge_index)

    def project(self, z: Tensor) -> Tensor:
        return self.head(z)


def _setting(config: dict, key: str) -> Any:
    if key not in config:
        raise ValueError(f"GRACE config lacks setting {key!r}")
    return config[key]


def train_grace(
    data: Any,
    config: dict,
    *,
    device: torch.device | str = "cpu",
    seed: int = 0,
    progress: bool = False,
    checkpoint: str | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Train GRACE on ``data`` (``x``, ``edge_index``; ``y`` only for ``eval_every > 0``).

    Returns ``{"model", "embedding" (CPU float32 [N, hidden]), "train" (fit's
    summary), "history", "evaluations"}``; ``evaluations`` lists, for every
    evaluated epoch (0-based), the probe's per-split validation and test
    accuracies (after a resume, only those of the resumed part).

    Example:
        >>> from graphcl.data import sbm
        >>> from graphcl.config import load_config
        >>> g = sbm([30, 30], p_in=0.3, p_out=0.02, num_features=8, seed=0)
        >>> cfg = dict(load_config("grace"), epochs=2, hidden=8, proj_hidden=8)
        >>> train_grace(g, cfg)["embedding"].shape
        torch.Size([60, 8])
    """
    from graphcl.augment import drop_edge, mask_feature
    from graphcl.eval import linear_probe
    from graphcl.train import fit

    device = torch.device(device)
    epochs = int(_setting(config, "epochs"))
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    eval_every = int(config.get("eval_every") or 0)
    if eval_every < 0:
        raise ValueError(f"eval_every must be >= 0, got {eval_every}")
    p_e = [check_probability(float(_setting(config, k)), k) for k in ("p_e1", "p_e2")]
    p_f = [check_probability(float(_setting(config, k)), k) for k in ("p_f1", "p_f2")]
    tau = float(_setting(config, "tau"))
    block_size = config.get("block_size")
    intra = bool(config.get("intra_view_negatives", True))
    undirected = bool(config.get("undirected_drop", False))
    x = data.x.to(device=device, dtype=torch.float32)
    edge_index = data.edge_index.to(device)

    seed_everything(seed)  # weight init, RReLU slopes
    model = GRACEModel(x.size(1), int(_setting(config, "hidden")), int(_setting(config, "proj_hidden")),
                       str(config.get("encoder", "gcn")), int(config.get("num_layers", 2)),
                       str(_setting(config, "activation"))).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=float(_setting(config, "lr")),
                           weight_decay=float(config.get("weight_decay", 1e-5)))
    gen = make_generator(seed, device)

    current = {"epoch": -1}

    def step(epoch: int) -> float:
        current["epoch"] = epoch
        model.train()
        opt.zero_grad(set_to_none=True)
        views = []
        for pe, pf in zip(p_e, p_f):
            ei, _ = drop_edge(edge_index, pe, undirected=undirected, generator=gen)
            xv, _ = mask_feature(x, pf, generator=gen)
            views.append(model.project(model(xv, ei)))
        loss = infonce(views[0], views[1], tau, intra_view_negatives=intra, block_size=block_size)
        loss.backward()
        opt.step()
        return loss.item()

    def embed() -> Tensor:
        model.eval()
        with torch.no_grad():
            return model(x, edge_index).float().cpu()

    evaluations: list[dict[str, Any]] = []
    evaluate = None
    if eval_every > 0:
        y = data.y

        def evaluate() -> dict[str, float]:
            probe = linear_probe(embed(), y.cpu(), num_seeds=int(config.get("num_seeds", 5)),
                                 train_ratio=float(config.get("train_ratio", 0.1)),
                                 val_ratio=float(config.get("val_ratio", 0.1)), seed=seed)
            evaluations.append({"epoch": current["epoch"], "val": probe["val_accuracy"],
                                "test": probe["per_seed"], "probe": probe})
            return {"val": sum(probe["val_accuracy"]) / len(probe["val_accuracy"])}

    result = fit(
        step,
        epochs,
        state={"model": model, "opt": opt},
        evaluate=evaluate,
        metric="val",
        mode="max",
        eval_every=max(eval_every, 1),
        keep_best=False,  # the last model is returned; per-split choices are read off `evaluations`
        checkpoint=checkpoint,
        resume=resume,
        generators={"views": gen},
        progress=progress,
        desc="grace",
    )
    return {"model": model, "embedding": embed(), "train": result.to_dict(), "history": result.history,
            "evaluations": evaluations}


def _select_per_split(evaluations: list[dict[str, Any]]) -> dict[str, Any]:
    """For each split, the evaluation with the best validation accuracy (earliest on ties)."""
    num = len(evaluations[0]["val"])
    chosen, accs = [], []
    for s in range(num):
        best = max(range(len(evaluations)), key=lambda i: (evaluations[i]["val"][s], -i))
        chosen.append(evaluations[best]["epoch"])
        accs.append(evaluations[best]["test"][s])
    mean = sum(accs) / num
    std = (sum((a - mean) ** 2 for a in accs) / num) ** 0.5
    base = evaluations[-1]["probe"]["protocol"]
    return {
        "accuracy": mean,
        "std": std,
        "per_seed": accs,
        "chosen_epoch": chosen,
        "num_splits": num,
        "protocol": (f"{base}; epoch chosen per split by that split's validation accuracy among the "
                     f"evaluated epochs {[e['epoch'] for e in evaluations]}"),
    }


@register("grace", description="GRACE: edge-dropout/feature-masking views, GCN encoder, InfoNCE + linear probe",
          default_dataset="cora")
def run(dataset: str, config: dict, ctx: RunContext) -> dict:
    from graphcl.data import load
    from graphcl.eval import linear_probe

    data = load(dataset, root=ctx.root)
    y = getattr(data, "y", None)
    if y is None or y.dim() != 1:
        raise ValueError(f"method 'grace' needs single-label node classes; {dataset!r} has none")
    if getattr(data, "x", None) is None:
        raise ValueError(f"method 'grace' needs node features; {dataset!r} has none")
    out = train_grace(data, config, device=ctx.device, seed=ctx.seed, progress=not ctx.quiet,
                      checkpoint=ctx.checkpoint, resume=ctx.resume)
    emb = out["embedding"]
    if out["evaluations"]:
        probe = _select_per_split(out["evaluations"])
    else:
        probe = linear_probe(emb, y, num_seeds=int(config["num_seeds"]), train_ratio=float(config["train_ratio"]),
                             val_ratio=float(config["val_ratio"]), seed=ctx.seed)
        probe["protocol"] = f"{probe['protocol']}; model after the final epoch ({config['epochs']}), as in the paper"
    train = {k: v for k, v in out["train"].items() if k != "history"}  # epochs run, wall time, resume info
    return {"metrics": {"node_classification": probe}, "history": out["history"], "train": train,
            "embedding": emb, "labels": y}
