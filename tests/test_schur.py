"""Randomized Schur complement (rLap) views: unbiasedness, validity, errors, determinism."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from graphcl.augment import Compose, MaskFeature, SchurView, exact_schur_complement, schur_complement


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def dense_laplacian(ei: torch.Tensor, w: torch.Tensor | None, n: int) -> torch.Tensor:
    A = torch.zeros(n, n, dtype=torch.float64)
    w = torch.ones(ei.size(1)) if w is None else w
    A.index_put_((ei[0], ei[1]), w.double(), accumulate=True)
    A.fill_diagonal_(0.0)
    return torch.diag(A.sum(1)) - A


def random_graph(n: int, m: int, seed: int, weighted: bool = True):
    g = gen(seed)
    ei = torch.randint(0, n, (2, m), generator=g)
    ei = ei[:, ei[0] != ei[1]]
    key = torch.unique(torch.minimum(ei[0], ei[1]) * n + torch.maximum(ei[0], ei[1]))
    u, v = key // n, key % n
    w = torch.rand(u.numel(), generator=g, dtype=torch.float64) + 0.5 if weighted else None
    ei = torch.cat([torch.stack([u, v]), torch.stack([v, u])], 1)
    if w is not None:
        w = torch.cat([w, w])
    return ei, w


def replicate(ei, w, n, elim, R):
    """R disjoint copies of the graph, so one call draws R independent views."""
    off = (torch.arange(R) * n).repeat_interleave(ei.size(1))
    eib = ei.repeat(1, R) + off
    wb = None if w is None else w.repeat(R)
    el = (elim[None, :] + torch.arange(R)[:, None] * n).reshape(-1)
    return eib, wb, el


def mean_view_laplacian(ei, w, n, elim, R, seed):
    """Sample mean and standard error of the view Laplacian over R draws."""
    eib, wb, el = replicate(ei, w, n, elim, R)
    out, ow, gone = schur_complement(eib, wb, n * R, eliminate=el, generator=gen(seed))
    assert torch.equal(gone, torch.sort(el).values)
    copy = out[0] // n
    A = torch.zeros(R, n, n, dtype=torch.float64)
    A.index_put_((copy, out[0] % n, out[1] % n), ow.double(), accumulate=True)
    L = torch.diag_embed(A.sum(2)) - A
    return L.mean(0), L.std(0) / math.sqrt(R)


def independent_set(ei, n, size):
    chosen: list[int] = []
    blocked = set()
    adj = {i: set() for i in range(n)}
    for a, b in ei.t().tolist():
        adj[a].add(b)
    for v in range(n):
        if v not in blocked and len(chosen) < size:
            chosen.append(v)
            blocked |= adj[v] | {v}
    return torch.tensor(chosen)


# --------------------------------------------------------------- unbiasedness
def test_single_vertex_outcome_distribution_is_exact():
    # star: centre 0, leaves 1, 2, 3 with weights 1, 2, 3 -> every outcome enumerated
    wl = {1: 1.0, 2: 2.0, 3: 3.0}
    ei = torch.tensor([[0, 0, 0, 1, 2, 3], [1, 2, 3, 0, 0, 0]])
    w = torch.tensor([1.0, 2.0, 3.0, 1.0, 2.0, 3.0], dtype=torch.float64)
    d = sum(wl.values())
    probs: dict = {}
    expected = torch.zeros(4, 4, dtype=torch.float64)
    for a, b, c in itertools.permutations([1, 2, 3]):
        for k in (b, c):
            pr = (1 / 6) * wl[k] / (wl[b] + wl[c])
            e1 = (tuple(sorted((a, k))), round(wl[a] * (wl[b] + wl[c]) / d, 9))
            e2 = (tuple(sorted((b, c))), round(wl[b] * wl[c] / d, 9))
            outcome = tuple(sorted([e1, e2]))
            probs[outcome] = probs.get(outcome, 0.0) + pr
            for (i, j), val in outcome:
                expected[i, j] -= pr * val
                expected[j, i] -= pr * val
    expected -= torch.diag(expected.sum(1))
    # the enumerated expectation IS the exact Schur complement
    xe, xw = exact_schur_complement(ei, w, 4, torch.tensor([0]))
    assert torch.allclose(expected, dense_laplacian(xe, xw, 4), atol=1e-12)
    # sampled outcomes: only enumerated ones, with the enumerated frequencies
    R = 3000
    eib, wb, el = replicate(ei, w, 4, torch.tensor([0]), R)
    out, ow, _ = schur_complement(eib, wb, 4 * R, eliminate=el, generator=gen(3))
    assert out.size(1) == 4 * R  # 2 undirected edges per copy
    counts: dict = {}
    half = out[0] < out[1]
    rows, cols, vals = out[0][half], out[1][half], ow[half]
    for r in range(R):
        sel = (rows // 4) == r
        outcome = tuple(
            sorted(
                ((int(a) % 4, int(b) % 4), round(float(v), 9))
                for a, b, v in zip(rows[sel], cols[sel], vals[sel])
            )
        )
        assert outcome in probs, outcome
        counts[outcome] = counts.get(outcome, 0) + 1
    for outcome, pr in probs.items():
        freq = counts.get(outcome, 0) / R
        assert abs(freq - pr) < 4.5 * math.sqrt(pr * (1 - pr) / R) + 1e-3


def test_degree_two_elimination_is_deterministic_and_exact():
    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    w = torch.tensor([2.0, 2.0, 3.0, 3.0])
    out, ow, gone = schur_complement(ei, w, 3, eliminate=torch.tensor([1]), generator=gen(0))
    assert out.tolist() == [[0, 2], [2, 0]]
    assert torch.allclose(ow, torch.tensor([1.2, 1.2]))
    assert gone.tolist() == [1]


def test_independent_set_unbiased():
    n = 14
    ei, w = random_graph(n, 45, seed=1)
    elim = independent_set(ei, n, 4)
    assert elim.numel() >= 3
    mean, se = mean_view_laplacian(ei, w, n, elim, R=4000, seed=5)
    xe, xw = exact_schur_complement(ei, w, n, elim)
    exact = dense_laplacian(xe, xw, n)
    z = (mean - exact).abs() / (se + 1e-12)
    assert torch.all(((mean - exact).abs() < 1e-9) | (z < 5.0)), float(z.max())


def test_general_set_bias_is_small_and_reported(capsys):
    # eliminations of adjacent vertices divide by random degrees: a bias is expected;
    # measure it against the Monte-Carlo error and keep it small
    n = 14
    ei, w = random_graph(n, 45, seed=1)
    elim = torch.arange(7)  # contains adjacent pairs
    L = dense_laplacian(ei, w, n)
    assert bool((L[:7, :7] - torch.diag(torch.diag(L[:7, :7]))).abs().sum() > 0)
    mean, se = mean_view_laplacian(ei, w, n, elim, R=2500, seed=7)
    xe, xw = exact_schur_complement(ei, w, n, elim)
    exact = dense_laplacian(xe, xw, n)
    rel_bias = float((mean - exact).norm() / exact.norm())
    rel_se = float(se.norm() / exact.norm())
    with capsys.disabled():
        print(f"\n[schur] general-set relative bias {rel_bias:.4f} (Monte-Carlo error {rel_se:.4f})")
    assert rel_bias < 0.1


# -------------------------------------------------------------------- validity
@pytest.mark.parametrize("order", ["random", "degree"])
@pytest.mark.parametrize("weighted", [True, False])
def test_view_is_valid_laplacian(order, weighted):
    n = 200
    ei, w = random_graph(n, 1000, seed=2, weighted=weighted)
    out, ow, gone = schur_complement(ei, w, n, fraction=0.4, order=order, generator=gen(0))
    assert gone.numel() == int(0.4 * n)
    assert out.size(1) <= ei.size(1)
    assert bool((ow >= 0).all()) and bool((out[0] != out[1]).all())
    A = torch.zeros(n, n, dtype=torch.float64)
    A[out[0], out[1]] = ow.double()
    assert torch.allclose(A, A.T)
    assert float(A[gone].abs().sum() + A[:, gone].abs().sum()) == 0.0
    L = torch.diag(A.sum(1)) - A
    assert float(torch.linalg.eigvalsh(L).min()) > -1e-8
    # coalesced: sorted unique keys
    key = out[0] * n + out[1]
    assert bool((key[1:] > key[:-1]).all())


def test_min_degree_order_eliminates_low_degree_vertices():
    n = 300
    ei, w = random_graph(n, 900, seed=4, weighted=False)
    deg = torch.bincount(ei[0], minlength=n).double()
    _, _, gone_deg = schur_complement(ei, w, n, fraction=0.2, order="degree", generator=gen(0))
    _, _, gone_rnd = schur_complement(ei, w, n, fraction=0.2, order="random", generator=gen(0))
    assert float(deg[gone_deg].mean()) < float(deg[gone_rnd].mean())


def test_self_loops_and_duplicates_ignored():
    n = 30
    ei, w = random_graph(n, 80, seed=5)
    loops = torch.arange(5).repeat(2, 1)
    ei2 = torch.cat([ei, loops], 1)
    w2 = torch.cat([w, torch.full((5,), 7.0, dtype=w.dtype)])
    a = schur_complement(ei, w, n, fraction=0.3, generator=gen(1))
    b = schur_complement(ei2, w2, n, fraction=0.3, generator=gen(1))
    assert torch.equal(a[0], b[0]) and torch.allclose(a[1], b[1]) and torch.equal(a[2], b[2])


def test_trailing_isolated_ids_kept_and_dtype():
    ei = torch.tensor([[0, 1], [1, 0]])
    out, ow, gone = schur_complement(ei, None, 6, fraction=0.5, generator=gen(0))
    assert gone.numel() == 3 and int(gone.max()) < 6
    assert ow.dtype == torch.get_default_dtype()
    w16 = torch.ones(2, dtype=torch.float64)
    assert schur_complement(ei, w16, 6, fraction=0.0)[1].dtype == torch.float64


# ---------------------------------------------------------------------- errors
def test_asymmetric_input_rejected():
    ei = torch.tensor([[0, 1, 1], [1, 0, 2]])
    with pytest.raises(ValueError, match="symmetric"):
        schur_complement(ei, None, 3, fraction=0.3)
    ei = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="edge_weight must be symmetric"):
        schur_complement(ei, torch.tensor([1.0, 2.0]), 2, fraction=0.3)


@pytest.mark.parametrize("fraction", [1.0, -0.1, 1.5, float("nan")])
def test_fraction_out_of_range(fraction):
    ei = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="fraction"):
        schur_complement(ei, None, 2, fraction=fraction)
    with pytest.raises(ValueError, match="fraction"):
        SchurView(fraction)


def test_argument_errors():
    ei = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="exactly one of fraction and eliminate"):
        schur_complement(ei, None, 2)
    with pytest.raises(ValueError, match="exactly one"):
        schur_complement(ei, None, 2, fraction=0.5, eliminate=torch.tensor([0]))
    with pytest.raises(ValueError, match="order"):
        schur_complement(ei, None, 2, fraction=0.5, order="coarsen")
    with pytest.raises(ValueError, match="eliminate contains node id"):
        schur_complement(ei, None, 2, eliminate=torch.tensor([5]))
    with pytest.raises(ValueError, match="negative"):
        schur_complement(ei, torch.tensor([-1.0, -1.0]), 2, fraction=0.5)


def test_empty_graph():
    ei = torch.empty(2, 0, dtype=torch.long)
    out, ow, gone = schur_complement(ei, None, 5, fraction=0.4, generator=gen(0))
    assert out.shape == (2, 0) and ow.numel() == 0 and gone.numel() == 2
    out, ow, gone = schur_complement(ei, None, 0, fraction=0.4)
    assert out.shape == (2, 0) and gone.numel() == 0


def test_determinism():
    n = 100
    ei, w = random_graph(n, 400, seed=6)
    a = schur_complement(ei, w, n, fraction=0.3, generator=gen(11))
    b = schur_complement(ei, w, n, fraction=0.3, generator=gen(11))
    c = schur_complement(ei, w, n, fraction=0.3, generator=gen(12))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not (torch.equal(a[2], c[2]) and torch.equal(a[0], c[0]))


def test_exact_schur_hand_computed():
    # path 0 - 1 - 2 with weights 2 and 3: eliminating 1 gives 0 - 2 with 2*3/5
    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    out, w = exact_schur_complement(ei, torch.tensor([2.0, 2.0, 3.0, 3.0]), 3, torch.tensor([1]))
    assert out.tolist() == [[0, 2], [2, 0]]
    assert torch.allclose(w, torch.tensor([1.2, 1.2], dtype=torch.float64))


# --------------------------------------------------------------- Data classes
def test_schur_view_on_data_and_batch():
    n = 40
    ei, w = random_graph(n, 120, seed=8, weighted=False)
    data = Data(x=torch.rand(n, 6), edge_index=ei, edge_attr=torch.rand(ei.size(1), 3))
    before = (data.edge_index.clone(), data.x.clone())
    view = Compose([SchurView(0.3, seed=0), MaskFeature(0.5, seed=1)])
    out = view(data)
    assert torch.equal(data.edge_index, before[0]) and torch.equal(data.x, before[1])
    assert "edge_attr" not in out and out.edge_weight.numel() == out.edge_index.size(1)
    assert out.num_nodes == n
    masked = (out.x == 0).all(0)
    assert bool(masked.any()) and torch.equal(out.x[:, ~masked], data.x[:, ~masked])
    out2 = Compose([SchurView(0.3, seed=0), MaskFeature(0.5, seed=1)])(data)
    assert torch.equal(out.edge_index, out2.edge_index) and torch.equal(out.x, out2.x)

    graphs = [Data(x=torch.rand(k, 2), edge_index=random_graph(k, 3 * k, k, False)[0], num_nodes=k)
              for k in (10, 20, 31)]
    batch = Batch.from_data_list(graphs)
    vb = SchurView(0.5, seed=0, feature_mask_p=0.2)(batch)
    assert bool((vb.batch[vb.edge_index[0]] == vb.batch[vb.edge_index[1]]).all())
    iso = torch.ones(batch.num_nodes, dtype=torch.bool)
    iso[vb.edge_index.view(-1)] = False
    per_graph = torch.bincount(batch.batch[iso], minlength=3)
    assert bool((per_graph >= torch.tensor([5, 10, 15])).all())
    parts = vb.to_data_list()
    assert [p.num_nodes for p in parts] == [10, 20, 31]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_schur_cuda_matches_properties():
    n = 300
    ei, w = random_graph(n, 1500, seed=3)
    dev = torch.device("cuda")
    g = torch.Generator(device=dev).manual_seed(0)
    out, ow, gone = schur_complement(ei.to(dev), w.to(dev), n, fraction=0.3, generator=g)
    assert out.device.type == "cuda" and ow.device.type == "cuda" and gone.device.type == "cuda"
    assert gone.numel() == int(0.3 * n) and out.size(1) <= ei.size(1)
    assert bool((ow >= 0).all())
    A = torch.zeros(n, n, dtype=torch.float64, device=dev)
    A[out[0], out[1]] = ow
    assert torch.allclose(A, A.T)
    g2 = torch.Generator(device=dev).manual_seed(0)
    out2, _, gone2 = schur_complement(ei.to(dev), w.to(dev), n, fraction=0.3, generator=g2)
    assert torch.equal(gone, gone2) and torch.equal(out, out2)
    # unbiased on CUDA too (independent set, disjoint copies)
    n = 14
    ei, w = random_graph(n, 45, seed=1)
    elim = independent_set(ei, n, 4)
    eib, wb, el = replicate(ei, w, n, elim, 4000)
    g = torch.Generator(device=dev).manual_seed(5)
    out, ow, _ = schur_complement(eib.to(dev), wb.to(dev), n * 4000, eliminate=el.to(dev),
                                  generator=g)
    out, ow = out.cpu(), ow.cpu()
    A = torch.zeros(4000, n, n, dtype=torch.float64)
    A.index_put_((out[0] // n, out[0] % n, out[1] % n), ow.double(), accumulate=True)
    L = torch.diag_embed(A.sum(2)) - A
    mean, se = L.mean(0), L.std(0) / math.sqrt(4000)
    xe, xw = exact_schur_complement(ei, w, n, elim)
    exact = dense_laplacian(xe, xw, n)
    assert torch.all(((mean - exact).abs() < 1e-9) | ((mean - exact).abs() < 5 * se + 1e-12))
