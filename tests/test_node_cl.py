"""GCA / CSGCL / rLap-GCL recipes on the shared GRACE trainer (graphcl.methods.{gca,csgcl,rlap})."""

import math

import pytest
import torch
from torch_geometric.data import Data

from graphcl.augment import (
    attach_community_strength,
    communal_attribute_drop_prob,
    communal_edge_keep_prob,
    gca_drop_probabilities,
    gca_edge_weights,
    gca_feature_weights,
    mask_feature,
    node_centrality,
    schur_complement,
)
from graphcl.config import load_config
from graphcl.data import sbm
from graphcl.methods import RunContext, get_method
from graphcl.methods.csgcl import csgcl_views, team_up_gamma, train_csgcl
from graphcl.methods.gca import gca_views, train_gca
from graphcl.methods.grace import GRACEModel
from graphcl.methods.rlap import rlap_views, train_rlap
from graphcl.utils import make_generator, seed_everything

CPU = torch.device("cpu")
N = 10  # nodes of the `small` graph
TRAINERS = {"gca": train_gca, "csgcl": train_csgcl, "rlap": train_rlap}
DATASETS = ["cora", "citeseer", "photo", "computers", "cs", "amazon-photo", "amazon-computers", "coauthor-cs"]


@pytest.fixture(scope="module")
def graph():
    return sbm([60, 60, 60], p_in=0.12, p_out=0.02, num_features=24, seed=0, feature_noise=3.0)


@pytest.fixture(scope="module")
def small():
    # triangle - 4-clique - triangle in a chain: uneven degrees and community strengths (with only two
    # communities both strengths are always equal); sparse non-negative features
    und = [(0, 1), (1, 2), (0, 2), (2, 3), (3, 4), (4, 5), (5, 6), (4, 6), (3, 5), (3, 6), (6, 7), (7, 8), (8, 9),
           (7, 9)]
    ei = torch.tensor(und + [(b, a) for a, b in und]).t()
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(N, 10, generator=g) < 0.4).float() * torch.rand(N, 10, generator=g)
    x[:, 0] = 1.0  # one column used by every node
    return attach_community_strength(Data(x=x, edge_index=ei, num_nodes=N), method="louvain", seed=0)


def small_config(method, **kw):
    cfg = dict(load_config(method), hidden=16, proj_hidden=16, lr=0.01, tau=0.5)
    cfg.update(kw)
    return cfg


def frequencies(view, data, draws, seed=0):
    """Per-edge keep frequency and per-column mask frequency of ``view`` over many draws."""
    gen = torch.Generator().manual_seed(seed)
    ei = data.edge_index
    n = data.num_nodes
    key = ei[0] * n + ei[1]
    kept = torch.zeros(ei.size(1))
    masked = torch.zeros(data.x.size(1))
    for _ in range(draws):
        xv, ev, _ = view(data.x, ei, gen)
        kept += torch.isin(key, ev[0] * n + ev[1]).float()
        masked += ((xv == 0) & (data.x != 0)).any(0).float()
    return kept / draws, masked / draws


def assert_frequency(freq, prob, draws):
    sigma = torch.sqrt(prob * (1 - prob) / draws).clamp(min=1e-3)
    assert bool(((freq - prob).abs() <= 5 * sigma).all()), (freq, prob)


def test_grace_views_measured_rates(graph):
    from graphcl.methods.grace import grace_views

    spec = grace_views(graph, dict(p_e1=0.2, p_e2=0.6, p_f1=0.3, p_f2=0.0), CPU)
    gen = torch.Generator().manual_seed(0)
    rates = {0: [], 1: []}
    cols = {0: [], 1: []}
    for _ in range(200):
        for i in (0, 1):
            xv, ev, w = spec.view(i, graph.x, graph.edge_index, gen)
            assert w is None
            rates[i].append(1 - ev.size(1) / graph.edge_index.size(1))
            cols[i].append(float((xv == 0).all(0).float().mean()))
    assert abs(sum(rates[0]) / 200 - 0.2) < 0.01 and abs(sum(rates[1]) / 200 - 0.6) < 0.01
    assert abs(sum(cols[0]) / 200 - 0.3) < 0.03 and sum(cols[1]) == 0


