"""PamC: deep graph clustering with the meta-node contrastive loss (Kulatilleke et al. 2022).

Recipe (the reference code's ``SCGC_TRIMPOSCCSP`` model):

1. An MLP auto-encoder ``in -> 500 -> 500 -> 2000 -> 10`` (ReLU between layers,
   mirrored decoder) is pre-trained on the node features with MSE
   reconstruction (SDCN's pre-training: Adam, lr 1e-3, batch 256, 30 epochs; the
   reference loads SDCN's pre-trained weights, which we re-create here).
2. DEC cluster centres are initialised by k-means (``n_init`` 20) on ``z``.
3. ``epochs`` full-batch epochs of ``beta * KL(P || Q) + alpha * L_pc`` with Adam
   on the encoder and the centres: ``Q`` the Student-t soft assignments, ``P``
   the DEC target recomputed (without gradient) from every epoch's Q,
   ``L_pc`` :func:`graphcl.losses.pamc_loss` with the r-hop positives of
   ``A^ = D^-1 (A + I)`` (cumulative ``A^ + ... + A^^r``) and hard meta-nodes.
   The graph enters only through the loss (no message passing), as in the paper.

Model choice: none. The clustering reported is ``argmax Q`` after the fixed
schedule (the paper's 200 epochs); labels are used only to score it. The
reference code instead reports the maximum of each metric over the epochs,
which selects on the test labels (see ALGORITHMS.md section 4), so its numbers
are optimistic compared with ours. As a second reading, k-means on the final
embedding ``z`` is reported too (:func:`graphcl.eval.kmeans_eval`).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphcl.config import setting
from graphcl.losses import dec_soft_assignment, dec_target_distribution, pamc_loss, rhop_positives
from graphcl.methods import RunContext, register
from graphcl.sparse import sparse_features, sparse_linear
from graphcl.utils import make_generator, seed_everything
from graphcl.validation import check_features, check_positive_int

__all__ = ["PamCModel", "train_pamc", "run", "SPARSE_DENSITY"]

SPARSE_DENSITY = 0.1  # features at most this dense are multiplied as a sparse matrix in the clustering phase


def _mlp(dims: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class PamCModel(nn.Module):
    """MLP auto-encoder (SDCN's) plus DEC cluster centres.

    Example:
        >>> m = PamCModel(8, num_clusters=3, hidden_dims=(16, 16), embed_dim=4)
        >>> z = m(torch.randn(5, 8))
        >>> z.shape, m.assign(z).shape, m.decode(z).shape
        (torch.Size([5, 4]), torch.Size([5, 3]), torch.Size([5, 8]))
    """

    def __init__(self, in_dim: int, num_clusters: int, hidden_dims: tuple[int, ...] | list[int] = (500, 500, 2000),
                 embed_dim: int = 10, dec_alpha: float = 1.0) -> None:
        super().__init__()
        check_positive_int(in_dim, "in_dim")
        check_positive_int(num_clusters, "num_clusters")
        check_positive_int(embed_dim, "embed_dim")
        hidden = [check_positive_int(h, "hidden_dims") for h in hidden_dims]
        self.encoder = _mlp([in_dim, *hidden, embed_dim])
        self.decoder = _mlp([embed_dim, *reversed(hidden), in_dim])
        self.centers = nn.Parameter(torch.empty(num_clusters, embed_dim))
        nn.init.xavier_normal_(self.centers)
        self.dec_alpha = float(dec_alpha)

    def forward(self, x: Tensor) -> Tensor:
        """Embedding ``z`` (the encoder output).

        ``x`` may be a sparse COO/CSR matrix (bag-of-words features): the first
        layer is then a sparse-dense product, the same function at
        O(nnz(x) * width) instead of O(N * in_dim * width) cost.
        """
        if x.layout != torch.strided:
            return self.encoder[1:](sparse_linear(x, self.encoder[0]))
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    def assign(self, z: Tensor) -> Tensor:
        """DEC soft assignments ``Q`` of ``z`` to the centres."""
        return dec_soft_assignment(z, self.centers, self.dec_alpha)


def _setting(config: dict, key: str) -> Any:
    return setting(config, key, "PamC")


def train_pamc(
    data: Any,
    config: dict,
    *,
    num_clusters: int | None = None,
    device: torch.device | str = "cpu",
    seed: int = 0,
    progress: bool = False,
    checkpoint: str | None = None,
    resume: bool = False,
    pretrained: dict[str, Tensor] | None = None,
) -> dict[str, Any]:
    """Pre-train, initialise and train PamC on ``data`` (``x``, ``edge_index``); labels are not read.

    ``num_clusters`` defaults to ``config["num_clusters"]``. Returns ``{"model",
    "embedding" (CPU [N, embed_dim]), "q" (CPU [N, K]), "pred" (CPU argmax Q),
    "history", "pretrain_history", "train" (fit's summary),
    "num_positive_pairs", "pretrained" (the auto-encoder's state after
    pre-training, CPU tensors)}``. ``checkpoint``/``resume`` apply to the
    clustering phase (pre-training and k-means are deterministic given ``seed``).

    ``pretrained``: an auto-encoder state from an earlier call on the same data
    and config (its ``"pretrained"`` entry); pre-training is then skipped and
    ``seed`` only drives the k-means initialisation of the centres and the
    clustering phase -- the reference code's protocol, which loads one
    pre-trained auto-encoder for all its runs. Features with at most
    ``SPARSE_DENSITY`` nonzeros go through the encoder's first layer as a
    sparse product in the clustering phase (same function, less work).

    Example:
        >>> from graphcl.data import sbm
        >>> from graphcl.config import load_config
        >>> g = sbm([20, 20], p_in=0.3, p_out=0.02, num_features=8, seed=0)
        >>> cfg = dict(load_config("pamc"), epochs=2, pretrain_epochs=1, hidden_dims=[16], embed_dim=4)
        >>> train_pamc(g, cfg, num_clusters=2)["pred"].shape
        torch.Size([40])
    """
    from sklearn.cluster import KMeans

    from graphcl.train import fit

    device = torch.device(device)
    k = num_clusters if num_clusters is not None else config.get("num_clusters")
    if k is None:
        raise ValueError("num_clusters must be given (argument or config['num_clusters'])")
    k = check_positive_int(k, "num_clusters")
    epochs = int(_setting(config, "epochs"))
    pre_epochs = int(_setting(config, "pretrain_epochs"))
    if epochs < 0 or pre_epochs < 0:
        raise ValueError(f"epochs and pretrain_epochs must be >= 0, got {epochs}, {pre_epochs}")
    batch = check_positive_int(int(_setting(config, "pretrain_batch_size")), "pretrain_batch_size")
    alpha, beta = float(_setting(config, "alpha")), float(_setting(config, "beta"))
    tau = float(_setting(config, "tau"))
    hard = bool(_setting(config, "hard_meta_nodes"))
    x = check_features(data.x, None, "data.x").to(device=device, dtype=torch.float32)
    n = x.size(0)
    if k > n:
        raise ValueError(f"num_clusters={k} exceeds the number of nodes {n}")
    edge_index = data.edge_index.to(device)
    pos, pos_w = rhop_positives(edge_index, n, int(_setting(config, "r")),
                                cumulative=bool(_setting(config, "cumulative")),
                                add_self_loops=bool(_setting(config, "self_loops")))

    seed_everything(seed)
    model = PamCModel(x.size(1), k, list(_setting(config, "hidden_dims")), int(_setting(config, "embed_dim")),
                      float(_setting(config, "dec_alpha"))).to(device)
    gen = make_generator(seed, device)
    ae_keys = [kk for kk in model.state_dict() if kk.startswith(("encoder.", "decoder."))]
    if pretrained is not None:
        if not isinstance(pretrained, dict) or sorted(pretrained) != sorted(ae_keys):
            raise ValueError("pretrained must be the 'pretrained' entry of train_pamc's result for the same "
                             "feature dimension and config (encoder.* and decoder.* tensors)")
        model.load_state_dict({kk: v.to(device) for kk, v in pretrained.items()}, strict=False)
        pre_epochs = 0

    # 1. auto-encoder pre-training (minibatch MSE reconstruction)
    ae_params = list(model.encoder.parameters()) + list(model.decoder.parameters())
    pre_opt = torch.optim.Adam(ae_params, lr=float(_setting(config, "pretrain_lr")))

    def pre_step(epoch: int) -> float:
        model.train()
        perm = torch.randperm(n, generator=gen, device=device)
        total = 0.0
        for start in range(0, n, batch):  # minibatches, not nodes
            xb = x[perm[start:start + batch]]
            pre_opt.zero_grad(set_to_none=True)
            loss = F.mse_loss(model.decode(model(xb)), xb)
            loss.backward()
            pre_opt.step()
            total += loss.item() * xb.size(0)
        return total / n

    pre = fit(pre_step, pre_epochs, state={"model": model, "opt": pre_opt}, generators={"batches": gen},
              keep_best=False, progress=progress, desc="pamc-pretrain")

    pre_state = {kk: v.detach().cpu().clone() for kk, v in model.state_dict().items() if kk in ae_keys}

    # sparse bag-of-words features: the first layer as a sparse product (an exact rewrite of x @ W^T)
    x = sparse_features(x, SPARSE_DENSITY)

    # 2. cluster centres from k-means on the pre-trained embedding
    with torch.no_grad():
        z0 = model(x).double().cpu().numpy()
    km = KMeans(n_clusters=k, n_init=int(_setting(config, "kmeans_init_n_init")), random_state=seed).fit(z0)
    with torch.no_grad():
        model.centers.copy_(torch.as_tensor(km.cluster_centers_, dtype=torch.float32, device=device))

    # 3. clustering phase: beta * KL(P || Q) + alpha * L_pc
    params = list(model.encoder.parameters()) + [model.centers]
    opt = torch.optim.Adam(params, lr=float(_setting(config, "lr")))

    def step(epoch: int) -> dict[str, float]:
        model.train()
        opt.zero_grad(set_to_none=True)
        z = model(x)
        q = model.assign(z)
        # the target from this epoch's parameters (the reference's no-grad forward before the step: same values)
        p = dec_target_distribution(q.detach())
        kl = F.kl_div(q.clamp_min(1e-30).log(), p, reduction="batchmean")
        lpc = pamc_loss(z, q, pos, pos_w, tau, hard=hard)
        loss = beta * kl + alpha * lpc
        loss.backward()
        opt.step()
        return {"loss": loss.item(), "kl": kl.item(), "pamc": lpc.item()}

    result = fit(step, epochs, state={"model": model, "opt": opt}, keep_best=False, checkpoint=checkpoint,
                 resume=resume, progress=progress, desc="pamc")
    model.eval()
    with torch.no_grad():
        z = model(x)
        q = model.assign(z)
    return {"model": model, "embedding": z.float().cpu(), "q": q.float().cpu(), "pred": q.argmax(1).cpu(),
            "history": result.history, "pretrain_history": pre.history, "train": result.to_dict(),
            "num_positive_pairs": int(pos.size(1)), "pretrained": pre_state}


@register("pamc", description="PamC: pre-trained MLP auto-encoder, DEC + meta-node contrastive loss; clustering",
          default_dataset="acm")
def run(dataset: str, config: dict, ctx: RunContext) -> dict:
    from graphcl.data import load
    from graphcl.eval import cluster_metrics, kmeans_eval

    data = load(dataset, root=ctx.root)
    y = getattr(data, "y", None)
    if y is None or y.dim() != 1:
        raise ValueError(f"method 'pamc' needs single-label node classes to score clusters; {dataset!r} has none")
    if getattr(data, "x", None) is None:
        raise ValueError(f"method 'pamc' needs node features; {dataset!r} has none")
    k = config.get("num_clusters") or int(y.unique().numel())
    out = train_pamc(data, config, num_clusters=k, device=ctx.device, seed=ctx.seed, progress=not ctx.quiet,
                     checkpoint=ctx.checkpoint, resume=ctx.resume)
    clus = cluster_metrics(y, out["pred"])
    clus["protocol"] = (f"argmax of the DEC soft assignment Q after the fixed schedule ({config['epochs']} epochs, "
                        f"the paper's; no model or epoch chosen with labels), k={k}; ACC/F1 after Hungarian "
                        f"matching, NMI, ARI (graphcl.eval.cluster_metrics); the reference code reports the max "
                        f"over epochs instead (test-label selection)")
    km = kmeans_eval(out["embedding"], y, n_clusters=k, n_init=int(config["eval_kmeans_n_init"]),
                     num_seeds=int(config["eval_kmeans_seeds"]), seed=ctx.seed)
    km.pop("per_seed", None)
    train = {kk: v for kk, v in out["train"].items() if kk != "history"}
    return {"metrics": {"clustering": clus, "clustering_kmeans": km}, "history": out["history"], "train": train,
            "embedding": out["embedding"], "labels": y}
