"""From per-model metrics to the tables a researcher reads: summary, per language, significance,
and the comparison with the paper.

Models are runs (a strategy at a seed, see `hybridbatch.config.training_runs`) plus "base"; every
table reports a strategy as the mean over its seeds (and their standard deviation when there are
several). Uncertainty comes from a paired bootstrap over questions: the question id is the unit
(shared by a question's translations), so a resample keeps a question in all its languages at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hybridbatch.errors import DataError
from hybridbatch.evaluate import MULTI, SETTINGS, setting_of
from hybridbatch.io import read_frame
from hybridbatch.metrics import METRICS

# Lower is better for rank distance only.
LOWER_IS_BETTER = {"rank_distance"}


@dataclass(frozen=True)
class ModelRun:
    """A model as the tables see it: its strategy ("base" for the untrained model) and seed."""

    name: str
    strategy: str
    seed: int | None


def summary_columns() -> list[str]:
    return [f"{metric}_{setting}" for metric in METRICS for setting in SETTINGS] + ["rank_distance"]


def _column(metric: str, setting: str) -> str:
    return metric if metric == "rank_distance" else f"{metric}_{setting}"


def model_runs(plain: Mapping[str, Sequence]) -> dict[str, ModelRun]:
    """ModelRuns from the workflow's plain form: model -> [strategy, seed]."""
    return {model: ModelRun(model, strategy, seed) for model, (strategy, seed) in plain.items()}


def _with_runs(files: Mapping[tuple[str, str], str], runs: Mapping[str, ModelRun], check) -> pd.DataFrame:
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
    wanted = {(setting, metric) for setting in SETTINGS for metric in METRICS} | {(MULTI, "rank_distance")}
    if missing := sorted(wanted - present):
        listed = ", ".join(f"{metric} ({setting})" for setting, metric in missing)
        raise DataError(f"{path}: experiment {experiment}, model {model}: no {listed}")


def _check_per_query(path: str, experiment: str, model: str, frame: pd.DataFrame) -> None:
    if frame.empty:
        raise DataError(f"{path}: no per-query values for experiment {experiment}, model {model}")


def load_metrics(files: Mapping[tuple[str, str], str], runs: Mapping[str, ModelRun]) -> pd.DataFrame:
    """The metrics files of every (experiment, model), with `experiment`, `strategy` and `seed`
    columns; refuses a file that lacks a setting or metric, naming what is missing."""
    return _with_runs(files, runs, _check_metrics)


def read_per_query(files: Mapping[tuple[str, str], str], runs: Mapping[str, ModelRun]) -> pd.DataFrame:
    """The per-query metrics files of every (experiment, model), with experiment, strategy and seed."""
    return _with_runs(files, runs, _check_per_query)


def check_complete(files: Mapping[tuple[str, str], str], experiments: Sequence[str], models: Sequence[str]) -> None:
    """Every experiment must have every model's metrics file: name the missing ones."""
    missing = [f"{experiment}/{model}" for experiment in experiments for model in models if (experiment, model) not in files]
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
    rows = metrics[metrics["metric"].isin(["map", "rank_distance"])]
    by_language = rows.groupby(["experiment", "strategy", "seed", "query_lang", "setting", "metric"], dropna=False, sort=False)
    means = by_language["value"].mean().reset_index()
    means["column"] = [_column(m, s) for m, s in zip(means["metric"], means["setting"], strict=True)]
    table = means.groupby(["experiment", "strategy", "query_lang", "column"], sort=False)["value"].mean().unstack("column")
    return table[["map_mono", "map_cross", "map_multi", "rank_distance"]].reset_index()


@dataclass(frozen=True)
class Comparison:
    experiment: str
    better: str  # the strategy whose advantage is measured (difference = better - other)
    other: str
    setting: str
    metric: str


