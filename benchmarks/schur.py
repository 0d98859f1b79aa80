"""Randomized Schur complement (rLap) benchmark.

1. ``exact``: time of the batched randomized elimination vs exact elimination
   (dense numpy ``L_KK - L_KE L_EE^-1 L_EK`` and scipy sparse LU) on small graphs.
2. ``scaling``: time and time per edge from 1e3 to 1e6 stored edges
   (Erdos-Renyi, mean degree ~10, fraction 0.3, both orders): should grow about
   linearly with the number of edges.
3. ``bias``: relative Frobenius bias ``||mean(L_view) - S_exact|| / ||S_exact||`` of the
   kept-vertex Laplacian on a small graph, for an independent eliminated set
   and a general one, for this implementation and for a plain sequential
   one-vertex-at-a-time reference (written here, Python loops) -- the bias for
   general sets is a property of the algorithm, not of the batching.

Usage: ``python benchmarks/schur.py [--quick] [--device cpu|cuda] [--out PATH]``.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from graphcl.augment.schur import exact_schur_complement, schur_complement
from graphcl.utils import atomic_write_json, machine_info, peak_memory_mb, resolve_device


def er_graph(n: int, mean_degree: float, seed: int, device) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    m = int(n * mean_degree / 2)
    ei = torch.randint(0, n, (2, m), generator=g)
    ei = ei[:, ei[0] != ei[1]]
    key = torch.unique(torch.minimum(ei[0], ei[1]) * n + torch.maximum(ei[0], ei[1]))
    u, v = key // n, key % n
    return torch.cat([torch.stack([u, v]), torch.stack([v, u])], 1).to(device)


def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_it(fn, repeats: int, device) -> float:
    times = []
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def exact_dense(ei: torch.Tensor, n: int, elim: np.ndarray) -> np.ndarray:
    A = np.zeros((n, n))
    e = ei.cpu().numpy()
    A[e[0], e[1]] = 1.0
    L = np.diag(A.sum(1)) - A
    mask = np.zeros(n, dtype=bool)
    mask[elim] = True
    K, E = np.flatnonzero(~mask), np.flatnonzero(mask)
    LEE = L[np.ix_(E, E)] + 1e-12 * np.eye(E.size)
    return L[np.ix_(K, K)] - L[np.ix_(K, E)] @ np.linalg.solve(LEE, L[np.ix_(E, K)])


def exact_sparse(ei: torch.Tensor, n: int, elim: np.ndarray):
    e = ei.cpu().numpy()
    A = sp.csr_matrix((np.ones(e.shape[1]), (e[0], e[1])), shape=(n, n))
    L = (sp.diags(np.asarray(A.sum(1)).ravel()) - A).tocsc()
    mask = np.zeros(n, dtype=bool)
    mask[elim] = True
    K, E = np.flatnonzero(~mask), np.flatnonzero(mask)
    LEE = (L[E][:, E] + 1e-12 * sp.eye(E.size)).tocsc()
    lu = spla.splu(LEE)
    X = lu.solve(L[E][:, K].toarray())
    return L[K][:, K] - L[K][:, E] @ X


# ------------------------------------------------------------------ sequential reference
def sequential_rlap(adj: dict, eliminate: list[int], rng: random.Random) -> dict:
    """One vertex at a time, literal rLap loop (colScale / wdeg updates), random orders."""
    adj = {u: dict(nb) for u, nb in adj.items()}
    order = list(eliminate)
    rng.shuffle(order)
    for v in order:
        nbrs = list(adj[v].items())
        rng.shuffle(nbrs)
        ws = [w for _, w in nbrs]
        d = sum(ws)
        col_scale, wdeg = 1.0, d
        for i in range(len(nbrs) - 1):
            j, wj = nbrs[i]
            f = wj * col_scale / wdeg
            later = nbrs[i + 1 :]
            tot = sum(w for _, w in later)
            r, acc, k = rng.random() * tot, 0.0, later[-1][0]
            for kk, wk in later:
                acc += wk
                if r < acc:
                    k = kk
                    break
            nw = f * (1 - f) * wdeg
            adj[j][k] = adj[j].get(k, 0.0) + nw
            adj[k][j] = adj[k].get(j, 0.0) + nw
            col_scale *= 1 - f
            wdeg *= (1 - f) ** 2
        for j, _ in nbrs:
            del adj[j][v]
        adj[v] = {}
    return adj


def lap_from_adj(adj: dict, n: int) -> np.ndarray:
    A = np.zeros((n, n))
    for u, nb in adj.items():
        for v, w in nb.items():
            A[u, v] += w
    return np.diag(A.sum(1)) - A


def bias_case(ei, w, n, elim, draws, device, sequential_draws):
    xe, xw = exact_schur_complement(ei, w, n, elim)
    Aex = np.zeros((n, n))
    Aex[xe[0].numpy(), xe[1].numpy()] = xw.numpy()
    exact = np.diag(Aex.sum(1)) - Aex
    norm = np.linalg.norm(exact)
    # batched implementation: draws disjoint copies in one call
    off = (torch.arange(draws) * n).repeat_interleave(ei.size(1))
    eib = (ei.repeat(1, draws) + off).to(device)
    wb = w.repeat(draws).to(device)
    el = (elim[None, :] + torch.arange(draws)[:, None] * n).reshape(-1).to(device)
    g = torch.Generator(device=device).manual_seed(0)
    out, ow, _ = schur_complement(eib, wb, n * draws, eliminate=el, generator=g)
    out, ow = out.cpu(), ow.cpu().double()
    A = torch.zeros(draws, n, n, dtype=torch.float64)
    A.index_put_((out[0] // n, out[0] % n, out[1] % n), ow, accumulate=True)
    Ls = (torch.diag_embed(A.sum(2)) - A).numpy()
    res = {
        "graphcl_rel_bias": float(np.linalg.norm(Ls.mean(0) - exact) / norm),
        "graphcl_rel_mc_error": float(np.linalg.norm(Ls.std(0) / math.sqrt(draws)) / norm),
    }
    # sequential reference
    adj = {u: {} for u in range(n)}
    for (a, b), wt in zip(ei.t().tolist(), w.tolist()):
        adj[a][b] = wt
    rng = random.Random(0)
    acc = np.zeros((sequential_draws, n, n))
    for r in range(sequential_draws):
        acc[r] = lap_from_adj(sequential_rlap(adj, elim.tolist(), rng), n)
    res["sequential_rel_bias"] = float(np.linalg.norm(acc.mean(0) - exact) / norm)
    res["sequential_rel_mc_error"] = float(
        np.linalg.norm(acc.std(0) / math.sqrt(sequential_draws)) / norm
    )
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    ap.add_argument("--out", default="benchmarks/results/schur.json")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-edges", type=float, default=1e6, help="largest scaling case")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    args = ap.parse_args()
    device = resolve_device(args.device)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    fraction = 0.3
    rows: list[dict] = []
    ratios: dict[str, float] = {}

    def add(case, impl, metric, value, unit):
        rows.append({"case": case, "impl": impl, "metric": metric, "value": value, "unit": unit})

    # warm-up (CUDA context, allocator)
    schur_complement(er_graph(100, 10, 0, device), None, 100, fraction=0.3,
                     generator=torch.Generator(device=device).manual_seed(0))

    # 1. exact vs randomized ---------------------------------------------------------
    print("== exact elimination vs randomized (ER, mean degree 10, fraction 0.3)")
    print(f"{'n':>7} {'edges':>9} {'rlap s':>9} {'dense s':>9} {'sparse s':>9}")
    sizes = [200, 500] if args.quick else [200, 500, 1000, 2000]
    dense_ratios, sparse_ratios = [], []
    for n in sizes:
        ei = er_graph(n, 10, 1, device)
        elim = np.random.default_rng(0).permutation(n)[: int(fraction * n)]
        g = torch.Generator(device=device)

        def run_rlap(ei=ei, n=n, g=g):
            g.manual_seed(1)
            schur_complement(ei, None, n, fraction=fraction, generator=g)

        t_r = time_it(run_rlap, args.repeats, device)
        t_d = time_it(lambda ei=ei, n=n, e=elim: exact_dense(ei, n, e), args.repeats, "cpu")
        t_s = time_it(lambda ei=ei, n=n, e=elim: exact_sparse(ei, n, e), args.repeats, "cpu")
        case = f"er_n{n}_E{ei.size(1)}"
        add(case, "graphcl", "time", t_r, "s")
        add(case, "numpy_dense_exact", "time", t_d, "s")
        add(case, "scipy_splu_exact", "time", t_s, "s")
        dense_ratios.append(t_r / t_d)
        sparse_ratios.append(t_r / t_s)
        print(f"{n:>7} {ei.size(1):>9} {t_r:>9.4f} {t_d:>9.4f} {t_s:>9.4f}")
    ratios["time graphcl/numpy_dense_exact (median over sizes)"] = statistics.median(dense_ratios)
    ratios["time graphcl/scipy_splu_exact (median over sizes)"] = statistics.median(sparse_ratios)

    # 2. scaling ----------------------------------------------------------------------
    print("\n== scaling (ER, mean degree 10, fraction 0.3)")
    print(f"{'order':>7} {'edges':>9} {'time s':>9} {'us/edge':>9} {'out/in edges':>13}")
    targets = [1e3, 1e4, 1e5]
    while not args.quick and targets[-1] * 10 <= args.max_edges:
        targets.append(targets[-1] * 10)
    for order in ("random", "degree"):
        per_edge = []
        for target in targets:
            n = int(target / 10)
            ei = er_graph(n, 10, 2, device)
            g = torch.Generator(device=device)
            res = {}

            def run(order=order, ei=ei, n=n, g=g, res=res):
                g.manual_seed(3)
                res["out"] = schur_complement(ei, None, n, fraction=fraction, order=order,
                                              generator=g)

            reps = args.repeats if target <= 1e5 else 1
            t = time_it(run, reps, device)
            E = ei.size(1)
            case = f"er_{order}_E{E}"
            add(case, "graphcl", "time", t, "s")
            add(case, "graphcl", "time_per_edge", t / E * 1e6, "us")
            add(case, "graphcl", "output_edges_over_input", res["out"][0].size(1) / E, "ratio")
            per_edge.append(t / E)
            print(f"{order:>7} {E:>9} {t:>9.4f} {t / E * 1e6:>9.3f} "
                  f"{res['out'][0].size(1) / E:>13.3f}")
        ratios[f"time_per_edge largest/smallest ({order})"] = per_edge[-1] / per_edge[0]
        ratios[f"time_per_edge largest/1e4 ({order})"] = per_edge[-1] / per_edge[1]

    # 3. bias ------------------------------------------------------------------------
    print("\n== bias of the kept-vertex Laplacian (n=14, weighted, relative Frobenius)")
    gen = torch.Generator().manual_seed(1)
    n = 14
    raw = torch.randint(0, n, (2, 45), generator=gen)
    raw = raw[:, raw[0] != raw[1]]
    key = torch.unique(torch.minimum(raw[0], raw[1]) * n + torch.maximum(raw[0], raw[1]))
    u, v = key // n, key % n
    wt = torch.rand(u.numel(), generator=gen, dtype=torch.float64) + 0.5
    ei = torch.cat([torch.stack([u, v]), torch.stack([v, u])], 1)
    w = torch.cat([wt, wt])
    adj = {i: set() for i in range(n)}
    for a, b in ei.t().tolist():
        adj[a].add(b)
    indep, blocked = [], set()
    for x in range(n):
        if x not in blocked and len(indep) < 4:
            indep.append(x)
            blocked |= adj[x] | {x}
    draws = 4000 if args.quick else 40000
    seq_draws = 2000 if args.quick else 20000
    for name, elim in (("independent_set", torch.tensor(indep)), ("general_set_7of14",
                                                                   torch.arange(7))):
        res = bias_case(ei, w, n, elim, draws, device, seq_draws)
        for k, val in res.items():
            impl = "graphcl" if k.startswith("graphcl") else "sequential_reference"
            add(f"bias_{name}", impl, k.split("_", 1)[1], val, "relative")
        print(f"{name:>18}: graphcl bias {res['graphcl_rel_bias']:.4f} "
              f"(MC err {res['graphcl_rel_mc_error']:.4f}); sequential bias "
              f"{res['sequential_rel_bias']:.4f} (MC err {res['sequential_rel_mc_error']:.4f})")

    add("peak_memory", "graphcl", "peak_memory", peak_memory_mb(device), "MiB")
    record = {
        "benchmark": "schur",
        "machine": machine_info(),
        "device": str(device),
        "quick": args.quick,
        "torch_threads": torch.get_num_threads(),
        "rows": rows,
        "ratios": ratios,
    }
    atomic_write_json(args.out, record)
    print("\nratios:")
    for k, val in ratios.items():
        print(f"  {k}: {val:.3f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
