"""Recommenders: ``graphcl run {lightgcn,sgl,simgcl,xsimgcl,lightgcl} --dataset {gowalla,ml-100k,lastfm}``.

Training and evaluation are :func:`graphcl.rec.train_rec` (validation
Recall@20 for early stopping and model choice; test ranked once at the chosen
epoch). ``result["embedding"]`` is ``cat([user, item])`` (``[U + I, d]``, item
``i`` is row ``U + i``); ``user_embedding``/``item_embedding`` are also
returned, and config ``save_embeddings: PATH`` writes them with
:func:`graphcl.rec.save_embeddings` (atomic).
"""

from __future__ import annotations

from typing import Any

import torch

from graphcl.methods import RunContext, register

__all__ = ["run_recommender"]

_DESCRIPTIONS = {
    "lightgcn": "LightGCN: mean of propagated user/item embeddings, BPR (full-ranking Recall/NDCG@20)",
    "sgl": "SGL-ED: LightGCN + InfoNCE between two edge-dropout views",
    "simgcl": "SimGCL: LightGCN + InfoNCE between two noise-perturbed passes",
    "xsimgcl": "XSimGCL: one noise-perturbed pass, cross-layer InfoNCE",
    "lightgcl": "LightGCL: edge-dropout main view vs. rank-q SVD view",
}


def run_recommender(model_name: str, dataset: str, config: dict, ctx: RunContext) -> dict[str, Any]:
    """Load ``dataset`` (a recommendation dataset), train ``model_name``, report metrics."""
    from graphcl.data import RecData, load
    from graphcl.rec import save_embeddings, train_rec

    try:  # ml-100k's 8:1:1 random split is drawn from the run's seed
        data = load(dataset, root=ctx.root, seed=ctx.seed)
    except TypeError:  # datasets with a fixed split take no seed
        data = load(dataset, root=ctx.root)
    if not isinstance(data, RecData):
        raise ValueError(f"method {model_name!r} needs a recommendation dataset (user-item interactions); "
                         f"{dataset!r} is not one")
    out = train_rec(model_name, data, config, device=ctx.device, seed=ctx.seed, progress=not ctx.quiet,
                    checkpoint=ctx.checkpoint, resume=ctx.resume)
    tr = out["train"]
    protocol = (f"full ranking over all items, training items masked (test: train+val masked); "
                f"{out['split']['num_val']} validation interactions "
                f"({'dataset split' if data.val is not None else 'rec_split of train, seed ' + str(ctx.seed)}); "
                f"epoch {tr['best_epoch']} chosen by validation Recall@20 out of {tr['epochs_run']} run; "
                f"test evaluated once")
    metrics = {
        "ranking_test": {**out["test"], "protocol": protocol},
        "ranking_val": {**out["val"], "protocol": protocol},
        "embedding_quality": {**out["quality"],
                              "protocol": "alignment over test user-item pairs, uniformity t=2 per side "
                                          "(<= 10000 rows), L2-normalised"},
    }
    path = config.get("save_embeddings")
    if path:
        save_embeddings(path, out["user"], out["item"], model=model_name, dataset=dataset)
    train = {k: v for k, v in tr.items() if k != "history"}
    return {"metrics": metrics, "history": out["history"], "train": train,
            "embedding": torch.cat([out["user"], out["item"]]),
            "user_embedding": out["user"], "item_embedding": out["item"]}


def _make(name: str):
    @register(name, description=_DESCRIPTIONS[name], default_dataset="ml-100k")
    def run(dataset: str, config: dict, ctx: RunContext) -> dict:
        return run_recommender(name, dataset, config, ctx)

    run.__name__ = f"run_{name}"
    return run


for _name in _DESCRIPTIONS:
    _make(_name)
