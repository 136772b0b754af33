"""Retrieval metrics with binary relevance, computed from the ranks of the relevant items only.

Every query comes as one row of two arrays over its relevant items (padded with `inf`):
- `rank`: 1 + the number of pool items scoring strictly higher;
- `rank_ge`: the number of pool items scoring at least as high, the item itself included
  (equal to `rank` when nothing ties with it).
No other pool item matters: a query's whole ranking never has to be sorted.

Ties count against the model. The rank-based metrics read each relevant item at its tie-safe rank,
1 + the items scoring strictly higher + the non-relevant items scoring exactly the same: among
equal scores the relevant items come last (in their own order), so a model whose scores all tie
gets no credit. Only AP keeps scikit-learn's tie semantics (the precision at the tied score).

Definitions (R = number of relevant items of the query in the pool):
- AP = (1/R) * sum over relevant i of |{relevant j: score_j >= score_i}| / rank_ge_i. Without ties
  this is the textbook "relevant at or above it / its rank"; with ties it is the precision at
  the tied score, as scikit-learn's `average_precision_score` computes it.
- Recall@k = |{relevant i: tie-safe position_i <= k}| / R.
- MRR@k = 1 / the best tie-safe position when that is <= k, else 0.
- nDCG@k, binary gains: DCG = sum of 1/log2(position + 1) over tie-safe positions <= k, divided by
  the ideal DCG of min(R, k) relevant items at the top.
- Rank distance (language bias, multilingual pool): the largest spread of the relevant items'
  positions that any ordering of tied items allows, max_i rank_ge_i - min_i rank_i for R >= 2
  (without ties, worst rank minus best rank; when all scores tie, the pool size - 1), else 0.
Tie-safe positions: the relevant items of a tie block take the block's last positions.
"""

from __future__ import annotations

import numpy as np

from hybridbatch.core.contract import MAP, MRR_10, NDCG_10, RECALL_1, RECALL_10


def _relevant_counts(rank: np.ndarray) -> np.ndarray:
    return np.isfinite(rank).sum(axis=1)


def tie_safe_positions(rank: np.ndarray, rank_ge: np.ndarray) -> np.ndarray:
    """Each relevant item's position when ties are broken against the relevant items: the
    non-relevant items of its tie block come first, then the block's relevant items in turn."""
    # Items tie exactly when their strictly-higher counts (ranks) are equal.
    same_score = rank[:, None, :] == rank[:, :, None]
    tied_relevant = same_score.sum(axis=2)  # the item itself included
    # Within a block, relevant item j (by column) takes the j-th of the block's last positions.
    earlier_in_block = np.triu(same_score, k=1).sum(axis=1)
    return np.where(np.isfinite(rank), rank_ge - tied_relevant + 1 + earlier_in_block, np.inf)


def average_precision(rank: np.ndarray, rank_ge: np.ndarray) -> np.ndarray:
    relevant = _relevant_counts(rank)
    # For item i: relevant j with score_j >= score_i are exactly those with rank_j <= rank_i.
    at_or_above = (rank[:, None, :] <= rank[:, :, None]).sum(axis=2)
    precision = np.where(np.isfinite(rank), at_or_above / rank_ge, 0.0)
    return precision.sum(axis=1) / relevant


def recall_at(positions: np.ndarray, k: int) -> np.ndarray:
    return (positions <= k).sum(axis=1) / _relevant_counts(positions)


def reciprocal_rank_at(positions: np.ndarray, k: int) -> np.ndarray:
    best = positions.min(axis=1)
    return np.where(best <= k, 1.0 / best, 0.0)


def ndcg_at(positions: np.ndarray, k: int) -> np.ndarray:
    gains = np.where(positions <= k, 1.0 / np.log2(positions + 1.0), 0.0)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discounts)[np.minimum(_relevant_counts(positions), k) - 1]
    return gains.sum(axis=1) / ideal


def rank_distance(rank: np.ndarray, rank_ge: np.ndarray) -> np.ndarray:
    """Worst-case spread of the relevant items' positions: the lowest position any of them can take
    minus the highest (0 for a single relevant item: it has no other translation to be apart from)."""
    lowest = np.where(np.isfinite(rank_ge), rank_ge, -np.inf).max(axis=1)
    return np.where(_relevant_counts(rank) > 1, lowest - rank.min(axis=1), 0.0)


def query_metrics(rank: np.ndarray, rank_ge: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric of METRICS per query (rows of `rank` must hold at least one relevant item)."""
    if rank.ndim != 2 or rank.shape != rank_ge.shape:
        raise ValueError(f"rank and rank_ge must be 2-D of one shape, got {rank.shape} and {rank_ge.shape}")
    if (_relevant_counts(rank) == 0).any():
        raise ValueError("every query needs at least one relevant item in the pool")
    positions = tie_safe_positions(rank, rank_ge)
    with np.errstate(invalid="ignore"):
        return {
            MAP: average_precision(rank, rank_ge),
            RECALL_1: recall_at(positions, 1),
            RECALL_10: recall_at(positions, 10),
            MRR_10: reciprocal_rank_at(positions, 10),
            NDCG_10: ndcg_at(positions, 10),
        }
