"""Walks + shifted positive PMI factorisation: the matrix that SGNS factorises implicitly.

Levy & Goldberg (NIPS 2014, "Neural word embedding as implicit matrix factorization")
showed that skip-gram with ``b`` negatives drawn from a noise distribution ``P_n`` has,
per (centre ``i``, context ``j``) cell, the optimum

    u_i . v_j = log( C[i, j] / (b * C_i * P_n(j)) ),

where ``C[i, j]`` is the number of times the pair is formed, ``C_i = sum_j C[i, j]`` the
number of pairs with centre ``i`` (each draws ``b`` negatives) and ``P_n`` the unigram
distribution of the corpus raised to 0.75 (context-distribution smoothing, Levy, Goldberg
& Dagan 2015). Qiu et al. (WSDM 2018, "Network embedding as matrix factorization: unifying
DeepWalk, LINE, PTE, and node2vec", NetMF) derived the graph version of this matrix for
DeepWalk and factorised ``log(max(M, 1))`` (the shifted positive PMI, SPPMI, of Levy &
Goldberg) by a truncated SVD, embedding ``U_d sqrt(S_d)``.

What :func:`ppmi_embedding` computes, from the SAME walks the SGNS trainer would see:

1. ``C``: the expected (centre, context) pair counts of one word2vec epoch over the walks
   with word2vec's dynamic window (offset ``o`` weighted ``(window - o + 1) / window``),
   :func:`graphcl.embed.skipgram.cooccurrence_counts` (optionally after word2vec's
   frequent-token downsampling, :func:`~graphcl.embed.skipgram.subsample_walks`).
2. ``P_n``: :func:`~graphcl.embed.skipgram.unigram_distribution` of the (not downsampled)
   walk tokens to the power ``ns_exponent``, as the SGNS trainers draw negatives.
3. ``L[i, j] = max(log(C[i, j] / (negative * C_i * P_n(j))), 0)`` on the non-zeros of ``C``
   (:func:`shifted_ppmi`), stored sparse: ``nnz(L) <= nnz(C)``.
4. A rank-``dim`` randomized SVD of ``L`` (:func:`graphcl.sparse.randomized_svd`, Halko et
   al. 2011; :func:`factorize_ppmi`) and the embedding ``U * sqrt(S)`` (``eig_power=0.5``).

Options (defaults keep the above): ``counts="rao_blackwell"`` replaces step 1 by the
Rao-Blackwellised counts of :func:`graphcl.embed.skipgram.cooccurrence_matrix` (each
sampled context replaced by its exact one-step distribution given the walk so far:
``P[w[t+o-1], :]`` for DeepWalk walks; for node2vec walks with ``q = 1`` and any return
parameter ``p`` (``ppmi_embedding(..., p=p)``), the row ``P[v, :]`` plus a point mass on the
previous node ``u``, ``(P[v, :] + (1/p - 1) P[v, u] e_u) / (1 + (1/p - 1) P[v, u])``, the
first step first order; ``q != 1`` is not supported, its step needs the common neighbours
of ``u`` and ``v``. Same expectation as the sampled counts of those walks, less sampling
noise in the rare pairs, whose ``log`` dominates the PPMI), then steps 3-4 on that dense matrix
(:func:`shifted_ppmi_matrix`); ``normalize=True`` L2-normalises the embedding rows.

This is NOT SGNS: it is the closed-form (rank-constrained, least-squares) factorisation of
the matrix SGNS approximates, so results must be named "walks + PPMI factorisation". A
node that never occurs in the walks has an empty row and gets a zero embedding. SGNS skips
a negative equal to the positive context; that correction (of order ``P_n(j)``) is not in
the formula above.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor

from graphcl.embed.skipgram import (
    check_walks,
    cooccurrence_counts,
    cooccurrence_matrix,
    subsample_keep_probability,
    subsample_walks,
    unigram_distribution,
)
from graphcl.sparse import randomized_svd, to_sparse
from graphcl.validation import check_generator, check_positive_float, check_positive_int

__all__ = ["shifted_ppmi", "shifted_ppmi_matrix", "factorize_ppmi", "ppmi_embedding"]

_COUNTS = ("sampled", "rao_blackwell")


def shifted_ppmi(
    centre: Tensor,
    context: Tensor,
    weight: Tensor,
    num_nodes: int,
    noise: Tensor,
    negative: float = 5,
    *,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Shifted positive PMI ``max(log(C[i, j] / (negative * C_i * noise[j])), 0)`` as a sparse
    CSR ``[num_nodes, num_nodes]`` tensor of ``dtype`` (explicit zeros dropped).

    ``C`` has the entries ``weight`` at ``(centre, context)`` (duplicates are summed),
    ``C_i = sum_j C[i, j]`` and ``noise`` is the negative-sampling distribution (``[N]``,
    non-negative, normalised here). The log is taken in float64. ``noise[j]`` must be
    positive wherever ``C`` has a column ``j`` (true for the walks' own unigram
    distribution, whose support contains every context). See the module docstring.

    Example:
        >>> L = shifted_ppmi(torch.tensor([0, 1]), torch.tensor([1, 0]),
        ...                  torch.tensor([2.0, 2.0]), 2, torch.tensor([0.5, 0.5]), 1)
        >>> L.to_dense()
        tensor([[0.0000, 0.6931],
                [0.6931, 0.0000]])
    """
    n = check_positive_int(num_nodes, "num_nodes")
    for name, t in (("centre", centre), ("context", context), ("weight", weight),
                    ("noise", noise)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if centre.shape != context.shape or centre.shape != weight.shape or centre.dim() != 1:
        raise ValueError("centre, context and weight must be 1-D tensors of equal length, got "
                         f"{list(centre.shape)}, {list(context.shape)}, {list(weight.shape)}")
    if not weight.dtype.is_floating_point or (weight.numel() and not bool((weight > 0).all())):
        raise ValueError("weight must be a floating tensor of positive counts")
    _check_noise_negative_dtype(noise, n, negative, dtype)
    dev = weight.device
    centre, context = centre.long(), context.long()
    if centre.numel() and (int(torch.minimum(centre.min(), context.min())) < 0
                           or int(torch.maximum(centre.max(), context.max())) >= n):
        raise ValueError(f"centre/context ids must lie in [0, {n})")
    # cooccurrence_counts' output is sorted and unique already (cheap check); else coalesce
    key = centre * n + context
    if key.numel() > 1 and not bool((key[1:] > key[:-1]).all()):
        mat = to_sparse(torch.stack([centre, context]), n, weight.double())
        (centre, context), weight = mat.indices(), mat.values()
    weight = weight.double()
    p_n = noise.to(dev, torch.float64)
    p_n = p_n / p_n.sum()
    row_sum = torch.zeros(n, dtype=torch.float64, device=dev).index_add_(0, centre, weight)
    if centre.numel() and not bool((p_n[context] > 0).all()):
        raise ValueError("noise is zero at a context node of the counts")
    val = weight.log() - row_sum[centre].log() - p_n[context].log() - math.log(float(negative))
    keep = val > 0
    return _csr(centre[keep], context[keep], val[keep].to(dtype), n)


def _csr(row: Tensor, col: Tensor, val: Tensor, n: int) -> Tensor:
    """``[n, n]`` CSR tensor from row-sorted ``(row, col, val)``."""
    crow = torch.zeros(n + 1, dtype=torch.long, device=val.device)
    crow[1:] = torch.cumsum(torch.bincount(row, minlength=n), 0)
    with warnings.catch_warnings():  # torch warns that sparse CSR support is beta
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, val, (n, n), device=val.device)