def test_gca_views_follow_centrality_probabilities(small):
    draws = 2000
    spec = gca_views(small, dict(drop_scheme="degree", p_e1=0.1, p_e2=0.2, p_f1=0.4, p_f2=0.1,
                                 binary_features=False), CPU)
    phi = node_centrality(small.edge_index, N, "degree")
    for i, (pe, pf) in enumerate([(0.1, 0.4), (0.2, 0.1)]):
        kept, masked = frequencies(lambda x, ei, g, i=i: spec.view(i, x, ei, g), small, draws, seed=i)
        p_edge = gca_drop_probabilities(gca_edge_weights(small.edge_index, N, phi), pe)
        p_col = gca_drop_probabilities(gca_feature_weights(small.x, phi), pf)
        assert len(set(p_edge.tolist())) > 2  # the test graph really has uneven probabilities
        assert_frequency(kept, 1 - p_edge, draws)
        assert_frequency(masked, p_col, draws)


def test_csgcl_views_follow_community_strength(small):
    draws = 2000
    cfg = dict(load_config("csgcl"), p_e1=0.4, p_e2=0.7, p_f1=0.3, p_f2=0.5)
    spec = csgcl_views(small, cfg, CPU)
    for i, (pe, pf) in enumerate([(0.4, 0.3), (0.7, 0.5)]):
        kept, masked = frequencies(lambda x, ei, g, i=i: spec.view(i, x, ei, g), small, draws, seed=10 + i)
        keep = communal_edge_keep_prob(small.edge_index, small.community, small.community_strength, pe, 0.7)
        p_col = communal_attribute_drop_prob(small.x, small.node_strength, pf, 0.7)
        assert len(set(keep.tolist())) > 1
        assert_frequency(kept, keep, draws)
        assert_frequency(masked, p_col.float(), draws)


def test_rlap_view_is_schur_complement_then_masking(small):
    cfg = dict(schur_fraction1=0.25, schur_fraction2=0.5, p_f1=0.3, p_f2=0.0)
    spec = rlap_views(small, cfg, CPU)
    for i, (frac, pf) in enumerate([(0.25, 0.3), (0.5, 0.0)]):
        xv, ev, w = spec.view(i, small.x, small.edge_index, torch.Generator().manual_seed(5))
        g = torch.Generator().manual_seed(5)
        e_ref, w_ref, gone = schur_complement(small.edge_index, None, N, fraction=frac, generator=g)
        x_ref, _ = mask_feature(small.x, pf, generator=g)
        assert torch.equal(ev, e_ref) and torch.allclose(w, w_ref.float()) and torch.equal(xv, x_ref)
        assert gone.numel() == math.floor(frac * N) and not bool(torch.isin(ev, gone).any())
    # fraction 0: the graph itself, unweighted
    spec0 = rlap_views(small, dict(cfg, schur_fraction1=0.0), CPU)
    _, ev, w = spec0.view(0, small.x, small.edge_index, torch.Generator())
    assert torch.equal(ev, small.edge_index) and w is None


def test_team_up_schedule():
    assert [team_up_gamma(t, 2000, 100, 1.0) for t in (1, 2000, 2050, 2100, 3000)] == [0, 0, 0.5, 1.0, 1.0]
    assert team_up_gamma(2500, 2000, 100, 5.0) == 5.0
    with pytest.raises(ValueError, match="team_up_ramp"):
        team_up_gamma(1, 0, 0, 1.0)


def dense_team_up_loss(z1, z2, s, gamma, tau):
    """Hand-written CSGCL loss: s_ij + gamma (S_i + S_j) inside every exponential, both directions."""
    z1, z2 = torch.nn.functional.normalize(z1), torch.nn.functional.normalize(z2)
    shift = gamma * (s[:, None] + s[None, :])

    def half(a, b):
        inter = torch.exp((a @ b.t() + shift) / tau)
        intra = torch.exp((a @ a.t() + shift) / tau)
        denom = inter.sum(1) + intra.sum(1) - intra.diag()
        return -torch.log(inter.diag() / denom)

    return ((half(z1, z2) + half(z2, z1)) / 2).mean()


