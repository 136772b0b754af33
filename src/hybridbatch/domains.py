"""The domain study's table: per domain, each model's retrieval quality with a bootstrap interval
over sentences (and seeds), and the pre-stated differences between models with paired intervals.

Input: per-query values with `experiment` = the domain and `strategy` = the model's name (a model
is a strategy of a training experiment, e.g. "general/hybrid"), as `study_per_query` relabels the
evaluations' files; a domain made of several benchmarks has its sentences' ids made unique per
benchmark there. Settings: Cross and Multi only (translation retrieval has no Mono).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hybridbatch.core.contract import LOWER_IS_BETTER, MULTI, RANK_DISTANCE
from hybridbatch.core.errors import DataError
from hybridbatch.core.io import read_frame
from hybridbatch.core.runs import BASE, HYBRID, X_X, X_Y, Run
from hybridbatch.documents import Block
from hybridbatch.results import Bootstrap, Difference, Margins, bootstrap_difference, bootstrap_value, interval

DOMAIN_SETTINGS = ("cross", MULTI)
DOMAIN_METRICS = ("mrr@10", "map", "recall@1")
# (setting, metric) of every row group; rank distance is measured in the multilingual pool only.
CASES = [(setting, metric) for setting in DOMAIN_SETTINGS for metric in DOMAIN_METRICS] + [(MULTI, RANK_DISTANCE)]
DOMAIN_TITLE = "Does it transfer across domains? MRR@10, mAP, R@1 and rank distance per domain"
COLUMNS = ["domain", "kind", "name", "setting", "metric", "value", "ci_low", "ci_high", "confidence", "seeds", "questions", "margin",
           "verdict"]  # fmt: skip


def verdict(low: float, high: float, margin: float, lower_is_better: bool) -> str:
    """What a difference a − b with interval [low, high] says of model a: "equivalent" when the
    interval lies within ±margin (a difference the margin calls negligible, even if not 0), else
    "better" or "worse" when it excludes 0, else "cannot tell"."""
    if -margin < low and high < margin:
        return "equivalent"
    if low > 0 or high < 0:
        return "better" if (high < 0) == lower_is_better else "worse"
    return "cannot tell"


def _row(domain: str, kind: str, name: str, setting: str, metric: str, result: Bootstrap, confidence: float,
         margins: Margins | None = None) -> dict:  # fmt: skip
    """A model row (no margins, no verdict) or a difference row."""
    low, high = interval(result.replicates, (1 - confidence) / 2)
    margin = margins.of(metric, result.b_value) if margins else math.nan
    decided = verdict(low, high, margin, metric in LOWER_IS_BETTER) if margins else ""
    values = (domain, kind, name, setting, metric, result.observed, low, high, confidence, result.seeds, result.questions, margin, decided)
    return dict(zip(COLUMNS, values, strict=True))


def domain_table(per_query: pd.DataFrame, models: Sequence[str], differences: Sequence[tuple[str, str]], margins: Margins, *,
                 samples: int, seed: int, confidence: float) -> pd.DataFrame:  # fmt: skip
    """Rows of kind "model" (each of `models` present in a domain) and "difference" (each (a, b)
    of `differences` with both present: a minus b, paired, with its verdict), for every domain,
    setting and metric. Each row has its own random stream, fixed by the row alone."""
    rows = []
    for domain, frame in per_query.groupby("experiment", sort=False):
        present = set(frame["strategy"])
        for setting, metric in CASES:
            for model in (m for m in models if m in present):
                generator = np.random.default_rng([seed, zlib.crc32(f"{domain}\t{model}\t{setting}\t{metric}".encode())])
                result = bootstrap_value(frame, domain, model, setting, metric, samples, generator)
                rows.append(_row(domain, "model", model, setting, metric, result, confidence))
            for a, b in ((a, b) for a, b in differences if {a, b} <= present):
                difference = Difference(domain, a, b, setting, metric)
                generator = np.random.default_rng([seed, difference.stream()])
                result = bootstrap_difference(frame, difference, samples, generator)
                rows.append(_row(domain, "difference", f"{a} − {b}", setting, metric, result, confidence, margins))
    return pd.DataFrame(rows, columns=COLUMNS)


def study_runs(plain: Mapping[str, Sequence[Mapping]]) -> dict[str, list[Run]]:
    """Each compared experiment's runs from their plain form (the workflow's params)."""
    return {experiment: [Run(**record) for record in records] for experiment, records in plain.items()}


def model_label(experiment: str, run: Run) -> str:
    """A compared model's name: "base", or "{experiment}/{strategy}" (its seeds are one model)."""
    return BASE if run.alpha is None else f"{experiment}/{run.strategy}"


