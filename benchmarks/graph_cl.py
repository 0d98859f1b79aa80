"""GraphCL vs SEGA on TU graph classification (unsupervised, frozen embeddings + SVM).

For every dataset and training seed, GraphCL and SEGA are trained one after the
other in the same process (settings: graphcl/configs/graphcl.yaml, sega.yaml;
the references' values) and the embeddings after the final epoch go to
graphcl.eval.graph_classification_svm (stratified 10-fold CV, C chosen inside
each outer training fold by an inner CV; CV split seed = training seed). SEGA's
embedding is the one fixed in its config (GT); ``--diagnostics`` also scores G
and T (reported as diagnostics, never used to choose anything). Gains are
SEGA - GraphCL, paired by seed, mean +- std over seeds.

``--selection inner_cv`` (output ``graph_cl_select_<datasets>.json``): each method
hands the SVM 3 candidate embeddings and the inner CV of every outer training fold
chooses the candidate with C (SELECTION_PROTOCOL below, written into the JSON):
SEGA its embedding type (GT, G, T), GraphCL its augmentation (default mix, dnodes,
subgraph; one training each). The reference SEGA code takes the best of such
choices on the test folds; here the test fold never chooses anything.

Speed: SEGA's and GraphCL's time per epoch are measured in the same run,
interleaved seed by seed (median over epochs and seeds; a machine shared with
other jobs, so noisy); the coding-tree precompute is timed ``--precompute-repeats``
times (median).

Evaluation cost: the RBF-SVM nested CV dominates (NCI1: ~9 min per
embedding with sklearn's ``SVC()`` on one contended core). ``--svm-impl
precomputed`` (default) runs the same protocol on one squared-distance matrix
(``graph_classification_svm(..., precompute_kernel=True)``: ``exp(-gamma D2)`` with
sklearn's ``gamma="scale"`` of each fit set, ``SVC(kernel="precomputed")``),
identical predictions, about half the time; ``--svm-speed`` times both on one
embedding, interleaved in one process, and checks they agree. ``SCALE`` (per
dataset reductions of seeds / SVM grid, recorded in the JSON) is empty now: the
last session's NCI1 run used 3 seeds, C in 1e-2..1e2 and 3 inner folds.

Long runs can be split into seed chunks (``--seed-start 2 --seeds 2`` runs
seeds 2 and 3); ``--merge`` concatenates the runs of a dataset found in several
reports (sorted by seed, a seed twice is an error) and recomputes its rows.

Usage:
    GRAPHCL_DATA=/work/shared/datasets python benchmarks/graph_cl.py --datasets mutag --seeds 5
    python benchmarks/graph_cl.py --quick     # MUTAG, 1 seed, 2 epochs, 3-fold SVM: < 1 minute
    python benchmarks/graph_cl.py --datasets mutag,proteins,imdb-binary --seeds 5 --selection inner_cv
    python benchmarks/graph_cl.py --merge benchmarks/results/graph_cl_mutag.json ...   # -> graph_cl.json
    python benchmarks/graph_cl.py --svm-speed proteins   # sklearn vs precomputed-kernel SVM, same embedding
    python benchmarks/graph_cl.py --datasets mutag --methods sega --tree-builder reference \
        --baseline benchmarks/results/graph_cl.json   # SEGA with the reference tree builder vs stored GraphCL runs
    python benchmarks/graph_cl.py --methods graphcl --graphcl-aug dnodes \
        --baseline benchmarks/results/graph_cl.json   # augmentation-matched GraphCL vs stored SEGA runs

``--tree-builder reference`` (output ``graph_cl_reftree_<datasets>.json``) builds SEGA's trees with
graphcl.augment.coding_tree_reference (SEGA's codingTree.py algorithm) instead of the config's builder; the
current (greedy) builder is then timed too, interleaved repeat by repeat, and both trees' mean structural
entropy is recorded. ``--baseline PATH`` (with ``--methods sega``) pairs SEGA with the GraphCL runs stored in
an earlier report of this script (same seeds, same protocol; its GraphCL config must equal the current one up
to ``svm_impl``) instead of re-training GraphCL; no time-per-epoch ratio is given then. With ``--methods
graphcl`` it is the other way round: GraphCL is trained, SEGA's runs come from the report.

``--graphcl-aug AUG`` (output ``graph_cl_graphcl<AUG>_<datasets>.json``) is an ablation: GraphCL trained with
augmentation AUG instead of its config's (``dnodes`` = the view SEGA's GIN sees, so that the anchor, the
original graph vs the coding tree, is the only difference). It is a diagnostic; SEGA's target is scored
against the configured GraphCL.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

from graphcl.augment import structural_entropy
from graphcl.augment.graph_views import AUGMENTATION_SETS, GRAPH_AUGMENTATIONS
from graphcl.config import load_config
from graphcl.methods.graphcl_tu import _labels, evaluate_embeddings, graphcl_candidates, prepare_graphs, train_graphcl
from graphcl.methods.sega import TREE_BUILDERS, prepare_trees, sega_candidates, train_sega
from graphcl.utils import atomic_write_json, machine_info, resolve_device

PAPER = {"mutag": 86.80, "proteins": 74.39, "nci1": 77.87, "imdb-binary": 71.14}  # GraphCL paper, Table 4
SCALE: dict[str, dict] = {}
QUICK = {"epochs": 2, "svm_folds": 3, "svm_inner_folds": 2, "svm_C_grid": [1.0]}
#: ``--selection inner_cv``: what is chosen, how, and why these candidates (fixed before any result under it).
SELECTION_PROTOCOL = (
    "each method hands the SVM an ordered list of 3 candidate embeddings of the same graphs (the config's "
    "select_embeddings / select_augs, recorded per dataset below); inside every outer training fold the "
    "same 5-fold inner CV that picks C picks the (candidate, C) pair of best mean inner accuracy (ties: "
    "earlier candidate, then smaller C), refit on the outer training fold, scored on the held-out fold; "
    "the outer test fold is never used for any choice. SEGA (tree height k = 5, the paper default, one "
    "training per seed): embedding type in [GT, G, T] at the final epoch -- the reference's choice, which "
    "it makes on test folds. GraphCL, the same budget of 3 candidates over its own natural choice, the "
    "augmentation (the GraphCL paper tunes it per dataset): [dataset default mix (random2 for the "
    "molecules, random4 for IMDB-BINARY), dnodes, subgraph] (GraphCL's two broadly helpful single "
    "augmentations), one training each, same seed, final epoch. Not in the candidate sets, for the CPU "
    "budget: SEGA's k in 2..4 (a training and a tree precompute each) and epoch checkpoints (both methods)."
)


def _pct(x: float) -> float:
    return round(100.0 * x, 3)


def _mean_std(values: list[float]) -> tuple[float, float]:
    m = statistics.fmean(values)
    return m, (statistics.pstdev(values) if len(values) > 1 else 0.0)


def _summary(name: str, runs: list[dict], diagnostics: bool) -> list[dict]:
    rows = []
    case = name.upper()
    stored = any("source" in r[impl] for r in runs for impl in ("graphcl", "sega") if impl in r)
    for impl in ("graphcl", "sega"):
        accs = [r[impl]["accuracy"] for r in runs if impl in r]
        if not accs:
            continue
        m, s = _mean_std(accs)
        row = {"case": case, "impl": impl, "metric": "accuracy", "value": _pct(m), "std": _pct(s),
               "per_seed": [_pct(a) for a in accs], "unit": "%", "seeds": len(accs)}
        picks = [c for r in runs if impl in r for fold in r[impl].get("chosen_candidate", []) for c in fold]
        if picks:
            row["chosen_candidate_counts"] = {c: picks.count(c) for c in dict.fromkeys(picks)}
        rows.append(row)
        times = [t for r in runs if impl in r for t in r[impl]["epoch_times"]]
        sources = sorted({r[impl]["source"] for r in runs if impl in r and "source" in r[impl]})
        note = (f"median over epochs and seeds of the stored runs in {', '.join(sources)}, not timed in this run"
                if sources else "median over epochs and seeds, the other method not trained in this run" if stored
                else "median over epochs and seeds, interleaved with the other method")
        rows.append({"case": case, "impl": impl, "metric": "time_per_epoch",
                     "value": round(statistics.median(times), 4), "unit": "s", "note": note})
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


def _epoch_ratio(runs: list[dict]) -> float | None:
    if not all("sega" in r and "graphcl" in r for r in runs):
        return None
    st = statistics.median([t for r in runs for t in r["sega"]["epoch_times"]])
    gt = statistics.median([t for r in runs for t in r["graphcl"]["epoch_times"]])
    return round(st / gt, 3)


def _load_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def _baseline_runs(baseline: dict, name: str, cfgs: dict, impl: str) -> dict[int, dict]:
    """``impl`` entries (``graphcl`` or ``sega``) of an earlier report by seed, after checking that its
    ``impl`` config matches the current one and its SVM protocol matches the method trained now."""
    if name not in baseline.get("runs", {}):
        raise SystemExit(f"--baseline has no runs of {name}")
    theirs = baseline["config"]["per_dataset"][name]["configs"][impl]
    ours = load_config(impl, name)
    # keys added to the yaml since that report (selection options) are not compared: it ran selection none
    diff = sorted(k for k in theirs if k != "svm_impl" and theirs[k] != ours.get(k))
    trained = next(iter(cfgs.values()))
    if trained["selection"] != "none" or theirs.get("selection", "none") != "none":
        diff.append("selection")
    svm = {k: trained[k] for k in ("svm_folds", "svm_seeds", "svm_inner_folds", "svm_C_grid")}
    diff += sorted(k for k, v in svm.items() if theirs.get(k) != v)
    if diff:
        raise SystemExit(f"--baseline {impl} config of {name} differs from the current one in {diff}")
    return {int(r["seed"]): r[impl] for r in baseline["runs"][name] if impl in r}


def _mean_entropy(tgraphs: list, height: int) -> float:
    """Mean structural entropy (bits) of the coding trees attached to ``tgraphs``."""
    vals = [structural_entropy(d.edge_index, d.num_nodes, [d[f"tree_batch_{l}"] for l in range(height)])
            for d in tgraphs]
    return round(statistics.fmean(vals), 4)


def merge(paths: list[str], out: Path) -> dict:
    """One report from per-dataset reports. A dataset found in one report keeps its rows; a dataset
    split over several reports (seed chunks) gets its runs concatenated (sorted by seed) and its
    rows recomputed (tree precompute: median of the chunks' medians)."""
    import json

    merged: dict = {"benchmark": "graph_cl", "machine": None, "config": {"merged_from": paths, "per_dataset": {},
                                                                         "commands": []},
                    "rows": [], "ratios": {}, "runs": {}}
    by_name: dict[str, list[dict]] = {}
    for p in paths:
        with open(p) as fh:
            rep = json.load(fh)
        merged["machine"] = merged["machine"] or rep["machine"]
        merged["config"]["commands"].append(rep["config"]["command"])
        merged["config"].setdefault("protocol", rep["config"].get("protocol"))
        for name in rep["runs"]:
            by_name.setdefault(name, []).append(rep)
    for name, reps in by_name.items():
        case = name.upper()
        if len(reps) == 1:
            rep = reps[0]
            merged["rows"] += [r for r in rep["rows"] if r["case"] == case]
            merged["ratios"].update({k: v for k, v in rep["ratios"].items() if k.endswith(f" {case}")})
            merged["runs"][name] = rep["runs"][name]
            merged["config"]["per_dataset"][name] = rep["config"]["per_dataset"][name]
            continue
        runs = sorted((r for rep in reps for r in rep["runs"][name]), key=lambda r: r["seed"])
        seeds = [r["seed"] for r in runs]
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"{name}: seed found in more than one report: {seeds}")
        diagnostics = any(r.get("sega", {}).get("diagnostics") for r in runs)
        rows = _summary(name, runs, diagnostics)
        pre = [r for rep in reps for r in rep["rows"] if r["case"] == case and r["metric"] == "tree_precompute"]
        if pre:
            rows.append(dict(pre[0], value=round(statistics.median(r["value"] for r in pre), 4),
                             repeats=sum(r["repeats"] for r in pre), note="median of the chunks' medians"))
        merged["rows"] += rows
        ratio = _epoch_ratio(runs)
        if ratio is not None:
            merged["ratios"][f"time_per_epoch sega/graphcl {case}"] = ratio
        merged["runs"][name] = runs
        cfg = dict(reps[0]["config"]["per_dataset"][name], seeds=seeds,
                   chunks=[rep["config"]["command"] for rep in reps])
        merged["config"]["per_dataset"][name] = cfg
    wins = [r for r in merged["rows"] if r["metric"] == "accuracy_gain"]
    merged["summary"] = {"datasets": len(wins), "sega_above_graphcl": sum(r["value"] > 0 for r in wins),
                         "gains": {r["case"]: {"value": r["value"], "std": r["std"],
                                               "seeds": len(merged["runs"][r["case"].lower()])} for r in wins}}
    atomic_write_json(out, merged)
    return merged


