"""The paper's claims (`CLAIMS`) as pre-registered tests, per experiment and hybrid, on mAP and
MRR@10 (claims 1-3: equivalence with the baseline the claim names, provided the baselines trade
off by more than the margin) and on rank distance (claim 4: superiority over each baseline), one
row each in significance.csv. The rules, margins and their history: docs/protocol.md; the
statistics: hybridbatch.results.verdicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from hybridbatch.core.contract import CROSS, LOWER_IS_BETTER, MAP, MONO, MRR_10, MULTI, RANK_DISTANCE, setting_of
from hybridbatch.core.errors import DataError
from hybridbatch.core.runs import HYBRID, X_X, X_Y, strategy_roles
from hybridbatch.results.protocol import Protocol
from hybridbatch.results.verdicts import BETTER, EQUIVALENCE, EQUIVALENT, PRIMARY, SUPERIORITY, Comparison, Estimate, Hypothesis, compare, decide

# The paper's claims, tested per experiment and hybrid on these metrics (claims 1-3) and on rank
# distance in the multilingual pool (claim 4).
CLAIM_METRICS = (MAP, MRR_10)
BIAS_METRIC = RANK_DISTANCE
NOT_TESTABLE = "not testable here"


@dataclass(frozen=True)
class SignificanceRow:
    """One claim test as significance.csv holds it: its columns are these fields, in this order."""

    experiment: str
    claim: int
    statement: str
    hypothesis: str
    metric: str
    setting: str
    hybrid: str
    baseline: str
    difference: float
    se: float
    ci_low: float
    ci_high: float
    ci_confidence: float  # the level Holm's step-down decided the test at
    confidence: float  # the protocol's nominal level
    margin: float
    baseline_value: float
    p_value: float
    p_holm: float
    family: str
    verdict: str
    scope: str
    precondition: str  # the trade-off the claim presupposes, or "none"
    precondition_difference: float
    precondition_ci_low: float
    precondition_ci_high: float
    precondition_result: str
    seeds: int
    clusters: int
    questions: int
    pairs: int
    samples: int
    protocol_version: int
    protocol_hash: str


SIGNIFICANCE_COLUMNS = [column.name for column in fields(SignificanceRow)]


def significance_rows(table: pd.DataFrame) -> list[SignificanceRow]:
    """The tests of a significance table (`claim_tests`, or significance.csv read back)."""
    if missing := [column for column in SIGNIFICANCE_COLUMNS if column not in table.columns]:
        raise DataError(f"the significance table has no column {', '.join(missing)}")
    return [SignificanceRow(**record) for record in table[SIGNIFICANCE_COLUMNS].to_dict("records")]


@dataclass(frozen=True)
class Claim:
    """One of the paper's claims: the hybrid matches `baseline` (a paper name; None: each baseline)
    in `setting`, which says something only where `baseline` beats `rival` there by more than the
    margin (None: no such precondition); `hypothesis` is the claim's form (hybridbatch.results.verdicts),
    and `holds` the verdict that supports it."""

    number: int
    statement: str
    setting: str
    baseline: str | None
    rival: str | None
    hypothesis: str
    holds: str


CLAIMS = (
    Claim(1, "Hybrid matches X-X on monolingual retrieval", MONO, X_X, X_Y, EQUIVALENCE, EQUIVALENT),
    Claim(2, "Hybrid matches X-Y on cross-lingual retrieval", CROSS, X_Y, X_X, EQUIVALENCE, EQUIVALENT),
    Claim(3, "Hybrid matches X-Y on multilingual retrieval", MULTI, X_Y, X_X, EQUIVALENCE, EQUIVALENT),
    Claim(4, "Hybrid has the lowest language bias", MULTI, None, None, SUPERIORITY, BETTER),
)


@dataclass(frozen=True)
class ClaimTest:
    """A claim on one metric for one hybrid against one baseline: `comparison` is hybrid minus
    baseline, `precondition` baseline minus rival (above the margin where the trade-off is there)."""

    claim: Claim
    metric: str
    comparison: Comparison
    precondition: Comparison | None


def claim_plan(experiments: Sequence[str], alphas: Mapping[str, float]) -> list[ClaimTest]:
    """Every claim test of every experiment: each hybrid (0 < alpha < 1) against each X-X
    (alpha 1) or X-Y (alpha 0) strategy the claim names, claims 1-3 on each of CLAIM_METRICS."""
    roles = strategy_roles(alphas)
    hybrids = [strategy for strategy, role in roles.items() if role == HYBRID]
    named = {baseline: [strategy for strategy, role in roles.items() if role == baseline] for baseline in (X_X, X_Y)}
    tests = []
    for experiment in experiments:
        for hybrid in hybrids:
            for claim in CLAIMS:
                if claim.baseline is None:
                    tests += [
                        ClaimTest(claim, BIAS_METRIC, Comparison(experiment, hybrid, baseline, claim.setting, BIAS_METRIC), None)
                        for baseline in named[X_X] + named[X_Y]
                    ]
                    continue
                tests += [
                    ClaimTest(
                        claim,
                        metric,
                        Comparison(experiment, hybrid, baseline, claim.setting, metric),
                        Comparison(experiment, baseline, rival, claim.setting, metric),
                    )
                    for metric in CLAIM_METRICS
                    for baseline in named[claim.baseline]
                    for rival in named[claim.rival]
                ]
    return tests


def hypothesis_text(claim: Claim, margin: float, metric: str) -> str:
    """A claim's hypothesis in words, with its margin."""
    if claim.hypothesis == EQUIVALENCE:
        return f"equivalence: −{margin:.4g} < hybrid − baseline < {margin:.4g} (TOST); holds if {claim.holds}"
    lower = " (lower rank distance)" if metric in LOWER_IS_BETTER else ""
    return f"superiority: hybrid better by more than {margin:.4g}{lower}; holds if {claim.holds}"


