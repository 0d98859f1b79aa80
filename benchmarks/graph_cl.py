"""GraphCL vs SEGA on TU graph classification (unsupervised, frozen embeddings + SVM).

For every dataset and training seed, GraphCL and SEGA are trained one after the
other in the same process (settings: graphcl/configs/graphcl.yaml, sega.yaml;
the references' values) and the embeddings after the final epoch go to
graphcl.eval.graph_classification_svm (stratified 10-fold CV, C chosen inside
each outer training fold by an inner CV; CV split seed = training seed). SEGA's
embedding is the one fixed in its config (GT); ``--diagnostics`` also scores G
and T (reported as diagnostics, never used to choose anything). Gains are
SEGA - GraphCL, paired by seed, mean +- std over seeds.

Speed: SEGA's and GraphCL's time per epoch are measured in the same run,
interleaved seed by seed (median over epochs and seeds; a machine shared with
other jobs, so noisy); the coding-tree precompute is timed ``--precompute-repeats``
times (median).

Scaling (recorded in the JSON): ``SCALE`` below reduces seeds and the SVM
grid for NCI1 (4110 graphs: one RBF-SVM nested CV took ~5 min here), to fit
the CPU budget.

Usage:
    GRAPHCL_DATA=/work/shared/datasets python benchmarks/graph_cl.py --datasets mutag --seeds 5
    python benchmarks/graph_cl.py --quick     # MUTAG, 1 seed, 2 epochs, 3-fold SVM: < 1 minute
    python benchmarks/graph_cl.py --merge benchmarks/results/graph_cl_mutag.json ...   # -> graph_cl.json
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

from graphcl.config import load_config
from graphcl.methods.graphcl_tu import _labels, evaluate_embeddings, prepare_graphs, train_graphcl
from graphcl.methods.sega import prepare_trees, train_sega
from graphcl.utils import atomic_write_json, machine_info, resolve_device

PAPER = {"mutag": 86.80, "proteins": 74.39, "nci1": 77.87, "imdb-binary": 71.14}  # GraphCL paper, Table 4
SCALE = {"nci1": {"seeds": 3, "svm_C_grid": [0.01, 0.1, 1.0, 10.0, 100.0], "svm_inner_folds": 3}}
QUICK = {"epochs": 2, "svm_folds": 3, "svm_inner_folds": 2, "svm_C_grid": [1.0]}


def _pct(x: float) -> float:
    return round(100.0 * x, 3)


def _mean_std(values: list[float]) -> tuple[float, float]:
    m = statistics.fmean(values)
    return m, (statistics.pstdev(values) if len(values) > 1 else 0.0)


def _summary(name: str, runs: list[dict], diagnostics: bool) -> list[dict]:
    rows = []
    case = name.upper()
    for impl in ("graphcl", "sega"):
        accs = [r[impl]["accuracy"] for r in runs if impl in r]
        if not accs:
            continue
        m, s = _mean_std(accs)
        rows.append({"case": case, "impl": impl, "metric": "accuracy", "value": _pct(m), "std": _pct(s),
                     "per_seed": [_pct(a) for a in accs], "unit": "%", "seeds": len(accs)})
        times = [t for r in runs if impl in r for t in r[impl]["epoch_times"]]
        rows.append({"case": case, "impl": impl, "metric": "time_per_epoch",
                     "value": round(statistics.median(times), 4), "unit": "s",
                     "note": "median over epochs and seeds, interleaved with the other method"})
    paired = [r["sega"]["accuracy"] - r["graphcl"]["accuracy"] for r in runs if "sega" in r and "graphcl" in r]
    if paired:
        m, s = _mean_std(paired)
        rows.append({"case": case, "impl": "sega-graphcl", "metric": "accuracy_gain", "value": _pct(m),
                     "std": _pct(s), "unit": "points", "note": "paired by training seed"})
    if diagnostics:
        for kind in ("G", "T"):
            accs = [r["sega"]["diagnostics"][kind] for r in runs if "sega" in r and r["sega"].get("diagnostics")]
            if accs:
                m, s = _mean_std(accs)
                rows.append({"case": case, "impl": f"sega[{kind}]", "metric": "accuracy_diagnostic", "value": _pct(m),
                             "std": _pct(s), "unit": "%", "note": "diagnostic only, not used for any choice"})
    if name in PAPER:
        rows.append({"case": case, "impl": "graphcl_paper", "metric": "accuracy", "value": PAPER[name], "unit": "%",
                     "note": "GraphCL paper (You et al. 2020) Table 4, reference protocol"})
    return rows


def merge(paths: list[str], out: Path) -> dict:
    """One report from per-dataset reports (rows, ratios, runs and configs side by side)."""
    import json

    merged: dict = {"benchmark": "graph_cl", "machine": None, "config": {"merged_from": paths, "per_dataset": {},
                                                                         "commands": []},
                    "rows": [], "ratios": {}, "runs": {}}
    for p in paths:
        with open(p) as fh:
            rep = json.load(fh)
        merged["machine"] = merged["machine"] or rep["machine"]
        merged["config"]["commands"].append(rep["config"]["command"])
        merged["config"]["per_dataset"].update(rep["config"]["per_dataset"])
        merged["config"].setdefault("protocol", rep["config"].get("protocol"))
        merged["rows"] += rep["rows"]
        merged["ratios"].update(rep["ratios"])
        merged["runs"].update(rep["runs"])
    wins = [r for r in merged["rows"] if r["metric"] == "accuracy_gain"]
    merged["summary"] = {"datasets": len(wins), "sega_above_graphcl": sum(r["value"] > 0 for r in wins)}
    atomic_write_json(out, merged)
    return merged


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="mutag,proteins,imdb-binary,nci1")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--methods", default="graphcl,sega")
    ap.add_argument("--diagnostics", action="store_true", help="also score SEGA's G and T embeddings")
    ap.add_argument("--precompute-repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-scale", action="store_true", help="ignore SCALE (full seeds and SVM grid everywhere)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--merge", nargs="+", default=None, help="merge these per-dataset JSON reports and exit")
    args = ap.parse_args(argv)
    if args.merge:
        rep = merge(args.merge, Path(args.out or "benchmarks/results/graph_cl.json"))
        print(rep["summary"])
        return 0
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    datasets = ["mutag"] if args.quick else [d.strip().lower() for d in args.datasets.split(",") if d.strip()]
    seeds = 1 if args.quick else args.seeds
    suffix = "quick" if args.quick else "_".join(d.replace("-", "") for d in datasets)
    out = Path(args.out or f"benchmarks/results/graph_cl_{suffix}.json")
    report: dict = {"benchmark": "graph_cl", "machine": machine_info(),
                    "config": {"command": " ".join(["benchmarks/graph_cl.py", *(argv or sys.argv[1:])]),
                               "quick": args.quick, "datasets": datasets, "methods": methods,
                               "threads": args.threads, "device": str(device),
                               "protocol": "frozen graph embeddings after the final epoch, RBF SVM, stratified "
                                           "10-fold CV, C chosen by inner CV on each outer training part, CV seed = "
                                           "training seed; SEGA embedding GT fixed a priori",
                               "per_dataset": {}},
                    "rows": [], "ratios": {}, "runs": {}}
    print(f"{'dataset':12s} {'seed':>4s} {'method':8s} {'acc %':>7s} {'epoch s':>8s} {'train s':>8s} {'eval s':>7s}")
    for name in datasets:
        scale = {} if (args.no_scale or args.quick) else SCALE.get(name, {})
        n_seeds = min(seeds, int(scale.get("seeds", seeds)))
        svm = {k: v for k, v in scale.items() if k != "seeds"}
        cfgs = {}
        for m in methods:
            cfg = dict(load_config(m, name), **svm)
            if args.quick:
                cfg.update(QUICK)
            cfgs[m] = cfg
        graphs = prepare_graphs(name, str(next(iter(cfgs.values()))["features"]))
        y = _labels(graphs)
        trees, pre_times = None, []
        if "sega" in methods:
            for _ in range(max(1, args.precompute_repeats)):
                trees = prepare_trees(graphs, int(cfgs["sega"]["tree_height"]), int(cfgs["sega"]["max_degree"]))
                pre_times.append(trees[1])
        report["config"]["per_dataset"][name] = {"seeds": list(range(n_seeds)), "graphs": len(graphs),
                                                 "scaled": scale, "configs": cfgs}
        runs: list[dict] = []
        for seed in range(n_seeds):
            run: dict = {"seed": seed}
            for m in methods:
                cfg = cfgs[m]
                t0 = time.perf_counter()
                if m == "graphcl":
                    tr = train_graphcl(graphs, cfg, device=device, seed=seed)
                    emb, diag_embs = tr["embedding"], {}
                else:
                    tr = train_sega(graphs, cfg, device=device, seed=seed, trees=trees)
                    emb = tr["embeddings"][cfg["embedding"]]
                    diag_embs = {k: tr["embeddings"][k] for k in ("G", "T")} if args.diagnostics else {}
                train_s = time.perf_counter() - t0
                t1 = time.perf_counter()
                res = evaluate_embeddings(emb, y, cfg, seed=seed)
                eval_s = time.perf_counter() - t1
                entry = {"accuracy": res["accuracy"], "fold_std": res["fold_std"], "chosen_C": res["chosen_C"],
                         "epoch_times": tr["epoch_times"], "final_loss": tr["train"]["history"][-1]["loss"],
                         "train_s": train_s, "eval_s": eval_s, "protocol": res["protocol"]}
                if diag_embs:
                    entry["diagnostics"] = {k: evaluate_embeddings(e, y, cfg, seed=seed)["accuracy"]
                                            for k, e in diag_embs.items()}
                run[m] = entry
                print(f"{name:12s} {seed:4d} {m:8s} {_pct(res['accuracy']):7.2f} "
                      f"{statistics.median(tr['epoch_times']):8.3f} {train_s:8.1f} {eval_s:7.1f}", flush=True)
            runs.append(run)
            report["runs"][name] = runs
            rows = [r for r in report["rows"] if r["case"] != name.upper()]
            report["rows"] = rows + _summary(name, runs, args.diagnostics)
            if pre_times:
                report["rows"].append({"case": name.upper(), "impl": "sega", "metric": "tree_precompute",
                                       "value": round(statistics.median(pre_times), 4), "unit": "s",
                                       "height": int(cfgs["sega"]["tree_height"]), "graphs": len(graphs),
                                       "repeats": len(pre_times)})
            if "sega" in methods and "graphcl" in methods:
                st = statistics.median([t for r in runs for t in r["sega"]["epoch_times"]])
                gt = statistics.median([t for r in runs for t in r["graphcl"]["epoch_times"]])
                report["ratios"][f"time_per_epoch sega/graphcl {name.upper()}"] = round(st / gt, 3)
            report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
            atomic_write_json(out, report)
    print()
    print(f"{'case':12s} {'impl':14s} {'metric':20s} {'value':>9s} {'std':>7s}")
    for r in report["rows"]:
        print(f"{r['case']:12s} {r['impl']:14s} {r['metric']:20s} {r['value']:9.3f} {r.get('std', float('nan')):7.2f}")
    for k, v in report["ratios"].items():
        print(f"{k}: {v}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