def test_csgcl_team_up_enters_the_training_loss(small):
    # gamma(t) = min(max(0, (t - 0) / 0.05), 25): 20 at the first (1-based) epoch (large, so that the small
    # strength differences of this graph visibly change the loss)
    cfg = small_config("csgcl", epochs=1, team_up_start=0, team_up_ramp=0.05, gamma_max=25.0, tau=0.6)
    spec = csgcl_views(small, cfg, CPU)
    pair = spec.loss_options(0)["pair_shift"]
    assert pair[1] == pytest.approx(20.0) and torch.equal(pair[0], small.node_strength.float())
    assert len(set(small.node_strength.tolist())) > 1  # equal strengths would cancel out of the loss
    assert spec.loss_options(5)["pair_shift"][1] == 25.0
    out = train_csgcl(small, cfg, seed=3)
    # replay the first epoch by hand: same init, same view generator, dense loss with the shift
    seed_everything(3)
    model = GRACEModel(10, 16, 16, "gcn", 2, cfg["activation"])
    gen = make_generator(3, CPU)
    zs = [model.project(model(*spec.view(i, small.x, small.edge_index, gen))) for i in (0, 1)]
    expected = dense_team_up_loss(zs[0], zs[1], small.node_strength.float(), pair[1], 0.6)
    assert abs(out["history"][0]["loss"] - float(expected.detach())) < 1e-5
    plain = dense_team_up_loss(zs[0], zs[1], small.node_strength.float(), 0.0, 0.6)
    assert abs(float(expected.detach()) - float(plain.detach())) > 1e-3  # the shift changes the loss
    assert spec.loss_options(0) != {} and csgcl_views(small, dict(cfg, team_up_start=10), CPU).loss_options(0) == {}


@pytest.mark.parametrize("method", ["gca", "csgcl", "rlap"])
def test_training_lowers_loss_and_is_deterministic(graph, method):
    extra = {"team_up_start": 10} if method == "csgcl" else {}
    cfg = small_config(method, epochs=25, **extra)
    a = TRAINERS[method](graph, cfg, seed=1)
    losses = [h["loss"] for h in a["history"]]
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.1, losses
    b = TRAINERS[method](graph, dict(cfg, epochs=4), seed=1)
    c = TRAINERS[method](graph, dict(cfg, epochs=4), seed=1)
    d = TRAINERS[method](graph, dict(cfg, epochs=4), seed=2)
    assert [h["loss"] for h in b["history"]] == [h["loss"] for h in c["history"]] == losses[:4]
    torch.testing.assert_close(b["embedding"], c["embedding"], rtol=0, atol=0)
    assert not torch.allclose(b["embedding"], d["embedding"])
    assert a["embedding"].shape == (180, 16) and torch.isfinite(a["embedding"]).all()


@pytest.mark.parametrize("method", ["grace", "gca", "csgcl", "rlap"])
def test_configs_load_for_every_dataset(small, method):
    factory = {"gca": gca_views, "csgcl": csgcl_views, "rlap": rlap_views}
    for name in DATASETS:
        cfg = load_config(method, name)
        assert cfg["epochs"] > 0 and cfg["tau"] > 0 and cfg["hidden"] > 0
        if method in factory:
            factory[method](small, cfg, CPU)  # every setting validates
    photo, alias = load_config(method, "photo"), load_config(method, "amazon-photo")
    assert photo == alias
    if method == "csgcl":
        assert (photo["epochs"], photo["team_up_start"], photo["p_e2"], photo["tau"]) == (3000, 2000, 0.7, 0.3)
    with pytest.raises(ValueError, match="unknown setting"):
        load_config(method, "cora", overrides=["not_a_setting=1"])


def test_bad_configs(small):
    with pytest.raises(ValueError, match="drop_scheme"):
        gca_views(small, dict(load_config("gca"), drop_scheme="closeness"), CPU)
    with pytest.raises(ValueError, match="p_f2"):
        gca_views(small, dict(load_config("gca"), p_f2=1.5), CPU)
    with pytest.raises(ValueError, match="ced_threshold"):
        csgcl_views(small, dict(load_config("csgcl"), ced_threshold=1.0), CPU)
    with pytest.raises(ValueError, match="team_up_ramp"):
        csgcl_views(small, dict(load_config("csgcl"), team_up_ramp=0), CPU)
    with pytest.raises(ValueError, match="schur_fraction1"):
        rlap_views(small, dict(load_config("rlap"), schur_fraction1=1.0), CPU)
    with pytest.raises(ValueError, match="schur_order"):
        rlap_views(small, dict(load_config("rlap"), schur_order="coarsen"), CPU)
    cfg = load_config("csgcl")
    del cfg["gamma_max"]
    with pytest.raises(ValueError, match="CSGCL config lacks setting 'gamma_max'"):
        csgcl_views(small, cfg, CPU)
    cfg = small_config("rlap", epochs=1)
    del cfg["tau"]
    with pytest.raises(ValueError, match="rLap config lacks setting 'tau'"):
        train_rlap(small, cfg)


