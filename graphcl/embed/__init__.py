"""Shallow node embeddings: skip-gram with negative sampling on random walks.

- :func:`train_skipgram` / :class:`SkipGram`: SGNS (word2vec ``sg=1``) in torch on any
  device, sparse SGD updates, memory-bounded pair generation; fast paths with shared
  negatives (``shared_negatives``), walk-block steps (``mode="walks"``) and word2vec's
  frequent-token downsampling (``sample``, :func:`subsample_walks`).
- :func:`train_gensim`: the same objective trained by gensim's Word2Vec.
- :func:`ppmi_embedding` / :func:`shifted_ppmi`: walks + the shifted positive PMI matrix
  that SGNS factorises implicitly, factorised by a randomized SVD (Levy & Goldberg 2014,
  NetMF); the estimators' ``trainer="ppmi"``.
- :class:`DeepWalk`, :class:`Node2Vec`: walks (:mod:`graphcl.walks`) + skip-gram,
  ``fit(graph)`` sets ``embedding_``.
- :func:`save_word2vec` / :func:`load_word2vec`: word2vec text format.

Example:
    >>> import torch
    >>> ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    >>> DeepWalk(dim=4, walks_per_node=2, walk_length=4, progress=False).fit(ei).embedding_.shape
    torch.Size([3, 4])
"""

from graphcl.embed.estimators import DeepWalk, Node2Vec, as_csr_graph
from graphcl.embed.factorize import factorize_ppmi, ppmi_embedding, shifted_ppmi, shifted_ppmi_matrix
from graphcl.embed.gensim_backend import train_gensim, walks_to_sentences
from graphcl.embed.io import load_word2vec, save_word2vec
from graphcl.embed.skipgram import (
    SkipGram,
    check_walks,
    cooccurrence_counts,
    cooccurrence_matrix,
    sample_negatives,
    skipgram_pairs,
    subsample_keep_probability,
    subsample_walks,
    train_skipgram,
    unigram_distribution,
)

__all__ = [
    "DeepWalk",
    "Node2Vec",
    "as_csr_graph",
    "SkipGram",
    "train_skipgram",
    "skipgram_pairs",
    "cooccurrence_counts",
    "cooccurrence_matrix",
    "unigram_distribution",
    "sample_negatives",
    "check_walks",
    "subsample_keep_probability",
    "subsample_walks",
    "train_gensim",
    "ppmi_embedding",
    "factorize_ppmi",
    "shifted_ppmi",
    "shifted_ppmi_matrix",
    "walks_to_sentences",
    "save_word2vec",
    "load_word2vec",
]
