"""The statistical core of every verdict: design-aware intervals, p-values, Holm, and the four words.

Used by the claim table (hybridbatch.results.tables) and the domain table (hybridbatch.results.domains); the rules
and their history are in docs/protocol.md, the protocol's numbers in the config (`report.protocol`).

What is estimated: a macro average (per (query language, pool) pair over its questions, then over
the pairs; per benchmark, then over a domain's benchmarks), per seed, then the mean over seeds;
for a comparison, of the per-query differences a - b (paired: the same questions, seeds and pairs).

Its uncertainty (`estimate`) has two parts, added:
- sampling of texts: the clusters a benchmark's questions come from (articles, documents; the
  queries table's `cluster`) are drawn with replacement, each keeping all its questions, their
  translations, every seed and both models. Items are not drawn again inside a drawn cluster: that
  would count the within-cluster variance twice. Without cluster structure each question is its
  own cluster. The variance of the replicates is scaled by G/(G-1) (G clusters), the unbiased
  variance of a mean of G cluster totals, and has G-1 degrees of freedom. A benchmark with fewer
  than MIN_CLUSTERS clusters cannot be resampled by cluster: its questions are, and the row says
  that its intervals describe those documents only.
- training randomness, with two or more seeds: the variance of the per-seed estimates over S,
  with S-1 degrees of freedom. Drawing S seeds with replacement instead (the first protocol) shrinks
  that variance by (S-1)/S and ignores how few S are.
The interval and p-values come from Student's t for one component and from the generalized
pivotal quantity of a sum of variance components for several (`Estimate`), analytic in the normal
part, so that p has any resolution Holm needs (no 1/(B+1) floor). With one seed training
randomness is outside every interval, and the row says so. The error rates are measured, not
assumed: bench/calibration.py.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats
from scipy.stats import qmc

from hybridbatch.core.contract import LOWER_IS_BETTER
from hybridbatch.core.errors import DataError

MIN_CLUSTERS = 2
# A claim's form: equivalence (H1: |d| < margin), superiority (H1: d > margin, on the gain scale),
# or four-way (which of better, equivalent, worse: one interval decides among the three regions;
# see `p_value`).
EQUIVALENCE, SUPERIORITY, FOUR_WAY = "equivalence", "superiority", "four-way"
BETTER, EQUIVALENT, WORSE, INCONCLUSIVE = "better", "equivalent", "worse", "inconclusive"
PRIMARY, EXPLORATORY = "primary", "exploratory"


@dataclass(frozen=True)
class Comparison:
    """Model `a` minus model `b` (None: a's own value) on one metric in one setting of one group
    (an experiment, or a domain)."""

    group: str
    a: str
    b: str | None
    setting: str
    metric: str

    def __str__(self) -> str:
        shown = self.a if self.b is None else f"{self.a} − {self.b}"
        return f"{self.group}: {shown}, {self.metric} ({self.setting})"

    def stream(self) -> list[int]:
        """Numbers fixed by the comparison alone: its random stream stays the same whatever other
        comparisons a table holds."""
        key = "\t".join((self.group, self.a, self.b or "", self.setting, self.metric))
        return [int(part, 16) for part in (hashlib.sha256(key.encode()).hexdigest()[i : i + 8] for i in (0, 8))]


# The pivot's chi-squared draws (see Estimate): a scrambled Sobol sequence through the chi-squared
# quantile function, fixed, so a verdict is the same on every run; quasi-random points keep the
# far tail (Holm's smallest levels) accurate where as many random draws would not.
PIVOT_DRAWS_LOG2 = 15
PIVOT_SEED = 20261207


@functools.lru_cache(maxsize=64)
def _chi_squared_ratios(dfs: tuple[float, ...]) -> np.ndarray:
    """(draw, component) values of df / chi2(df), jointly quasi-random over the components."""
    points = qmc.Sobol(len(dfs), scramble=True, seed=PIVOT_SEED).random_base2(PIVOT_DRAWS_LOG2)
    return np.asarray(dfs) / stats.chi2.ppf(points, np.asarray(dfs))


@functools.lru_cache(maxsize=1024)
def _pivot_scales(components: tuple[tuple[float, float], ...]) -> np.ndarray:
    """Draws of the standard error's fiducial distribution: sqrt(sum of v x df / chi2(df))."""
    ratios = _chi_squared_ratios(tuple(df for _, df in components))
    return np.sqrt(ratios @ np.array([part for part, _ in components]))


@functools.lru_cache(maxsize=1024)
def _pivot_quantile(components: tuple[tuple[float, float], ...], one_sided_level: float) -> float:
    """The distance d with mean(P(Z > d / scale)) = level over the pivot's draws (Newton's method
    on a smooth, decreasing function)."""
    scales = _pivot_scales(components)
    distance = float(special.ndtri(1 - one_sided_level)) * math.sqrt(sum(part for part, _ in components))
    for _ in range(100):
        ratio = distance / scales
        step = (np.mean(special.ndtr(-ratio)) - one_sided_level) / np.mean(np.exp(-0.5 * ratio**2) / (math.sqrt(2 * math.pi) * scales))
        distance += step
        if abs(step) < 1e-12 * distance:
            break
    return float(distance)


@dataclass(frozen=True)
class Estimate:
    """A macro difference (or value) and its variance components.

    `components`: (variance, degrees of freedom) of each independent part of the standard error
    (each benchmark's cluster resampling, the seeds). With one component the interval and p-values
    are Student's t. With several, they come from the generalized pivotal quantity of a sum of
    variance components (Weerahandi 1993): true value = observed - Z x sqrt(sum v df / chi2(df)),
    Z normal and the chi2 values quasi-random (2**PIVOT_DRAWS_LOG2 fixed points), averaged
    analytically over Z, so p has no resampling floor. Welch-Satterthwaite's t was
    anti-conservative with two seeds (docs/protocol.md).
    """

    observed: float  # mean over seeds of the macro average
    b_value: float  # model b's macro average on the same queries (nan without b)
    components: tuple[tuple[float, float], ...]
    seeds: int
    clusters: int
    questions: int
    pairs: int
    scope: str  # what the interval covers, in words

    @property
    def se(self) -> float:
        return math.sqrt(sum(part for part, _ in self.components))

    def _tail(self, distance: float) -> float:
        """The fiducial probability that the truth lies `distance` or more beyond the observed value, on one side."""
        if self.se == 0:
            return 0.0 if distance > 0 else 1.0
        if len(self.components) == 1:
            return float(stats.t.sf(distance / self.se, self.components[0][1]))
        return float(np.mean(special.ndtr(-distance / _pivot_scales(self.components))))

    def quantile(self, one_sided_level: float) -> float:
        """The distance from the observed value to a bound at `one_sided_level`."""
        if self.se == 0:
            return 0.0
        if len(self.components) == 1:
            return float(stats.t.isf(one_sided_level, self.components[0][1])) * self.se
        return _pivot_quantile(self.components, one_sided_level)

    def interval(self, one_sided_level: float) -> tuple[float, float]:
        """The interval whose bounds are one-sided tests at `one_sided_level`."""
        half = self.quantile(one_sided_level)
        return self.observed - half, self.observed + half

    def p_above(self, bound: float) -> float:
        """One-sided p-value of H0: the true value is at most `bound` (H1: above it)."""
        return self._tail(self.observed - bound)

    def p_below(self, bound: float) -> float:
        """One-sided p-value of H0: the true value is at least `bound` (H1: below it)."""
        return self._tail(bound - self.observed)


def _scope(seeds: int, small: Sequence[str]) -> str:
    parts = ["clusters (articles, documents) and seeds" if seeds > 1 else "one seed: clusters (articles, documents) only, not training randomness"]
    if small:
        parts.append(f"{', '.join(small)}: fewer than {MIN_CLUSTERS} clusters, questions resampled within them")
    return "; ".join(parts)


def _stratum_arrays(rows: pd.DataFrame, with_b: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, bool]:
    """Per (resampled unit, seed, pair) sums of the compared values, of b's values (None without
    b), and counts; whether questions stand in for too few clusters."""
    small = rows["cluster"].nunique() < MIN_CLUSTERS
    units = rows["qid"] if small else rows["cluster"]
    unit_codes, unit_names = pd.factorize(units, sort=True)
    seed_codes, seed_names = pd.factorize(rows["seed"], sort=True)
    pair_codes, pair_names = pd.factorize(rows["query_lang"] + "→" + rows["pool_lang"], sort=True)
    shape = (len(unit_names), len(seed_names), len(pair_names))
    index = np.ravel_multi_index((unit_codes, seed_codes, pair_codes), shape)
    size = int(np.prod(shape))
    values = rows["a"].to_numpy() - (rows["b"].to_numpy() if with_b else 0.0)
    sums = np.bincount(index, weights=values, minlength=size).reshape(shape)
    b_sums = np.bincount(index, weights=rows["b"].to_numpy(), minlength=size).reshape(shape) if with_b else None
    counts = np.bincount(index, minlength=size).reshape(shape).astype(float)
    return sums, b_sums, counts, small


def _macro(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Macro averages per seed from (..., seed, pair) sums and counts: per pair, then over pairs."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nanmean(sums / counts, axis=-1)


def _resampled_variance(sums: np.ndarray, counts: np.ndarray, samples: int, generator: np.random.Generator) -> float:
    """The cluster-resampling variance of the seed-averaged macro average, scaled by G/(G-1)."""
    clusters = sums.shape[0]
    # How often each cluster is drawn in each resample (a multinomial count, drawn as indices: faster).
    drawn_indices = generator.integers(0, clusters, size=(samples, clusters)) + clusters * np.arange(samples)[:, None]
    weights = np.bincount(drawn_indices.ravel(), minlength=samples * clusters).reshape(samples, clusters).astype(float)
    drawn = (weights @ sums.reshape(clusters, -1)).reshape(samples, *sums.shape[1:])
    drawn_counts = (weights @ counts.reshape(clusters, -1)).reshape(samples, *sums.shape[1:])
    replicates = np.nanmean(_macro(drawn, drawn_counts), axis=1)
    return float(np.var(replicates, ddof=1)) * clusters / (clusters - 1)


def paired_values(per_query: pd.DataFrame, comparison: Comparison) -> pd.DataFrame:
    """One row per (stratum, seed, qid, pair) with model a's value (`a`) and b's (`b`), only
    queries both answered; refuses seeds that differ between the models. `per_query`: `strategy`,
    `seed`, `qid`, `cluster`, `query_lang`, `pool_lang`, `metric`, `value`, optionally `stratum`
    (a benchmark of a domain), already limited to the comparison's group and setting."""
    models = [comparison.a] if comparison.b is None else [comparison.a, comparison.b]
    chosen = per_query[(per_query["metric"] == comparison.metric) & per_query["strategy"].isin(models)]
    if "stratum" not in chosen:
        chosen = chosen.assign(stratum="")
    if chosen["cluster"].isna().any():
        raise DataError(f"{comparison}: {int(chosen['cluster'].isna().sum())} per-query rows without a cluster")
    seeds_of = {strategy: set(seeds.tolist()) for strategy, seeds in chosen.groupby("strategy")["seed"].unique().items()}
    if set(seeds_of) != set(models):
        raise DataError(f"{comparison}: no per-query values for {' and '.join(m for m in models if m not in seeds_of)}")
    if comparison.b is not None and seeds_of[comparison.a] != seeds_of[comparison.b]:
        raise DataError(
            f"{comparison}: seeds {sorted(seeds_of[comparison.a])} of {comparison.a} differ from seeds {sorted(seeds_of[comparison.b])} of {comparison.b}"
        )
    keys = ["stratum", "seed", "qid", "cluster", "query_lang", "pool_lang"]
    try:
        wide = chosen.set_index(["strategy", *keys])["value"].unstack("strategy").dropna().reset_index()
    except ValueError:
        raise DataError(f"{comparison}: a model has two values for one (seed, question, language pair)") from None
    if wide.empty:
        raise DataError(f"{comparison}: the two models answered no query in common")
    return wide.rename(columns={comparison.a: "a"} | ({} if comparison.b is None else {comparison.b: "b"}))


def estimate(paired: pd.DataFrame, with_b: bool, samples: int, generator: np.random.Generator) -> Estimate:
    """The macro average of a - b (`with_b`) or of a, from `paired_values`, with its standard error:
    clusters resampled within each stratum (`samples` draws), seeds as a t component."""
    per_seed, b_per_seed, variances, dfs = [], [], [], []
    clusters = questions = pairs = 0
    small = []
    strata = list(paired.groupby("stratum", sort=True))
    seed_sets = {stratum: sorted(set(rows["seed"])) for stratum, rows in strata}
    if len({tuple(seeds) for seeds in seed_sets.values()}) > 1:
        listed = "; ".join(f"{stratum or 'the benchmark'}: {seeds}" for stratum, seeds in seed_sets.items())
        raise DataError(f"the benchmarks of one comparison hold different seeds ({listed})")
    for stratum, rows in strata:
        if rows["qid"].nunique() < 2:
            raise DataError(f"{stratum or 'the benchmark'}: fewer than 2 questions answered by both models: no sampling variance to estimate")
        sums, b_sums, counts, too_few = _stratum_arrays(rows, with_b)
        per_seed.append(_macro(sums.sum(axis=0), counts.sum(axis=0)))
        if with_b:
            b_per_seed.append(_macro(b_sums.sum(axis=0), counts.sum(axis=0)))
        variances.append(_resampled_variance(sums, counts, samples, generator))
        dfs.append(sums.shape[0] - 1)
        clusters, questions = clusters + rows["cluster"].nunique(), questions + rows["qid"].nunique()
        pairs += sums.shape[2]
        if too_few:
            small.append(str(stratum) or "the benchmark")
    seed_values = np.mean(per_seed, axis=0)
    components = [(variance / len(strata) ** 2, df) for variance, df in zip(variances, dfs, strict=True)]
    seeds = len(seed_values)
    if seeds > 1:
        components.append((float(np.var(seed_values, ddof=1)) / seeds, seeds - 1))
    if not all(np.isfinite([part for part, _ in components])):
        raise DataError(f"a variance component is not finite: {components}")
    return Estimate(
        observed=float(seed_values.mean()),
        b_value=float(np.mean(b_per_seed)) if with_b else math.nan,
        components=tuple((part, df) for part, df in components if part > 0),
        seeds=seeds,
        clusters=clusters,
        questions=questions,
        pairs=pairs,
        scope=_scope(seeds, small),
    )


def compare(per_query: pd.DataFrame, comparison: Comparison, samples: int, seed: int) -> Estimate:
    """`estimate` of a comparison, on its own random stream."""
    generator = np.random.default_rng([seed, *comparison.stream()])
    return estimate(paired_values(per_query, comparison), comparison.b is not None, samples, generator)


def gain(value: float, metric: str) -> float:
    """A difference turned so that positive favours model a (rank distance: lower is better)."""
    return -value if metric in LOWER_IS_BETTER else value


def p_value(result: Estimate, hypothesis: str, margin: float, metric: str) -> float:
    """The p of the hypothesis on a - b, on the gain scale: equivalence (TOST: the larger of the
    two one-sided p-values), superiority (one-sided, a's gain above margin), or four-way (twice the
    smallest of superiority's, inferiority's and equivalence's: below 2 x level exactly when the
    interval at one-sided `level` gives *better*, *worse* or *equivalent*)."""
    gained = dataclasses.replace(result, observed=gain(result.observed, metric))
    equivalence = max(gained.p_above(-margin), gained.p_below(margin))
    if hypothesis == EQUIVALENCE:
        return equivalence
    if hypothesis == SUPERIORITY:
        return gained.p_above(margin)
    if hypothesis == FOUR_WAY:
        # Either side's error counts: a verdict is wrong only when the 1 - 2 x level interval
        # misses the truth, so the smallest one-sided p doubles.
        return min(1.0, 2 * min(gained.p_above(margin), gained.p_below(-margin), equivalence))
    raise ValueError(f"unknown hypothesis {hypothesis!r}")


def verdict(low: float, high: float, margin: float, metric: str) -> str:
    """The four words, from an interval of a - b: *better* when a's gain is above +margin,
    *worse* when below -margin, *equivalent* when within ±margin, else *inconclusive*. The four
    regions do not overlap, so no order of the rules can change a verdict."""
    low, high = sorted((gain(low, metric), gain(high, metric)))
    if low > margin:
        return BETTER
    if high < -margin:
        return WORSE
    if -margin < low and high < margin:
        return EQUIVALENT
    return INCONCLUSIVE


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


@dataclass(frozen=True)
class Hypothesis:
    """A comparison's estimate with its hypothesis and margin, before the family is decided."""

    comparison: Comparison
    result: Estimate
    hypothesis: str
    margin: float

    @property
    def p_value(self) -> float:
        return p_value(self.result, self.hypothesis, self.margin, self.comparison.metric)


def decide(tests: Sequence[Hypothesis], family: Sequence[bool], alpha: float) -> pd.DataFrame:
    """Holm over the tests in the family, unadjusted for the others (exploratory); each interval at
    the level its test was decided at, and the verdict read from it. Columns: p_value, p_holm
    (nan outside the family; a four-way row's is compared with 2 x alpha), level (one-sided),
    ci_low, ci_high, ci_confidence, verdict."""
    p_values = np.array([test.p_value for test in tests], dtype=float)
    # A four-way p counts both sides: it is decided against 2 x alpha, at one-sided level / 2.
    sides = np.array([2.0 if test.hypothesis == FOUR_WAY else 1.0 for test in tests])
    in_family = np.asarray(family, dtype=bool)
    levels = np.full(len(tests), alpha)
    p_holm = np.full(len(tests), math.nan)
    if in_family.any():
        levels[in_family] = holm_levels(p_values[in_family] / sides[in_family], alpha)
        p_holm[in_family] = np.minimum(1.0, holm_adjusted(p_values[in_family] / sides[in_family]) * sides[in_family])
    bounds = [test.result.interval(level) for test, level in zip(tests, levels, strict=True)]
    return pd.DataFrame(
        {
            "p_value": p_values,
            "p_holm": p_holm,
            "level": levels,
            "ci_low": [low for low, _ in bounds],
            "ci_high": [high for _, high in bounds],
            "ci_confidence": 1 - 2 * levels,
            "verdict": [verdict(low, high, test.margin, test.comparison.metric) for test, (low, high) in zip(tests, bounds, strict=True)],
        }
    )
