"""Tests of graphcl.data: loaders against the manifest, errors, splits, synthetic graphs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch
from torch_geometric.loader import DataLoader

from graphcl.data import (
    DatasetNotFoundError,
    RecData,
    available,
    data_root,
    karate,
    known_names,
    lfr,
    link_split,
    load,
    manifest,
    random_split,
    rec_split,
    sbm,
)
from graphcl.data.loaders import node_stats, tu_stats, undirected_edge_index
from graphcl.data.rec import rec_stats
from graphcl.data.registry import resolve_name

FILE_DATASETS = [e["name"] for e in manifest().values() if e["files"]]


def _snapshot(root: str) -> set[str]:
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        out.update(os.path.join(dirpath, n) for n in dirnames + filenames)
    return out


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def shared_before(data_root) -> set[str]:
    return _snapshot(data_root)


def _skip_if_absent(name: str, root: str) -> None:
    entry = manifest()[name]
    missing = [rel for rel in entry["files"] if not (Path(root) / rel).is_file()]
    if missing:
        pytest.skip(f"{name}: {len(missing)} raw file(s) absent under GRAPHCL_DATA={root}")


def _assert_clean_undirected(ei: torch.Tensor, n: int) -> None:
    assert ei.dtype == torch.long
    assert bool((ei[0] != ei[1]).all()), "self loop"
    keys = ei[0] * n + ei[1]
    assert bool((keys[1:] > keys[:-1]).all()), "not sorted/coalesced"
    rev = torch.sort(ei[1] * n + ei[0]).values
    assert torch.equal(rev, keys), "not symmetric"


# ---------------------------------------------------------------- shared datasets


@pytest.mark.parametrize("name", FILE_DATASETS)
def test_shared_dataset_matches_manifest(name, data_root, cache, shared_before):
    _skip_if_absent(name, data_root)
    entry = manifest()[name]
    obj = load(name, root=data_root, cache_dir=cache)
    kind = entry["kind"]
    if kind == "tu":
        assert tu_stats(obj) == entry["stats"]
        assert obj[0].x is not None and obj[0].x.size(1) == entry["stats"]["num_features"]
        assert obj[0].y.dtype == torch.long
    elif kind == "rec":
        assert isinstance(obj, RecData) and obj.name == name
        assert rec_stats(obj) == entry["stats"]
        for pairs in (obj.train, obj.test) + ((obj.val,) if obj.val is not None else ()):
            assert pairs.dtype == torch.long and int(pairs.min()) >= 0
            assert int(pairs[0].max()) < obj.num_users and int(pairs[1].max()) < obj.num_items
        assert int(obj.train.min()) == 0  # 0-based ids
    else:
        assert node_stats(obj) == entry["stats"]
        assert obj.name == name
        _assert_clean_undirected(obj.edge_index, obj.num_nodes)
        if kind == "multilabel":
            assert obj.x is None and obj.y.dtype == torch.float32
            assert set(obj.y.unique().tolist()) <= {0.0, 1.0}
        else:
            assert obj.x.dtype == torch.float32 and obj.y.dtype == torch.long
    if name in ("cora", "citeseer"):
        n_train = {"cora": 140, "citeseer": 120}[name]
        masks = obj.train_mask, obj.val_mask, obj.test_mask
        assert [int(m.sum()) for m in masks] == [n_train, 500, 1000]
        assert not bool((masks[0] & masks[1]).any() | (masks[1] & masks[2]).any())


def test_zz_shared_root_untouched(data_root, shared_before):
    """Runs after the loaders: nothing (no processed/ folder) was written under GRAPHCL_DATA."""
    after = _snapshot(data_root)
    assert after == shared_before
    assert not [p for p in after if os.path.basename(p) == "processed"]


def test_verify_checksums_and_statistics(data_root, tmp_path, cache):
    _skip_if_absent("lastfm", data_root)
    src = Path(data_root) / "Rec" / "lastfm"
    dst = tmp_path / "Rec" / "lastfm"
    shutil.copytree(src, dst)
    assert load("lastfm", root=tmp_path, verify=True, cache_dir=cache).num_train == 42135
    lines = (dst / "test1.txt").read_bytes().splitlines(keepends=True)
    (dst / "test1.txt").write_bytes(b"".join(lines[:-5]))
    with pytest.raises(ValueError, match="num_test: expected 10533, got 10528"):
        load("lastfm", root=tmp_path, cache_dir=cache)
    with pytest.raises(ValueError, match=r"checksum mismatch[\s\S]*test1\.txt"):
        load("lastfm", root=tmp_path, verify=True, cache_dir=cache)


def test_ml100k_split_seeded(data_root, cache):
    _skip_if_absent("ml-100k", data_root)
    a = load("ml-100k", root=data_root, cache_dir=cache, seed=0)
    b = load("ml-100k", root=data_root, cache_dir=cache, seed=0)
    c = load("ml-100k", root=data_root, cache_dir=cache, seed=1)
    assert torch.equal(a.train, b.train) and torch.equal(a.test, b.test)
    assert not torch.equal(a.test, c.test)
    keys = [p[0] * a.num_items + p[1] for p in (a.train, a.val, a.test)]
    allk = torch.cat(keys)
    assert allk.unique().numel() == 100_000 == allk.numel()


# ---------------------------------------------------------------- errors and names


def test_missing_dataset_message(tmp_path):
    raw = tmp_path / "Planetoid" / "Cora" / "raw"
    raw.mkdir(parents=True)
    (raw / "ind.cora.x").write_bytes(b"")
    with pytest.raises(DatasetNotFoundError) as info:
        load("Cora", root=tmp_path)
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert "missing 7 of 8" in msg
    assert str(raw / "ind.cora.graph") in msg and str(raw / "ind.cora.test.index") in msg
    assert f"missing: {raw / 'ind.cora.x'}\n" not in msg
    assert "github.com/kimiyoung/planetoid" in msg
    with pytest.raises(FileNotFoundError, match=r"Rec/gowalla/train\.txt[\s\S]*LightGCN-PyTorch"):
        load("gowalla", root=tmp_path)


def test_unknown_name_and_kwargs(tmp_path):
    with pytest.raises(ValueError, match=r"unknown dataset name 'pubmed'.*known names: cora, "):
        load("pubmed", root=tmp_path)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        load("cora", root=tmp_path, seed=3)


def test_aliases_case_insensitive():
    assert resolve_name("Photo")["name"] == "amazon-photo"
    assert resolve_name("AMAZON_COMPUTERS")["name"] == "amazon-computers"
    assert resolve_name("cs")["name"] == "coauthor-cs"
    assert resolve_name("IMDB-B")["name"] == "imdb-binary"
    assert resolve_name("imdb multi")["name"] == "imdb-multi"
    assert resolve_name("MovieLens-100K")["name"] == "ml-100k"
    assert {"cora", "gowalla", "sbm", "lfr", "karate"} <= set(known_names())


def test_data_root_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHCL_DATA", str(tmp_path))
    assert data_root() == tmp_path
    assert data_root(tmp_path / "x") == tmp_path / "x"
    monkeypatch.delenv("GRAPHCL_DATA")
    assert data_root() == Path.cwd() / "datasets"


def test_available_reports_presence(tmp_path):
    rows = {r["name"]: r for r in available(tmp_path)}
    assert set(known_names()) <= set(rows)
    assert rows["cora"]["present"] is False
    assert rows["cora"]["path"] == str(tmp_path / "Planetoid" / "Cora")
    assert str(tmp_path / "Planetoid/Cora/raw/ind.cora.x") in rows["cora"]["missing"]
    assert rows["karate"]["present"] is True and rows["karate"]["path"] is None
    assert rows["imdb-binary"]["kind"] == "tu"


def _write_toy_tu(root: Path) -> Path:
    raw = root / "TU" / "TOY" / "raw"
    raw.mkdir(parents=True)
    # graph 1: path 1-2-3 (degrees 1,2,1); graph 2: triangle 4-5-6 plus pendant 7 on 6
    edges = [(1, 2), (2, 3), (4, 5), (5, 6), (4, 6), (6, 7)]
    lines = [f"{a}, {b}" for a, b in edges] + [f"{b}, {a}" for a, b in edges]
    (raw / "TOY_A.txt").write_text("\n".join(lines) + "\n")
    (raw / "TOY_graph_indicator.txt").write_text("1\n1\n1\n2\n2\n2\n2\n")
    (raw / "TOY_graph_labels.txt").write_text("1\n-1\n")
    return raw


def test_other_tu_name_in_memory(tmp_path):
    _write_toy_tu(tmp_path / "data")
    ds = load("toy", root=tmp_path / "data", cache_dir=tmp_path / "cache")
    assert len(ds) == 2 and ds.name == "TOY"
    g0, g1 = ds[0], ds[1]
    assert g0.x.shape == (3, 4)  # one-hot degree, max degree 3
    assert g0.x.argmax(1).tolist() == [1, 2, 1]
    assert g1.x.argmax(1).tolist() == [2, 2, 3, 1]
    assert sorted([int(g0.y), int(g1.y)]) == [0, 1]
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch.x.shape == (7, 4) and batch.edge_index.size(1) == 12 and batch.num_graphs == 2
    assert sorted(p.name for p in (tmp_path / "data" / "TU" / "TOY").iterdir()) == ["raw"]
    plain = load("TOY", root=tmp_path / "data", cache_dir=tmp_path / "cache", degree_features=False)
    assert plain[0].x is None
    assert "toy" in {r["name"] for r in available(tmp_path / "data")}


def test_undirected_edge_index_hand_case():
    ei = torch.tensor([[2, 0, 1, 1, 2], [0, 1, 0, 1, 0]])
    assert undirected_edge_index(ei, 3).tolist() == [[0, 0, 1, 2], [1, 2, 0, 0]]


# ---------------------------------------------------------------- splits


def test_random_split_properties():
    tr, va, te = random_split(1000, 0.1, 0.25, seed=3)
    assert (int(tr.sum()), int(va.sum()), int(te.sum())) == (100, 250, 650)
    assert not bool((tr & va).any() | (tr & te).any() | (va & te).any())
    assert bool((tr | va | te).all())
    again = random_split(1000, 0.1, 0.25, seed=3)
    assert all(torch.equal(a, b) for a, b in zip((tr, va, te), again))
    assert not torch.equal(tr, random_split(1000, 0.1, 0.25, seed=4)[0])
    with pytest.raises(ValueError, match="train_ratio \\+ val_ratio"):
        random_split(10, 0.6, 0.5)
    with pytest.raises(ValueError, match="val_ratio"):
        random_split(10, 0.1, 1.5)
    with pytest.raises(TypeError, match="num_nodes"):
        random_split(10.0)


def _check_link_split(ei: torch.Tensor, n: int, s: dict, val_ratio: float, test_ratio: float):
    full = set(map(tuple, ei.t().tolist()))
    und = {(min(a, b), max(a, b)) for a, b in full if a != b}
    e = len(und)
    assert s["val_pos"].size(1) == int(val_ratio * e) == s["val_neg"].size(1)
    assert s["test_pos"].size(1) == int(test_ratio * e) == s["test_neg"].size(1)
    train = set(map(tuple, s["train_edge_index"].t().tolist()))
    assert train == {(b, a) for a, b in train}  # both directions
    train_und = {(a, b) for a, b in train if a < b}
    val = set(map(tuple, s["val_pos"].t().tolist()))
    test = set(map(tuple, s["test_pos"].t().tolist()))
    assert len(val) == s["val_pos"].size(1) and len(test) == s["test_pos"].size(1)
    assert train_und | val | test == und  # each undirected edge held out once
    assert len(train_und) + len(val) + len(test) == e
    neg = s["val_neg"].t().tolist() + s["test_neg"].t().tolist()
    negs = set(map(tuple, neg))
    assert len(negs) == len(neg)  # distinct, val and test disjoint
    assert all(a < b for a, b in negs)  # no self loops, one orientation
    assert not (negs & und)  # non-edges of the full graph


def test_link_split_properties_small_graph():
    g = sbm([30, 30], p_in=0.3, p_out=0.05, num_features=2, seed=1)
    s = link_split(g.edge_index, g.num_nodes, val_ratio=0.1, test_ratio=0.2, seed=5)
    _check_link_split(g.edge_index, g.num_nodes, s, 0.1, 0.2)
    s2 = link_split(g.edge_index, g.num_nodes, val_ratio=0.1, test_ratio=0.2, seed=5)
    assert all(torch.equal(s[k], s2[k]) for k in s)
    s3 = link_split(g.edge_index, g.num_nodes, val_ratio=0.1, test_ratio=0.2, seed=6)
    assert not torch.equal(s["test_pos"], s3["test_pos"])


def test_link_split_rejection_sampling_large_graph():
    n = 4000  # 8M node pairs: above the enumeration limit, negatives by rejection
    gen = torch.Generator().manual_seed(0)
    ei = undirected_edge_index(torch.randint(n, (2, 12000), generator=gen), n)
    s = link_split(ei, n, seed=0)
    _check_link_split(ei, n, s, 0.05, 0.1)


def test_link_split_errors():
    ei = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="val_ratio \\+ test_ratio"):
        link_split(ei, 2, val_ratio=0.5, test_ratio=0.5)
    full = torch.tensor([[0, 1, 0, 2, 1, 2], [1, 0, 2, 0, 2, 1]])
    with pytest.raises(ValueError, match="non-edges"):
        link_split(full, 3, val_ratio=0.4, test_ratio=0.4)


def test_rec_split_properties():
    gen = torch.Generator().manual_seed(0)
    users = torch.cat([torch.zeros(1), torch.ones(2), torch.full((20,), 2), torch.full((7,), 3)])
    items = torch.cat([torch.randperm(50, generator=gen)[:k] for k in (1, 2, 20, 7)])
    train = torch.stack([users.long(), items])
    new_train, val = rec_split(train, val_ratio=0.2, seed=0)
    per_user_val = torch.bincount(val[0], minlength=4).tolist()
    assert per_user_val == [0, 1, 4, 1]  # clamp(round(0.2 n), 1, n - 1); single stays in train
    key = lambda p: set(map(tuple, p.t().tolist()))  # noqa: E731
    assert key(new_train) | key(val) == key(train) and not (key(new_train) & key(val))
    again = rec_split(train, val_ratio=0.2, seed=0)
    assert torch.equal(again[1], val)
    others = [rec_split(train, val_ratio=0.2, seed=s)[1] for s in range(1, 6)]
    assert any(not torch.equal(o, val) for o in others)
    assert rec_split(train, val_ratio=0.0)[1].size(1) == 0


# ---------------------------------------------------------------- synthetic


def test_sbm_deterministic_and_informative():
    a = sbm([150, 150, 150], p_in=0.1, p_out=0.01, num_features=8, seed=2)
    b = load("sbm", num_nodes_per_block=[150, 150, 150], p_in=0.1, p_out=0.01, num_features=8, seed=2)
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.x, b.x)
    c = sbm([150, 150, 150], p_in=0.1, p_out=0.01, num_features=8, seed=3)
    assert not torch.equal(a.edge_index, c.edge_index)
    _assert_clean_undirected(a.edge_index, 450)
    same = a.y[a.edge_index[0]] == a.y[a.edge_index[1]]
    n_in, n_out = int(same.sum()) // 2, int((~same).sum()) // 2
    pairs_in, pairs_out = 3 * 150 * 149 / 2, 3 * 150 * 150
    # expected 3352.5 and 675 edges; 5 binomial standard deviations
    assert abs(n_in - 0.1 * pairs_in) < 5 * (pairs_in * 0.1 * 0.9) ** 0.5
    assert abs(n_out - 0.01 * pairs_out) < 5 * (pairs_out * 0.01 * 0.99) ** 0.5
    centroids = torch.stack([a.x[a.y == k].mean(0) for k in range(3)])
    pred = torch.cdist(a.x, centroids).argmin(1)
    assert (pred == a.y).float().mean() > 0.9


def test_lfr_and_karate():
    g = lfr(seed=0)
    h = load("lfr", seed=0)
    assert torch.equal(g.edge_index, h.edge_index) and torch.equal(g.y, h.y)
    _assert_clean_undirected(g.edge_index, 250)
    sizes = torch.bincount(g.y)
    assert int(sizes.min()) >= 20 and int(sizes.sum()) == 250
    gf = lfr(seed=0, num_features=5)
    assert gf.x.shape == (250, 5)
    k = karate()
    assert (k.num_nodes, k.edge_index.size(1), int(k.y.sum())) == (34, 156, 17)
    assert int(k.y[0]) == 0 and int(k.y[33]) == 1
    assert load("Karate").name == "karate"


def test_planted_partition_edges_blocks_and_determinism():
    from graphcl.data.synthetic import planted_partition

    n, k, deg, p = 4000, 4, 10.0, 0.7
    g = planted_partition(n, k, deg, p, seed=3)
    _assert_clean_undirected(g.edge_index, n)  # no self loops, both directions, no repeats
    assert g.x is None and g.num_nodes == n
    sizes = torch.bincount(g.y)
    assert sizes.numel() == k and int(sizes.max() - sizes.min()) <= 1
    assert torch.equal(g.y, torch.sort(g.y).values)  # contiguous blocks
    # 20,000 sampled pairs; self loops and repeats are rare (< 1 %), so the mean degree is ~deg
    assert 0.98 * deg <= g.edge_index.size(1) / n <= deg
    same = (g.y[g.edge_index[0]] == g.y[g.edge_index[1]]).double().mean().item()
    sd = (p * (1 - p) / (n * deg / 2)) ** 0.5
    assert abs(same - p) < 5 * sd + 0.005  # 5 binomial sd (+ the slightly higher repeat rate inside blocks)
    again = planted_partition(n, k, deg, p, seed=3)
    assert torch.equal(again.edge_index, g.edge_index)
    assert not torch.equal(planted_partition(n, k, deg, p, seed=4).edge_index, g.edge_index)
    # p_intra = 0 / 1 are exact; features: block means + noise
    h = planted_partition(500, 5, 6, 0.0, num_features=3, seed=0)
    assert bool((h.y[h.edge_index[0]] != h.y[h.edge_index[1]]).all()) and h.x.shape == (500, 3)
    h = planted_partition(500, 5, 6, 1.0, seed=0)
    assert bool((h.y[h.edge_index[0]] == h.y[h.edge_index[1]]).all())


def test_planted_partition_bad_arguments():
    from graphcl.data.synthetic import planted_partition

    with pytest.raises(ValueError, match="num_blocks must be <= num_nodes"):
        planted_partition(10, 11, 2, 0.5)
    with pytest.raises(ValueError, match="avg_degree must be in"):
        planted_partition(10, 2, 0, 0.5)
    with pytest.raises(ValueError, match="avg_degree must be in"):
        planted_partition(10, 2, 10, 0.5)
    with pytest.raises(TypeError, match="avg_degree must be a number"):
        planted_partition(10, 2, "4", 0.5)
    with pytest.raises(ValueError, match="p_intra must be a probability"):
        planted_partition(10, 2, 2, 1.5)
    with pytest.raises(ValueError, match="p_intra must be 1 with a single block"):
        planted_partition(10, 1, 2, 0.5)
    with pytest.raises(ValueError, match="blocks of one node"):
        planted_partition(10, 10, 2, 0.5)
    with pytest.raises(TypeError, match="num_nodes must be an int"):
        planted_partition(10.0, 2, 2, 0.5)
    with pytest.raises(ValueError, match="num_features must be >= 0"):
        planted_partition(10, 2, 2, 0.5, num_features=-1)
    with pytest.raises(TypeError, match="seed must be an int"):
        planted_partition(10, 2, 2, 0.5, seed="0")
