"""From per-model metrics to the tables a researcher reads: summary, per language, the paper's
claims as tests, and the comparison with the paper.

Models are runs (a strategy at a seed, or the base model: hybridbatch.core.runs); every
table reports a strategy as the mean over its seeds (and their standard deviation when there are
several).

The paper's claims (`CLAIMS`) are pre-registered tests, per experiment and hybrid, on mAP and
MRR@10 (claims 1-3) and on rank distance (claim 4), one row each in significance.csv:

- A claim test is non-inferiority with a margin delta on d = hybrid - baseline (a macro average:
  per (query language, pool) pair, then over the setting's pairs; mean over seeds). delta is
  `report.claims.margin` (absolute) for mAP and MRR@10, `relative_margin` x the baseline's
  observed rank distance for rank distance (lower is better there, so every inequality turns).
- Claims 1-3 presuppose a trade-off between the baselines: X-X above X-Y on Mono (claim 1), X-Y
  above X-X on Cross and Multi (claims 2, 3), on the same metric. Unless the baseline difference's
  interval (at the nominal confidence) lies above 0, the verdict is "not testable here: no
  trade-off between the baselines". Claim 4 has no precondition. These gatekeeping tests are not
  in the family: failing one can only withhold a verdict.
- Uncertainty: a paired bootstrap (`bootstrap_difference`). The question id is the unit (shared
  by a question's translations). With two or more seeds the bootstrap is two-level: a replicate
  draws seed indices with replacement (jointly for both strategies: same-seed runs share their
  manifest's source order) and question ids with replacement, and averages the drawn seeds' macro
  differences. One question draw serves all drawn seeds of a replicate: the questions are the same
  in every seed (a crossed, not nested, design), so drawing them anew per seed would average the
  question noise over seeds and narrow the interval. With one seed only questions are drawn, and
  every verdict says so (`ONE_SEED`). Each comparison has its own random stream, fixed by the
  comparison alone (`Difference.stream`).
- p-values are one-sided from the replicates, never 0: p = (1 + #{d* <= -delta}) / (B + 1).
  Tests are at one-sided level alpha = (1 - confidence) / 2, so that with confidence 0.95 a test
  is the bound of a two-sided 95% interval (the usual non-inferiority convention).
- The family is every testable claim test in the table (all experiments, hybrids, metrics,
  claims; claim 4 against each baseline): Holm-Bonferroni adjusts its p-values (`p_holm`).
  "matches" iff p_holm < alpha; "better" iff also the superiority test (d* against 0 instead of
  -delta) passes at the same level; else "does not match". Testing superiority only after
  non-inferiority, at the same level, needs no further adjustment (closed testing).
- Intervals are at the level each test was decided at by Holm's step-down (`holm_levels`; the
  `ci_confidence` column, 1 - 2 x level), not the nominal one: the interval's bound lies past
  -delta exactly when the verdict is "matches" or "better", and past 0 exactly for "better".
  Not testable rows keep the nominal confidence.
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hybridbatch.core.contract import LOWER_IS_BETTER, METRICS, MULTI, RANK_DISTANCE, SETTINGS, setting_of
from hybridbatch.core.errors import DataError
from hybridbatch.core.io import read_frame
from hybridbatch.core.runs import HYBRID, X_X, X_Y, Run, strategy_roles
from hybridbatch.registry import DATASETS

log = logging.getLogger(__name__)


def summary_columns() -> list[str]:
    return [f"{metric}_{setting}" for metric in METRICS for setting in SETTINGS] + [RANK_DISTANCE]


def _column(metric: str, setting: str) -> str:
    return metric if metric == RANK_DISTANCE else f"{metric}_{setting}"


def _with_runs(files: Mapping[tuple[str, str], str], runs: Mapping[str, Run], check) -> pd.DataFrame:
    """Read each (experiment, model) file, `check(path, experiment, model, frame)` it, and add the
    `experiment`, `strategy` and `seed` columns."""
    frames = []
    for (experiment, model), path in files.items():
        frame = read_frame(path, "metrics table")
        check(path, experiment, model, frame)
        frames.append(frame.assign(experiment=experiment, strategy=runs[model].strategy, seed=runs[model].seed))
    return pd.concat(frames, ignore_index=True)


def _check_metrics(path: str, experiment: str, model: str, frame: pd.DataFrame) -> None:
    if set(frame["model"]) != {model}:
        raise DataError(f"{path}: holds model(s) {sorted(set(frame['model']))}, expected {model!r}")
    present = set(zip(frame["setting"], frame["metric"], strict=True))
    # Translation benchmarks score no monolingual pair (a query's own text is in that pool).
    translation = any(name in DATASETS and DATASETS[name].translation for name in set(frame["benchmark"]))
    settings = [setting for setting in SETTINGS if not (translation and setting == "mono")]
    wanted = {(setting, metric) for setting in settings for metric in METRICS} | {(MULTI, RANK_DISTANCE)}
    if missing := sorted(wanted - present):
        listed = ", ".join(f"{metric} ({setting})" for setting, metric in missing)
        raise DataError(f"{path}: experiment {experiment}, model {model}: no {listed}")


def _check_per_query(path: str, experiment: str, model: str, frame: pd.DataFrame) -> None:
    if frame.empty:
        raise DataError(f"{path}: no per-query values for experiment {experiment}, model {model}")


def load_metrics(files: Mapping[tuple[str, str], str], runs: Mapping[str, Run]) -> pd.DataFrame:
    """The metrics files of every (experiment, model), with `experiment`, `strategy` and `seed`
    columns; refuses a file that lacks a setting or metric, naming what is missing."""
    return _with_runs(files, runs, _check_metrics)


def read_per_query(files: Mapping[tuple[str, str], str], runs: Mapping[str, Run]) -> pd.DataFrame:
    """The per-query metrics files of every (experiment, model), with experiment, strategy and seed."""
    return _with_runs(files, runs, _check_per_query)


def check_complete(files: Mapping[tuple[str, str], str], models: Mapping[str, Sequence[str]]) -> None:
    """Every experiment must have the metrics file of each of its `models`: name the missing ones."""
    missing = [f"{experiment}/{model}" for experiment, names in models.items() for model in names if (experiment, model) not in files]
    if missing:
        raise DataError(f"no metrics for {', '.join(missing)}: the tables need every model of every experiment")


def summary(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per (experiment, strategy): macro averages (mean over seeds) of every metric and
    setting, their standard deviations over seeds (`*_sd`, NaN for one seed) and the seed count."""
    # Per experiment: two experiments may share a benchmark and their runs share names.
    keys = ["experiment", "model", "strategy", "setting", "metric"]
    macro = metrics.groupby(keys, as_index=False, sort=False)["value"].mean()
    macro["column"] = [_column(m, s) for m, s in zip(macro["metric"], macro["setting"], strict=True)]
    grouped = macro.groupby(["experiment", "strategy", "column"], sort=False)["value"]
    stats = grouped.agg(["mean", "std", "count"]).reset_index()
    means = stats.pivot(index=["experiment", "strategy"], columns="column", values="mean")
    spreads = stats.pivot(index=["experiment", "strategy"], columns="column", values="std").add_suffix("_sd")
    seeds = stats.groupby(["experiment", "strategy"])["count"].max().rename("seeds")
    columns = summary_columns()
    table = pd.concat([seeds, means[columns], spreads[[f"{c}_sd" for c in columns]]], axis=1).reset_index()
    order = list(dict.fromkeys(metrics["strategy"]))
    table["strategy"] = pd.Categorical(table["strategy"], categories=order, ordered=True)
    experiments = list(dict.fromkeys(metrics["experiment"]))
    table["experiment"] = pd.Categorical(table["experiment"], categories=experiments, ordered=True)
    table = table.sort_values(["experiment", "strategy"]).reset_index(drop=True)
    table["strategy"] = table["strategy"].astype(str)
    table["experiment"] = table["experiment"].astype(str)
    return table