def _check_noise_negative_dtype(noise: object, n: int, negative: object, dtype: object) -> None:
    if not isinstance(noise, Tensor):
        raise TypeError(f"noise must be a torch.Tensor, got {type(noise).__name__}")
    if noise.shape != (n,) or not noise.dtype.is_floating_point:
        raise ValueError(f"noise must be a floating tensor of shape [{n}], got "
                         f"{noise.dtype} {list(noise.shape)}")
    if bool((noise < 0).any()) or not float(noise.sum()) > 0:
        raise ValueError("noise must be non-negative with a positive sum")
    check_positive_float(negative, "negative")  # the SGNS shift log(negative)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")


_PMI_BLOCK = 1 << 22  # entries of the dense count matrix turned into PMI values at once


def shifted_ppmi_matrix(
    counts: Tensor,
    noise: Tensor,
    negative: float = 5,
    *,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """:func:`shifted_ppmi` of a DENSE ``[N, N]`` count matrix (e.g.
    :func:`graphcl.embed.skipgram.cooccurrence_matrix`): ``max(log(C[i, j] / (negative *
    C_i * noise[j])), 0)`` on the positive entries of ``counts``, as a sparse CSR tensor of
    ``dtype`` (zeros dropped). The logs are taken in float64, in row blocks (no dense
    float64 copy of ``counts``). ``noise`` as in :func:`shifted_ppmi`.

    Example:
        >>> L = shifted_ppmi_matrix(torch.tensor([[0.0, 2.0], [2.0, 0.0]]),
        ...                         torch.tensor([0.5, 0.5]), 1)
        >>> L.to_dense()
        tensor([[0.0000, 0.6931],
                [0.6931, 0.0000]])
    """
    if not isinstance(counts, Tensor):
        raise TypeError(f"counts must be a torch.Tensor, got {type(counts).__name__}")
    if counts.layout != torch.strided or counts.dim() != 2 or counts.size(0) != counts.size(1):
        raise ValueError(f"counts must be a dense square matrix, got {counts.layout} "
                         f"{list(counts.shape)}")
    if not counts.dtype.is_floating_point:
        raise ValueError(f"counts must be a floating tensor, got {counts.dtype}")
    n = counts.size(0)
    _check_noise_negative_dtype(noise, n, negative, dtype)
    if n and float(counts.min()) < 0:
        raise ValueError("counts must be non-negative")
    dev = counts.device
    p_n = noise.to(dev, torch.float64)
    p_n = p_n / p_n.sum()
    log_pn = p_n.log()
    row_sum = counts.sum(1, dtype=torch.float64)
    shift = math.log(float(negative))
    rows_per = max(1, _PMI_BLOCK // max(1, n))
    rows, cols, vals = [], [], []
    for r0 in range(0, n, rows_per):
        blk = counts[r0:r0 + rows_per].to(torch.float64)
        pos = blk > 0
        if bool((pos & torch.isneginf(log_pn).unsqueeze(0)).any()):
            raise ValueError("noise is zero at a context node of the counts")
        val = blk.log_().sub_(row_sum[r0:r0 + rows_per].log().unsqueeze(1))
        val.sub_(log_pn.unsqueeze(0)).sub_(shift)
        r, c = ((val > 0) & pos).nonzero(as_tuple=True)
        rows.append(r + r0)
        cols.append(c)
        vals.append(val[r, c].to(dtype))
    if not rows:
        empty = torch.zeros(0, dtype=torch.long, device=dev)
        return _csr(empty, empty, torch.zeros(0, dtype=dtype, device=dev), n)
    return _csr(torch.cat(rows), torch.cat(cols), torch.cat(vals), n)


def factorize_ppmi(
    centre: Tensor,
    context: Tensor,
    weight: Tensor,
    num_nodes: int,
    noise: Tensor,
    dim: int = 128,
    negative: float = 5,
    *,
    niter: int = 5,
    oversample: int = 10,
    dtype: torch.dtype = torch.float32,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Rank-``dim`` randomized SVD ``U [N, dim]``, ``S [dim]`` of :func:`shifted_ppmi` of the
    counts ``(centre, context, weight)`` (``niter`` power iterations, ``oversample`` extra
    sketch columns, :func:`graphcl.sparse.randomized_svd`). The embedding is ``U * S**0.5``.

    Example:
        >>> U, S = factorize_ppmi(torch.tensor([0, 1]), torch.tensor([1, 0]),
        ...                       torch.tensor([2.0, 2.0]), 2, torch.tensor([0.5, 0.5]), 1, 1)
        >>> round(float(S[0]), 4)
        0.6931
    """
    n = check_positive_int(num_nodes, "num_nodes")
    check_positive_int(dim, "dim")
    if dim > n:
        raise ValueError(f"dim={dim} exceeds num_nodes={n} (rank of the PPMI matrix)")
    check_positive_int(niter, "niter", minimum=0)
    check_positive_int(oversample, "oversample", minimum=0)
    L = shifted_ppmi(centre, context, weight, n, noise, negative, dtype=dtype)
    U, S, _ = randomized_svd(L, dim, niter=niter, generator=generator, oversample=oversample)
    return U, S


def ppmi_embedding(
    walks: Tensor,
    num_nodes: int,
    dim: int = 128,
    window: int = 10,
    negative: float = 5,
    *,
    ns_exponent: float = 0.75,
    shrink_window: bool = True,
    sample: float = 0.0,
    niter: int = 5,
    oversample: int = 10,
    eig_power: float = 0.5,
    counts: str = "sampled",
    transition: Tensor | None = None,
    normalize: bool = False,
    dtype: torch.dtype = torch.float32,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    p: float = 1.0,
    q: float = 1.0,
) -> Tensor:
    """Walks + shifted PPMI factorisation (NetMF-style, see the module docstring): returns
    ``U * S**eig_power`` (default ``U * sqrt(S)``, NetMF) of a rank-``dim`` randomized SVD
    (:func:`factorize_ppmi`) of :func:`shifted_ppmi` of the walks' expected word2vec
    co-occurrence counts, ``[num_nodes, dim]`` of ``dtype`` on ``device`` (default: the
    walks' device).

    ``negative`` is the SGNS negative count ``b`` (shift ``log b``); ``window``,
    ``shrink_window``, ``ns_exponent`` and ``sample`` mean what they mean for
    :func:`~graphcl.embed.train_skipgram` (``sample > 0``: word2vec downsampling of the
    walk tokens, drawn once before counting). ``niter`` power iterations and
    ``oversample`` extra sketch columns go to :func:`graphcl.sparse.randomized_svd`;
    ``generator`` drives the sketch (and the downsampling), so a seed fixes the result.
    ``eig_power``: the singular-value weighting of Levy, Goldberg & Dagan (2015).

    ``counts="rao_blackwell"`` (needs ``transition``, the walks' row-stochastic transition
    matrix, e.g. ``normalized_adjacency(edge_index, n, kind="rw", layout="csr")`` for
    DeepWalk walks, and ``sample=0``): the Rao-Blackwellised dense counts of
    :func:`~graphcl.embed.skipgram.cooccurrence_matrix` (same expectation for first-order
    walks, less noise; ``O(N^2)`` memory) and :func:`shifted_ppmi_matrix`. ``p`` (with
    ``q = 1``): the walks are node2vec walks with return parameter ``p`` and ``q = 1``, whose
    second-order steps are Rao-Blackwellised exactly (``q != 1`` raises; ``p``/``q`` other
    than 1 need ``counts="rao_blackwell"``). ``normalize=True``: the rows of the embedding are
    L2-normalised (zero rows stay zero).

    Example:
        >>> walks = torch.tensor([[0, 1, 0, 1, 0], [2, 3, 2, 3, 2], [1, 0, 1, 0, 1]])
        >>> z = ppmi_embedding(walks, 4, dim=2, window=2, negative=1,
        ...                    generator=torch.Generator().manual_seed(0))
        >>> z.shape
        torch.Size([4, 2])
    """
    walks = check_walks(walks, num_nodes)
    n = int(num_nodes)
    check_positive_int(dim, "dim")
    if dim > n:
        raise ValueError(f"dim={dim} exceeds num_nodes={n} (rank of the PPMI matrix)")
    check_positive_int(window, "window")
    check_positive_int(niter, "niter", minimum=0)
    check_positive_int(oversample, "oversample", minimum=0)
    if isinstance(eig_power, bool) or not isinstance(eig_power, (int, float)) or not eig_power >= 0:
        raise ValueError(f"eig_power must be a number >= 0, got {eig_power!r}")
    if walks.size(1) < 2:
        raise ValueError(f"walks must have at least 2 columns, got {walks.size(1)}")
    device = torch.device(device) if device is not None else walks.device
    check_generator(generator, device)
    walks = walks.to(device)
    noise = unigram_distribution(walks, n, ns_exponent)  # raw counts, as SGNS negatives
    if isinstance(sample, bool) or not isinstance(sample, (int, float)) or not sample >= 0:
        raise ValueError(f"sample must be a number >= 0, got {sample!r}")
    if counts not in _COUNTS:
        raise ValueError(f"counts must be one of {_COUNTS}, got {counts!r}")
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize must be a bool, got {type(normalize).__name__}")
    if counts == "rao_blackwell":
        if transition is None:
            raise ValueError("counts='rao_blackwell' needs transition (the walks' transition matrix)")
        if sample > 0:
            raise ValueError("counts='rao_blackwell' needs sample=0 (downsampled walks are not "
                             "Markov chains of transition)")
    elif transition is not None:
        raise ValueError("transition is used only with counts='rao_blackwell'")
    elif p != 1 or q != 1:
        raise ValueError(f"p and q are used only with counts='rao_blackwell' (sampled counts do not "
                         f"depend on the walk type), got p={p!r}, q={q!r}")
    if sample > 0:
        tok = walks.reshape(-1)
        tok_counts = torch.bincount(tok[tok >= 0], minlength=n)
        walks = subsample_walks(walks, subsample_keep_probability(tok_counts, sample), generator)
    if counts == "sampled":
        centre, context, weight = cooccurrence_counts(walks, n, window, shrink_window=shrink_window)
        U, S = factorize_ppmi(centre, context, weight, n, noise, dim, negative, niter=niter,
                              oversample=oversample, dtype=dtype, generator=generator)
    else:
        C = cooccurrence_matrix(walks, n, window, shrink_window=shrink_window,
                                transition=transition.to(device), dtype=dtype, p=p, q=q)
        L = shifted_ppmi_matrix(C, noise, negative, dtype=dtype)
        del C
        U, S, _ = randomized_svd(L, dim, niter=niter, generator=generator, oversample=oversample)
    z = U * S.clamp(min=0).pow(float(eig_power))
    return torch.nn.functional.normalize(z, dim=1) if normalize else z