def paired_bootstrap(
    per_query: pd.DataFrame,
    comparisons: Sequence[Comparison],
    samples: int,
    seed: int,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Difference of macro averages (per pair, then over a setting's pairs) between two strategies,
    with a bootstrap confidence interval and a two-sided p-value, resampling question ids.

    `per_query`: `experiment`, `strategy`, `seed`, `qid`, `query_lang`, `pool_lang`, `metric`,
    `value`; a strategy's value per query is its mean over seeds. Only queries both strategies
    answered count.
    """
    rows = []
    for index, comparison in enumerate(comparisons):
        # One stream per comparison: adding a comparison leaves the others' intervals unchanged.
        generator = np.random.default_rng([seed, index])
        chosen = per_query[
            (per_query["experiment"] == comparison.experiment)
            & (per_query["metric"] == comparison.metric)
            & per_query["strategy"].isin([comparison.better, comparison.other])
        ]
        chosen = chosen[setting_of(chosen["query_lang"], chosen["pool_lang"]) == comparison.setting]
        keys = ["qid", "query_lang", "pool_lang"]
        values = chosen.groupby(["strategy", *keys])["value"].mean()
        if not {comparison.better, comparison.other} <= set(values.index.get_level_values(0)):
            raise DataError(f"{comparison}: no per-query values for both strategies")
        paired = pd.concat([values[comparison.better], values[comparison.other]], axis=1, join="inner", keys=["a", "b"])
        difference = (paired["a"] - paired["b"]).reset_index(name="difference")
        if difference.empty:
            raise DataError(f"{comparison}: the two strategies answered no query in common")
        question_codes, questions = pd.factorize(difference["qid"])
        pair_codes, _ = pd.factorize(difference["query_lang"] + "→" + difference["pool_lang"])
        n_questions, n_pairs = len(questions), pair_codes.max() + 1
        # One cell per (question, language pair): a question has at most one value per pair.
        sums = np.zeros((n_questions, n_pairs))
        present = np.zeros((n_questions, n_pairs))
        np.add.at(sums, (question_codes, pair_codes), difference["difference"].to_numpy())
        np.add.at(present, (question_codes, pair_codes), 1.0)
        observed = float(np.mean(sums.sum(axis=0) / present.sum(axis=0)))
        weights = generator.multinomial(n_questions, np.full(n_questions, 1.0 / n_questions), size=samples).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            boot = np.nanmean((weights @ sums) / (weights @ present), axis=1)
        tail = (1 - confidence) / 2
        low, high = np.quantile(boot, [tail, 1 - tail])
        p_value = min(1.0, 2 * min(np.mean(boot <= 0), np.mean(boot >= 0)))
        rows.append(
            {
                **comparison.__dict__,
                "difference": observed,
                "ci_low": float(low),
                "ci_high": float(high),
                "p_value": float(p_value),
                "confidence": confidence,
                "questions": n_questions,
                "pairs": int(n_pairs),
            }
        )
    return pd.DataFrame(rows)


def paper_strategy_names(alphas: Mapping[str, float]) -> dict[str, str]:
    """Our strategies under the paper's names: alpha 1 is X-X, alpha 0 X-Y, anything between hybrid."""
    return {name: "x-x" if alpha == 1 else "x-y" if alpha == 0 else "hybrid" for name, alpha in alphas.items()}


def hybrid_comparisons(experiments: Sequence[str], alphas: Mapping[str, float]) -> list[Comparison]:
    """The paper's claims as comparisons: every hybrid (0 < alpha < 1) against each baseline
    (X-X, alpha 1; X-Y, alpha 0) on every setting's mAP and on rank distance."""
    hybrids = [name for name, alpha in alphas.items() if 0 < alpha < 1]
    baselines = [name for name, alpha in alphas.items() if alpha in (0.0, 1.0)]
    comparisons = []
    for experiment in experiments:
        for hybrid in hybrids:
            for baseline in baselines:
                comparisons += [Comparison(experiment, hybrid, baseline, setting, "map") for setting in SETTINGS]
                comparisons.append(Comparison(experiment, hybrid, baseline, "multi", "rank_distance"))
    return comparisons
