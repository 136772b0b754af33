"""Metrics against hand-computed values, scikit-learn and a plain sort-based implementation."""

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from hybridbatch.evaluation.metrics import query_metrics, rank_distance


def ranks_from_scores(scores, relevant):
    """Brute force: rank = 1 + #strictly higher, rank_ge = #at least as high."""
    scores = np.asarray(scores, dtype=float)
    rank = [1 + (scores > scores[i]).sum() for i in relevant]
    rank_ge = [(scores >= scores[i]).sum() for i in relevant]
    return rank, rank_ge


def metrics_of(*queries):
    """queries: (scores, relevant indices) each; padded into the metric module's layout."""
    width = max(len(relevant) for _, relevant in queries)
    rank = np.full((len(queries), width), np.inf)
    rank_ge = np.full((len(queries), width), np.inf)
    for row, (scores, relevant) in enumerate(queries):
        r, r_ge = ranks_from_scores(scores, relevant)
        rank[row, : len(r)] = r
        rank_ge[row, : len(r)] = r_ge
    values = query_metrics(rank, rank_ge)
    values["rank_distance"] = rank_distance(rank, rank_ge)
    return values


def scores_with_relevant_at(ranks, size=30):
    """Distinct descending scores; the items at the given 1-based ranks are the relevant ones."""
    return list(np.linspace(1.0, 0.0, size)), [r - 1 for r in ranks]


HAND = [
    # ranks of the relevant items -> map, recall@1, recall@10, mrr@10, ndcg@10, rank distance
    ((3,), 1 / 3, 0.0, 1.0, 1 / 3, 0.5, 0),
    ((1, 4), (1 / 1 + 2 / 4) / 2, 0.5, 1.0, 1.0, (1 + 1 / math.log2(5)) / (1 + 1 / math.log2(3)), 3),
    ((12, 20), (1 / 12 + 2 / 20) / 2, 0.0, 0.0, 0.0, 0.0, 8),
    (
        (2, 3, 10),
        (1 / 2 + 2 / 3 + 3 / 10) / 3,
        0.0,
        1.0,
        0.5,
        (1 / math.log2(3) + 1 / math.log2(4) + 1 / math.log2(11)) / (1 + 1 / math.log2(3) + 1 / math.log2(4)),
        8,
    ),
]


@pytest.mark.parametrize(("ranks", "ap", "r1", "r10", "mrr", "ndcg", "distance"), HAND)
def test_hand_computed(ranks, ap, r1, r10, mrr, ndcg, distance):
    values = metrics_of(scores_with_relevant_at(ranks))
    assert values["map"][0] == pytest.approx(ap)
    assert values["recall@1"][0] == pytest.approx(r1)
    assert values["recall@10"][0] == pytest.approx(r10)
    assert values["mrr@10"][0] == pytest.approx(mrr)
    assert values["ndcg@10"][0] == pytest.approx(ndcg)
    assert values["rank_distance"][0] == distance


def test_ties_between_relevant_and_non_relevant_items():
    # Two relevant items tie with a non-relevant one at the top: AP takes the precision at that
    # score (2/3); the rank metrics put the non-relevant item first, the relevant ones at 2 and 3.
    values = metrics_of(([0.9, 0.9, 0.9, 0.5], [0, 1]))
    assert values["map"][0] == pytest.approx(2 / 3)
    assert values["recall@1"][0] == 0.0
    assert values["mrr@10"][0] == pytest.approx(1 / 2)
    assert values["ndcg@10"][0] == pytest.approx((1 / math.log2(3) + 1 / math.log2(4)) / (1 + 1 / math.log2(3)))
    assert values["rank_distance"][0] == 2  # tie-breaking may put them at 1 and 3


def test_relevant_items_tied_only_with_each_other_keep_the_top():
    values = metrics_of(([0.9, 0.9, 0.5, 0.4], [0, 1]))
    assert (values["map"][0], values["recall@1"][0], values["mrr@10"][0]) == (1.0, 0.5, 1.0)
    assert values["ndcg@10"][0] == pytest.approx(1.0)
    assert values["rank_distance"][0] == 1


