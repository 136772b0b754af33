import numpy as np

from hybridbatch.evaluation.search import relevant_ranks, top_k


def unit(generator, shape):
    vectors = generator.normal(size=shape).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def exact_vectors(generator, shape):
    """Small-integer vectors: every inner product is an integer below 2**24, exact in float32 and
    float64 whatever the summation order, so the reference and the library compare like with like
    on any CPU (rounding that differs between BLAS kernels cannot create or break a tie)."""
    return generator.integers(-4, 5, size=shape).astype(np.float32)


def test_relevant_ranks_count_per_pool():
    generator = np.random.default_rng(3)
    queries, candidates = exact_vectors(generator, (300, 16)), exact_vectors(generator, (700, 16))
    candidates[650:] = candidates[600:650]  # duplicated candidates: exact ties
    bounds = [(0, 200), (200, 450), (450, 700)]
    relevant = np.full((300, 4), -1)
    for row in range(300):
        count = generator.integers(1, 5)
        relevant[row, :count] = generator.choice(700, size=count, replace=False)
    higher, at_least = relevant_ranks(queries, candidates, bounds, relevant)
    scores = queries.astype(np.int64) @ candidates.astype(np.int64).T  # integer arithmetic: exact
    assert (higher != at_least).any()  # the data has ties to count
    for row in range(300):
        for slot in range(4):
            column = relevant[row, slot]
            for pool, (low, high) in enumerate(bounds):
                if column < 0:
                    assert higher[row, slot, pool] == at_least[row, slot, pool] == 0
                    continue
                pool_scores = scores[row, low:high]
                assert higher[row, slot, pool] == (pool_scores > scores[row, column]).sum()
                assert at_least[row, slot, pool] == (pool_scores >= scores[row, column]).sum()


def test_top_k_is_the_head_of_the_full_ranking():
    generator = np.random.default_rng(5)
    queries, candidates = unit(generator, (50, 8)), unit(generator, (400, 8))
    scores, indices = top_k(queries, candidates, 10)
    expected = np.argsort(-(queries @ candidates.T), axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(indices, expected)
    assert (np.diff(scores, axis=1) <= 0).all()