def claim_tests(per_query: pd.DataFrame, experiments: Sequence[str], alphas: Mapping[str, float], protocol: Protocol) -> pd.DataFrame:
    """The paper's claims as pre-registered tests (docs/protocol.md): one row per test, columns
    SIGNIFICANCE_COLUMNS. The Holm family is every testable claim test in the table; a claim whose
    trade-off the baselines do not show beyond the margin is "not testable here"."""
    by_key = {
        key: frame
        for key, frame in per_query.assign(setting=setting_of(per_query["query_lang"], per_query["pool_lang"])).groupby(["experiment", "setting"], sort=False)
    }
    estimates: dict[Comparison, Estimate] = {}

    def estimated(comparison: Comparison) -> Estimate:
        if comparison not in estimates:
            frame = by_key.get((comparison.group, comparison.setting), per_query.iloc[:0])
            estimates[comparison] = compare(frame, comparison, protocol.samples, protocol.seed)
        return estimates[comparison]

    plan = claim_plan(experiments, alphas)
    if not plan:
        return pd.DataFrame(columns=SIGNIFICANCE_COLUMNS)
    rows, tests, testable = [], [], []
    for test in plan:
        result = estimated(test.comparison)
        margin = protocol.margin_of(test.metric, result.b_value)
        row = _test_row(test, result, margin, protocol)
        if test.precondition is not None:
            row |= _precondition_columns(test.precondition, estimated(test.precondition), margin, protocol.alpha)
        rows.append(row)
        tests.append(Hypothesis(test.comparison, result, test.claim.hypothesis, margin))
        testable.append(row["precondition_result"] != "no trade-off")
    decided = decide(tests, testable, protocol.alpha)
    table = pd.DataFrame(rows)
    for column in ("p_value", "p_holm", "ci_low", "ci_high", "ci_confidence"):
        table[column] = decided[column].to_numpy()
    table["family"] = np.where(testable, PRIMARY, "")
    table["verdict"] = np.where(testable, decided["verdict"], table["verdict"])
    return table[SIGNIFICANCE_COLUMNS]


def _test_row(test: ClaimTest, result: Estimate, margin: float, protocol: Protocol) -> dict:
    """A test's row before the family is decided."""
    return {
        "experiment": test.comparison.group,
        "claim": test.claim.number,
        "statement": test.claim.statement,
        "hypothesis": hypothesis_text(test.claim, margin, test.metric),
        "metric": test.metric,
        "setting": test.claim.setting,
        "hybrid": test.comparison.a,
        "baseline": test.comparison.b,
        "difference": result.observed,
        "se": result.se,
        "confidence": protocol.confidence,
        "margin": margin,
        "baseline_value": result.b_value,
        "verdict": "",
        "scope": result.scope,
        "precondition": "none",
        "precondition_result": "none",
        "seeds": result.seeds,
        "clusters": result.clusters,
        "questions": result.questions,
        "pairs": result.pairs,
        "samples": protocol.samples,
        "protocol_version": protocol.version,
        "protocol_hash": protocol.digest(),
    }


def _precondition_columns(precondition: Comparison, baselines: Estimate, margin: float, alpha: float) -> dict:
    """Whether the baselines show the trade-off a claim presupposes: baseline − rival above the
    margin, at the nominal one-sided level (a gatekeeping test, outside the family)."""
    low, high = baselines.interval(alpha)
    shown = low > margin
    return {
        "precondition": f"{precondition.a} − {precondition.b} > {margin:.4g}",
        "precondition_difference": baselines.observed,
        "precondition_ci_low": low,
        "precondition_ci_high": high,
        "precondition_result": "trade-off" if shown else "no trade-off",
    } | ({} if shown else {"verdict": f"{NOT_TESTABLE}: {precondition.a} − {precondition.b} = {baselines.observed:+.4f}, not shown above {margin:.4g}"})