@pytest.mark.parametrize("method", ["gca", "csgcl", "rlap"])
def test_registered_runs(method):
    spec = get_method(method)
    cfg = dict(load_config(method, "sbm"), epochs=2, hidden=8, proj_hidden=8)
    res = spec.fn("sbm", cfg, RunContext(quiet=True))
    probe = res["metrics"]["node_classification"]
    assert 0 <= probe["accuracy"] <= 1 and "final epoch" in probe["protocol"]
    assert len(res["history"]) == 2 and res["embedding"].shape[1] == 8


@pytest.mark.parametrize("method", ["gca", "csgcl", "rlap"])
def test_normalize_features_reaches_views_and_encoder(small, method):
    # with the flag, views (GCA's magnitude weights, CSGCL's attribute voting, rLap's masking) and encoder
    # see x / row sum: the run equals a run on hand-normalised features and differs from one on raw x
    from graphcl.data import normalize_features

    extra = {"binary_features": False} if method == "gca" else {}
    cfg = small_config(method, epochs=2, **extra)
    raw = small.clone()
    pre = small.clone()
    pre.x = normalize_features(small.x)
    assert not torch.allclose(pre.x, small.x)
    on = TRAINERS[method](raw, dict(cfg, normalize_features=True), seed=2)
    same = TRAINERS[method](pre, dict(cfg, normalize_features=False), seed=2)
    off = TRAINERS[method](raw, dict(cfg, normalize_features=False), seed=2)
    assert torch.equal(raw.x, small.x)
    assert [h["loss"] for h in on["history"]] == [h["loss"] for h in same["history"]]
    torch.testing.assert_close(on["embedding"], same["embedding"], rtol=0, atol=0)
    assert not torch.allclose(on["embedding"], off["embedding"])


@pytest.mark.parametrize("method", ["grace", "gca", "csgcl", "rlap"])
def test_normalize_features_is_on_for_the_reference_datasets(method):
    for name in ("photo", "amazon-photo", "computers", "amazon-computers", "cs", "coauthor-cs"):
        assert load_config(method, name)["normalize_features"] is True, name
    for name in ("cora", "citeseer", "sbm"):
        assert load_config(method, name)["normalize_features"] is False, name
    assert load_config(method, "cora", overrides=["normalize_features=true"])["normalize_features"] is True


def test_node_cl_script_set_parsing_and_merge_default(load_benchmark, tmp_path):
    import json

    node_cl = load_benchmark("node_cl")
    got = node_cl.parse_settings(["normalize_features=true", "undirected_drop=false", "block_size=512",
                                  "lr=1e-3", "encoder=gat", "block_size=null"])
    assert got == {"normalize_features": True, "undirected_drop": False, "block_size": None, "lr": 0.001,
                   "encoder": "gat"}
    with pytest.raises(ValueError, match="top-level"):
        node_cl.parse_settings(["a.b=1"])
    with pytest.raises(ValueError, match="key=value"):
        node_cl.parse_settings(["normalize_features"])
    # runs stored before the setting existed merge as normalize_features=false, and only as that
    cfg = node_cl.method_config("grace", "cora", None, None, {})
    old = {k: v for k, v in cfg.items() if k not in ("paper_epochs", "normalize_features")}
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"datasets": {"grace cora": {"config": old, "runs": [{"seed": 0}]}}}))
    results = {("grace", "cora"): []}
    node_cl.merge_runs(str(path), results, {("grace", "cora"): cfg}, {1}, None)
    assert [r["seed"] for r in results[("grace", "cora")]] == [0]
    on = node_cl.method_config("grace", "cora", None, None, {"normalize_features": True})
    with pytest.raises(ValueError, match="normalize_features"):
        node_cl.merge_runs(str(path), {("grace", "cora"): []}, {("grace", "cora"): on}, {1}, None)
