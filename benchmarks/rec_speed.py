"""Recommender speed benchmark on gowalla: epoch times and full-ranking evaluation.

Epoch time: a gowalla epoch (810k interactions minus the validation share,
batches of 2048) takes minutes per model on one CPU thread, so each
implementation runs ``--batches`` timed training batches (sampling, forward,
backward, Adam step; after one warm-up batch) per round, the implementations
interleaved round after round in this one process, and the median batch time
times the number of batches of an epoch, plus the per-epoch set-up (SGL's two
edge-dropout graphs, timed in the same rounds), is the EXTRAPOLATED epoch time.
Ratios are medians over rounds of per-round ratios.

Implementations: graphcl's lightgcn, sgl, simgcl, xsimgcl, lightgcl, and
``torch_geometric.nn.LightGCN`` (message passing, no torch-sparse here) both as
in PyG's example (``gcn_norm`` recomputed every call) and with the normalised
edge weights precomputed (``normalize=False``); all use the same sampler, batch
size, embedding size 64, 3 layers and Adam.

Full ranking: every gowalla test user scored against every item with
graphcl.eval.ranking_metrics (train items masked), timed, with peak memory
(peak RSS of a fresh subprocess that does only this, and on CUDA
torch.cuda.max_memory_allocated).

Usage:
    GRAPHCL_DATA=/work/shared/datasets python benchmarks/rec_speed.py --rounds 5 --batches 3
    GRAPHCL_DATA=/work/shared/datasets python benchmarks/rec_speed.py --quick   # ml-100k, < 1 minute
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from graphcl.config import load_config
from graphcl.data import load, rec_split
from graphcl.eval import ranking_metrics
from graphcl.rec import InteractionSampler, bipartite_edge_index, build_model
from graphcl.utils import atomic_write_json, machine_info, make_generator, resolve_device

OURS = ("lightgcn", "sgl", "simgcl", "xsimgcl", "lightgcl")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _load(name: str, seed: int = 0):
    data = load(name, seed=seed) if name == "ml-100k" else load(name)
    if data.val is not None:
        return data, data.train, data.val
    train, val = rec_split(data.train, 0.1, seed)
    return data, train, val


class _OursRunner:
    def __init__(self, model: str, train, U, I, device, seed: int):
        cfg = load_config(model, "gowalla")
        self.cfg = cfg
        self.model = build_model(model, train, U, I, cfg, generator=make_generator(seed, device))
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg["lr"])
        self.gen = make_generator(seed + 1, device)

    def setup(self) -> None:
        self.model.start_epoch(self.gen)

    def batch(self, users, pos, neg) -> None:
        self.opt.zero_grad(set_to_none=True)
        loss, _ = self.model.loss(users, pos, neg, self.gen)
        loss.backward()
        self.opt.step()


class _PyGRunner:
    def __init__(self, train, U, I, device, seed: int, prenorm: bool):
        from torch_geometric.nn import LightGCN
        from torch_geometric.nn.conv.gcn_conv import gcn_norm

        torch.manual_seed(seed)
        self.U = U
        self.edge_index = bipartite_edge_index(train, U, I).to(device)
        self.weight = None
        kw = {}
        if prenorm:
            _, self.weight = gcn_norm(self.edge_index, None, U + I, add_self_loops=False)
            kw["normalize"] = False
        self.model = LightGCN(U + I, 64, num_layers=3, **kw).to(device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)

    def setup(self) -> None:
        pass

    def batch(self, users, pos, neg) -> None:
        self.opt.zero_grad(set_to_none=True)
        emb = self.model.get_embedding(self.edge_index, self.weight)
        u, p, n = emb[users], emb[self.U + pos], emb[self.U + neg]
        loss = self.model.recommendation_loss((u * p).sum(-1), (u * n).sum(-1),
                                              node_id=torch.cat([users, self.U + pos, self.U + neg]),
                                              lambda_reg=1e-4)
        loss.backward()
        self.opt.step()


def epoch_times(name: str, rounds: int, batches: int, device: torch.device, impls: list[str]) -> dict:
    data, train, _ = _load(name)
    U, I = data.num_users, data.num_items
    train = train.to(device)
    batch_size = 2048
    sampler = InteractionSampler(train, U, I)
    n_batches = sampler.num_batches(batch_size)
    runners = {}
    t_build = {}
    for impl in impls:
        t0 = time.perf_counter()
        if impl == "pyg":
            runners[impl] = _PyGRunner(train, U, I, device, 0, prenorm=False)
        elif impl == "pyg-prenorm":
            runners[impl] = _PyGRunner(train, U, I, device, 0, prenorm=True)
        else:
            runners[impl] = _OursRunner(impl, train, U, I, device, 0)
        t_build[impl] = time.perf_counter() - t0
    gen = make_generator(0, device)
    stream = sampler.batches(batch_size, gen)

    def next_batch():
        nonlocal stream
        try:
            return next(stream)
        except StopIteration:
            stream = sampler.batches(batch_size, gen)
            return next(stream)

    per_batch = {k: [] for k in impls}
    setup = {k: [] for k in impls}
    per_round = {k: [] for k in impls}  # extrapolated epoch time of each round
    for r in runners.values():  # warm-up
        r.setup()
        r.batch(*next_batch())
    for rnd in range(rounds):
        order = impls if rnd % 2 == 0 else impls[::-1]
        for impl in order:
            r = runners[impl]
            _sync(device)
            t0 = time.perf_counter()
            r.setup()
            _sync(device)
            setup[impl].append(time.perf_counter() - t0)
            times = []
            for _ in range(batches):
                b = next_batch()
                _sync(device)
                t0 = time.perf_counter()
                r.batch(*b)
                _sync(device)
                times.append(time.perf_counter() - t0)
            per_batch[impl] += times
            per_round[impl].append(setup[impl][-1] + n_batches * statistics.median(times))
        print(f"round {rnd + 1}/{rounds}: " + ", ".join(f"{k} {per_round[k][-1]:.0f}s" for k in impls), flush=True)
    out = {"n_batches_per_epoch": n_batches, "batch_size": batch_size, "num_train": int(train.size(1)),
           "build_s": t_build, "impls": {}}
    for impl in impls:
        out["impls"][impl] = {
            "median_batch_s": statistics.median(per_batch[impl]),
            "median_setup_s": statistics.median(setup[impl]),
            "epoch_s_extrapolated": statistics.median(per_round[impl]),
            "per_round_epoch_s": per_round[impl],
            "timed_batches": len(per_batch[impl]),
        }

    def ratio(a, b):
        if a in per_round and b in per_round:
            return statistics.median(x / y for x, y in zip(per_round[a], per_round[b]))
        return None

    out["ratios"] = {k: v for k, v in {
        "epoch_time lightgcn/pyg": ratio("lightgcn", "pyg"),
        "epoch_time lightgcn/pyg-prenorm": ratio("lightgcn", "pyg-prenorm"),
        "epoch_time xsimgcl/simgcl": ratio("xsimgcl", "simgcl"),
        "epoch_time xsimgcl/sgl": ratio("xsimgcl", "sgl"),
    }.items() if v is not None}
    return out


def ranking_part(name: str, device: torch.device, batch_size: int) -> dict:
    """Full ranking of every test user with random embeddings (the cost does not depend on training)."""
    data, train, _ = _load(name)
    g = make_generator(0, device)
    user = torch.randn(data.num_users, 64, generator=g, device=device)
    item = torch.randn(data.num_items, 64, generator=g, device=device)
    train, test = train.to(device), data.test.to(device)
    rss0 = _rss_mb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    _sync(device)
    t0 = time.perf_counter()
    m = ranking_metrics(user, item, train, test, ks=(20,), batch_size=batch_size)
    _sync(device)
    wall = time.perf_counter() - t0
    out = {"seconds": wall, "num_test_users": m["num_test_users"], "num_items": data.num_items,
           "batch_size": batch_size, "peak_rss_mb": _rss_mb(), "rss_before_mb": rss0,
           "score_block_mb": batch_size * data.num_items * 4 / 2**20}
    if device.type == "cuda":
        out["cuda_peak_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="gowalla")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--batches", type=int, default=3, help="timed batches per implementation per round")
    p.add_argument("--impls", default="lightgcn,pyg,pyg-prenorm,sgl,simgcl,xsimgcl,lightgcl")
    p.add_argument("--eval-batch", type=int, default=1024)
    p.add_argument("--device", default="cpu")
    p.add_argument("--quick", action="store_true", help="ml-100k, 2 rounds of 2 batches")
    p.add_argument("--part", choices=["all", "epoch", "ranking"], default="all")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.quick:
        args.dataset, args.rounds, args.batches = "ml-100k", 2, 2
    device = resolve_device(args.device)
    if args.part == "ranking":  # child process: print JSON only
        print(json.dumps(ranking_part(args.dataset, device, args.eval_batch)))
        return 0
    out = Path(args.out or f"benchmarks/results/rec_speed{'_quick' if args.quick else ''}.json")
    impls = [s.strip() for s in args.impls.split(",") if s.strip()]
    res = {"benchmark": "rec_speed", "dataset": args.dataset, "machine": machine_info(), "device": str(device),
           "command": " ".join(sys.argv), "threads": torch.get_num_threads(),
           "note": ("epoch times are EXTRAPOLATED: median time of timed batches x batches per epoch + per-epoch "
                    "set-up; implementations interleaved in one process (alternating order each round) on a "
                    "shared, contended CPU; ratios are medians of per-round ratios")}
    child = subprocess.run([sys.executable, __file__, "--part", "ranking", "--dataset", args.dataset,
                            "--device", str(device), "--eval-batch", str(args.eval_batch)],
                           capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    if child.returncode != 0:
        raise RuntimeError(child.stderr[-2000:])
    res["ranking"] = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"full ranking of {res['ranking']['num_test_users']} test users: {res['ranking']['seconds']:.1f} s, "
          f"peak RSS {res['ranking']['peak_rss_mb']:.0f} MiB", flush=True)
    atomic_write_json(out, res)
    if args.part in ("all", "epoch"):
        ep = epoch_times(args.dataset, args.rounds, args.batches, device, impls)
        res["epoch"] = ep
        res["ratios"] = ep["ratios"]
    rows = [{"case": f"{args.dataset} full ranking ({res['ranking']['num_test_users']} users)", "impl": "graphcl",
             "metric": "time", "value": res["ranking"]["seconds"], "unit": "s"},
            {"case": f"{args.dataset} full ranking", "impl": "graphcl", "metric": "peak_rss",
             "value": res["ranking"]["peak_rss_mb"], "unit": "MiB"}]
    for impl, e in res.get("epoch", {}).get("impls", {}).items():
        rows.append({"case": f"{args.dataset} epoch (extrapolated)", "impl": impl if impl.startswith("pyg")
                     else f"graphcl-{impl}", "metric": "epoch_time", "value": e["epoch_s_extrapolated"], "unit": "s"})
    res["rows"] = rows
    atomic_write_json(out, res)
    print(f"\n{'case':<40} {'impl':<22} {'metric':<12} value")
    for r in rows:
        print(f"{r['case']:<40} {r['impl']:<22} {r['metric']:<12} {r['value']:.3f} {r['unit']}")
    for k, v in res.get("ratios", {}).items():
        print(f"  {k}: {v:.3f}")
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
