"""From per-model metrics to the tables a researcher reads: summary and per language, read from
checked metric and per-query files.

Models are runs (a strategy at a seed, or the base model: hybridbatch.core.runs); every
table reports a strategy as the mean over its seeds (and their standard deviation when there are
several).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from hybridbatch.core.contract import MAP, METRICS, MONO, MULTI, RANK_DISTANCE, SETTINGS
from hybridbatch.core.errors import DataError
from hybridbatch.core.io import read_frame
from hybridbatch.core.runs import Run
from hybridbatch.data.registry import DATASETS


def summary_column(metric: str, setting: str) -> str:
    """A summary or per-language table's column of `metric` in `setting` (rank distance has one)."""
    return metric if metric == RANK_DISTANCE else f"{metric}_{setting}"


def summary_columns() -> list[str]:
    return [summary_column(metric, setting) for metric in METRICS for setting in SETTINGS] + [RANK_DISTANCE]


# The per-language table's columns: mAP in each setting, and rank distance.
PER_LANGUAGE_COLUMNS = [*(summary_column(MAP, setting) for setting in SETTINGS), RANK_DISTANCE]


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
    settings = [setting for setting in SETTINGS if not (translation and setting == MONO)]
    wanted = {(setting, metric) for setting in settings for metric in METRICS} | {(MULTI, RANK_DISTANCE)}
    if missing := sorted(wanted - present):
        listed = ", ".join(f"{metric} ({setting})" for setting, metric in missing)
        raise DataError(f"{path}: experiment {experiment}, model {model}: no {listed}")


def _check_per_query(path: str, experiment: str, model: str, frame: pd.DataFrame) -> None:
    checked_per_query(path, f"experiment {experiment}, model {model}", frame)


def checked_per_query(path: str, what: str, frame: pd.DataFrame) -> pd.DataFrame:
    """A per-query table, refused when empty or without the clusters intervals resample."""
    if frame.empty:
        raise DataError(f"{path}: no per-query values for {what}")
    if "cluster" not in frame:
        raise DataError(f"{path}: no cluster column ({what}): made by an older evaluation; run the evaluate rule again")
    return frame


def read_per_query_file(path: str, what: str) -> pd.DataFrame:
    """One per-query file, checked (`checked_per_query`)."""
    return checked_per_query(path, what, read_frame(path, "per-query metrics"))


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
    macro["column"] = [summary_column(m, s) for m, s in zip(macro["metric"], macro["setting"], strict=True)]
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
    rows = metrics[metrics["metric"].isin([MAP, RANK_DISTANCE])]
    by_language = rows.groupby(["experiment", "strategy", "seed", "query_lang", "setting", "metric"], dropna=False, sort=False)
    means = by_language["value"].mean().reset_index()
    means["column"] = [summary_column(m, s) for m, s in zip(means["metric"], means["setting"], strict=True)]
    table = means.groupby(["experiment", "strategy", "query_lang", "column"], sort=False)["value"].mean().unstack("column")
    return table[PER_LANGUAGE_COLUMNS].reset_index()