def per_language(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per (experiment, strategy, query language): mAP in the Mono pool, the mean over the Cross
    pools, the Multi pool, and rank distance; means over seeds."""
    rows = metrics[metrics["metric"].isin(["map", RANK_DISTANCE])]
    by_language = rows.groupby(["experiment", "strategy", "seed", "query_lang", "setting", "metric"], dropna=False, sort=False)
    means = by_language["value"].mean().reset_index()
    means["column"] = [_column(m, s) for m, s in zip(means["metric"], means["setting"], strict=True)]
    table = means.groupby(["experiment", "strategy", "query_lang", "column"], sort=False)["value"].mean().unstack("column")
    return table[["map_mono", "map_cross", "map_multi", RANK_DISTANCE]].reset_index()


# The paper's claims, tested per experiment and hybrid on these metrics (claims 1-3) and on rank
# distance in the multilingual pool (claim 4).
CLAIM_METRICS = ("map", "mrr@10")
BIAS_METRIC = RANK_DISTANCE
NOT_TESTABLE = "not testable here: no trade-off between the baselines"
ONE_SEED = "one seed: the interval covers questions only, not training randomness"
SEEDS_AND_QUESTIONS = "seeds and questions"
SIGNIFICANCE_COLUMNS = [
    "experiment", "claim", "statement", "metric", "setting", "hybrid", "baseline",
    "difference", "ci_low", "ci_high", "ci_confidence", "confidence", "margin", "baseline_value",
    "p_value", "p_holm", "verdict", "scope",
    "precondition", "precondition_difference", "precondition_ci_low", "precondition_ci_high", "precondition_result",
    "seeds", "questions", "pairs", "samples",
]  # fmt: skip


@dataclass(frozen=True)
class Claim:
    """One of the paper's claims: the hybrid matches `baseline` (a paper name; None: each baseline)
    in `setting`, which says something only where `baseline` beats `rival` there (None: no such
    precondition)."""

    number: int
    statement: str
    setting: str
    baseline: str | None
    rival: str | None


CLAIMS = (
    Claim(1, "Hybrid matches X-X on monolingual retrieval", "mono", X_X, X_Y),
    Claim(2, "Hybrid matches X-Y on cross-lingual retrieval", "cross", X_Y, X_X),
    Claim(3, "Hybrid matches X-Y on multilingual retrieval", MULTI, X_Y, X_X),
    Claim(4, "Hybrid has the lowest language bias", MULTI, None, None),
)


@dataclass(frozen=True)
class Difference:
    """Strategy `a` minus strategy `b` on one metric in one setting of one experiment."""

    experiment: str
    a: str
    b: str
    setting: str
    metric: str

    def __str__(self) -> str:
        return f"{self.experiment}: {self.a} − {self.b}, {self.metric} ({self.setting})"

    def stream(self) -> int:
        """A number fixed by the comparison alone: its random stream stays the same whatever
        other comparisons the table holds."""
        return zlib.crc32("\t".join((self.experiment, self.a, self.b, self.setting, self.metric)).encode())


@dataclass(frozen=True)
class ClaimTest:
    """A claim on one metric for one hybrid against one baseline: `comparison` is hybrid minus
    baseline, `precondition` baseline minus rival (positive where the trade-off is there)."""

    claim: Claim
    metric: str
    comparison: Difference
    precondition: Difference | None


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
                        ClaimTest(claim, BIAS_METRIC, Difference(experiment, hybrid, baseline, claim.setting, BIAS_METRIC), None)
                        for baseline in named[X_X] + named[X_Y]
                    ]
                    continue
                tests += [
                    ClaimTest(
                        claim,
                        metric,
                        Difference(experiment, hybrid, baseline, claim.setting, metric),
                        Difference(experiment, baseline, rival, claim.setting, metric),
                    )
                    for metric in CLAIM_METRICS
                    for baseline in named[claim.baseline]
                    for rival in named[claim.rival]
                ]
    return tests


@dataclass(frozen=True)
class Bootstrap:
    """A difference as observed and its bootstrap replicates (sorted)."""

    observed: float  # mean over seeds of the macro difference
    replicates: np.ndarray
    b_value: float  # strategy b's own macro value on the same queries, mean over seeds
    seeds: int
    questions: int
    pairs: int


def _macro_per_seed(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Macro averages per seed from (..., seed, pair) sums and counts: per pair, then over pairs."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nanmean(sums / counts, axis=-1)


def _chosen_rows(per_query: pd.DataFrame, experiment: str, strategies: Sequence[str], setting: str, metric: str) -> pd.DataFrame:
    chosen = per_query[(per_query["experiment"] == experiment) & (per_query["metric"] == metric) & per_query["strategy"].isin(strategies)]
    return chosen[setting_of(chosen["query_lang"], chosen["pool_lang"]) == setting]


def _cells(wide: pd.DataFrame) -> tuple[tuple[np.ndarray, ...], tuple[int, int, int]]:
    """The (question, seed, language pair) cell of each row of `wide` (indexed by seed, qid,
    query_lang, pool_lang; one row per cell), and the shape of the cell grid."""
    seed_codes, seeds = pd.factorize(wide.index.get_level_values("seed"), sort=True)
    question_codes, questions = pd.factorize(wide.index.get_level_values("qid"))
    pair_codes, pairs = pd.factorize(wide.index.get_level_values("query_lang") + "→" + wide.index.get_level_values("pool_lang"))
    return (question_codes, seed_codes, pair_codes), (len(questions), len(seeds), len(pairs))


def _replicates(values: np.ndarray, counts: np.ndarray, samples: int, generator: np.random.Generator) -> np.ndarray:
    """Sorted bootstrap replicates of the mean over seeds of the macro average of `values`
    ((question, seed, pair) sums, `counts` the queries in each cell): questions drawn with
    replacement, then, with two or more seeds, seeds drawn with replacement."""
    n_questions, n_seeds, n_pairs = values.shape
    question_weights = generator.multinomial(n_questions, np.full(n_questions, 1.0 / n_questions), size=samples).astype(float)
    drawn_sums = (question_weights @ values.reshape(n_questions, -1)).reshape(samples, n_seeds, n_pairs)
    drawn_counts = (question_weights @ counts.reshape(n_questions, -1)).reshape(samples, n_seeds, n_pairs)
    per_seed = _macro_per_seed(drawn_sums, drawn_counts)
    if n_seeds > 1:
        seed_weights = generator.multinomial(n_seeds, np.full(n_seeds, 1.0 / n_seeds), size=samples)
        return np.sort((seed_weights * per_seed).sum(axis=1) / n_seeds)
    return np.sort(per_seed[:, 0])


def bootstrap_difference(per_query: pd.DataFrame, difference: Difference, samples: int, generator: np.random.Generator) -> Bootstrap:
    """Macro difference a - b (per (query language, pool) pair, then over the setting's pairs),
    per seed and then averaged over seeds, with `samples` bootstrap replicates.

    A replicate draws question ids with replacement (a question keeps all its language pairs and
    its value in every seed) and, with two or more seeds, seed indices with replacement (a seed
    keeps both strategies: same-seed runs share their manifest's source order); it is the mean
    over the drawn seeds of their macro differences on the drawn questions. Only queries both
    strategies answered in a seed count. `per_query`: `experiment`, `strategy`, `seed`, `qid`,
    `query_lang`, `pool_lang`, `metric`, `value`.
    """
    a, b = difference.a, difference.b
    chosen = _chosen_rows(per_query, difference.experiment, [a, b], difference.setting, difference.metric)
    seeds_of = {strategy: set(seeds.tolist()) for strategy, seeds in chosen.groupby("strategy")["seed"].unique().items()}
    if set(seeds_of) != {a, b}:
        raise DataError(f"{difference}: no per-query values for both strategies")
    if seeds_of[a] != seeds_of[b]:
        raise DataError(f"{difference}: seeds {sorted(seeds_of[a])} of {a} differ from seeds {sorted(seeds_of[b])} of {b}")
    keys = ["seed", "qid", "query_lang", "pool_lang"]
    wide = chosen.groupby(["strategy", *keys])["value"].mean().unstack("strategy").dropna()
    if wide.empty:
        raise DataError(f"{difference}: the two strategies answered no query in common")
    cells, shape = _cells(wide)
    differences, b_values, counts = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    differences[cells] = (wide[a] - wide[b]).to_numpy()
    b_values[cells] = wide[b].to_numpy()
    counts[cells] = 1.0
    observed = float(np.mean(_macro_per_seed(differences.sum(axis=0), counts.sum(axis=0))))
    b_value = float(np.mean(_macro_per_seed(b_values.sum(axis=0), counts.sum(axis=0))))
    n_questions, n_seeds, n_pairs = shape
    return Bootstrap(observed, _replicates(differences, counts, samples, generator), b_value, n_seeds, n_questions, n_pairs)


def bootstrap_value(per_query: pd.DataFrame, experiment: str, strategy: str, setting: str, metric: str, samples: int,
                    generator: np.random.Generator) -> Bootstrap:  # fmt: skip
    """One model's macro value (per pair, then over the setting's pairs; mean over seeds) with
    `samples` replicates drawn as in `bootstrap_difference`. There is no b: `b_value` is nan."""
    chosen = _chosen_rows(per_query, experiment, [strategy], setting, metric)
    if chosen.empty:
        raise DataError(f"{experiment}: no per-query {metric} ({setting}) of {strategy}")
    wide = chosen.groupby(["seed", "qid", "query_lang", "pool_lang"])["value"].mean().to_frame()
    cells, shape = _cells(wide)
    values, counts = np.zeros(shape), np.zeros(shape)
    values[cells] = wide["value"].to_numpy()
    counts[cells] = 1.0
    observed = float(np.mean(_macro_per_seed(values.sum(axis=0), counts.sum(axis=0))))
    n_questions, n_seeds, n_pairs = shape
    return Bootstrap(observed, _replicates(values, counts, samples, generator), math.nan, n_seeds, n_questions, n_pairs)


def tail_p_value(replicates: np.ndarray, bound: float, lower_is_better: bool) -> float:
    """One-sided p-value of "the difference is past `bound` on the bad side": the share of
    replicates at or beyond it, +1 in numerator and denominator (never 0)."""
    beyond = np.sum(replicates >= bound) if lower_is_better else np.sum(replicates <= bound)
    return float((1 + beyond) / (len(replicates) + 1))


def interval(sorted_replicates: np.ndarray, one_sided_level: float) -> tuple[float, float]:
    """The interval whose bounds are the one-sided tests at `one_sided_level`: the k-th smallest
    and k-th largest replicate, k = ceil(level (B + 1)) - 1, so that a bound lies past a value
    exactly when `tail_p_value` of that value is below the level (infinite when k < 1)."""
    samples = len(sorted_replicates)
    k = math.ceil(one_sided_level * (samples + 1) - 1e-9) - 1
    if k < 1:
        return -math.inf, math.inf
    return float(sorted_replicates[k - 1]), float(sorted_replicates[samples - k])


def holm_adjusted(p_values: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values: the i-th smallest times (m - i + 1), made monotone,
    at most 1."""
    p_values = np.asarray(p_values, dtype=float)
    order = np.argsort(p_values, kind="stable")
    scaled = (len(p_values) - np.arange(len(p_values))) * p_values[order]
    adjusted = np.empty_like(p_values)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return adjusted


def holm_levels(p_values: np.ndarray, alpha: float) -> np.ndarray:
    """The level at which Holm's step-down decides each test: alpha / (m - i + 1) for the i-th
    smallest p up to the first test retained, that test's level for every larger p. A test's
    p-value is below its level exactly when its Holm-adjusted p-value is below alpha."""
    p_values = np.asarray(p_values, dtype=float)
    order = np.argsort(p_values, kind="stable")
    thresholds = alpha / (len(p_values) - np.arange(len(p_values)))
    retained = np.flatnonzero(p_values[order] >= thresholds)
    if len(retained):
        thresholds[retained[0] :] = thresholds[retained[0]]
    levels = np.empty_like(p_values)
    levels[order] = thresholds
    return levels


def claim_tests(
    per_query: pd.DataFrame,
    experiments: Sequence[str],
    alphas: Mapping[str, float],
    *,
    samples: int,
    seed: int,
    confidence: float,
    margin: float,
    relative_margin: float,
) -> pd.DataFrame:
    """The paper's claims as non-inferiority tests with a margin: one row per test (see the
    module docstring for the rules), columns SIGNIFICANCE_COLUMNS."""
    alpha = (1 - confidence) / 2
    drawn: dict[Difference, Bootstrap] = {}
    by_key = {key: frame for key, frame in per_query.groupby(["experiment", "metric"], sort=False)}

    def bootstrap(difference: Difference) -> Bootstrap:
        if difference not in drawn:
            frame = by_key.get((difference.experiment, difference.metric), per_query.iloc[:0])
            generator = np.random.default_rng([seed, difference.stream()])
            drawn[difference] = bootstrap_difference(frame, difference, samples, generator)
        return drawn[difference]

    rows, replicates = [], []
    for test in claim_plan(experiments, alphas):
        result = bootstrap(test.comparison)
        row = _test_row(test, result, margin, relative_margin, confidence, samples)
        if test.precondition is not None:
            row |= _precondition_columns(test.precondition, bootstrap(test.precondition), alpha)
        rows.append(row)
        replicates.append(result.replicates)
    table = pd.DataFrame(rows, columns=SIGNIFICANCE_COLUMNS)
    return _decided(table, replicates, alpha, samples) if len(table) else table


@dataclass(frozen=True)
class Margins:
    """The pre-stated margins (config report.claims): `absolute` for the quality metrics, `relative`
    x model b's value for rank distance. The claim tests' non-inferiority margin and the domain
    table's equivalence margin."""

    absolute: float
    relative: float

    def of(self, metric: str, b_value: float) -> float:
        return self.relative * b_value if metric in LOWER_IS_BETTER else self.absolute


def _test_row(test: ClaimTest, result: Bootstrap, margin: float, relative_margin: float, confidence: float, samples: int) -> dict:
    """A test's row before the family is decided: the difference, its margin and one-sided p-value."""
    lower_is_better = test.metric in LOWER_IS_BETTER
    delta = Margins(margin, relative_margin).of(test.metric, result.b_value)
    return {
        "experiment": test.comparison.experiment,
        "claim": test.claim.number,
        "statement": test.claim.statement,
        "metric": test.metric,
        "setting": test.claim.setting,
        "hybrid": test.comparison.a,
        "baseline": test.comparison.b,
        "difference": result.observed,
        "confidence": confidence,
        "margin": delta,
        "baseline_value": result.b_value,
        "p_value": tail_p_value(result.replicates, delta if lower_is_better else -delta, lower_is_better),
        "scope": SEEDS_AND_QUESTIONS if result.seeds > 1 else ONE_SEED,
        "precondition": "none",
        "precondition_result": "none",
        "seeds": result.seeds,
        "questions": result.questions,
        "pairs": result.pairs,
        "samples": samples,
    }


def _precondition_columns(precondition: Difference, baselines: Bootstrap, alpha: float) -> dict:
    """Whether the baselines show the trade-off a claim presupposes (interval above 0)."""
    low, high = interval(baselines.replicates, alpha)
    return {
        "precondition": f"{precondition.a} − {precondition.b} > 0",
        "precondition_difference": baselines.observed,
        "precondition_ci_low": low,
        "precondition_ci_high": high,
        "precondition_result": "trade-off" if low > 0 else "no trade-off",
    }


def _decided(table: pd.DataFrame, replicates: list[np.ndarray], alpha: float, samples: int) -> pd.DataFrame:
    """Holm over the testable rows, the intervals at the level each test was decided at, the verdicts."""
    table["p_holm"] = np.nan
    testable = (table["precondition_result"] != "no trade-off").to_numpy()
    if testable.any() and testable.sum() / (samples + 1) >= alpha:
        log.warning("%d claim tests, %d bootstrap samples: no test can pass Holm's first step; raise report.bootstrap.samples", testable.sum(), samples)
    levels = np.full(len(table), alpha)
    levels[testable] = holm_levels(table.loc[testable, "p_value"].to_numpy(), alpha)
    table.loc[testable, "p_holm"] = holm_adjusted(table.loc[testable, "p_value"].to_numpy())
    bounds = [interval(values, level) for values, level in zip(replicates, levels, strict=True)]
    table["ci_low"], table["ci_high"] = [low for low, _ in bounds], [high for _, high in bounds]
    table["ci_confidence"] = 1 - 2 * levels
    lower_is_better = table["metric"].isin(LOWER_IS_BETTER)
    beyond_zero = np.where(lower_is_better, table["ci_high"] < 0, table["ci_low"] > 0)
    passed = testable & (table["p_holm"] < alpha).to_numpy()
    table["verdict"] = np.where(~testable, NOT_TESTABLE, np.where(passed, np.where(beyond_zero, "better", "matches"), "does not match"))
    return table