def test_tie_below_a_better_item():
    values = metrics_of(([0.95, 0.8, 0.8, 0.3, 0.1], [1, 3]))
    # relevant a: 1 item above, 1 non-relevant tie, so position 3; relevant b: position 4.
    assert values["map"][0] == pytest.approx((1 / 3 + 2 / 4) / 2)
    assert values["mrr@10"][0] == pytest.approx(1 / 3)
    assert values["rank_distance"][0] == 2


@pytest.mark.parametrize("relevant", [[0], [3, 17], [0, 1, 2]])
def test_a_model_whose_scores_all_tie_gets_no_credit(relevant):
    pool = 50
    values = metrics_of(([0.5] * pool, relevant))
    assert values["recall@1"][0] == values["recall@10"][0] == values["mrr@10"][0] == values["ndcg@10"][0] == 0.0
    assert values["rank_distance"][0] == (pool - 1 if len(relevant) > 1 else 0)
    assert values["map"][0] == pytest.approx(len(relevant) / pool)  # scikit-learn: the base rate


def test_queries_with_different_numbers_of_relevant_items_in_one_batch():
    values = metrics_of(scores_with_relevant_at((3,)), scores_with_relevant_at((1, 4)))
    assert values["map"] == pytest.approx([1 / 3, 0.75])
    assert values["rank_distance"].tolist() == [0, 3]


def test_query_without_relevant_item_is_refused():
    with pytest.raises(ValueError, match="at least one relevant"):
        query_metrics(np.full((1, 2), np.inf), np.full((1, 2), np.inf))


def sort_based(scores, relevant, k=10):
    """The textbook implementation: sort the whole ranking, relevant items last among ties; the
    rank distance from the two extreme tie-breakings."""
    is_relevant = np.zeros(len(scores), dtype=bool)
    is_relevant[relevant] = True
    positions = np.flatnonzero(is_relevant[np.lexsort((is_relevant, -np.asarray(scores)))]) + 1
    optimistic = np.flatnonzero(is_relevant[np.lexsort((~is_relevant, -np.asarray(scores)))]) + 1
    if len(relevant) > 1:
        # The widest spread: the best item first in its tie block, the worst last in its own.
        spread = positions[-1] - optimistic[0]
    else:
        spread = 0
    dcg = sum(1 / math.log2(p + 1) for p in positions if p <= k)
    ideal = sum(1 / math.log2(p + 1) for p in range(1, min(len(relevant), k) + 1))
    return {
        "map": average_precision_score(is_relevant, scores),
        "recall@1": (positions <= 1).sum() / len(relevant),
        "recall@10": (positions <= k).sum() / len(relevant),
        "mrr@10": 1 / positions[0] if positions[0] <= k else 0.0,
        "ndcg@10": dcg / ideal,
        "rank_distance": spread,
    }


@pytest.mark.parametrize("tied", [False, True])
def test_agrees_with_sklearn_and_a_sort_based_implementation(tied):
    generator = np.random.default_rng(7)
    queries = []
    for _ in range(200):
        scores = generator.normal(size=300)
        if tied:  # coarse scores: many ties, also between relevant and non-relevant items
            scores = np.round(scores, 1)
        relevant = generator.choice(300, size=generator.integers(1, 6), replace=False)
        # Pull the relevant items up so that the top-10 metrics are not all zero.
        scores[relevant] += generator.uniform(0, 3, size=len(relevant))
        queries.append((scores, list(relevant)))
    ours = metrics_of(*queries)
    reference = [sort_based(scores, relevant) for scores, relevant in queries]
    assert ours["map"] == pytest.approx([r["map"] for r in reference], abs=1e-12)
    for metric in ("recall@1", "recall@10", "mrr@10", "ndcg@10", "rank_distance"):
        assert ours[metric] == pytest.approx([r[metric] for r in reference], abs=1e-12), metric
    assert 0.1 < ours["map"].mean() < 0.9
