"""The statistical core (hybridbatch.results.verdicts) on planted per-query tables of known truth."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hybridbatch.core.errors import ConfigError, DataError
from hybridbatch.results.protocol import RULE_VERSION, Protocol, version_problem
from hybridbatch.results.verdicts import (
    BETTER,
    EQUIVALENCE,
    EQUIVALENT,
    FOUR_WAY,
    INCONCLUSIVE,
    SUPERIORITY,
    WORSE,
    Comparison,
    Hypothesis,
    compare,
    decide,
    estimate,
    holm_adjusted,
    holm_levels,
    paired_values,
    verdict,
)

from conftest import bench_module

MARGIN = 0.01
ALPHA = 0.025
PROTOCOL = Protocol(2, 0.95, MARGIN, 0.05, 2000, 0, "cross", "mrr@10")
COMPARISON = Comparison("toy", "a", "b", "cross", "map")


def table(values_a, values_b, pairs, clusters=None, seed=0):
    """Per-query values of models a and b: values_x[pair][qid]; clusters: qid -> cluster (default: its own)."""
    rows = []
    for strategy, values in (("a", values_a), ("b", values_b)):
        for (query, pool), per_question in zip(pairs, values, strict=True):
            for qid, value in per_question.items():
                rows.append((strategy, seed, qid, (clusters or {}).get(qid, qid), query, pool, "map", value))
    return pd.DataFrame(rows, columns=["strategy", "seed", "qid", "cluster", "query_lang", "pool_lang", "metric", "value"])


def test_the_estimate_is_the_macro_difference_by_hand():
    pairs = [("de", "en"), ("en", "de")]
    a = [{"q1": 0.9, "q2": 0.5, "q3": 0.4}, {"q1": 0.3, "q2": 0.2}]
    b = [{"q1": 0.6, "q2": 0.5, "q3": 0.1}, {"q1": 0.3, "q2": 0.4}]
    result = compare(table(a, b, pairs), COMPARISON, 500, 0)
    # Pair (de, en): mean difference (0.3 + 0 + 0.3) / 3 = 0.2; pair (en, de): (0 - 0.2) / 2 = -0.1.
    assert result.observed == pytest.approx((0.2 - 0.1) / 2)
    assert result.b_value == pytest.approx(((0.6 + 0.5 + 0.1) / 3 + (0.3 + 0.4) / 2) / 2)
    assert (result.seeds, result.clusters, result.questions, result.pairs) == (1, 3, 3, 2)
    assert len(result.components) == 1 and result.components[0][1] == 2
    assert result.se > 0 and "one seed" in result.scope


def test_with_one_pair_and_one_seed_the_standard_error_is_the_classical_one():
    """A mean of G values: the resampled variance x G/(G-1) is the sample variance / G (to the
    resampling's precision), with G - 1 degrees of freedom: the one-sample t interval."""
    values = np.random.default_rng(3).normal(0, 0.1, 40)
    frame = table([dict(zip(map(str, range(40)), values, strict=True))], [dict.fromkeys(map(str, range(40)), 0.0)], [("de", "en")])
    result = compare(frame, COMPARISON, 20000, 0)
    assert result.observed == pytest.approx(values.mean())
    assert result.se == pytest.approx(values.std(ddof=1) / math.sqrt(40), rel=0.03)
    assert [df for _, df in result.components] == [39]
    low, high = result.interval(ALPHA)
    assert high - low == pytest.approx(2 * 2.0227 * result.se, rel=1e-4)  # t(39) at 0.975


def test_a_planted_shift_moves_the_estimate_and_nothing_else():
    """bench/calibration.py relies on it: one table serves every truth."""
    calibration = bench_module("calibration")
    planted = calibration.planted_table(calibration.Design(3, 48, 0.2, 0.5), MARGIN, np.random.default_rng(1))
    shifted = planted.assign(value=planted["value"] + np.where(planted["strategy"] == "a", 0.013, 0.0))
    before, after = (compare(frame, COMPARISON, 1000, 0) for frame in (planted, shifted))
    assert after.observed == pytest.approx(before.observed + 0.013, abs=1e-12)
    assert after.se == pytest.approx(before.se, rel=1e-9)
    assert [df for _, df in after.components] == [df for _, df in before.components] == [47, 2]


def test_case_1_three_seeds_at_the_margin_say_equivalent_at_most_at_the_nominal_rate():
    """The first protocol's two-level bootstrap said "matches" in 10.3% of 300 runs with 3 seeds
    and the truth at -margin (nominal 2.5%). A small calibration run through the same code."""
    calibration = bench_module("calibration")
    design = calibration.Design(seeds=3, clusters=48, icc=0.2, seed_sd=1.0)
    null = [case for case in calibration.CASES if case[0] == "equivalence_null"]
    runs = 150
    (line,) = calibration.simulate(design, runs, PROTOCOL, seed=5, cases=null)
    # Version 1 said "matches" in 10.3% of 300 such runs; the bound here is 2.5% + 2 Monte Carlo SE.
    assert line["held"] and line["rate"] <= ALPHA + 2 * math.sqrt(ALPHA * (1 - ALPHA) / runs)


def test_seed_variance_is_a_component_with_s_minus_1_degrees_of_freedom():
    seeds = {0: 0.0, 1: 0.04, 2: -0.04}
    frames = []
    for seed, effect in seeds.items():
        a = [{f"q{i}": 0.5 + effect + 0.001 * (i % 3) for i in range(60)}]
        frames.append(table(a, [dict.fromkeys((f"q{i}" for i in range(60)), 0.5)], [("de", "en")], seed=seed))
    result = compare(pd.concat(frames), COMPARISON, 1000, 0)
    spread = np.std(list(seeds.values()), ddof=1) / math.sqrt(3)
    assert result.seeds == 3 and result.se == pytest.approx(spread, rel=0.01)
    # The seed component (2 degrees of freedom) dominates, so the 95% interval is about t_2-wide (4.30).
    assert [df for _, df in result.components] == [59, 2]
    low, high = result.interval(ALPHA)
    assert 2 * 4.0 * spread < high - low < 2 * 4.6 * spread and "seeds" in result.scope


@pytest.mark.parametrize(
    ("low", "high", "metric", "expected"),
    [
        (0.011, 0.05, "map", BETTER),
        (0.001, 0.009, "map", EQUIVALENT),
        (-0.009, 0.009, "map", EQUIVALENT),
        (-0.05, -0.011, "map", WORSE),
        (-0.02, 0.005, "map", INCONCLUSIVE),
        (0.005, 0.02, "map", INCONCLUSIVE),
        (-0.02, 0.02, "map", INCONCLUSIVE),
        # Rank distance: lower is better, margin in its own units.
        (-3.0, -1.5, "rank_distance", BETTER),
        (1.5, 3.0, "rank_distance", WORSE),
        (-0.5, 0.5, "rank_distance", EQUIVALENT),
    ],
)
def test_the_four_words(low, high, metric, expected):
    assert verdict(low, high, 1.0 if metric == "rank_distance" else MARGIN, metric) == expected


def noisy_pair(shift, question_sd, questions=400, seed=0):
    generator = np.random.default_rng(seed)
    qids = [f"q{i}" for i in range(questions)]
    b = generator.uniform(0.3, 0.7, questions)
    a = b + shift + generator.normal(0, question_sd, questions)
    return table([dict(zip(qids, a, strict=True))], [dict(zip(qids, b, strict=True))], [("de", "en")])


def decided_alone(frame, hypothesis, metric="map", margin=MARGIN):
    result = compare(frame, COMPARISON, 2000, 0)
    return decide([Hypothesis(COMPARISON, result, hypothesis, margin)], [True], ALPHA).iloc[0]


def test_case_2_noise_is_inconclusive_not_worse():
    """A model truly equal to the baseline but with noisy questions: the first protocol said "does
    not match", which reads as shown worse."""
    assert decided_alone(noisy_pair(0.0, 0.5), EQUIVALENCE)["verdict"] == INCONCLUSIVE
    assert decided_alone(noisy_pair(0.0, 0.02), EQUIVALENCE)["verdict"] == EQUIVALENT
    assert decided_alone(noisy_pair(-3 * MARGIN, 0.02), EQUIVALENCE)["verdict"] == WORSE


def test_equivalence_p_is_the_larger_one_sided_p():
    row = decided_alone(noisy_pair(0.004, 0.05), EQUIVALENCE)
    result = compare(noisy_pair(0.004, 0.05), COMPARISON, 2000, 0)
    assert row["p_value"] == pytest.approx(max(result.p_above(-MARGIN), result.p_below(MARGIN)))
    assert (row["p_value"] < ALPHA) == (row["verdict"] == EQUIVALENT)


@pytest.mark.parametrize("seeds", [1, 3])
@pytest.mark.parametrize("shift", [-0.03, -0.01, 0.0, 0.008, 0.03])
def test_the_four_way_p_is_below_twice_a_level_exactly_when_the_verdict_is_not_inconclusive(shift, seeds):
    """A four-way verdict is wrong only when its interval misses the truth: either side counts, so
    its p is twice the smallest one-sided p and is decided against 2 x alpha."""
    frame = pd.concat([noisy_pair(shift + 0.004 * seed, 0.1, seed=seed).assign(seed=seed) for seed in range(seeds)])
    result = compare(frame, COMPARISON, 2000, 0)
    four_way, equivalence, superiority = (Hypothesis(COMPARISON, result, kind, MARGIN) for kind in (FOUR_WAY, EQUIVALENCE, SUPERIORITY))
    assert four_way.p_value == pytest.approx(min(1.0, 2 * min(equivalence.p_value, superiority.p_value, result.p_below(-MARGIN))))
    row = decide([four_way], [True], ALPHA).iloc[0]
    assert (row["p_holm"] < 2 * ALPHA) == (row["verdict"] != INCONCLUSIVE) and row["ci_confidence"] == pytest.approx(0.95)


@pytest.mark.parametrize("factor", [0.8, 0.95, 1.0, 1.1])
def test_rank_distance_p_values_turn_with_the_metric(factor):
    """Lower rank distance is better: superiority's p is small exactly when a's rank distance is
    below b's by more than the margin, and its verdict is then *better*."""
    generator = np.random.default_rng(4)
    qids = [f"q{i}" for i in range(300)]
    b = generator.uniform(100, 400, 300)
    a = b * factor + generator.normal(0, 5, 300)
    frame = table([dict(zip(qids, a, strict=True))], [dict(zip(qids, b, strict=True))], [("de", "multi")])
    frame["metric"] = "rank_distance"
    comparison = Comparison("toy", "a", "b", "multi", "rank_distance")
    result = compare(frame, comparison, 2000, 0)
    margin = PROTOCOL.margin_of("rank_distance", result.b_value)
    row = decide([Hypothesis(comparison, result, SUPERIORITY, margin)], [True], ALPHA).iloc[0]
    assert (row["p_value"] < ALPHA) == (row["verdict"] == BETTER) == (factor == 0.8)
    assert row["verdict"] == {0.8: BETTER, 0.95: INCONCLUSIVE, 1.0: EQUIVALENT, 1.1: WORSE}[factor]


def test_the_pivot_of_one_component_is_students_t():
    """The pivot's quasi-random chi-squared points against the exact t quantiles it stands for,
    down to Holm's smallest levels."""
    from hybridbatch.results.verdicts import _pivot_quantile

    for df in (1, 2, 4, 47):
        for level in (0.025, 0.0025, 2.5e-4):
            exact = stats.t.isf(level, df)
            assert _pivot_quantile(((1.0, df),), level) == pytest.approx(exact, rel=2e-3), (df, level)


def test_case_6_holm_passes_with_a_large_family():
    """Resampled p-values floor at 1/(B+1): with 2,000 samples no family of 51 or more tests could
    pass Holm's first step. Analytic p-values can."""
    result = compare(noisy_pair(0.2, 0.02), COMPARISON, 2000, 0)
    tests = [Hypothesis(COMPARISON, result, SUPERIORITY, MARGIN)] * 60
    decided = decide(tests, [True] * 60, ALPHA)
    assert (decided["p_holm"] < ALPHA).all() and set(decided["verdict"]) == {BETTER}
    assert decided["p_value"].max() < 1e-6


def test_exploratory_rows_stay_unadjusted_at_the_nominal_level():
    result = compare(noisy_pair(0.0, 0.05), COMPARISON, 2000, 0)
    tests = [Hypothesis(COMPARISON, result, EQUIVALENCE, MARGIN)] * 3
    decided = decide(tests, [True, True, False], ALPHA)
    assert decided["p_holm"].iloc[2] != decided["p_holm"].iloc[2]  # nan outside the family
    assert decided["level"].tolist() == pytest.approx([*holm_levels(decided["p_value"].iloc[:2].to_numpy(), ALPHA), ALPHA])
    assert decided["p_holm"].iloc[0] == pytest.approx(min(1.0, 2 * decided["p_value"].iloc[0]))


def clustered(icc_effect, clusters=12, per_cluster=20, seed=0):
    """Questions whose differences share a cluster effect of sd `icc_effect`."""
    generator = np.random.default_rng(seed)
    effects = generator.normal(0, icc_effect, clusters)
    qids = [f"q{i}" for i in range(clusters * per_cluster)]
    cluster_of = {qid: f"c{i // per_cluster}" for i, qid in enumerate(qids)}
    a = {qid: effects[i // per_cluster] + generator.normal(0, 0.02) for i, qid in enumerate(qids)}
    return table([a], [dict.fromkeys(qids, 0.0)], [("de", "en")], clusters=cluster_of)


def test_case_5_clusters_widen_the_interval_to_what_varies():
    """Questions of one article move together: resampling questions alone treats 240 correlated
    questions as 240 independent ones. Resampling the 12 articles gives their spread, with 11
    degrees of freedom."""
    frame = clustered(0.05)
    by_cluster = compare(frame, COMPARISON, 4000, 0)
    by_question = compare(frame.assign(cluster=frame["qid"]), COMPARISON, 4000, 0)
    assert (by_cluster.clusters, by_cluster.components[0][1], by_question.components[0][1]) == (12, 11, 239)
    cluster_means = frame[frame["strategy"] == "a"].groupby("cluster")["value"].mean()
    assert by_cluster.se == pytest.approx(cluster_means.std(ddof=1) / math.sqrt(12), rel=0.05)
    assert by_cluster.se > 3 * by_question.se


def test_a_benchmark_of_one_document_resamples_its_questions_and_says_so():
    frame = clustered(0.05, clusters=1, per_cluster=50)
    result = compare(frame, COMPARISON, 1000, 0)
    assert (result.clusters, result.questions, result.components[0][1]) == (1, 50, 49)
    assert "fewer than 2 clusters, questions resampled within them" in result.scope


def test_strata_are_averaged_as_benchmarks_not_as_pooled_pairs():
    """Two benchmarks of a domain: one with one pair at +0.1, one with three pairs at 0: the
    domain's difference is (0.1 + 0) / 2, not (0.1 + 0 + 0 + 0) / 4."""
    one = table([dict.fromkeys(["q1", "q2"], 0.6)], [dict.fromkeys(["q1", "q2"], 0.5)], [("de", "en")]).assign(stratum="first")
    pairs = [("de", "en"), ("en", "de"), ("es", "en")]
    three = table([{"p1": 0.5, "p2": 0.5}] * 3, [{"p1": 0.5, "p2": 0.5}] * 3, pairs).assign(stratum="second")
    result = compare(pd.concat([one, three]), COMPARISON, 500, 0)
    assert result.observed == pytest.approx(0.05) and result.pairs == 4 and result.questions == 4


def test_bad_tables_are_named():
    frame = table([{"q1": 0.5}], [{"q1": 0.4}], [("de", "en")])
    with pytest.raises(Exception, match=r"toy: a − b, map \(cross\): a model has two values"):
        compare(pd.concat([frame, frame]), COMPARISON, 100, 0)
    with pytest.raises(Exception, match=r"no per-query values for b"):
        compare(frame[frame["strategy"] == "a"], COMPARISON, 100, 0)
    two_seeds = pd.concat([frame, frame.assign(seed=1)])
    with pytest.raises(Exception, match=r"seeds \[0, 1\] of a differ from seeds \[0\] of b"):
        compare(two_seeds[~((two_seeds["strategy"] == "b") & (two_seeds["seed"] == 1))], COMPARISON, 100, 0)


def test_the_pivot_of_several_components_agrees_with_its_own_p_values():
    """With seeds and clusters the interval comes from the pivot: a bound at a level has exactly
    that p-value, and the p-values are not floored."""
    calibration = bench_module("calibration")
    result = compare(calibration.planted_table(calibration.Design(3, 24, 0.2, 1.0), MARGIN, np.random.default_rng(2)), COMPARISON, 1000, 0)
    assert len(result.components) == 2
    for level in (0.025, 0.001, 1e-6):
        low, high = result.interval(level)
        assert result.p_above(low) == pytest.approx(level, rel=1e-6) and result.p_below(high) == pytest.approx(level, rel=1e-6)
    assert 0 < result.p_above(result.interval(1e-9)[0]) < 1e-8


def test_each_comparison_has_its_own_fixed_stream():
    frame = noisy_pair(0.0, 0.1)
    first = compare(frame, COMPARISON, 500, 0)
    assert compare(frame, COMPARISON, 500, 0) == first
    renamed = frame.assign(strategy=frame["strategy"].map({"a": "c", "b": "b"}))
    other = compare(renamed, Comparison("toy", "c", "b", "cross", "map"), 500, 0)
    assert other.observed == first.observed and other.se != first.se
    paired = paired_values(frame, COMPARISON)
    assert estimate(paired, True, 500, np.random.default_rng([0, *COMPARISON.stream()])) == first


def test_holm_by_hand():
    p_values = np.array([0.01, 0.04, 0.03, 0.005])
    # Sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> 0.06 (monotone).
    assert holm_adjusted(p_values) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # Steps at 0.05 / 4, / 3 pass; the step at 0.05 / 2 retains 0.03, and 0.04 with it.
    levels = holm_levels(p_values, 0.05)
    assert levels == pytest.approx([0.05 / 3, 0.025, 0.025, 0.0125])
    assert list(p_values < levels) == list(holm_adjusted(p_values) < 0.05) == [True, False, False, True]
    assert holm_adjusted(np.array([0.4, 0.5])) == pytest.approx([0.8, 0.8])


def test_the_protocol_is_versioned_and_hashed():
    assert version_problem(2) is None and version_problem(RULE_VERSION, 0.9) is None
    assert "implements the verdict rules of versions 2, 3" in version_problem(1)
    assert version_problem(3) == "3 needs domain_ceiling (version 3 added it; docs/protocol.md)"
    assert version_problem(2, 0.9) == "2 has no domain_ceiling (version 3 added it; docs/protocol.md)"
    section = {
        "version": 2,
        "confidence": 0.95,
        "margin": 0.01,
        "relative_margin": 0.05,
        "resampling": {"samples": 2000, "seed": 0},
        "domain_primary": {"setting": "cross", "metric": "mrr@10"},
    }
    protocol = Protocol.from_config(section)
    assert protocol == PROTOCOL and len(protocol.digest()) == 12
    assert Protocol.from_config(section | {"margin": 0.02}).digest() != protocol.digest()
    assert protocol.margin_of("rank_distance", 300.0) == pytest.approx(15.0) and protocol.margin_of("map", 0.5) == 0.01
    # Version 3's ceiling is part of its hash; version 2's hash, published with its results
    # (docs/results.md), stays what it was when the field was added.
    ceiling = Protocol.from_config(section | {"version": 3, "domain_ceiling": 0.9})
    assert ceiling.domain_ceiling == 0.9 and ceiling.digest() != protocol.digest()
    assert protocol.digest() == "e9b67d3b2769"


def test_a_config_naming_another_protocol_version_stops_at_start_up(default_config, schema):
    from hybridbatch.config import check

    config = default_config | {"report": default_config["report"] | {"protocol": default_config["report"]["protocol"] | {"version": 1}}}
    with pytest.raises(ConfigError, match=r"report.protocol.version: 1, but this code implements the verdict rules of versions 2, 3"):
        check(config, schema)


def test_the_calibration_bench_prints_a_line_per_case_and_design(capsys):
    bench_module("calibration").main(["--runs", "3"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {"case", "seeds", "clusters", "runs", "rate", "nominal"} <= set(lines[0])
    assert {(line["seeds"], line["clusters"]) for line in lines} == {(s, g) for s in (1, 2, 3, 5) for g in (0, 24)} | {(1, 24)}
    nulls = [line for line in lines if line["nominal"] is not None and line["case"] != "one_seed_unconditional"]
    assert len(nulls) == 8 * 5 and all(isinstance(line["held"], bool) for line in nulls)
    assert {line["case"] for line in lines} == {
        "equivalence_null",
        "superiority_null",
        "superiority_zero",
        "four_way_null",
        "equivalence_power",
        "superiority_power",
        "one_seed_unconditional",
    }


def test_what_cannot_be_estimated_is_refused():
    one = table([{"q1": 0.9}], [{"q1": 0.5}], [("de", "en")])
    with pytest.raises(DataError, match="fewer than 2 questions answered by both models"):
        compare(one, COMPARISON, 100, 0)
    frame = noisy_pair(0.0, 0.1)
    with pytest.raises(DataError, match="per-query rows without a cluster"):
        compare(frame.assign(cluster=frame["cluster"].where(frame["qid"] != "q3")), COMPARISON, 100, 0)
    # Two benchmarks whose seeds differ cannot be averaged seed by seed.
    first = pd.concat([noisy_pair(0.0, 0.1).assign(seed=seed, stratum="first") for seed in (0, 1)])
    second = pd.concat([noisy_pair(0.0, 0.1).assign(seed=seed, stratum="second") for seed in (1, 2)])
    with pytest.raises(DataError, match=r"different seeds \(first: \[0, 1\]; second: \[1, 2\]\)"):
        compare(pd.concat([first, second]), COMPARISON, 100, 0)


def test_an_interval_ending_on_the_margin_is_not_a_verdict():
    """The regions are open: a bound exactly at ±margin leaves the interval inconclusive."""
    assert verdict(0.01, 0.05, MARGIN, "map") == INCONCLUSIVE
    assert verdict(-0.01, 0.0, MARGIN, "map") == INCONCLUSIVE
