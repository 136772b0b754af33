"""The domain study's table: per domain, each model's retrieval quality with an interval, and the
pre-stated differences between models with paired intervals and the four-word verdicts
(hybridbatch.results.verdicts; rules in docs/protocol.md).

Input: per-query values with `experiment` = the domain, `strategy` = the model's name (a model is a
strategy of a training experiment, e.g. "general/hybrid") and `stratum` = the benchmark, as
`study_per_query` relabels the evaluations' files. A domain's value is the mean over its
benchmarks of each benchmark's macro average (per language pair, then over its pairs), so a
benchmark counts once however many pairs it has; rank distance only over the benchmarks where a
query has several relevant items. Settings: Mono (context retrieval only), Cross and Multi.

The primary endpoints are the protocol's setting and metric (`report.protocol.domain_primary`) for
the general hybrid minus each domain's own hybrid (the hybrid of the experiment named like the
domain), each decided four ways (better, equivalent, worse; else inconclusive) with Holm over
them; from protocol version 3 a domain whose base model scores above `domain_ceiling` there has
none. Every other row is exploratory (unadjusted, at the nominal level) and labelled so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from hybridbatch.core.contract import CROSS, MAP, MRR_10, MULTI, RANK_DISTANCE, RECALL_1, SETTINGS, setting_of
from hybridbatch.core.runs import BASE, HYBRID, X_X, X_Y, Run
from hybridbatch.data.registry import DATASETS
from hybridbatch.results.documents import Block
from hybridbatch.results.protocol import Protocol
from hybridbatch.results.tables import read_per_query_file
from hybridbatch.results.verdicts import EXPLORATORY, FOUR_WAY, PRIMARY, Comparison, Hypothesis, compare, decide

# The settings every benchmark of the study scores (translation retrieval has no Mono; context
# retrieval has it too, and its rows come first).
DOMAIN_SETTINGS = (CROSS, MULTI)
DOMAIN_METRICS = (MRR_10, MAP, RECALL_1)
# (setting, metric) of every row group; rank distance is measured in the multilingual pool only.
CASES = [(setting, metric) for setting in SETTINGS for metric in DOMAIN_METRICS] + [(MULTI, RANK_DISTANCE)]
DOMAIN_TITLE = "Does it transfer across domains? MRR@10, mAP, R@1 and rank distance per domain"


def domain_title(task: str) -> str:
    """The table's title, naming the task its benchmarks pose unless it is translation retrieval
    (the first view, whose title it keeps)."""
    return DOMAIN_TITLE if task == "translation retrieval" else f"{DOMAIN_TITLE} ({task})"


COLUMNS = [
    "domain",
    "kind",
    "name",
    "setting",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "confidence",
    "seeds",
    "clusters",
    "questions",
    "margin",
    "hypothesis",
    "p_value",
    "p_holm",
    "family",
    "verdict",
    "scope",
    "protocol_version",
    "protocol_hash",
]


def _row(domain: str, kind: str, name: str, setting: str, metric: str, protocol: Protocol, result, **decided) -> dict:
    values = {
        "domain": domain,
        "kind": kind,
        "name": name,
        "setting": setting,
        "metric": metric,
        "value": result.observed,
        "seeds": result.seeds,
        "clusters": result.clusters,
        "questions": result.questions,
        "scope": result.scope,
        "protocol_version": protocol.version,
        "protocol_hash": protocol.digest(),
        "margin": math.nan,
        "hypothesis": "",
        "p_value": math.nan,
        "p_holm": math.nan,
        "family": "",
        "verdict": "",
    }
    return values | decided


def domain_table(
    per_query: pd.DataFrame, models: Sequence[str], differences: Sequence[tuple[str, str]], own: Mapping[str, str], protocol: Protocol
) -> pd.DataFrame:
    """Rows of kind "model" (each of `models` present in a domain, its value with the nominal
    interval) and "difference" (each (a, b) of `differences` with both present: a minus b, paired,
    decided four ways), for every domain, setting and metric. `own`: each
    domain's own model; a minus it on the protocol's primary endpoint is primary (Holm over those),
    every other difference exploratory."""
    per_query = per_query.assign(setting=setting_of(per_query["query_lang"], per_query["pool_lang"]))
    groups = {key: frame for key, frame in per_query.groupby(["experiment", "setting"], sort=False)}
    rows, differences_decided = [], []
    for domain in dict.fromkeys(per_query["experiment"]):
        for setting, metric in CASES:
            frame = groups.get((domain, setting))
            present = set() if frame is None else set(frame.loc[frame["metric"] == metric, "strategy"])
            values = {}
            for model in (m for m in models if m in present):
                result = compare(frame, Comparison(domain, model, None, setting, metric), protocol.samples, protocol.seed)
                low, high = result.interval(protocol.alpha)
                values[model] = result.observed
                rows.append(_row(domain, "model", model, setting, metric, protocol, result, ci_low=low, ci_high=high, confidence=protocol.confidence))
            endpoint = (setting, metric) == (protocol.primary_setting, protocol.primary_metric)
            ceiling = endpoint and protocol.domain_ceiling is not None and values.get(BASE, -math.inf) > protocol.domain_ceiling
            for a, b in ((a, b) for a, b in differences if {a, b} <= present):
                why = f"the base model's {values[BASE]:.3f} is above the ceiling {protocol.domain_ceiling:g}" if ceiling and own.get(domain) == b else None
                row, test = _difference(frame, Comparison(domain, a, b, setting, metric), protocol, endpoint and own.get(domain) == b and not ceiling, why)
                differences_decided.append((len(rows), test, row["family"] == PRIMARY))
                rows.append(row)
    if differences_decided:
        positions, tests, family = zip(*differences_decided, strict=True)
        decided = decide(list(tests), list(family), protocol.alpha)
        for position, values in zip(positions, decided.to_dict("records"), strict=True):
            rows[position] |= {
                "ci_low": values["ci_low"],
                "ci_high": values["ci_high"],
                "confidence": values["ci_confidence"],
                "p_value": values["p_value"],
                "p_holm": values["p_holm"],
                "verdict": values["verdict"],
            }
    return pd.DataFrame(rows, columns=COLUMNS)


def _difference(frame: pd.DataFrame, comparison: Comparison, protocol: Protocol, primary: bool, not_primary: str | None) -> tuple[dict, Hypothesis]:
    """A difference's row before its family is decided, and its four-way hypothesis;
    `not_primary`: why a primary endpoint is exploratory (the ceiling), or None."""
    result = compare(frame, comparison, protocol.samples, protocol.seed)
    margin = protocol.margin_of(comparison.metric, result.b_value)
    hypothesis = f"four-way: better (> +{margin:.4g}), equivalent (within ±{margin:.4g}) or worse"
    row = _row(
        comparison.group,
        "difference",
        f"{comparison.a} − {comparison.b}",
        comparison.setting,
        comparison.metric,
        protocol,
        result,
        margin=margin,
        hypothesis=hypothesis + (f"; not primary: {not_primary}" if not_primary else ""),
        family=PRIMARY if primary else EXPLORATORY,
    )
    return row, Hypothesis(comparison, result, FOUR_WAY, margin)


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
    domain, strategy = the model's label, stratum = the benchmark, qid and cluster made unique
    across a domain's benchmarks. The base model is one deterministic model: seed 0. Rank distance
    is dropped where a query has one relevant item in the multilingual pool (a translation
    benchmark of two languages, Tatoeba): it is 0 there by construction and would dilute the rest."""
    frames = []
    for evaluation in evaluations:
        frame = read_per_query_file(evaluation.path, f"{evaluation.experiment}/{evaluation.run.name} on {evaluation.benchmark}")
        if DATASETS[evaluation.benchmark].translation and frame["query_lang"].nunique() <= 2:
            frame = frame[frame["metric"] != RANK_DISTANCE]
        frames.append(
            frame.assign(
                experiment=evaluation.domain,
                strategy=model_label(evaluation.experiment, evaluation.run),
                seed=0 if evaluation.run.seed is None else evaluation.run.seed,
                stratum=evaluation.benchmark,
                qid=evaluation.benchmark + ":" + frame["qid"].astype(str),
                cluster=evaluation.benchmark + ":" + frame["cluster"].astype(str),
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


def own_models(domains: Sequence[str], runs: Mapping[str, Sequence[Run]]) -> dict[str, str]:
    """Each domain's own model: the hybrid of the experiment named like the domain, where there is one."""
    return {domain: model_label(domain, run) for domain in reversed(domains) if domain in runs for run in reversed(runs[domain]) if run.role == HYBRID}


def _cell(row: pd.Series) -> str:
    digits = 2 if row["metric"] == RANK_DISTANCE else 3
    sign = "+" if row["kind"] == "difference" else ""
    text = f"{row['value']:{sign}.{digits}f} [{row['ci_low']:{sign}.{digits}f}, {row['ci_high']:{sign}.{digits}f}]"
    if row["kind"] != "difference":
        return text
    if row["family"] == PRIMARY:
        return f"{text} **{row['verdict']}** (primary, Holm p {row['p_holm']:.3f})"
    return f"{text} {row['verdict']} (exploratory)"


def _ceiling_note(protocol: Protocol) -> str:
    if protocol.domain_ceiling is None:
        return ""
    return f", except in a domain where the base model scores above {protocol.domain_ceiling:g} on it (no room to tell models apart)"


def domain_blocks(table: pd.DataFrame, benchmarks: Mapping[str, Sequence[str]], protocol: Protocol) -> list[Block]:
    """One block per domain: models, then differences, down; (setting, metric) across; each cell
    the value and its interval, and a difference's verdict, primary or exploratory."""
    blocks = []
    primary_count = int((table["family"] == PRIMARY).sum())
    for domain, rows in table.groupby("domain", sort=False):
        cells = rows.assign(
            case=[f"{metric} ({setting})" for setting, metric in zip(rows["setting"], rows["metric"], strict=True)], cell=rows.apply(_cell, axis=1)
        )
        wide = cells.pivot(index=["kind", "name"], columns="case", values="cell")
        order = list(dict.fromkeys(zip(cells["kind"], cells["name"], strict=True)))
        columns = list(dict.fromkeys(cells["case"]))
        shown = wide.reindex(index=order, columns=columns).reset_index().drop(columns="kind").rename(columns={"name": "model"})
        first = rows.iloc[0]
        in_domain = sorted({name for name in rows["name"] if name.startswith(f"{domain}/")})
        notes = [
            (
                f"Benchmarks: {', '.join(benchmarks.get(domain, []))}, each macro-averaged over its language pairs, then averaged; "
                f"{first['questions']} sentences in {first['clusters']} clusters (documents; a Tatoeba sentence is its own), "
                f"{int(rows['seeds'].max())} seed(s). Intervals: {first['scope']}."
            ),
            f"Fine-tuned on this domain (in-domain): {', '.join(in_domain)}; every other model is zero-shot here."
            if in_domain
            else "No model was fine-tuned on this domain: every model is zero-shot here.",
            (
                f"Protocol version {first['protocol_version']} (hash {first['protocol_hash']}; docs/protocol.md), fixed before the run. "
                "A difference a − b is a's gain (for rank distance, lower is better); its verdict is read from its interval: "
                f"**better** above +{protocol.margin:g} (rank distance: {protocol.relative_margin:.0%} of b's value), **worse** "
                "below the negative margin, **equivalent** within ±margin, else **inconclusive**."
            ),
            (
                f"Primary endpoints: {protocol.primary_metric} ({protocol.primary_setting}), the general hybrid minus each domain's "
                f"own hybrid{_ceiling_note(protocol)}; Holm over the study's {primary_count} at {1 - protocol.confidence:g} (a four-way p counts both sides: "
                "twice the smallest one-sided p), each interval at the level Holm decided it at. Every other difference is "
                f"exploratory: unadjusted, at the nominal {protocol.confidence:.0%}, not a finding on its own."
            ),
        ]
        blocks.append(Block(domain, shown, notes))
    return blocks