def svm_speed(name: str, args: argparse.Namespace, argv: list[str] | None) -> int:
    """sklearn ``SVC()`` nested CV vs the precomputed-kernel one on one GraphCL embedding, interleaved."""
    from graphcl.eval import graph_classification_svm

    torch.set_num_threads(args.threads)
    cfg = load_config("graphcl", name)
    if args.quick:
        cfg.update(QUICK)
    graphs = prepare_graphs(name, str(cfg["features"]))
    y = _labels(graphs)
    emb = train_graphcl(graphs, cfg, seed=0)["embedding"]
    kw = {"folds": int(cfg["svm_folds"]), "num_seeds": 1, "C_grid": [float(c) for c in cfg["svm_C_grid"]],
          "seed": 0, "inner_folds": int(cfg["svm_inner_folds"])}
    times: dict[str, list[float]] = {"sklearn": [], "precomputed": []}
    results = {}
    for _ in range(args.rounds):
        for impl in ("sklearn", "precomputed"):
            t0 = time.perf_counter()
            results[impl] = graph_classification_svm(emb, y, precompute_kernel=impl == "precomputed", **kw)
            times[impl].append(time.perf_counter() - t0)
            print(f"{name} {impl:12s} {times[impl][-1]:8.2f} s  acc {_pct(results[impl]['accuracy']):.3f}", flush=True)
    same = (results["sklearn"]["per_fold"] == results["precomputed"]["per_fold"]
            and results["sklearn"]["chosen_C"] == results["precomputed"]["chosen_C"])
    case = name.upper()
    rows = [{"case": case, "impl": impl, "metric": "svm_nested_cv_time", "value": round(statistics.median(t), 3),
             "unit": "s", "rounds": len(t), "accuracy": _pct(results[impl]["accuracy"])} for impl, t in times.items()]
    report = {"benchmark": "graph_cl_svm_speed", "machine": machine_info(),
              "config": {"command": " ".join(["benchmarks/graph_cl.py", *(argv or sys.argv[1:])]), "dataset": name,
                         "embedding": "GraphCL, training seed 0, final epoch", "svm": kw, "rounds": args.rounds,
                         "threads": args.threads,
                         "timing": "both implementations alternated in one process on the same embedding; "
                                   "shared machine, median over rounds"},
               "rows": rows,
               "ratios": {f"svm_nested_cv_time precomputed/sklearn {case}":
                          round(statistics.median(times["precomputed"]) / statistics.median(times["sklearn"]), 3)},
               "identical_folds_and_C": same,
               "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    out = Path(args.out or f"benchmarks/results/graph_cl_svm_speed_{name.replace('-', '')}.json")
    atomic_write_json(out, report)
    print(report["ratios"], "identical folds and C:", same)
    print(f"wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="mutag,proteins,imdb-binary,nci1")
    ap.add_argument("--seeds", type=int, default=5, help="number of training seeds")
    ap.add_argument("--seed-start", type=int, default=0, help="first training seed (seed chunks)")
    ap.add_argument("--svm-impl", default="precomputed", choices=("precomputed", "sklearn"),
                    help="SVM nested-CV implementation (same protocol and predictions)")
    ap.add_argument("--svm-speed", default=None, metavar="DATASET",
                    help="time sklearn vs precomputed-kernel SVM on one GraphCL embedding of DATASET and exit")
    ap.add_argument("--rounds", type=int, default=2, help="--svm-speed rounds")
    ap.add_argument("--methods", default="graphcl,sega")
    ap.add_argument("--diagnostics", action="store_true", help="also score SEGA's G and T embeddings")
    ap.add_argument("--selection", default="none", choices=("none", "inner_cv"),
                    help="none: one embedding fixed in the config; inner_cv: candidates chosen with C by the "
                         "inner CV of each outer training fold (SELECTION_PROTOCOL)")
    ap.add_argument("--precompute-repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-scale", action="store_true", help="ignore SCALE (full seeds and SVM grid everywhere)")
    ap.add_argument("--tree-builder", default=None, choices=TREE_BUILDERS,
                    help="SEGA's coding-tree builder (default: the config's tree_builder)")
    ap.add_argument("--baseline", default=None, metavar="JSON",
                    help="with one method in --methods: take the other method's runs (paired by seed) from "
                         "this earlier report")
    ap.add_argument("--graphcl-aug", default=None, choices=(*GRAPH_AUGMENTATIONS, *AUGMENTATION_SETS),
                    help="ablation: GraphCL's augmentation (e.g. dnodes, SEGA's view) instead of its config's")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--merge", nargs="+", default=None, help="merge these per-dataset JSON reports and exit")
    args = ap.parse_args(argv)
    if args.merge:
        rep = merge(args.merge, Path(args.out or "benchmarks/results/graph_cl.json"))
        print(rep["summary"])
        return 0
    if args.svm_speed:
        return svm_speed(args.svm_speed.lower(), args, argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    datasets = ["mutag"] if args.quick else [d.strip().lower() for d in args.datasets.split(",") if d.strip()]
    seeds = 1 if args.quick else args.seeds
    suffix = "quick" if args.quick else "_".join(d.replace("-", "") for d in datasets)
    if args.selection == "inner_cv":
        suffix = f"select_{suffix}"
    if args.tree_builder == "reference":
        suffix = f"reftree_{suffix}"
    if args.graphcl_aug:
        suffix = f"graphcl{args.graphcl_aug}_{suffix}"
    baseline, stored = None, None
    if args.baseline:
        if sorted(methods) not in (["graphcl"], ["sega"]):
            ap.error("--baseline replaces one method's training: use it with --methods sega or --methods graphcl")
        baseline = _load_json(args.baseline)
        stored = "sega" if methods == ["graphcl"] else "graphcl"
    out = Path(args.out or f"benchmarks/results/graph_cl_{suffix}.json")
    protocol = ("frozen graph embeddings after the final epoch, RBF SVM, stratified 10-fold CV, C chosen by inner "
                "CV on each outer training part, CV seed = training seed; ")
    protocol += SELECTION_PROTOCOL if args.selection == "inner_cv" else "SEGA embedding GT fixed a priori"
    report: dict = {"benchmark": "graph_cl", "machine": machine_info(),
                    "config": {"command": " ".join(["benchmarks/graph_cl.py", *(argv or sys.argv[1:])]),
                               "quick": args.quick, "datasets": datasets, "methods": methods,
                               "threads": args.threads, "device": str(device), "selection": args.selection,
                               "tree_builder": args.tree_builder, "baseline": args.baseline,
                               "graphcl_aug": args.graphcl_aug,
                               "protocol": protocol, "per_dataset": {}},
                    "rows": [], "ratios": {}, "runs": {}}
    print(f"{'dataset':12s} {'seed':>4s} {'method':8s} {'acc %':>7s} {'epoch s':>8s} {'train s':>8s} {'eval s':>7s}")
    for name in datasets:
        scale = {} if (args.no_scale or args.quick) else SCALE.get(name, {})
        n_seeds = min(seeds, int(scale.get("seeds", seeds)))
        svm = {k: v for k, v in scale.items() if k != "seeds"}
        cfgs = {}
        for m in methods:
            cfg = dict(load_config(m, name), **svm, svm_impl=args.svm_impl, selection=args.selection)
            if args.quick:
                cfg.update(QUICK)
            if m == "sega" and args.tree_builder:
                cfg["tree_builder"] = args.tree_builder
            if m == "graphcl" and args.graphcl_aug:
                cfg["aug"] = args.graphcl_aug
            cfgs[m] = cfg
        graphs = prepare_graphs(name, str(next(iter(cfgs.values()))["features"]))
        y = _labels(graphs)
        trees, pre_times, greedy_times, greedy_trees = None, [], [], None
        if "sega" in methods:
            height, builder = int(cfgs["sega"]["tree_height"]), str(cfgs["sega"]["tree_builder"])
            for _ in range(max(1, args.precompute_repeats)):
                torch.set_num_threads(args.threads)
                trees = prepare_trees(graphs, height, int(cfgs["sega"]["max_degree"]), builder)
                pre_times.append(trees[1])
                if builder != "greedy":  # the current builder, timed interleaved for comparison
                    greedy_trees = prepare_trees(graphs, height, int(cfgs["sega"]["max_degree"]), "greedy")
                    greedy_times.append(greedy_trees[1])
        base_runs = _baseline_runs(baseline, name, cfgs, stored) if baseline is not None else {}
        seed_list = list(range(args.seed_start, args.seed_start + n_seeds))
        report["config"]["per_dataset"][name] = {"seeds": seed_list, "graphs": len(graphs),
                                                 "scaled": scale, "configs": cfgs}
        runs: list[dict] = []
        for seed in seed_list:
            run: dict = {"seed": seed}
            for m in methods:
                cfg = cfgs[m]
                t0 = time.perf_counter()
                if m == "graphcl" and args.selection == "inner_cv":
                    emb, outs = graphcl_candidates(graphs, cfg, device=device, seed=seed)
                    diag_embs = {}
                    tr = {"epoch_times": [t for o in outs.values() for t in o["epoch_times"]],
                          "train": next(iter(outs.values()))["train"]}
                elif m == "graphcl":
                    tr = train_graphcl(graphs, cfg, device=device, seed=seed)
                    emb, diag_embs = tr["embedding"], {}
                else:
                    tr = train_sega(graphs, cfg, device=device, seed=seed, trees=trees)
                    if args.selection == "inner_cv":
                        emb = sega_candidates(tr["embeddings"], cfg)
                    else:
                        emb = tr["embeddings"][cfg["embedding"]]
                    diag_embs = {k: tr["embeddings"][k] for k in ("G", "T")} if args.diagnostics else {}
                train_s = time.perf_counter() - t0
                t1 = time.perf_counter()
                res = evaluate_embeddings(emb, y, cfg, seed=seed)
                eval_s = time.perf_counter() - t1
                entry = {"accuracy": res["accuracy"], "fold_std": res["fold_std"], "chosen_C": res["chosen_C"],
                         "epoch_times": tr["epoch_times"], "final_loss": tr["train"]["history"][-1]["loss"],
                         "train_s": train_s, "eval_s": eval_s, "protocol": res["protocol"]}
                if "chosen_candidate" in res:
                    entry["candidates"] = res["candidates"]
                    entry["chosen_candidate"] = res["chosen_candidate"]
                if diag_embs:
                    entry["diagnostics"] = {k: evaluate_embeddings(e, y, cfg, seed=seed)["accuracy"]
                                            for k, e in diag_embs.items()}
                run[m] = entry
                print(f"{name:12s} {seed:4d} {m:8s} {_pct(res['accuracy']):7.2f} "
                      f"{statistics.median(tr['epoch_times']):8.3f} {train_s:8.1f} {eval_s:7.1f}", flush=True)
            if base_runs:
                if seed not in base_runs:
                    raise SystemExit(f"--baseline has no {stored} run of {name} seed {seed}")
                run[stored] = dict(base_runs[seed], source=args.baseline)
            runs.append(run)
            report["runs"][name] = runs
            rows = [r for r in report["rows"] if r["case"] != name.upper()]
            report["rows"] = rows + _summary(name, runs, args.diagnostics)
            if pre_times:
                report["rows"].append({"case": name.upper(), "impl": "sega", "metric": "tree_precompute",
                                       "value": round(statistics.median(pre_times), 4), "unit": "s",
                                       "height": int(cfgs["sega"]["tree_height"]), "graphs": len(graphs),
                                       "repeats": len(pre_times), "builder": builder,
                                       "mean_structural_entropy": _mean_entropy(trees[0], height)})
            if greedy_times:
                report["rows"].append({"case": name.upper(), "impl": "sega[greedy]", "metric": "tree_precompute",
                                       "value": round(statistics.median(greedy_times), 4), "unit": "s",
                                       "height": height, "graphs": len(graphs), "repeats": len(greedy_times),
                                       "builder": "greedy", "note": "interleaved with the builder above",
                                       "mean_structural_entropy": _mean_entropy(greedy_trees[0], height)})
            ratio = None if base_runs else _epoch_ratio(runs)
            if ratio is not None:
                report["ratios"][f"time_per_epoch sega/graphcl {name.upper()}"] = ratio
            report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
            atomic_write_json(out, report)
    gains = [r for r in report["rows"] if r["metric"] == "accuracy_gain"]
    report["summary"] = {"datasets": len(gains), "sega_above_graphcl": sum(r["value"] > 0 for r in gains),
                         "gains": {r["case"]: {"value": r["value"], "std": r["std"]} for r in gains}}
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
