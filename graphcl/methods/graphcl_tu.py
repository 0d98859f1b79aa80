"""GraphCL on TU graph classification (You et al., NeurIPS 2020), unsupervised setting.

Recipe of the reference ``unsupervised_TU/gsimclr.py`` (github.com/Shen-Lab/GraphCL):
GIN encoder (3 layers, hidden 32, ``Linear -> ReLU -> Linear`` MLPs, ReLU then
batch norm after each layer), sum readout of every layer concatenated (96-d
graph embedding), projection ``Linear -> ReLU -> Linear`` (96 -> 96 -> 96), all
linear layers Xavier-uniform with zero bias. Each mini-batch of 128 graphs is
encoded twice: the original graphs and one GraphCL view of them
(:func:`graphcl.augment.graph_views.graph_view`; the reference contrasts the
original with ONE augmented view, not two augmented views) and the loss is the
NT-Xent of the reference, :func:`nt_xent` (cross-view negatives only, positive
excluded from the denominator, one direction, ``tau = 0.2``). Adam, lr 0.01,
20 epochs. The reference adds a self-loop to every node (``self_loops: true``
here adds one to every node of both views). IMDB-BINARY has no node features:
the reference uses the constant 1 (``features: constant``).

Known difference from the reference code (not from the paper, which does not
say): the reference adds self-loops to every graph when it is loaded and its
training loop then strips them from the augmented view of node-dropping /
subgraph / ``random*`` augmentations, so it trains on an original view with
self-loops against an augmented view without; here ``self_loops`` gives both
views (and the evaluated originals) self-loops.

Evaluation: the encoder's graph embeddings (before the projection) of the
original graphs after the last epoch, SVM with ``C`` chosen inside each outer
training fold, stratified 10-fold CV (:func:`graphcl.eval.graph_classification_svm`,
``precompute_kernel=True`` for ``svm_impl: precomputed``: the same protocol on one shared
kernel matrix, identical predictions, about half the time).
The reference logs the accuracy at epochs 10 and 20; nothing here looks at
test folds to choose an epoch. ``selection: inner_cv`` trains one model per
augmentation of ``select_augs`` (:func:`graphcl_candidates`) and lets the SVM's
inner CV choose among their embeddings together with ``C``, inside every outer
training fold (the GraphCL paper tunes the augmentation per dataset; here the
choice never sees a test fold). SEGA's matching option chooses its embedding type.

The graph-level training glue shared with SEGA (:mod:`graphcl.methods.sega`)
lives here: :func:`prepare_graphs`, :func:`iterate_batches`,
:func:`encode_view`, :func:`train_contrastive`, :func:`embed_graphs`,
:func:`evaluate_embeddings`, :func:`nt_xent`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphcl.augment.graph_views import graph_view, resolve_augmentations
from graphcl.losses import infonce
from graphcl.methods import RunContext, register
from graphcl.nn import GINGraphEncoder, ProjectionHead
from graphcl.utils import make_generator, seed_everything
from graphcl.validation import check_positive_int

__all__ = [
    "nt_xent",
    "projection_head",
    "xavier_init",
    "GraphCLModel",
    "prepare_graphs",
    "iterate_batches",
    "encode_view",
    "train_contrastive",
    "embed_graphs",
    "evaluate_embeddings",
    "train_graphcl",
    "selection_mode",
    "graphcl_candidates",
    "protocol_note",
    "run",
]


# --------------------------------------------------------------------- loss
def nt_xent(z1: Tensor, z2: Tensor, tau: float = 0.2, *, symmetric: bool = False) -> Tensor:
    """GraphCL's NT-Xent: ``mean_i -log(e^{s_ii} / sum_{j != i} e^{s_ij})``, ``s_ij = cos(z1_i, z2_j) / tau``.

    Only cross-view negatives, the positive left out of the denominator, rows
    of ``z1`` as anchors (the reference ``loss_cal``). ``symmetric=True``
    averages both directions (SEGA's ``loss_sym``); that is
    :func:`graphcl.losses.infonce` with ``intra_view_negatives=False,
    decoupled=True``, which computes it.

    Example:
        >>> z = torch.eye(3)
        >>> round(float(nt_xent(z, z, tau=1.0)), 4)  # -log(e / (2 e^0))
        -0.3069
    """
    if not isinstance(z1, Tensor) or not isinstance(z2, Tensor):
        raise TypeError("z1 and z2 must be tensors")
    if z1.dim() != 2 or z1.shape != z2.shape:
        raise ValueError(f"z1 and z2 must be [B, d] of the same shape, got {list(z1.shape)} and {list(z2.shape)}")
    if z1.size(0) < 2:
        raise ValueError(f"z1 must hold at least 2 rows (one positive, >= 1 negative), got {z1.size(0)}")
    tau = float(tau)
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    if symmetric:
        return infonce(z1, z2, tau, intra_view_negatives=False, decoupled=True)
    s = F.normalize(z1.float(), dim=1) @ F.normalize(z2.float(), dim=1).t() / tau
    eye = torch.eye(s.size(0), dtype=torch.bool, device=s.device)
    return (s.masked_fill(eye, float("-inf")).logsumexp(1) - s.diagonal()).mean()


# -------------------------------------------------------------------- model
def projection_head(in_dim: int, out_dim: int) -> ProjectionHead:
    """GraphCL/SEGA projection ``Linear(in, out) -> ReLU -> Linear(out, out)``.

    Example:
        >>> projection_head(96, 96)(torch.randn(4, 96)).shape
        torch.Size([4, 96])
    """
    return ProjectionHead(in_dim, out_dim, out_dim, activation="relu")


def xavier_init(module: nn.Module) -> nn.Module:
    """Xavier-uniform weights and zero biases for every ``nn.Linear`` in ``module`` (GraphCL's ``init_emb``).

    Example:
        >>> bool((xavier_init(nn.Linear(3, 2)).bias == 0).all())
        True
    """
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


class GraphCLModel(nn.Module):
    """GIN graph encoder (:class:`graphcl.nn.GINGraphEncoder`) plus the projection head.

    ``forward(x, edge_index, batch, num_graphs)`` returns the graph embeddings
    ``[B, hidden * num_layers]`` (what is evaluated), ``project`` the head's output.

    Example:
        >>> m = GraphCLModel(4)
        >>> m(torch.randn(5, 4), torch.tensor([[0, 1], [1, 0]]), torch.tensor([0, 0, 0, 1, 1]), 2).shape
        torch.Size([2, 96])
    """

    def __init__(self, in_dim: int, hidden: int = 32, num_layers: int = 3, readout: str = "sum") -> None:
        super().__init__()
        self.encoder = GINGraphEncoder(in_dim, hidden, num_layers, readout=readout, concat=True)
        self.head = projection_head(self.encoder.out_dim, self.encoder.out_dim)
        xavier_init(self)

    @property
    def out_dim(self) -> int:
        return self.encoder.out_dim

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        return self.encoder(x, edge_index, batch, num_graphs)[1]

    def project(self, g: Tensor) -> Tensor:
        return self.head(g)


# --------------------------------------------------------------------- data
def prepare_graphs(dataset: str | Sequence[Any], features: str = "default", root: str | None = None) -> list[Any]:
    """The graphs of a TU dataset as a list of ``Data(x, edge_index, y)`` (float ``x``).

    ``features="default"``: the loader's node features (one-hot node labels;
    one-hot degree where a dataset has none); ``"constant"``: ``x = 1`` (``[n, 1]``),
    what the GraphCL/SEGA references use for IMDB-BINARY. ``dataset`` is a
    name for :func:`graphcl.data.load` or a sequence of ``Data``.

    Example:
        >>> from torch_geometric.data import Data
        >>> g = Data(edge_index=torch.tensor([[0], [1]]), y=torch.tensor([1]), num_nodes=2)
        >>> prepare_graphs([g], "constant")[0].x.tolist()
        [[1.0], [1.0]]
    """
    from torch_geometric.data import Data

    if features not in ("default", "constant"):
        raise ValueError(f"features must be 'default' or 'constant', got {features!r}")
    if isinstance(dataset, str):
        from graphcl.data import load

        dataset = load(dataset, root=root)
    out = []
    for i in range(len(dataset)):
        g = dataset[i]
        n = int(g.num_nodes)
        if features == "constant" or getattr(g, "x", None) is None:
            if features == "default":
                raise ValueError(f"graph {i} has no node features; use features='constant'")
            x = torch.ones(n, 1)
        else:
            x = g.x.float()
        y = getattr(g, "y", None)
        if y is None:
            raise ValueError(f"graph {i} has no label y")
        out.append(Data(x=x, edge_index=g.edge_index.long(), y=y.view(-1)[:1].long(), num_nodes=n))
    if not out:
        raise ValueError("dataset holds no graphs")
    return out


def iterate_batches(graphs: Sequence[Any], batch_size: int, *, generator: torch.Generator | None = None,
                    device: torch.device | str = "cpu") -> Iterator[Any]:
    """PyG ``Batch`` objects of ``batch_size`` graphs, in random order when a (CPU) ``generator`` is given.

    Example:
        >>> from torch_geometric.data import Data
        >>> gs = [Data(x=torch.ones(2, 1), edge_index=torch.tensor([[0], [1]])) for _ in range(5)]
        >>> [b.num_graphs for b in iterate_batches(gs, 2)]
        [2, 2, 1]
    """
    from torch_geometric.data import Batch

    batch_size = check_positive_int(batch_size, "batch_size")
    n = len(graphs)
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for chunk in order.split(batch_size):
        yield Batch.from_data_list([graphs[i] for i in chunk.tolist()]).to(device)


def _with_self_loops(edge_index: Tensor, num_nodes: int) -> Tensor:
    loops = torch.arange(num_nodes, device=edge_index.device).expand(2, num_nodes)
    return torch.cat([edge_index, loops], 1)


def encode_view(model: GraphCLModel, b: Any, config: dict, generator: torch.Generator | None = None) -> Tensor:
    """Graph embeddings of mini-batch ``b``: of the original graphs (``generator=None``)
    or of one GraphCL view drawn with ``config['aug']`` and its ratios.

    Example:
        >>> from torch_geometric.data import Batch, Data
        >>> b = Batch.from_data_list([Data(x=torch.ones(3, 2), edge_index=torch.tensor([[0, 1], [1, 2]]))] * 2)
        >>> encode_view(GraphCLModel(2), b, {"self_loops": True}).shape
        torch.Size([2, 96])
    """
    x, ei, batch = b.x, b.edge_index, b.batch
    if generator is not None:
        x, ei, batch, _ = graph_view(x, ei, batch, config["aug"], num_graphs=b.num_graphs,
                                     drop_ratio=float(config["drop_ratio"]), edge_ratio=float(config["edge_ratio"]),
                                     subgraph_keep=float(config["subgraph_keep"]),
                                     mask_ratio=float(config["mask_ratio"]), generator=generator)
    if config.get("self_loops", False):
        ei = _with_self_loops(ei, x.size(0))
    return model(x, ei, batch, b.num_graphs)


# ------------------------------------------------------------------ training
def train_contrastive(
    graphs: Sequence[Any],
    loss_fn: Callable[[Any, torch.Generator], Tensor],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    batch_size: int,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = False,
    checkpoint: str | None = None,
    resume: bool = False,
    desc: str = "graphcl",
) -> dict[str, Any]:
    """Mini-batch contrastive training of ``model`` through :func:`graphcl.train.fit`.

    Every epoch visits the graphs in a new random order (generator seeded by
    ``seed``) in batches of ``batch_size``; ``loss_fn(batch, view_generator)``
    returns the batch loss (the view generator, seeded by ``seed + 1`` on
    ``device``, draws the augmentations). A final batch of one graph is skipped
    (no negative). The history holds per epoch the graph-weighted mean loss and
    ``epoch_time_s``. Returns fit's summary (``train``) and ``epoch_times``.

    Example:
        >>> from torch_geometric.data import Data
        >>> gs = [Data(x=torch.randn(4, 2), edge_index=torch.tensor([[0, 1, 2], [1, 2, 3]]), y=torch.tensor([0]))
        ...       for _ in range(6)]
        >>> m = GraphCLModel(2, hidden=8)
        >>> cfg = {"aug": "dnodes", "drop_ratio": 0.2, "edge_ratio": 0.1, "subgraph_keep": 0.2, "mask_ratio": 0.1}
        >>> f = lambda b, g: nt_xent(m.project(encode_view(m, b, cfg)), m.project(encode_view(m, b, cfg, g)))
        >>> out = train_contrastive(gs, f, m, torch.optim.Adam(m.parameters()), epochs=2, batch_size=3)
        >>> len(out["epoch_times"])
        2
    """
    from graphcl.train import fit

    epochs = check_positive_int(int(epochs), "epochs", minimum=0)
    batch_size = check_positive_int(int(batch_size), "batch_size")
    device = torch.device(device)
    order_gen = make_generator(seed, "cpu")
    view_gen = make_generator(seed + 1, device)
    epoch_times: list[float] = []

    def step(epoch: int) -> dict[str, float]:
        t0 = time.perf_counter()
        model.train()
        total, count = 0.0, 0
        for b in iterate_batches(graphs, batch_size, generator=order_gen, device=device):
            if b.num_graphs < 2:
                continue
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(b, view_gen)
            loss.backward()
            optimizer.step()
            total += loss.item() * b.num_graphs
            count += b.num_graphs
        dt = time.perf_counter() - t0
        epoch_times.append(dt)
        return {"loss": total / max(count, 1), "epoch_time_s": dt}

    result = fit(step, epochs, state={"model": model, "opt": optimizer}, keep_best=False, checkpoint=checkpoint,
                 resume=resume, generators={"order": order_gen, "views": view_gen}, progress=progress, desc=desc)
    return {"train": result.to_dict(), "epoch_times": epoch_times}


@torch.no_grad()
def embed_graphs(graphs: Sequence[Any], encode: Callable[[Any], Tensor], *, batch_size: int = 512,
                 device: torch.device | str = "cpu") -> Tensor:
    """``encode(batch)`` over all graphs in their order, concatenated (CPU float32).

    Example:
        >>> from torch_geometric.data import Data
        >>> gs = [Data(x=torch.ones(2, 1), edge_index=torch.tensor([[0], [1]])) for _ in range(3)]
        >>> embed_graphs(gs, lambda b: b.x.new_ones(b.num_graphs, 2), batch_size=2).shape
        torch.Size([3, 2])
    """
    out = [encode(b).float().cpu() for b in iterate_batches(graphs, batch_size, device=device)]
    return torch.cat(out, 0)


def evaluate_embeddings(emb: Tensor | Mapping[str, Tensor], y: Tensor, config: dict, *,
                        seed: int = 0) -> dict[str, Any]:
    """SVM graph classification of frozen embeddings with ``config``'s ``svm_folds``, ``svm_seeds``,
    ``svm_inner_folds``, ``svm_C_grid``: :func:`graphcl.eval.graph_classification_svm`
    (``svm_impl: sklearn``, the default when the key is absent) or the same protocol on one shared
    kernel matrix (``svm_impl: precomputed``: ``precompute_kernel=True``). ``emb`` may be a
    mapping of candidate embeddings: the inner CV of every outer training part then chooses the
    candidate together with ``C`` (never on the test fold).

    Example:
        >>> X = torch.cat([torch.randn(20, 3) + 3, torch.randn(20, 3) - 3])
        >>> cfg = {"svm_folds": 4, "svm_seeds": 1, "svm_inner_folds": 3, "svm_C_grid": [1.0]}
        >>> evaluate_embeddings(X, torch.arange(40) // 20, cfg)["accuracy"]
        1.0
    """
    from graphcl.eval import graph_classification_svm

    impl = str(config.get("svm_impl", "sklearn"))
    if impl not in ("sklearn", "precomputed"):
        raise ValueError(f"svm_impl must be 'sklearn' or 'precomputed', got {impl!r}")
    return graph_classification_svm(emb, y, folds=int(config["svm_folds"]), num_seeds=int(config["svm_seeds"]),
                                    C_grid=[float(c) for c in config["svm_C_grid"]], seed=seed,
                                    inner_folds=int(config["svm_inner_folds"]),
                                    precompute_kernel=impl == "precomputed")


def _labels(graphs: Sequence[Any]) -> Tensor:
    return torch.cat([g.y.view(-1)[:1] for g in graphs]).long()


# ------------------------------------------------------------------- GraphCL
def train_graphcl(graphs: Sequence[Any], config: dict, *, device: torch.device | str = "cpu", seed: int = 0,
                  progress: bool = False, checkpoint: str | None = None, resume: bool = False) -> dict[str, Any]:
    """Train GraphCL on ``graphs`` (from :func:`prepare_graphs`); returns ``model``,
    ``embedding`` (CPU ``[G, 96]``, original graphs, final epoch), ``train``, ``epoch_times``.

    Example:
        >>> from graphcl.config import load_config
        >>> from torch_geometric.data import Data
        >>> gs = [Data(x=torch.randn(5, 3), edge_index=torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]]),
        ...            y=torch.tensor([i % 2])) for i in range(8)]
        >>> train_graphcl(gs, dict(load_config("graphcl"), epochs=1, batch_size=4))["embedding"].shape
        torch.Size([8, 96])
    """
    device = torch.device(device)
    resolve_augmentations(config["aug"])
    seed_everything(seed)
    model = GraphCLModel(graphs[0].x.size(1), int(config["hidden"]), int(config["num_layers"]),
                         str(config["readout"])).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=float(config["lr"]))
    tau, sym = float(config["tau"]), bool(config["symmetric_loss"])

    def loss_fn(b: Any, gen: torch.Generator) -> Tensor:
        z = model.project(encode_view(model, b, config))
        z_aug = model.project(encode_view(model, b, config, gen))
        return nt_xent(z, z_aug, tau, symmetric=sym)

    out = train_contrastive(graphs, loss_fn, model, opt, epochs=int(config["epochs"]),
                            batch_size=int(config["batch_size"]), seed=seed, device=device, progress=progress,
                            checkpoint=checkpoint, resume=resume, desc="graphcl")
    model.eval()
    emb = embed_graphs(graphs, lambda b: encode_view(model, b, config), batch_size=int(config["eval_batch_size"]),
                       device=device)
    return {"model": model, "embedding": emb, **out}


def selection_mode(config: dict) -> str:
    """``config['selection']``: ``"none"`` (one embedding fixed in the config) or ``"inner_cv"``
    (the config's candidates, chosen with ``C`` by the SVM's inner CV on each outer training part).

    Example:
        >>> selection_mode({"selection": "inner_cv"})
        'inner_cv'
    """
    mode = str(config.get("selection", "none"))
    if mode not in ("none", "inner_cv"):
        raise ValueError(f"selection must be 'none' or 'inner_cv', got {mode!r}")
    return mode


def graphcl_candidates(graphs: Sequence[Any], config: dict, *, device: torch.device | str = "cpu", seed: int = 0,
                       progress: bool = False, checkpoint: str | None = None,
                       resume: bool = False) -> tuple[dict[str, Tensor], dict[str, dict[str, Any]]]:
    """GraphCL's candidate embeddings for ``selection: inner_cv``: one model per augmentation of
    ``config['select_augs']`` (same seed, final epoch), named ``aug=<name>`` in that order.
    Returns the embeddings and the :func:`train_graphcl` outputs (without the models).

    Example:
        >>> from graphcl.config import load_config
        >>> from torch_geometric.data import Data
        >>> gs = [Data(x=torch.randn(5, 3), edge_index=torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]]),
        ...            y=torch.tensor([i % 2])) for i in range(8)]
        >>> cfg = dict(load_config("graphcl"), epochs=1, batch_size=4, select_augs=["dnodes", "pedges"])
        >>> list(graphcl_candidates(gs, cfg)[0])
        ['aug=dnodes', 'aug=pedges']
    """
    augs = list(config["select_augs"])
    if not augs or len(set(map(str, augs))) != len(augs):
        raise ValueError(f"select_augs must be a non-empty list of distinct augmentations, got {augs!r}")
    embs, outs = {}, {}
    for aug in augs:
        ckpt = f"{checkpoint}.{aug}" if checkpoint else None
        out = train_graphcl(graphs, dict(config, aug=aug), device=device, seed=seed, progress=progress,
                            checkpoint=ckpt, resume=resume)
        embs[f"aug={aug}"] = out.pop("embedding")
        out.pop("model")
        outs[f"aug={aug}"] = out
    return embs, outs


def protocol_note(config: dict) -> str:
    """What the reported accuracy is (appended to the SVM protocol).

    Example:
        >>> protocol_note({"epochs": 20, "selection": "none"}).startswith("frozen graph embeddings")
        True
    """
    if selection_mode(config) == "inner_cv":
        return (f"frozen graph embeddings after the final epoch ({config['epochs']}); the embedding is one of a "
                f"fixed candidate list, chosen with C by the inner CV of each outer training part; "
                f"nothing chosen on test folds")
    return (f"frozen graph embeddings after the final epoch ({config['epochs']}); no epoch or embedding "
            f"chosen on test folds")


@register("graphcl", description="GraphCL (unsupervised TU): GIN + graph augmentations, NT-Xent, SVM 10-fold",
          default_dataset="mutag")
def run(dataset: str, config: dict, ctx: RunContext) -> dict:
    graphs = prepare_graphs(dataset, str(config["features"]), ctx.root)
    y = _labels(graphs)
    kw = {"device": ctx.device, "seed": ctx.seed, "progress": not ctx.quiet, "checkpoint": ctx.checkpoint,
          "resume": ctx.resume}
    if selection_mode(config) == "inner_cv":
        embs, outs = graphcl_candidates(graphs, config, **kw)
        res = evaluate_embeddings(embs, y, config, seed=ctx.seed)
        first = next(iter(outs))  # the embedding returned: the first candidate's
        out, emb = outs[first], embs[first]
    else:
        out = train_graphcl(graphs, config, **kw)
        emb = out["embedding"]
        res = evaluate_embeddings(emb, y, config, seed=ctx.seed)
    res["protocol"] = f"{res['protocol']}; {protocol_note(config)}"
    train = {k: v for k, v in out["train"].items() if k != "history"}
    return {"metrics": {"graph_classification": res}, "history": out["train"]["history"], "train": train,
            "embedding": emb, "labels": y}
