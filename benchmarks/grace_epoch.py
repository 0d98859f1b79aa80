"""GRACE epoch time: graphcl's train_grace vs a plain PyG re-implementation of the reference loop.

The peer is written here after the GRACE reference code (github.com/CRIPAC-DIG/GRACE,
``model.py`` / ``train.py``): the same 2-layer GCN encoder (PyG ``GCNConv``,
``in -> 2h -> h``), ``Linear -> ELU -> Linear`` projection, PyG
``dropout_edge`` + column feature dropping for the views, and the reference
loss with DENSE ``N x N`` similarity matrices
(``refl_sim = exp(cos(z1, z1) / tau)``, ``between_sim = exp(cos(z1, z2) / tau)``,
``-log(diag(between) / (rowsum(refl) + rowsum(between) - diag(refl)))``, both
directions averaged). One epoch = views + forward + loss + backward + Adam step,
for both implementations (graphcl's per-epoch ``step_s`` from the training
history). Both use the dataset's settings of graphcl/configs/grace.yaml.

The implementations are timed interleaved in the same process (graphcl, peer,
graphcl, peer, ...; each round trains a fresh model for ``--epochs`` epochs),
and the reported ratio is the median of the per-round ratios of the median
epoch times (wall clock; the process CPU time ratio is reported beside it, as it
is less disturbed by other jobs on a shared machine). The peer's loss is first checked to equal graphcl.losses.infonce
on random inputs. Target: graphcl <= 1.0x the peer on Coauthor CS.

Usage:
    GRAPHCL_DATA=/work/shared/datasets python benchmarks/grace_epoch.py --dataset coauthor-cs --rounds 2
    python benchmarks/grace_epoch.py --quick          # SBM, < 1 minute
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GCNConv
from torch_geometric.utils import dropout_edge

from graphcl.config import load_config
from graphcl.losses import infonce
from graphcl.methods.grace import train_grace
from graphcl.utils import atomic_write_json, machine_info, resolve_device, seed_everything

ACTS = {"relu": nn.ReLU, "prelu": nn.PReLU, "rrelu": nn.RReLU, "elu": nn.ELU}


class RefModel(nn.Module):
    """GRACE reference model: k GCNConv layers (in -> 2h -> ... -> h) + Linear -> ELU -> Linear."""

    def __init__(self, in_dim: int, hidden: int, proj_hidden: int, activation: str, tau: float) -> None:
        super().__init__()
        self.convs = nn.ModuleList([GCNConv(in_dim, 2 * hidden), GCNConv(2 * hidden, hidden)])
        self.acts = nn.ModuleList([ACTS[activation](), ACTS[activation]()])
        self.fc1, self.fc2 = nn.Linear(hidden, proj_hidden), nn.Linear(proj_hidden, hidden)
        self.tau = tau

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        for conv, act in zip(self.convs, self.acts):
            x = act(conv(x, edge_index))
        return x

    def projection(self, z: Tensor) -> Tensor:
        return self.fc2(F.elu(self.fc1(z)))

    def semi_loss(self, z1: Tensor, z2: Tensor) -> Tensor:
        z1, z2 = F.normalize(z1), F.normalize(z2)
        refl_sim = torch.exp(z1 @ z1.t() / self.tau)
        between_sim = torch.exp(z1 @ z2.t() / self.tau)
        return -torch.log(between_sim.diag() / (refl_sim.sum(1) + between_sim.sum(1) - refl_sim.diag()))

    def loss(self, h1: Tensor, h2: Tensor) -> Tensor:
        return ((self.semi_loss(h1, h2) + self.semi_loss(h2, h1)) * 0.5).mean()


def drop_feature(x: Tensor, p: float) -> Tensor:
    mask = torch.empty(x.size(1), device=x.device).uniform_(0, 1) < p
    x = x.clone()
    x[:, mask] = 0
    return x


def peer_epochs(data, cfg: dict, epochs: int, device: torch.device, seed: int) -> tuple[list[float], list[float]]:
    """Train the reference re-implementation for ``epochs`` epochs; per-epoch wall and process CPU times."""
    seed_everything(seed)
    x, ei = data.x.to(device=device, dtype=torch.float32), data.edge_index.to(device)
    model = RefModel(x.size(1), cfg["hidden"], cfg["proj_hidden"], cfg["activation"], cfg["tau"]).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    times, cpu = [], []
    for _ in range(epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        model.train()
        opt.zero_grad()
        e1, _ = dropout_edge(ei, p=cfg["p_e1"])
        e2, _ = dropout_edge(ei, p=cfg["p_e2"])
        x1, x2 = drop_feature(x, cfg["p_f1"]), drop_feature(x, cfg["p_f2"])
        loss = model.loss(model.projection(model(x1, e1)), model.projection(model(x2, e2)))
        loss.backward()
        opt.step()
        loss.item()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return times, cpu


def check_same_loss() -> float:
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(300, 16, generator=g), torch.randn(300, 16, generator=g)
    ref = RefModel(4, 4, 4, "relu", 0.4).loss(z1, z2)
    ours = infonce(z1, z2, 0.4)
    diff = abs(float(ref) - float(ours))
    assert diff < 1e-4, (float(ref), float(ours))
    return diff


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="coauthor-cs")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds (graphcl then peer)")
    ap.add_argument("--epochs", type=int, default=1, help="epochs per round and implementation")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    diff = check_same_loss()
    if args.quick:
        from graphcl.data import sbm

        data = sbm([300, 300, 300], p_in=0.05, p_out=0.005, num_features=64, seed=0)
        name, cfg = "sbm", dict(load_config("grace"), hidden=64, proj_hidden=64)
        args.rounds, args.epochs = min(args.rounds, 3), max(args.epochs, 3)
        out = args.out or "benchmarks/results/grace_epoch_quick.json"
    else:
        from graphcl.data import load

        data, name = load(args.dataset), args.dataset
        cfg = load_config("grace", name)
        out = args.out or f"benchmarks/results/grace_epoch{'_' + device.type if device.type != 'cpu' else ''}.json"
    rounds = []
    report: dict = {}
    for r in range(args.rounds):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        res = train_grace(data, dict(cfg, epochs=args.epochs), device=device, seed=r)
        ours = [h["step_s"] for h in res["history"]]
        ours_cpu = [h["step_cpu_s"] for h in res["history"]]
        peak_ours = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        peer, peer_cpu = peer_epochs(data, cfg, args.epochs, device, seed=r)
        peak_peer = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
        rounds.append({"graphcl_s": ours, "peer_s": peer, "ratio": statistics.median(ours) / statistics.median(peer),
                       "graphcl_cpu_s": ours_cpu, "peer_cpu_s": peer_cpu,
                       "cpu_ratio": statistics.median(ours_cpu) / statistics.median(peer_cpu),
                       "peak_mib_graphcl": peak_ours, "peak_mib_peer": peak_peer})
        print(f"round {r}: graphcl {statistics.median(ours):.2f} s/epoch, peer {statistics.median(peer):.2f} s/epoch,"
              f" ratio {rounds[-1]['ratio']:.3f} (process CPU time ratio {rounds[-1]['cpu_ratio']:.3f})", flush=True)
        t_ours = statistics.median(t for x in rounds for t in x["graphcl_s"])
        t_peer = statistics.median(t for x in rounds for t in x["peer_s"])
        ratio = statistics.median(x["ratio"] for x in rounds)
        case = f"{name} (N={data.num_nodes}, E={data.edge_index.size(1)}, hidden={cfg['hidden']})"
        report = {
            "benchmark": "grace_epoch", "machine": machine_info(), "device": str(device),
            "command": " ".join(sys.argv), "threads": torch.get_num_threads(),
            "protocol": ("one GRACE training epoch (views + forward + loss + backward + Adam step), settings of "
                         "graphcl/configs/grace.yaml; graphcl train_grace (blockwise infonce) vs a PyG "
                         "re-implementation of the GRACE reference loop with dense N x N similarity matrices; "
                         f"timed interleaved in one process, {len(rounds)} rounds x {args.epochs} epochs each, "
                         "fresh models per round; ratio = median over rounds of median(graphcl)/median(peer); "
                         "machine shared with other jobs, so absolute times are noisy"),
            "rows": [
                {"case": case, "impl": "graphcl", "metric": "epoch_time", "value": round(t_ours, 4), "unit": "s"},
                {"case": case, "impl": "pyg_reference_dense", "metric": "epoch_time", "value": round(t_peer, 4),
                 "unit": "s"},
            ],
            "ratios": {"epoch_time graphcl/pyg_reference_dense": round(ratio, 4),
                       "epoch_cpu_time graphcl/pyg_reference_dense": round(
                           statistics.median(x["cpu_ratio"] for x in rounds), 4)},
            "target": {"epoch_time graphcl/pyg_reference_dense": "<= 1.0", "met": ratio <= 1.0},
            "loss_check_abs_diff": diff,
            "peak_rss_mib_process": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rounds": rounds,
        }
        atomic_write_json(out, report)
    print(f"{'impl':<22}{'s/epoch':>10}")
    for row in report["rows"]:
        print(f"{row['impl']:<22}{row['value']:>10.3f}")
    print(f"ratio graphcl/peer (median over rounds): {report['ratios']['epoch_time graphcl/pyg_reference_dense']:.3f}"
          f" -> target <= 1.0 met: {report['target']['met']}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
