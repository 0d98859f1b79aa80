"""Recommendation quality benchmark: LightGCN, SGL, SimGCL, XSimGCL, LightGCL.

For every seed and model: graphcl.rec.train_rec with the model's YAML settings
for the dataset (graphcl/configs/<model>.yaml, plus ``--set`` overrides that are
recorded in the JSON), early stopping and model choice on validation
Recall@20, test Recall/NDCG@20 (full ranking, train+val items masked) once at
the chosen epoch, and alignment / uniformity of the chosen embeddings.
ml-100k: the 8:1:1 random split is drawn from the seed (graphcl.data). gowalla:
LightGCN's split, validation carved from train by graphcl.data.rec_split.
The JSON is rewritten after every run, so a cut-off run keeps its results.

Usage:
    GRAPHCL_DATA=/work/shared/datasets python benchmarks/rec.py --dataset ml-100k --seeds 0,1,2
    GRAPHCL_DATA=/work/shared/datasets python benchmarks/rec.py --dataset gowalla --models lightgcn \\
        --set epochs=5 --set eval_every=1 --out benchmarks/results/rec_gowalla.json
    GRAPHCL_DATA=/work/shared/datasets python benchmarks/rec.py --quick
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from graphcl.config import load_config
from graphcl.data import load
from graphcl.rec import MODELS, train_rec
from graphcl.utils import atomic_write_json, machine_info, peak_memory_mb, resolve_device

PAPER = {  # LightGCN paper (He et al. 2020), gowalla; see ALGORITHMS.md section 3
    ("gowalla", "lightgcn"): {"recall@20": 0.1830, "ndcg@20": 0.1554},
}
TARGETS = {("gowalla", "lightgcn"): {"recall@20": 0.175, "ndcg@20": 0.148}}


def _stats(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.pstdev(values) if len(values) > 1 else 0.0)


def summarise(dataset: str, runs: list[dict], args, device: torch.device) -> dict:
    rows, summary = [], {}
    for model in args.models:
        mine = [r for r in runs if r["model"] == model]
        if not mine:
            continue
        entry = {"num_seeds": len(mine), "seeds": [r["seed"] for r in mine]}
        for key in ("test_recall@20", "test_ndcg@20", "val_recall@20", "alignment", "uniformity_user",
                    "uniformity_item", "epoch_time_s", "train_s", "epochs_run", "best_epoch"):
            vals = [float(r[key]) for r in mine if r.get(key) is not None]
            if vals:
                mean, std = _stats(vals)
                entry[key] = mean
                entry[f"{key}_std"] = std
        summary[model] = entry
        case = f"{dataset} ({len(mine)} seeds)"
        for key, unit in (("test_recall@20", "recall"), ("test_ndcg@20", "ndcg"), ("alignment", "alignment"),
                          ("uniformity_user", "uniformity"), ("uniformity_item", "uniformity"),
                          ("epoch_time_s", "s")):
            if key in entry:
                rows.append({"case": case, "impl": f"graphcl-{model}", "metric": key, "value": entry[key],
                             "std": entry[f"{key}_std"], "unit": unit})
    ratios = {}
    base = summary.get("lightgcn", {}).get("test_recall@20")
    if base:
        for model, entry in summary.items():
            if model != "lightgcn" and "test_recall@20" in entry:
                ratios[f"test_recall@20 {model}/lightgcn"] = entry["test_recall@20"] / base
    targets = {}
    for (ds, model), tgt in TARGETS.items():
        if ds == dataset and model in summary:
            got = {m: summary[model].get(f"test_{m}") for m in tgt}
            targets[model] = {"target": tgt, "measured": got, "paper": PAPER.get((ds, model)),
                              "met": all(v is not None and v >= tgt[m] for m, v in got.items())}
    return {
        "benchmark": "rec",
        "dataset": dataset,
        "machine": machine_info(),
        "device": str(device),
        "protocol": ("train_rec: validation Recall@20 for early stopping and model choice; test Recall/NDCG@20 "
                     "once at the chosen epoch, full ranking over all items with train+val items masked; "
                     "alignment over test pairs, uniformity t=2 per side (<= 10000 rows); mean +- population "
                     "std over seeds"),
        "command": " ".join(sys.argv),
        "overrides": args.overrides,
        "rows": rows,
        "ratios": ratios,
        "summary": summary,
        "targets": targets,
        "runs": runs,
    }


def print_table(res: dict) -> None:
    print(f"\n{res['dataset']}: mean +- std over seeds")
    head = ("model", "seeds", "R@20", "N@20", "align", "unif_u", "unif_i", "epochs", "s/epoch")
    print("  ".join(f"{h:>16}" for h in head))
    for model, e in res["summary"].items():
        def f(k, e=e):
            return f"{e[k]:.4f}+-{e[k + '_std']:.4f}" if k in e else "-"
        print("  ".join(f"{c:>16}" for c in (model, str(e["num_seeds"]), f("test_recall@20"), f("test_ndcg@20"),
                                             f("alignment"), f("uniformity_user"), f("uniformity_item"),
                                             f"{e.get('epochs_run', 0):.1f}", f"{e.get('epoch_time_s', 0):.2f}")))
    for k, v in res["ratios"].items():
        print(f"  {k}: {v:.3f}")
    for model, t in res["targets"].items():
        print(f"  target {model}: {t}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override applied to every model (recorded in the JSON)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quick", action="store_true", help="ml-100k, 1 seed, lightgcn + xsimgcl, 1 epoch")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.quick:
        args.dataset, args.models, args.seeds = "ml-100k", "lightgcn,xsimgcl", "0"
        args.overrides = [*args.overrides, "epochs=1"]
    args.models = [m.strip().lower() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(args.models) - set(MODELS))
    if unknown:
        p.error(f"unknown models {unknown}; choose from {sorted(MODELS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    device = resolve_device(args.device)
    name = args.dataset.lower()
    out = Path(args.out or f"benchmarks/results/rec_{name}{'_quick' if args.quick else ''}.json")

    runs: list[dict] = []
    for seed in seeds:
        data = load(name, seed=seed) if name == "ml-100k" else load(name)
        for model in args.models:
            cfg = load_config(model, name, overrides=args.overrides)
            t0 = time.perf_counter()
            res = train_rec(model, data, cfg, device=device, seed=seed, progress=False)
            train_s = time.perf_counter() - t0
            tr = res["train"]
            run = {
                "model": model, "seed": seed, "config": cfg,
                "test_recall@20": res["test"]["recall@20"], "test_ndcg@20": res["test"]["ndcg@20"],
                "val_recall@20": res["val"]["recall@20"], "val_ndcg@20": res["val"]["ndcg@20"],
                **res["quality"],
                "best_epoch": tr["best_epoch"], "epochs_run": tr["epochs_run"], "stopped_early": tr["stopped_early"],
                "epoch_time_s": res["epoch_time_s"], "train_s": train_s, "split": res["split"],
                "num_test_users": res["test"]["num_test_users"], "peak_mb": peak_memory_mb(device),
                "val_curve": [round(h["val"], 5) for h in res["history"] if "val" in h],
            }
            runs.append(run)
            print(f"[{name} seed {seed}] {model}: test R@20 {run['test_recall@20']:.4f} N@20 "
                  f"{run['test_ndcg@20']:.4f} (val {run['val_recall@20']:.4f}, epoch {tr['best_epoch']} of "
                  f"{tr['epochs_run']}, {train_s:.0f} s)", flush=True)
            atomic_write_json(out, summarise(name, runs, args, device))
    res = summarise(name, runs, args, device)
    atomic_write_json(out, res)
    print_table(res)
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
