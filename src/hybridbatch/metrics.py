"""Retrieval metrics with binary relevance, computed from the ranks of the relevant items only.

Every query comes as one row of two arrays over its relevant items (padded with `inf`):
- `rank`: 1 + the number of pool items scoring strictly higher (ties share the better rank);
- `rank_ge`: the number of pool items scoring at least as high, the item itself included
  (equal to `rank` when nothing ties with it).
No other pool item matters: a query's whole ranking never has to be sorted.

Definitions (R = number of relevant items of the query in the pool):
- AP = (1/R) * sum over relevant i of |{relevant j: score_j >= score_i}| / rank_ge_i. Without ties
  this is the textbook "relevant at or above it / its rank"; with ties it is the precision at
  the tied score, as scikit-learn's `average_precision_score` computes it.
- Recall@k = |{relevant i: rank_i <= k}| / R.
- MRR@k = 1 / min_i rank_i when that is <= k, else 0.
- nDCG@k, binary gains: relevant items take consecutive positions in rank order (ties broken in
  their favour), DCG = sum of 1/log2(position + 1) over positions <= k, divided by the ideal
  DCG of min(R, k) relevant items at the top.
- Rank distance (language bias, multilingual pool): max_i rank_i - min_i rank_i.
"""

from __future__ import annotations

import numpy as np

METRICS = ("map", "recall@1", "recall@10", "mrr@10", "ndcg@10")


def _relevant_counts(rank: np.ndarray) -> np.ndarray:
    return np.isfinite(rank).sum(axis=1)


def average_precision(rank: np.ndarray, rank_ge: np.ndarray) -> np.ndarray:
    relevant = _relevant_counts(rank)
    # For item i: relevant j with score_j >= score_i are exactly those with rank_j <= rank_i.
    at_or_above = (rank[:, None, :] <= rank[:, :, None]).sum(axis=2)
    precision = np.where(np.isfinite(rank), at_or_above / rank_ge, 0.0)
    return precision.sum(axis=1) / relevant


def recall_at(rank: np.ndarray, k: int) -> np.ndarray:
    return (rank <= k).sum(axis=1) / _relevant_counts(rank)


def reciprocal_rank_at(rank: np.ndarray, k: int) -> np.ndarray:
    best = rank.min(axis=1)
    return np.where(best <= k, 1.0 / best, 0.0)


def ndcg_at(rank: np.ndarray, k: int) -> np.ndarray:
    ordered = np.sort(rank, axis=1)
    # Tied relevant items cannot share a position: each takes the next free one.
    positions = np.maximum.accumulate(ordered - np.arange(ordered.shape[1]), axis=1) + np.arange(ordered.shape[1])
    gains = np.where(positions <= k, 1.0 / np.log2(positions + 1.0), 0.0)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discounts)[np.minimum(_relevant_counts(rank), k) - 1]
    return gains.sum(axis=1) / ideal


def rank_distance(rank: np.ndarray) -> np.ndarray:
    finite = np.isfinite(rank)
    highest = np.where(finite, rank, -np.inf).max(axis=1)
    return highest - rank.min(axis=1)


def query_metrics(rank: np.ndarray, rank_ge: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric of METRICS per query (rows of `rank` must hold at least one relevant item)."""
    if rank.ndim != 2 or rank.shape != rank_ge.shape:
        raise ValueError(f"rank and rank_ge must be 2-D of one shape, got {rank.shape} and {rank_ge.shape}")
    if (_relevant_counts(rank) == 0).any():
        raise ValueError("every query needs at least one relevant item in the pool")
    with np.errstate(invalid="ignore"):
        return {
            "map": average_precision(rank, rank_ge),
            "recall@1": recall_at(rank, 1),
            "recall@10": recall_at(rank, 10),
            "mrr@10": reciprocal_rank_at(rank, 10),
            "ndcg@10": ndcg_at(rank, 10),
        }
