import pytest
import torch

from graphcl.similarity import pairwise_similarity, similarity_blocks, topk_similar


def _dense(a, b, metric):
    if metric == "dot":
        return a @ b.t()
    if metric == "cosine":
        return torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(b, dim=1).t()
    return -torch.cdist(a, b) ** 2


@pytest.mark.parametrize("metric", ["dot", "cosine", "euclidean"])
def test_blocks_equal_dense(metric):
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(37, 5, generator=g, dtype=torch.float64), torch.randn(23, 5, generator=g, dtype=torch.float64)
    got = torch.cat([s for _, s in similarity_blocks(a, b, metric=metric, block_size=8)])
    torch.testing.assert_close(got, _dense(a, b, metric))
    torch.testing.assert_close(pairwise_similarity(a, b, metric=metric), _dense(a, b, metric))
    starts = [s for s, _ in similarity_blocks(a, b, metric=metric, block_size=8)]
    assert starts == [0, 8, 16, 24, 32]


@pytest.mark.parametrize("metric", ["dot", "cosine", "euclidean"])
def test_topk_matches_full_sort(metric):
    g = torch.Generator().manual_seed(1)
    a = torch.randn(50, 4, generator=g, dtype=torch.float64)
    res = topk_similar(a, k=5, metric=metric, block_size=7, exclude_self=True)
    d = _dense(a, a, metric)
    d.fill_diagonal_(float("-inf"))
    v, i = d.topk(5, dim=1)
    torch.testing.assert_close(res.values, v)
    assert torch.equal(res.indices, i)
    assert not (res.indices == torch.arange(50)[:, None]).any()


def test_nearest_neighbour_recovers_permutation():
    g = torch.Generator().manual_seed(2)
    a = torch.randn(100, 16, generator=g)
    perm = torch.randperm(100, generator=g)
    b = a[perm] + 0.01 * torch.randn(100, 16, generator=g)
    idx = topk_similar(b, a, k=1).indices[:, 0]
    assert torch.equal(idx, perm)


def test_errors():
    a = torch.randn(4, 3)
    with pytest.raises(ValueError, match="metric"):
        topk_similar(a, k=1, metric="manhattan")
    with pytest.raises(ValueError, match="same width"):
        topk_similar(a, torch.randn(4, 2), k=1)
    with pytest.raises(ValueError, match="exceeds"):
        topk_similar(a, k=4, exclude_self=True)
    with pytest.raises(ValueError, match="exclude_self"):
        topk_similar(a, torch.randn(4, 3), k=1, exclude_self=True)
    with pytest.raises(TypeError, match="floating"):
        topk_similar(torch.ones(4, 3, dtype=torch.long), k=1)
    with pytest.raises(ValueError, match=r"shape \[n, d\]"):
        topk_similar(torch.ones(4), k=1)