@dataclass(frozen=True)
class Evaluation:
    """One per-query file of the study: a model of an experiment scored on one benchmark of a domain."""

    domain: str
    benchmark: str
    experiment: str
    run: Run
    path: str


def evaluations_from(records: Sequence[Mapping]) -> list[Evaluation]:
    """Evaluations from their plain form (the workflow's params)."""
    return [Evaluation(**{**record, "run": Run(**record["run"])}) for record in records]


def study_per_query(evaluations: Sequence[Evaluation]) -> pd.DataFrame:
    """The per-query values of every evaluation, relabelled for `domain_table`: experiment = the
    domain, strategy = the model's label, qid made unique across a domain's benchmarks. The base
    model is one deterministic model: seed 0."""
    frames = []
    for evaluation in evaluations:
        frame = read_frame(evaluation.path, "per-query metrics")
        if frame.empty:
            raise DataError(f"{evaluation.path}: no per-query values ({evaluation.experiment}/{evaluation.run.name} on {evaluation.benchmark})")
        frames.append(
            frame.assign(
                experiment=evaluation.domain,
                strategy=model_label(evaluation.experiment, evaluation.run),
                seed=0 if evaluation.run.seed is None else evaluation.run.seed,
                qid=evaluation.benchmark + ":" + frame["qid"].astype(str),
            )
        )
    return pd.concat(frames, ignore_index=True)


def study_models(general: str, runs: Mapping[str, Sequence[Run]]) -> tuple[list[str], list[tuple[str, str]]]:
    """The compared models (base first, then each experiment's strategies, in `runs`' order) and
    the pre-stated differences: each hybrid of `general` minus each other experiment's hybrid, then
    minus `general`'s X-X and X-Y strategies."""
    models = [BASE, *dict.fromkeys(model_label(experiment, run) for experiment, chosen in runs.items() for run in chosen)]

    def of_role(experiment: str, roles: Sequence[str]) -> list[str]:
        return list(dict.fromkeys(model_label(experiment, run) for run in runs[experiment] if run.role in roles))

    others = [model for experiment in runs if experiment != general for model in of_role(experiment, [HYBRID])]
    baselines = of_role(general, [X_X, X_Y])
    differences = [(hybrid, other) for hybrid in of_role(general, [HYBRID]) for other in [*others, *baselines]]
    return models, differences


def _cell(row: pd.Series) -> str:
    digits = 2 if row["metric"] == RANK_DISTANCE else 3
    sign = "+" if row["kind"] == "difference" else ""
    text = f"{row['value']:{sign}.{digits}f} [{row['ci_low']:{sign}.{digits}f}, {row['ci_high']:{sign}.{digits}f}]"
    return f"{text} {row['verdict']}" if row["kind"] == "difference" else text


def domain_blocks(table: pd.DataFrame, benchmarks: Mapping[str, Sequence[str]], margins: Margins) -> list[Block]:
    """One block per domain: models, then differences, down; (setting, metric) across; each cell
    the value and its interval, and a difference's verdict."""
    blocks = []
    for domain, rows in table.groupby("domain", sort=False):
        cells = rows.assign(case=[f"{metric} ({setting})" for setting, metric in zip(rows["setting"], rows["metric"], strict=True)],
                            cell=rows.apply(_cell, axis=1))  # fmt: skip
        wide = cells.pivot(index=["kind", "name"], columns="case", values="cell")
        order = list(dict.fromkeys(zip(cells["kind"], cells["name"], strict=True)))
        columns = list(dict.fromkeys(cells["case"]))
        shown = wide.reindex(index=order, columns=columns).reset_index().drop(columns="kind").rename(columns={"name": "model"})
        first = rows.iloc[0]
        in_domain = sorted({name for name in rows["name"] if name.startswith(f"{domain}/")})
        notes = [
            f"Benchmarks: {', '.join(benchmarks.get(domain, []))}; {first['questions']} sentences (all language pairs of a "
            f"sentence resampled together), {int(rows['seeds'].max())} seed(s); {first['confidence']:.0%} bootstrap intervals.",
            f"Fine-tuned on this domain (in-domain): {', '.join(in_domain)}; every other model is zero-shot here." if in_domain
            else "No model was fine-tuned on this domain: every model is zero-shot here.",
            "A difference a − b is a's gain (for rank distance, lower is better): *equivalent* when its interval lies within "
            f"±{margins.absolute:g} (rank distance: ±{margins.relative:.0%} of b's value), else *better* or *worse* when it "
            "excludes 0, else *cannot tell*.",
        ]
        blocks.append(Block(domain, shown, notes))
    return blocks
