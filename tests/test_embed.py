"""Tests for graphcl.embed (skip-gram with negative sampling, DeepWalk/node2vec estimators)."""

from __future__ import annotations

import math
import os

import pytest
import torch

import graphcl.embed.io as embed_io
from graphcl.embed import (
    DeepWalk,
    Node2Vec,
    SkipGram,
    cooccurrence_counts,
    factorize_ppmi,
    load_word2vec,
    ppmi_embedding,
    sample_negatives,
    save_word2vec,
    shifted_ppmi,
    skipgram_pairs,
    subsample_keep_probability,
    subsample_walks,
    train_gensim,
    train_skipgram,
    unigram_distribution,
)
from graphcl.graph import CSRGraph


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: intra-op threads only add overhead (and stall on a loaded machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _two_cliques(k: int = 8) -> torch.Tensor:
    """Edge index of two disjoint k-cliques (nodes 0..k-1 and k..2k-1), both directions."""
    idx = torch.arange(k)
    a, b = torch.meshgrid(idx, idx, indexing="ij")
    m = a != b
    one = torch.stack([a[m], b[m]])
    return torch.cat([one, one + k], dim=1)


def _local_walks(edge_index: torch.Tensor, n: int, per_node: int, length: int,
                 gen: torch.Generator) -> torch.Tensor:
    """Trivial first-order walker for tests only (the library uses graphcl.walks)."""
    g = CSRGraph.from_edge_index(edge_index, n)
    cur = torch.arange(n).repeat(per_node)
    out = [cur]
    deg = g.rowptr[1:] - g.rowptr[:-1]
    for _ in range(length):
        off = (torch.rand(cur.numel(), generator=gen) * deg[cur]).long()
        cur = g.col[g.rowptr[cur] + off]
        out.append(cur)
    return torch.stack(out, dim=1)


# ----------------------------------------------------------------- pair generation
def test_pairs_full_window_hand_computed():
    c, o = skipgram_pairs(torch.tensor([[5, 6, 7]]), 2, shrink_window=False)
    got = sorted(zip(c.tolist(), o.tolist()))
    assert got == [(5, 6), (5, 7), (6, 5), (6, 7), (7, 5), (7, 6)]


def test_padding_is_ignored():
    walks = torch.tensor([[0, 1, -1, -1], [2, -1, -1, -1]])
    c, o = skipgram_pairs(walks, 3, shrink_window=False)
    assert sorted(zip(c.tolist(), o.tolist())) == [(0, 1), (1, 0)]
    p = unigram_distribution(walks, 4, 1.0)
    assert torch.allclose(p, torch.tensor([1 / 3, 1 / 3, 1 / 3, 0.0], dtype=torch.float64))
    # node 3 never occurs: its vector is never touched by training (stays at its init)
    g = _gen(1)
    init = SkipGram(4, 8, generator=_gen(1)).emb.clone()
    z = train_skipgram(walks, 4, dim=8, window=3, epochs=3, generator=g, progress=False)
    assert torch.equal(z[3], init[3])
    assert not torch.equal(z[0], init[0])


def test_window_shrink_frequencies():
    # one long walk of distinct tokens: a pair at offset o exists iff the centre's
    # window r >= o, r uniform in 1..w, so P = (w - o + 1) / w for every interior centre
    w, length = 5, 20000
    walks = torch.arange(length).unsqueeze(0)
    c, o = skipgram_pairs(walks, w, shrink_window=True, generator=_gen(0))
    off = (o - c).abs()
    for k in range(1, w + 1):
        n_cent = 2 * (length - k)  # centres with a token at distance k (both sides)
        p = (w - k + 1) / w
        count = int((off == k).sum())
        sd = math.sqrt(n_cent * p * (1 - p)) + 1e-9
        assert abs(count - n_cent * p) < 5 * sd, (k, count, n_cent * p)
    assert int(off.max()) == w


def test_unigram_distribution_exact_and_sampled():
    # token counts 1, 8, 27, 0, 64 -> weights count^0.75
    counts = [1, 8, 27, 0, 64]
    tokens = torch.cat([torch.full((c,), i) for i, c in enumerate(counts)])
    walks = torch.cat([tokens, torch.full((4,), -1)]).view(2, -1)
    p = unigram_distribution(walks, 5, 0.75)
    w = torch.tensor([c ** 0.75 for c in counts], dtype=torch.float64)
    assert torch.allclose(p, w / w.sum())
    n = 200_000
    s = sample_negatives(torch.cumsum(p, 0), (n,), _gen(3))
    freq = torch.bincount(s, minlength=5).double() / n
    sd = (p * (1 - p) / n).sqrt()
    assert bool(((freq - p).abs() <= 5 * sd + 1e-12).all()), (freq, p)
    assert int((s == 3).sum()) == 0


def _brute_force_counts(walks: torch.Tensor, window: int, shrink: bool) -> dict:
    """Expected (centre, context) counts by enumerating every centre and window slot;
    values are ``window *`` the weight (integers, so comparisons are exact)."""
    out: dict = {}
    for row in walks.tolist():
        for t, a in enumerate(row):
            for s, b in enumerate(row):
                dist = abs(s - t)
                if a < 0 or b < 0 or dist == 0 or dist > window:
                    continue
                # P(shrunken window r >= dist), r uniform in 1..window, times window
                out[(a, b)] = out.get((a, b), 0) + ((window - dist + 1) if shrink else window)
    return out


@pytest.mark.parametrize("shrink", [True, False])
@pytest.mark.parametrize("rows", [None, 1, 4])
def test_cooccurrence_counts_equal_brute_force(shrink, rows, monkeypatch):
    import graphcl.embed.skipgram as sg

    if rows is not None:  # row-block path: blocks of `rows` centre rows (4: last one partial)
        monkeypatch.setattr(sg, "_DENSE_COUNT_LIMIT", rows * 6)
        monkeypatch.setattr(sg, "_COUNT_CHUNK_PAIRS", 50)  # several walk chunks
    g = _gen(5)
    walks = torch.randint(0, 6, (7, 9), generator=g)
    walks[2, 5:] = -1  # padding of a stopped walker
    walks[4, 1] = -1
    window = 4
    c, o, w = cooccurrence_counts(walks, 6, window, shrink_window=shrink)
    got = {(a, b): round(x * window) for a, b, x in zip(c.tolist(), o.tolist(), w.tolist())}
    assert got == _brute_force_counts(walks, window, shrink)
    assert torch.allclose(w * window, torch.round(w * window), atol=1e-9)
    keys = c * 6 + o
    assert bool((keys[1:] > keys[:-1]).all())  # unique, sorted
    if not shrink:  # equals the histogram of all pairs
        pc, po = skipgram_pairs(walks, window, shrink_window=False)
        hist = torch.bincount(pc * 6 + po, minlength=36).double()
        assert torch.equal(hist[keys], w)
        assert int(hist.sum()) == int(w.sum())


def test_cooccurrence_total_is_expected_pair_count():
    # sum of weights = expected number of pairs word2vec forms per epoch
    walks = torch.randint(0, 20, (30, 12), generator=_gen(2))
    _, _, w = cooccurrence_counts(walks, 20, 5)
    draws = torch.tensor([float(skipgram_pairs(walks, 5, generator=_gen(s))[0].numel())
                          for s in range(200)], dtype=torch.float64)
    se = float(draws.std()) / math.sqrt(draws.numel())
    assert abs(float(draws.mean()) - float(w.sum())) < 5 * se + 1e-9


# ----------------------------------------------------------------- training
def test_aggregated_sgns_separates_two_cliques_and_is_deterministic():
    ei = _two_cliques(8)
    walks = _local_walks(ei, 16, 10, 10, _gen(0))
    kw = dict(dim=16, window=3, negative=5, epochs=2, lr=0.05, batch_size=512, progress=False,
              aggregate=True)
    z = train_skipgram(walks, 16, generator=_gen(1), **kw)
    assert torch.equal(z, train_skipgram(walks, 16, generator=_gen(1), **kw))
    zn = torch.nn.functional.normalize(z, dim=1)
    sim = zn @ zn.T
    sim.fill_diagonal_(-2.0)
    side = torch.arange(16) // 8
    assert bool((side[sim.argmax(1)] == side).all())
    same = (side[:, None] == side[None, :]) & ~torch.eye(16, dtype=torch.bool)
    assert float(sim[same].mean()) > float(sim[side[:, None] != side[None, :]].mean()) + 0.3
    with pytest.raises(TypeError, match="aggregate"):
        train_skipgram(walks, 16, progress=False, aggregate=1)
    with pytest.raises(TypeError, match="aggregate"):
        DeepWalk(aggregate="yes")
    m = Node2Vec(dim=8, walks_per_node=2, walk_length=6, p=0.5, aggregate=True, progress=False)
    assert m.fit(ei).embedding_.shape == (16, 8)


def test_weighted_step_equals_scaled_lr():
    # a pair weight w scales the pair's gradient exactly like lr * w (no row cap)
    c, o, neg = torch.tensor([0, 1]), torch.tensor([1, 2]), torch.tensor([[3], [0]])
    a, b = SkipGram(4, 6, generator=_gen(0)), SkipGram(4, 6, generator=_gen(0))
    a.ctx.data.normal_(generator=_gen(1))
    b.ctx.data.copy_(a.ctx.data)
    a.step(c, o, neg, 0.1, None, weight=torch.tensor([3.0, 3.0]))
    b.step(c, o, neg, 0.3, None)
    assert torch.allclose(a.emb, b.emb) and torch.allclose(a.ctx, b.ctx)


def test_sgns_separates_two_cliques():
    ei = _two_cliques(8)
    walks = _local_walks(ei, 16, 10, 10, _gen(0))
    z = train_skipgram(walks, 16, dim=16, window=3, negative=5, epochs=2, lr=0.05,
                       batch_size=512, generator=_gen(1), progress=False)
    zn = torch.nn.functional.normalize(z, dim=1)
    sim = zn @ zn.T
    sim.fill_diagonal_(-2.0)
    nn_idx = sim.argmax(1)
    side = torch.arange(16) // 8
    assert bool((side[nn_idx] == side).all())
    same = (side[:, None] == side[None, :]) & ~torch.eye(16, dtype=torch.bool)
    assert float(sim[same].mean()) > float(sim[side[:, None] != side[None, :]].mean()) + 0.3


def test_training_is_deterministic_on_cpu():
    walks = _local_walks(_two_cliques(5), 10, 3, 8, _gen(0))
    kw = dict(dim=8, window=3, epochs=1, batch_size=64, progress=False)
    a = train_skipgram(walks, 10, generator=_gen(7), **kw)
    b = train_skipgram(walks, 10, generator=_gen(7), **kw)
    c = train_skipgram(walks, 10, generator=_gen(8), **kw)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_row_update_cap_matches_plain_sum_when_not_reached():
    m1 = SkipGram(6, 4, generator=_gen(0))
    m2 = SkipGram(6, 4, generator=_gen(0))
    m1.ctx.data.normal_(generator=_gen(1))
    m2.ctx.data.copy_(m1.ctx.data)
    c, o = torch.tensor([0, 0, 1]), torch.tensor([2, 3, 2])
    neg = torch.tensor([[4, 5], [5, 2], [4, 4]])
    m1.step(c, o, neg, 0.1)
    m2.step(c, o, neg, 0.1, max_row_updates=10)
    assert torch.allclose(m1.emb, m2.emb) and torch.allclose(m1.ctx, m2.ctx)
    # hand-computed single pair, one negative: u += lr[(1-s(u.v))v - s(u.n)n]
    m = SkipGram(3, 2, generator=_gen(0))
    m.emb.data = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    m.ctx.data = torch.tensor([[0.0, 0.0], [0.5, 0.5], [-1.0, 2.0]])
    u, v, nv = m.emb[0].clone(), m.ctx[1].clone(), m.ctx[2].clone()
    m.step(torch.tensor([0]), torch.tensor([1]), torch.tensor([[2]]), 0.5)
    sp, sn = torch.sigmoid(u @ v), torch.sigmoid(u @ nv)
    assert torch.allclose(m.emb[0], u + 0.5 * ((1 - sp) * v - sn * nv))
    assert torch.allclose(m.ctx[1], v + 0.5 * (1 - sp) * u)
    assert torch.allclose(m.ctx[2], nv - 0.5 * sn * u)


# ----------------------------------------------------------------- fast-path estimators
def test_subsample_keep_probability_is_word2vec_formula_and_sampled():
    counts = torch.tensor([0.0, 1.0, 50.0, 500.0, 5000.0])
    sample = 1e-2
    t = sample * float(counts.sum())
    want = [1.0] + [min(1.0, (math.sqrt(c / t) + 1) * t / c) for c in counts[1:].tolist()]
    keep = subsample_keep_probability(counts, sample)
    assert torch.allclose(keep, torch.tensor(want, dtype=torch.float64))
    assert torch.equal(subsample_keep_probability(counts, 0.0), torch.ones(5, dtype=torch.float64))
    with pytest.raises(ValueError, match="sample"):
        subsample_keep_probability(counts, -1.0)
    # sampled keep frequencies vs the probabilities; kept tokens keep their order, -1 pads
    n = 40000
    walks = torch.arange(5).repeat(n).view(n, 5)
    walks[:, 4] = -1
    out = subsample_walks(walks, keep, _gen(0))
    assert out.shape == walks.shape
    freq = torch.stack([(out == v).sum() for v in range(4)]).double() / n
    sd = (keep[:4] * (1 - keep[:4]) / n).sqrt()
    assert bool(((freq - keep[:4]).abs() <= 5 * sd + 1e-12).all()), (freq, keep)
    valid = out >= 0
    assert bool((valid[:, :-1] | ~valid[:, 1:]).all())  # no token after a -1
    nxt = torch.where(valid[:, 1:], out[:, 1:], torch.full_like(out[:, 1:], 99))
    assert bool((~valid[:, :-1] | (out[:, :-1] < nxt)).all())  # order (ids increase) kept


def _hand_sgns(emb, ctx, pairs, neg_of, negative, s):
    """Hand-written shared-negative SGNS objective: sum over pairs of log s(u.v) plus
    negative / s * sum over the pair's shared draws != context of log s(-u.v_n)."""
    f = torch.nn.functional.logsigmoid
    tot = emb.new_zeros(())
    for k, (c, o) in enumerate(pairs):
        tot = tot + f(emb[c] @ ctx[o])
        for n in neg_of(k):
            if n != o:
                tot = tot + negative / s * f(-emb[c] @ ctx[n])
    return tot


def _grad_step(model, pairs, neg_of, negative, s, lr):
    emb = model.emb.data.clone().requires_grad_()
    ctx = model.ctx.data.clone().requires_grad_()
    _hand_sgns(emb, ctx, pairs, neg_of, negative, s).backward()
    return emb.detach() + lr * emb.grad, ctx.detach() + lr * ctx.grad


def test_shared_negative_step_is_gradient_of_hand_formula():
    m = SkipGram(7, 4, generator=_gen(1))
    m.ctx.data.normal_(generator=_gen(2))
    c, o = torch.tensor([0, 1, 0, 3]), torch.tensor([2, 2, 5, 0])
    neg = torch.tensor([2, 6, 6, 4, 0])  # 2 equals the context of pairs 0/1: skipped there
    pairs = list(zip(c.tolist(), o.tolist()))
    e, x = _grad_step(m, pairs, lambda k: neg.tolist(), 3, 5, 0.2)
    m.step_shared(c, o, neg, 0.2, 3)
    assert torch.allclose(m.emb, e, atol=1e-6) and torch.allclose(m.ctx, x, atol=1e-6)


@pytest.mark.parametrize("per_token", [True, False])
def test_walk_block_step_is_gradient_of_hand_formula(per_token):
    walks = torch.tensor([[1, 2, 1, 3, 4, -1], [0, 5, 0, 6, 5, 2]])
    radius = torch.tensor([[2, 1, 3, 2, 1, 1], [1, 2, 2, 3, 1, 2]])
    s, negative = 4, 3
    shape = (2, 6, s) if per_token else (2, s)
    neg = torch.randint(0, 7, shape, generator=_gen(3))
    neg[0, 0] = 2  # (per token: draw 0 of centre 1 at t=0) equals a context: skipped
    pairs, draws = [], []
    for b in range(2):
        for t in range(6):
            for u in range(6):
                if walks[b, t] >= 0 and walks[b, u] >= 0 and 0 < abs(u - t) <= radius[b, t]:
                    pairs.append((int(walks[b, t]), int(walks[b, u])))
                    draws.append((neg[b, t] if per_token else neg[b]).tolist())
    m = SkipGram(7, 4, generator=_gen(1))
    m.ctx.data.normal_(generator=_gen(2))
    e, x = _grad_step(m, pairs, lambda k: draws[k], negative, s, 0.1)
    m.step_walks(walks, radius, neg, 0.1, negative)
    assert torch.allclose(m.emb, e, atol=1e-6) and torch.allclose(m.ctx, x, atol=1e-6)
    # the row cap leaves a step unchanged when no row reaches it
    m2 = SkipGram(7, 4, generator=_gen(1))
    m2.ctx.data.normal_(generator=_gen(2))
    m2.step_walks(walks, radius, neg, 0.1, negative, max_row_updates=10_000)
    assert torch.allclose(m2.emb, e, atol=1e-6) and torch.allclose(m2.ctx, x, atol=1e-6)


@pytest.mark.parametrize("kw", [dict(shared_negatives=8), dict(mode="walks"),
                                dict(mode="walks", sample=1e-2), dict(sample=1e-2),
                                dict(aggregate=True, shared_negatives=8)])
def test_fast_paths_separate_two_cliques_and_are_deterministic(kw):
    ei = _two_cliques(8)
    walks = _local_walks(ei, 16, 10, 10, _gen(0))
    base = dict(dim=16, window=3, negative=5, epochs=2, lr=0.05, batch_size=256, progress=False)
    z = train_skipgram(walks, 16, generator=_gen(1), **base, **kw)
    assert torch.equal(z, train_skipgram(walks, 16, generator=_gen(1), **base, **kw))
    assert not torch.equal(z, train_skipgram(walks, 16, generator=_gen(2), **base, **kw))
    zn = torch.nn.functional.normalize(z, dim=1)
    sim = zn @ zn.T
    sim.fill_diagonal_(-2.0)
    side = torch.arange(16) // 8
    assert bool((side[sim.argmax(1)] == side).all())


def test_fast_path_arguments():
    w = torch.tensor([[0, 1, 2, 1]])
    with pytest.raises(ValueError, match="mode"):
        train_skipgram(w, 3, progress=False, mode="tokens")
    with pytest.raises(ValueError, match="shared_negatives"):
        train_skipgram(w, 3, progress=False, shared_negatives=0)
    with pytest.raises(ValueError, match="pair_fraction"):
        train_skipgram(w, 3, progress=False, pair_fraction=1.5)
    with pytest.raises(ValueError, match="sample"):
        train_skipgram(w, 3, progress=False, sample=-0.1)
    with pytest.raises(ValueError, match="mode='walks'"):
        train_skipgram(w, 3, progress=False, mode="walks", aggregate=True)
    with pytest.raises(ValueError, match="shared_negatives and pair_fraction"):
        DeepWalk(backend="gensim", shared_negatives=4)
    with pytest.raises(ValueError, match="mode"):
        Node2Vec(mode="x")
    m = DeepWalk(dim=8, walks_per_node=2, walk_length=6, mode="walks", sample=1e-3,
                 progress=False).fit(_two_cliques(3))
    assert m.embedding_.shape == (6, 8)


# ----------------------------------------------------------------- word2vec files
def test_word2vec_round_trip(tmp_path):
    z = torch.randn(7, 5)
    path = tmp_path / "emb.txt"
    save_word2vec(z, path)
    lines = path.read_text().splitlines()
    assert lines[0] == "7 5"
    assert lines[3].split()[0] == "2" and len(lines[3].split()) == 6
    assert torch.equal(load_word2vec(path), z)


def test_word2vec_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "emb.txt"
    save_word2vec(torch.zeros(2, 2), path)
    before = path.read_text()
    calls = {"n": 0}

    def failing_repr(x):
        calls["n"] += 1
        if calls["n"] > 50:
            raise RuntimeError("disk full")
        return str(x)

    monkeypatch.setattr(embed_io, "repr", failing_repr, raising=False)
    with pytest.raises(RuntimeError, match="disk full"):
        save_word2vec(torch.randn(100, 4), path)
    assert path.read_text() == before  # old file intact, no partial file
    assert sorted(os.listdir(tmp_path)) == ["emb.txt"]  # no temporary left behind
    with pytest.raises(RuntimeError, match="disk full"):
        save_word2vec(torch.randn(100, 4), tmp_path / "new.txt")
    assert not (tmp_path / "new.txt").exists()


# ----------------------------------------------------------------- PPMI factorisation
def _dense_sppmi(walks: torch.Tensor, n: int, window: int, b: float) -> torch.Tensor:
    """max(log(C_ij / (b C_i P_n(j))), 0) from the brute-force counts, by loops."""
    counts = _brute_force_counts(walks, window, True)
    C = torch.zeros(n, n, dtype=torch.float64)
    for (a, c), v in counts.items():
        C[a, c] = v / window
    tok = [t for row in walks.tolist() for t in row if t >= 0]
    pn = torch.tensor([tok.count(i) ** 0.75 for i in range(n)], dtype=torch.float64)
    pn = pn / pn.sum()
    out = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        ci = float(C[i].sum())
        for j in range(n):
            if C[i, j] > 0:
                out[i, j] = max(math.log(float(C[i, j]) / (b * ci * float(pn[j]))), 0.0)
    return out


def test_shifted_ppmi_hand_computed():
    # C = [[0, 2], [2, 0]], P_n = (1/2, 1/2): C_0 = 2, M_01 = 2 / (b * 2 * 0.5) = 2 / b
    c, o, w = torch.tensor([0, 1]), torch.tensor([1, 0]), torch.tensor([2.0, 2.0])
    noise = torch.tensor([0.5, 0.5])
    L = shifted_ppmi(c, o, w, 2, noise, 1)
    assert L.layout == torch.sparse_csr and L.dtype == torch.float32
    assert torch.allclose(L.to_dense(), torch.tensor([[0.0, math.log(2)], [math.log(2), 0.0]]))
    L5 = shifted_ppmi(c, o, w, 2, noise, 5)  # log(2 / 5) < 0: truncated, entries dropped
    assert L5._nnz() == 0
    # 3 nodes, unnormalised noise (normalised inside), C_0 = 1 + 3 = 4
    c, o = torch.tensor([0, 0, 1, 2]), torch.tensor([1, 2, 0, 0])
    w = torch.tensor([1.0, 3.0, 1.0, 3.0], dtype=torch.float64)
    noise = torch.tensor([2.0, 1.0, 1.0])  # P_n = (1/2, 1/4, 1/4)
    L = shifted_ppmi(c, o, w, 3, noise, 2, dtype=torch.float64).to_dense()
    expect = torch.zeros(3, 3, dtype=torch.float64)
    expect[0, 2] = math.log(3 / (2 * 4 * 0.25))  # M_01 = 1 / 2 -> truncated to 0
    expect[1, 0] = math.log(1 / (2 * 1 * 0.5))  # = 0
    expect[2, 0] = math.log(3 / (2 * 3 * 0.5))  # = 0
    assert torch.allclose(L, expect)
    # unsorted / duplicated input is coalesced first (same matrix)
    perm = torch.tensor([3, 1, 0, 2, 1])
    w_dup = w[perm].clone()
    w_dup[1], w_dup[4] = 1.0, 2.0  # the (0, 2) count 3 split into two entries
    L2 = shifted_ppmi(c[perm], o[perm], w_dup, 3, noise, 2, dtype=torch.float64).to_dense()
    assert torch.allclose(L2, expect)


def test_shifted_ppmi_of_walk_counts_equals_loop_formula():
    walks = torch.randint(0, 7, (9, 8), generator=_gen(11))
    walks[3, 6:] = -1
    c, o, w = cooccurrence_counts(walks, 7, 3)
    for b in (1, 5):
        L = shifted_ppmi(c, o, w, 7, unigram_distribution(walks, 7), b, dtype=torch.float64)
        assert torch.allclose(L.to_dense(), _dense_sppmi(walks, 7, 3, b), atol=1e-12)


def test_ppmi_embedding_is_svd_of_the_matrix_and_deterministic():
    walks = _local_walks(_two_cliques(5), 10, 4, 10, _gen(4))
    n, dim = 10, 3
    z = ppmi_embedding(walks, n, dim=dim, window=3, negative=1, generator=_gen(0))
    assert z.shape == (n, dim) and z.dtype == torch.float32 and z.device.type == "cpu"
    L = shifted_ppmi(*cooccurrence_counts(walks, n, 3), n, unigram_distribution(walks, n), 1,
                     dtype=torch.float64).to_dense()
    s = torch.linalg.svdvals(L)[:dim]
    # z = U sqrt(S) with orthonormal U: z^T z = diag(S), S the top singular values of L
    # (sketch of dim + oversample >= n columns: exact)
    gram = (z.double().t() @ z.double())
    assert torch.allclose(gram, torch.diag(s), atol=1e-4 * float(s[0]))
    z2 = ppmi_embedding(walks, n, dim=dim, window=3, negative=1, generator=_gen(0))
    assert torch.equal(z, z2)
    # singular-value weighting U * S**eig_power: 0 -> orthonormal columns, 1 -> gram S^2
    for power, target in ((0.0, torch.ones(dim, dtype=torch.float64)), (1.0, s * s)):
        zp = ppmi_embedding(walks, n, dim=dim, window=3, negative=1, generator=_gen(0),
                            eig_power=power).double()
        assert torch.allclose(zp.t() @ zp, torch.diag(target), atol=1e-4 * float(target[0]))
    zd = ppmi_embedding(walks, n, dim=dim, window=3, negative=1, generator=_gen(0),
                        dtype=torch.float64, sample=1e-2)
    assert zd.dtype == torch.float64
    assert torch.equal(zd, ppmi_embedding(walks, n, dim=dim, window=3, negative=1,
                                          generator=_gen(0), dtype=torch.float64, sample=1e-2))


def test_ppmi_trainer_separates_two_cliques_and_unseen_nodes_are_zero():
    ei = _two_cliques(6)
    m = DeepWalk(dim=4, walks_per_node=5, walk_length=10, window=3, negative=1,
                 trainer="ppmi", progress=False, seed=3).fit(ei, num_nodes=13)
    z = torch.nn.functional.normalize(m.embedding_[:12], dim=1)
    sim = z @ z.t()
    same = torch.block_diag(torch.ones(6, 6), torch.ones(6, 6)).bool()
    off = ~torch.eye(12, dtype=torch.bool)
    assert float(sim[same & off].min()) > float(sim[~same].max())
    assert bool((m.embedding_[12] == 0).all())  # isolated node: empty PPMI row
    again = DeepWalk(dim=4, walks_per_node=5, walk_length=10, window=3, negative=1,
                     trainer="ppmi", progress=False, seed=3).fit(ei, num_nodes=13)
    assert torch.equal(m.embedding_, again.embedding_)
    assert "trainer='ppmi'" in repr(m)


def test_ppmi_bad_arguments():
    c, o, w, noise = torch.tensor([0]), torch.tensor([1]), torch.tensor([1.0]), torch.ones(2)
    with pytest.raises(ValueError, match="trainer must be one of"):
        DeepWalk(trainer="svd")
    with pytest.raises(ValueError, match="needs backend='torch'"):
        DeepWalk(trainer="ppmi", backend="gensim")
    with pytest.raises(ValueError, match="negative >= 1"):
        Node2Vec(trainer="ppmi", negative=0)
    with pytest.raises(ValueError, match="svd_niter"):
        DeepWalk(trainer="ppmi", svd_niter=-1)
    with pytest.raises(ValueError, match="negative must be a finite number > 0"):
        shifted_ppmi(c, o, w, 2, noise, 0)
    with pytest.raises(ValueError, match="equal length"):
        shifted_ppmi(c, o, torch.tensor([1.0, 2.0]), 2, noise)
    with pytest.raises(ValueError, match="positive counts"):
        shifted_ppmi(c, o, torch.tensor([0.0]), 2, noise)
    with pytest.raises(ValueError, match="noise must be a floating tensor of shape"):
        shifted_ppmi(c, o, w, 2, torch.ones(3))
    with pytest.raises(ValueError, match="noise is zero at a context"):
        shifted_ppmi(c, o, w, 2, torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 2\)"):
        shifted_ppmi(c, torch.tensor([2]), w, 2, noise)
    with pytest.raises(TypeError, match="centre must be a torch.Tensor"):
        shifted_ppmi([0], o, w, 2, noise)
    with pytest.raises(ValueError, match="dim=5 exceeds num_nodes=4"):
        ppmi_embedding(torch.tensor([[0, 1, 2, 3]]), 4, dim=5)
    with pytest.raises(ValueError, match="sample"):
        ppmi_embedding(torch.tensor([[0, 1, 2, 3]]), 4, dim=2, sample=-1.0)
    with pytest.raises(ValueError, match="eig_power"):
        ppmi_embedding(torch.tensor([[0, 1, 2, 3]]), 4, dim=2, eig_power=-0.5)
    with pytest.raises(ValueError, match="dim=3 exceeds num_nodes=2"):
        factorize_ppmi(c, o, w, 2, noise, 3)
    with pytest.raises(TypeError, match="walks must be an integer"):
        ppmi_embedding(torch.rand(2, 3), 4, dim=2)


# ----------------------------------------------------------------- estimators
def test_estimator_api_inputs_and_shapes():
    from torch_geometric.data import Data

    ei = _two_cliques(4)
    kw = dict(dim=8, walks_per_node=2, walk_length=6, window=2, progress=False)
    m = DeepWalk(**kw)
    assert m.fit(ei) is m
    assert m.embedding_.shape == (8, 8) and m.embedding_.device.type == "cpu"
    a = DeepWalk(**kw).fit(Data(edge_index=ei, num_nodes=10)).embedding_
    assert a.shape == (10, 8)  # isolated nodes 8, 9 included
    b = DeepWalk(**kw).fit(CSRGraph.from_edge_index(ei, 10)).embedding_
    assert torch.equal(a, b)  # same seed, same graph -> same embedding
    n2v = Node2Vec(p=0.5, q=2.0, **kw).fit(ei, num_nodes=9)
    assert n2v.embedding_.shape == (9, 8) and (n2v.p, n2v.q) == (0.5, 2.0)


def test_estimator_save_word2vec(tmp_path):
    m = Node2Vec(dim=4, walks_per_node=1, walk_length=4, progress=False)
    with pytest.raises(RuntimeError, match="not fitted"):
        m.save_word2vec(tmp_path / "x.txt")
    m.fit(_two_cliques(3))
    m.save_word2vec(tmp_path / "x.txt")
    assert torch.allclose(load_word2vec(tmp_path / "x.txt"), m.embedding_)


def test_gensim_backend_runs_and_orders_rows():
    walks = torch.tensor([[0, 1, 0, 1, -1], [1, 0, 1, 0, 1]] * 10)
    z = train_gensim(walks, 3, dim=4, window=2, workers=1, seed=0)
    assert z.shape == (3, 4)
    assert bool((z[2] == 0).all()) and bool((z[:2] != 0).any())
    m = DeepWalk(dim=6, walks_per_node=2, walk_length=5, backend="gensim", workers=1,
                 progress=False).fit(_two_cliques(3))
    assert m.embedding_.shape == (6, 6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="dim"):
        DeepWalk(dim=0)
    with pytest.raises(TypeError, match="window"):
        DeepWalk(window=2.5)
    with pytest.raises(ValueError, match="backend"):
        Node2Vec(backend="keras")
    with pytest.raises(ValueError, match="p must be a finite number > 0"):
        Node2Vec(p=0.0)
    with pytest.raises(TypeError, match="graph must be"):
        DeepWalk(progress=False).fit([[0, 1], [1, 0]])
    with pytest.raises(TypeError, match="walks must be an integer"):
        train_skipgram(torch.rand(2, 3), 3, progress=False)
    with pytest.raises(ValueError, match="num_nodes=3"):
        train_skipgram(torch.tensor([[0, 3]]), 3, progress=False)
    with pytest.raises(ValueError, match="padding"):
        train_skipgram(torch.tensor([[0, -2]]), 3, progress=False)
    with pytest.raises(ValueError, match="lr"):
        train_skipgram(torch.tensor([[0, 1]]), 3, lr=0.0, progress=False)
    with pytest.raises(ValueError, match="all padding"):
        unigram_distribution(torch.tensor([[-1, -1]]), 3)


# ----------------------------------------------------------------- methods
def test_select_pq_uses_training_labels_only():
    from graphcl.methods.shallow import select_pq

    gen = _gen(0)
    y = torch.eye(2).repeat_interleave(30, 0)
    good = y * 3 + 0.1 * torch.randn(60, 2, generator=gen)
    bad = torch.randn(60, 2, generator=gen)
    embs = {(1.0, 1.0): bad, (0.25, 4.0): good}
    out = select_pq(embs, y, train_ratios=(0.5,), num_shuffles=2, seed=0, C=10.0)
    assert all((c["p"], c["q"]) == (0.25, 4.0) for c in out["chosen"])
    assert out["f1_topk"]["macro_f1"][0] > 0.9
    # scrambling the labels of the TEST nodes must not change any choice
    import numpy as np

    test = torch.as_tensor(np.random.default_rng([0, 0]).permutation(60)[30:])
    y2 = y.clone()
    y2[test] = y[test].flip(1)
    a = select_pq(embs, y, train_ratios=(0.5,), num_shuffles=1, seed=0, C=10.0)
    b = select_pq(embs, y2, train_ratios=(0.5,), num_shuffles=1, seed=0, C=10.0)
    assert a["chosen"] == b["chosen"]  # same validation scores, same choice
    assert b["f1_topk"]["macro_f1"][0] < 0.1  # ... while the test score did see the change


def test_methods_registered_and_run_on_karate():
    from graphcl.config import load_config
    from graphcl.methods import RunContext, available_methods, get_method

    assert {"deepwalk", "node2vec"} <= set(available_methods())
    cfg = load_config("deepwalk", "karate",
                      overrides=["walks_per_node=2", "walk_length=8", "dim=8", "num_seeds=1"])
    out = get_method("deepwalk").fn("karate", cfg, RunContext(quiet=True))
    assert out["embedding"].shape == (34, 8)
    assert 0.0 <= out["metrics"]["linear_probe"]["accuracy"] <= 1.0
    assert "protocol" in out["metrics"]["linear_probe"]
    cfg = load_config("deepwalk", "karate",
                      overrides=["walks_per_node=2", "walk_length=8", "dim=8", "num_seeds=1",
                                 "trainer=ppmi", "negative=1"])
    out = get_method("deepwalk").fn("karate", cfg, RunContext(quiet=True))
    assert out["embedding"].shape == (34, 8)


def test_select_pq_epoch_candidates_chosen_on_validation():
    from graphcl.methods.shallow import select_pq

    gen = _gen(1)
    y = torch.eye(3).repeat_interleave(20, 0)
    good = y * 3 + 0.1 * torch.randn(60, 3, generator=gen)
    weak = y + 1.5 * torch.randn(60, 3, generator=gen)
    bad = torch.randn(60, 3, generator=gen)
    # same (p, q) at two epoch counts: only the 5-epoch embedding separates the classes
    embs = {(1.0, 1.0, 1): bad, (0.25, 4.0, 1): weak, (1.0, 1.0, 5): good}
    out = select_pq(embs, y, train_ratios=(0.5,), num_shuffles=2, seed=0, C=10.0)
    assert [(c["p"], c["q"], c["epochs"]) for c in out["chosen"]] == [(1.0, 1.0, 5)] * 2
    assert isinstance(out["chosen"][0]["epochs"], int)
    assert list(out["chosen"][0]["val_macro_f1"]) == ["1,1,1", "0.25,4,1", "1,1,5"]
    assert "(p, q, epochs)" in out["f1_topk"]["protocol"]
    # every candidate's validation score equals the 2-tuple run on the same embedding, and the
    # 2-tuple form reports no "epochs" (old callers unchanged)
    old = select_pq({(1.0, 1.0): bad, (0.25, 4.0): weak, (2.0, 1.0): good}, y,
                    train_ratios=(0.5,), num_shuffles=2, seed=0, C=10.0)
    for c_new, c_old in zip(out["chosen"], old["chosen"]):
        assert "epochs" not in c_old and (c_old["p"], c_old["q"]) == (2.0, 1.0)
        assert list(c_new["val_macro_f1"].values()) == list(c_old["val_macro_f1"].values())
        assert list(c_old["val_macro_f1"]) == ["1,1", "0.25,4", "2,1"]
    assert out["f1_topk"]["macro_f1"] == old["f1_topk"]["macro_f1"]
    assert "(p, q) chosen" in old["f1_topk"]["protocol"]
    # mixed forms: a 2-tuple winner has no "epochs"
    mixed = select_pq({(1.0, 1.0): good, (1.0, 1.0, 5): bad}, y, num_shuffles=1, C=10.0)
    assert "epochs" not in mixed["chosen"][0] and mixed["chosen"][0]["p"] == 1.0


def test_select_pq_rejects_bad_candidate_keys():
    from graphcl.methods.shallow import select_pq

    y = torch.eye(2).repeat_interleave(10, 0)
    z = torch.randn(20, 2, generator=_gen(0))
    with pytest.raises(ValueError, match=r"keys must be \(p, q\) or \(p, q, epochs\)"):
        select_pq({(1.0,): z}, y, num_shuffles=1)
    with pytest.raises(ValueError, match=r"keys must be"):
        select_pq({"1,1": z}, y, num_shuffles=1)
    with pytest.raises(ValueError, match=r"epochs must be an integer >= 1"):
        select_pq({(1.0, 1.0, 0): z}, y, num_shuffles=1)
    with pytest.raises(ValueError, match=r"epochs must be an integer >= 1"):
        select_pq({(1.0, 1.0, 2.5): z}, y, num_shuffles=1)


def test_run_node2vec_chooses_epochs_with_pq_on_validation(monkeypatch):
    import graphcl.methods.shallow as shallow
    from graphcl.config import load_config
    from graphcl.data import sbm
    from graphcl.methods import RunContext

    data = sbm([15, 15], p_in=0.5, p_out=0.02, num_features=4, seed=0)
    data.y = torch.nn.functional.one_hot(data.y, 2).float()  # multi-label form
    monkeypatch.setattr(shallow, "_load", lambda dataset, ctx: data)
    cfg = load_config("node2vec", "karate", overrides=[
        "walks_per_node=2", "walk_length=6", "dim=4", "select_pq=true", "pq_grid=[1.0]", "epochs_grid=[1, 2]",
        "num_shuffles=1", "protocols=[topk]", "backend=torch"])
    out = shallow.run_node2vec("sbm", cfg, RunContext(quiet=True))
    chosen = out["metrics"]["pq"]["chosen"]
    assert chosen[0]["epochs"] in (1, 2) and set(chosen[0]["val_macro_f1"]) == {"1,1,1", "1,1,2"}
    assert out["embedding"].shape == (30, 4)
