"""Walk engine against an earlier revision of itself, in one process, interleaved.

The earlier revision's ``graphcl`` package is checked out (``git worktree``) into a
temporary folder and imported under its own module names beside the current one;
both walk the same ``CSRGraph`` arrays (BlogCatalog by default) with
``walks_per_node``, alternating, best of ``--repeats`` per implementation.

Usage:
    python benchmarks/walks_ab.py --base 77dfa15 --threads 1 \\
        --out benchmarks/results/walks_ab_s9_1thread.json
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def _load(root: str):
    """``(CSRGraph, walks_per_node)`` of the graphcl package under ``root``."""
    for name in [m for m in sys.modules if m == "graphcl" or m.startswith("graphcl.")]:
        del sys.modules[name]
    sys.path.insert(0, root)
    try:
        graph = importlib.import_module("graphcl.graph")
        walks = importlib.import_module("graphcl.walks")
    finally:
        sys.path.pop(0)
    return graph.CSRGraph, walks.walks_per_node


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--base", required=True, help="git revision to compare against")
    ap.add_argument("--dataset", default="blogcatalog")
    ap.add_argument("--data-root", default=os.environ.get("GRAPHCL_DATA", ""))
    ap.add_argument("--pq", nargs="+", default=["1,4", "0.25,0.25", "4,1", "0.5,2", "0.25,1", "1,1"])
    ap.add_argument("--walks-per-node", type=int, default=10)
    ap.add_argument("--length", type=int, default=80)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    import torch

    sys.path.insert(0, str(HERE))
    from walks import _load_csr  # the peers' CSR arrays, as in benchmarks/walks.py

    torch.set_num_threads(a.threads)
    m = _load_csr(a.dataset, a.data_root)
    tmp = tempfile.mkdtemp(prefix="graphcl_ab_")
    base_dir = os.path.join(tmp, "base")
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-f", "--detach", base_dir, a.base],
                   check=True, capture_output=True)
    try:
        impls = {}
        for name, root in (("base", base_dir), ("current", str(REPO))):
            CSRGraph, wpn = _load(root)
            impls[name] = (CSRGraph.from_scipy(m, weighted=False), wpn)
        rows, ratios = [], {}
        for spec in a.pq:
            p, q = (float(x) for x in spec.split(","))
            times: dict[str, list[float]] = {k: [] for k in impls}
            for rep in range(a.repeats):
                for name, (g, wpn) in impls.items():
                    gen = torch.Generator().manual_seed(rep)
                    wpn(g, 1, 2, p, q, generator=gen)  # warm-up: walk index, adjacency set
                    t0 = time.perf_counter()
                    wpn(g, a.walks_per_node, a.length, p, q, generator=gen)
                    times[name].append(time.perf_counter() - t0)
            case = f"node2vec p={p:g},q={q:g}" if (p, q) != (1.0, 1.0) else "uniform"
            for name, ts in times.items():
                rows.append({"case": case, "impl": name, "metric": "time_s", "value": min(ts),
                             "unit": "s", "all": ts})
            ratios[f"time current/base [{case}]"] = min(times["current"]) / min(times["base"])
            print(f"{case:24s} current {min(times['current']):.3f} s  base {min(times['base']):.3f} s  "
                  f"ratio {ratios[f'time current/base [{case}]']:.3f}", flush=True)
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", base_dir],
                       capture_output=True)
    if a.out:
        from graphcl.utils import atomic_write_json, machine_info

        atomic_write_json(a.out, {
            "benchmark": "walks_ab", "machine": machine_info(), "base": a.base,
            "settings": {"dataset": a.dataset, "walks_per_node": a.walks_per_node, "length": a.length,
                         "repeats": a.repeats, "threads": a.threads},
            "protocol": "one process, base and current alternating, best of repeats each; "
                        "seed = repeat index; warm-up call per implementation before each timing",
            "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
            "rows": rows, "ratios": ratios,
        })
        print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
