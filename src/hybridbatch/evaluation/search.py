"""Exhaustive inner-product search over normalised vectors.

`relevant_ranks` counts, for each relevant item of each query, the pool items scoring strictly
higher and at least as high, language pool by language pool. The score matrix of a block of
queries against all candidates is computed once; each language pool is a column slice of it, and
the multilingual pool's counts are the sums over the language pools. No pool is ever sorted.
Scores are computed in float64 so that float32 rounding (which differs between BLAS kernels)
neither creates nor breaks ties: only identical vectors tie.

`top_k` is the FAISS flat inner-product search used for the run files (the top of each ranking).
"""

from __future__ import annotations

import faiss
import numpy as np
import torch

QUERY_BLOCK = 256


def relevant_ranks(
    queries: np.ndarray,
    candidates: np.ndarray,
    pool_bounds: list[tuple[int, int]],
    relevant: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Counts of candidates scoring above each relevant item, per language pool.

    queries: (n, d); candidates: (N, d), grouped by pool; pool_bounds: the [start, end) columns
    of each pool; relevant: (n, R) candidate indices of each query's relevant items, -1 padded.
    Returns `higher` and `at_least`, both (n, R, pools): the numbers of the pool's candidates
    scoring > and >= the relevant item's score (0 for padding).
    """
    candidate_matrix = torch.from_numpy(np.ascontiguousarray(candidates, dtype=np.float64))
    n, width = relevant.shape
    higher = np.zeros((n, width, len(pool_bounds)), dtype=np.int64)
    at_least = np.zeros_like(higher)
    for start in range(0, n, QUERY_BLOCK):
        block = torch.from_numpy(np.ascontiguousarray(queries[start : start + QUERY_BLOCK], dtype=np.float64))
        scores = block @ candidate_matrix.T
        columns = torch.from_numpy(relevant[start : start + QUERY_BLOCK])
        threshold = scores.gather(1, columns.clamp(min=0))
        threshold[columns < 0] = torch.inf  # padding: nothing scores above +inf
        threshold = threshold[:, :, None]
        for pool, (low, high) in enumerate(pool_bounds):
            pool_scores = scores[:, None, low:high]
            higher[start : start + len(block), :, pool] = (pool_scores > threshold).sum(-1).numpy()
            at_least[start : start + len(block), :, pool] = (pool_scores >= threshold).sum(-1).numpy()
    return higher, at_least


def top_k(queries: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """FAISS exact inner-product search: (scores, candidate indices), each (n, k), best first."""
    index = faiss.IndexFlatIP(candidates.shape[1])
    index.add(np.ascontiguousarray(candidates, dtype=np.float32))
    return index.search(np.ascontiguousarray(queries, dtype=np.float32), min(k, len(candidates)))
