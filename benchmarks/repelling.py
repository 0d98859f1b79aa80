"""Variance reduction of repelling random walks (Reid et al., ICLR 2024).

For every graph and walker count ``m`` (walkers per start node) and every
ensemble type (``iid``, ``antithetic`` halting, ``repelling``, both), over
``--seeds`` seeds (one independent estimate per seed, ``make_generator(seed)``):

* ``kernel_rel_frob``: ``||K^ - K||_F / ||K||_F`` for the GRF estimate of the
  2-regularised Laplacian kernel ``K = (I + sigma^2 L~)^-2`` (sigma 0.5, p_halt 0.5;
  diagonal from an independent second feature draw, so every entry is unbiased).
  Note: the authors' code reports the *squared* ratio; this is the plain one.
* ``pagerank_l1``: ``||pi^ - pi||_1`` for PageRank (alpha 0.85), visit-count
  estimator, walkers of one start node form one ensemble (``per_start``).
* ``pagerank_l1_global``: the same with all ``N m`` walkers of a draw forming one
  repelling ensemble.
* ``pagerank_terminal_l1``: terminal-node estimator, ``per_start``.

Prints mean +- std and the reduction ``1 - ensemble / iid`` per case, and writes
``benchmarks/results/repelling.json`` (format: shared/docs/BENCHMARKS.md).

Usage::

    python benchmarks/repelling.py            # full: 6 graphs, m in 2 4 8 16, 20 seeds
    python benchmarks/repelling.py --quick    # karate + tree, 2 and 8 walkers, 5 seeds
    GRAPHCL_DATA=/work/shared/datasets python benchmarks/repelling.py --cora --device cuda
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import networkx as nx
import torch

from graphcl.graph import CSRGraph
from graphcl.utils import atomic_write_json, machine_info, make_generator, resolve_device
from graphcl.walks.estimators import (
    exact_pagerank,
    exact_regularised_laplacian_kernel,
    grf_kernel_estimate,
    pagerank_estimate,
    relative_frobenius_error,
)

ENSEMBLES = ("iid", "antithetic", "repelling", "repelling+antithetic")
METRICS = ("kernel_rel_frob", "pagerank_l1", "pagerank_l1_global", "pagerank_terminal_l1")


def _from_nx(g: nx.Graph) -> CSRGraph:
    g = nx.convert_node_labels_to_integers(g)
    ei = torch.tensor(list(g.edges()), dtype=torch.long).reshape(-1, 2).T
    return CSRGraph.from_edge_index(ei, g.number_of_nodes(), undirected=True)


def _cora() -> CSRGraph | None:
    root = os.environ.get("GRAPHCL_DATA")
    src = Path(root or "", "Planetoid", "Cora")
    if not root or not src.is_dir():
        print("Cora skipped: set GRAPHCL_DATA to the datasets folder")
        return None
    from torch_geometric.datasets import Planetoid

    tmp = tempfile.mkdtemp(prefix="graphcl_cora_")
    shutil.copytree(src / "raw", Path(tmp, "Cora", "raw"))
    data = Planetoid(tmp, "Cora")[0]
    shutil.rmtree(tmp, ignore_errors=True)
    return CSRGraph.from_edge_index(data.edge_index, data.num_nodes, undirected=True)


def build_graphs(names: list[str], cora: bool) -> dict[str, CSRGraph]:
    makers = {
        "karate": lambda: nx.karate_club_graph(),
        "erdos_renyi_100": lambda: nx.gnp_random_graph(100, 0.06, seed=0),
        "binary_tree_127": lambda: nx.balanced_tree(2, 6),
        "regular4_100": lambda: nx.random_regular_graph(4, 100, seed=0),
        "les_miserables": lambda: nx.les_miserables_graph(),
        "florentine": lambda: nx.florentine_families_graph(),
    }
    unknown = set(names) - set(makers) - {"cora"}
    if unknown:
        raise SystemExit(f"unknown graphs {sorted(unknown)}; choose from {sorted(makers)} or cora")
    graphs = {name: _from_nx(makers[name]()) for name in names if name != "cora"}
    if cora or "cora" in names:
        g = _cora()
        if g is not None:
            graphs["cora"] = g
    return graphs


def run_case(
    g: CSRGraph, m: int, ensemble: str, seeds: int, device: torch.device, exact: tuple
) -> dict:
    """Per-seed errors of the four estimators for one (graph, m, ensemble)."""
    k_exact, pr_exact = exact
    out: dict[str, list[float]] = {k: [] for k in METRICS}
    for seed in range(seeds):
        gen = make_generator(seed, device)
        k = grf_kernel_estimate(g, m, sigma=0.5, p_halt=0.5, ensemble=ensemble, generator=gen)
        out["kernel_rel_frob"].append(float(relative_frobenius_error(k, k_exact)))
        del k
        for metric, est, cp in (
            ("pagerank_l1", "visits", "per_start"),
            ("pagerank_l1_global", "visits", "global"),
            ("pagerank_terminal_l1", "terminal", "per_start"),
        ):
            pr = pagerank_estimate(
                g, m, alpha=0.85, ensemble=ensemble, estimator=est, coupling=cp, generator=gen
            )
            out[metric].append(float((pr - pr_exact).abs().sum()))
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small smoke run (< 1 min)")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per case (default 20)")
    ap.add_argument("--walkers", type=int, nargs="+", default=None)
    ap.add_argument(
        "--graphs",
        nargs="+",
        default=None,
        help="karate erdos_renyi_100 binary_tree_127 regular4_100 les_miserables florentine cora",
    )
    ap.add_argument("--cora", action="store_true", help="add Cora (needs GRAPHCL_DATA)")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (small ops: 1)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "repelling.json"))
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.quick:
        seeds = args.seeds or 5
        walkers = args.walkers or [2, 8]
        names = args.graphs or ["karate", "binary_tree_127"]
    else:
        seeds = args.seeds or 20
        walkers = args.walkers or [2, 4, 8, 16]
        names = args.graphs or [
            "karate",
            "erdos_renyi_100",
            "binary_tree_127",
            "regular4_100",
            "les_miserables",
            "florentine",
        ]
    graphs = {k: v.to(device) for k, v in build_graphs(names, args.cora).items()}

    rows: list[dict] = []
    ratios: dict[str, float] = {}
    summary: dict[tuple, tuple[float, float]] = {}
    t0 = time.perf_counter()
    for gname, g in graphs.items():
        exact = (exact_regularised_laplacian_kernel(g, 0.5), exact_pagerank(g, 0.85))
        for m in walkers:
            for ens in ENSEMBLES:
                t = time.perf_counter()
                res = run_case(g, m, ens, seeds, device, exact)
                secs = time.perf_counter() - t
                for metric, vals in res.items():
                    mean = statistics.fmean(vals)
                    std = statistics.stdev(vals) if len(vals) > 1 else 0.0
                    summary[(gname, m, ens, metric)] = (mean, std)
                    rows.append(
                        {
                            "case": f"{gname}/m={m}",
                            "impl": "graphcl",
                            "ensemble": ens,
                            "metric": metric,
                            "value": mean,
                            "std": std,
                            "seeds": seeds,
                            "unit": "relative Frobenius" if metric.startswith("kernel") else "L1",
                        }
                    )
                rows.append(
                    {
                        "case": f"{gname}/m={m}",
                        "impl": "graphcl",
                        "ensemble": ens,
                        "metric": "seconds_all_seeds",
                        "value": secs,
                        "unit": "s",
                    }
                )
            for metric in METRICS:
                base = summary[(gname, m, "iid", metric)][0]
                for ens in ENSEMBLES[1:]:
                    val = summary[(gname, m, ens, metric)][0]
                    ratios[f"{metric} {gname} m={m} {ens}/iid"] = val / base if base else float("nan")

    # ------------------------------------------------------------------ table
    for metric in METRICS:
        print(f"\n{metric}  (mean +- std over {seeds} seeds; red = 1 - ensemble/iid)")
        head = f"{'graph':<17}{'m':>3}  " + "".join(f"{e:>24}" for e in ENSEMBLES)
        print(head + f"{'red rep':>9}{'red r+a':>9}")
        for gname in graphs:
            for m in walkers:
                cells = ""
                for ens in ENSEMBLES:
                    mu, sd = summary[(gname, m, ens, metric)]
                    cells += f"{mu:>15.4f} +- {sd:<6.4f}"
                red = [1 - ratios[f"{metric} {gname} m={m} {e}/iid"] for e in ENSEMBLES[2:]]
                print(f"{gname:<17}{m:>3}  {cells}{red[0]:>9.1%}{red[1]:>9.1%}")

    total = time.perf_counter() - t0
    result = {
        "benchmark": "repelling",
        "machine": machine_info(),
        "device": str(device),
        "protocol": {
            "kernel": "2-regularised Laplacian (I + sigma^2 L_sym)^-2, sigma=0.5, p_halt=0.5, "
            "GRF estimate with independent-draw diagonal; relative Frobenius error",
            "pagerank": "alpha=0.85, m walkers from every node, L1 error vs power iteration",
            "seeds": seeds,
            "walkers_per_node": walkers,
            "graphs": {k: {"nodes": v.num_nodes, "edges": v.num_edges // 2} for k, v in graphs.items()},
        },
        "rows": rows,
        "ratios": ratios,
        "seconds_total": total,
    }
    atomic_write_json(args.out, result)
    print(f"\nwrote {args.out} in {total:.1f} s")
    return result


if __name__ == "__main__":
    main()
