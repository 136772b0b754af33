"""Render the result tables (hybridbatch.results.tables) as documents: Markdown, for the repository
and terminals, and HTML, for the Snakemake report. Each document is a list of blocks (heading, table, notes)
rendered by one of two small writers, so the two formats always show the same content.
"""

from __future__ import annotations

import html
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hybridbatch.core.contract import CROSS, LOWER_IS_BETTER, MAP, METRICS, MONO, MRR_10, MULTI, PROVENANCE, RANK_DISTANCE, SETTINGS
from hybridbatch.core.runs import BASE, ROLE_TITLES, strategy_roles
from hybridbatch.results.claims import CLAIMS, significance_rows
from hybridbatch.results.tables import PER_LANGUAGE_COLUMNS, per_language, summary, summary_column

SETTING_TITLES = {MONO: "Mono", CROSS: "Cross", MULTI: "Multi"}
NO_CLAIM_TESTS = "No hybrid strategy (0 < alpha < 1) with X-X / X-Y baselines: no claim to test."
NOTHING_TRAINED = "This experiment has no train_sources: only the base model is evaluated, no claim to test."


@dataclass
class Block:
    heading: str
    table: pd.DataFrame | None = None  # cells already formatted; "**x**" marks emphasis
    notes: list[str] = field(default_factory=list)


def markdown(title: str, blocks: Sequence[Block]) -> str:
    lines = [f"# {title}", ""]
    for block in blocks:
        lines += [f"## {block.heading}", ""]
        if block.table is not None:
            lines += [block.table.to_markdown(index=False, disable_numparse=True), ""]
        for note, following in zip(block.notes, [*block.notes[1:], None], strict=False):
            # Consecutive list items stay one list; other notes are paragraphs.
            together = note.startswith("- ") and following is not None and following.startswith("- ")
            lines += [note] if together else [note, ""]
    return "\n".join(lines).rstrip() + "\n"


def _html_cell(text: str) -> str:
    escaped = html.escape(str(text))
    return f"<b>{escaped[2:-2]}</b>" if escaped.startswith("**") and escaped.endswith("**") else escaped


def html_page(title: str, blocks: Sequence[Block]) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        (
            "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin:.5em 0 1.5em}"
            "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f3f3f3}"
            "td:first-child,td:nth-child(2){text-align:left}</style></head><body>"
        ),
        f"<h1>{html.escape(title)}</h1>",
    ]
    for block in blocks:
        parts.append(f"<h2>{html.escape(block.heading)}</h2>")
        if block.table is not None:
            header = "".join(f"<th>{html.escape(str(c))}</th>" for c in block.table.columns)
            body = "".join("<tr>" + "".join(f"<td>{_html_cell(cell)}</td>" for cell in row) + "</tr>" for row in block.table.itertuples(index=False))
            parts.append(f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>")
        parts += [f"<p>{html.escape(note).replace('**', '')}</p>" for note in block.notes]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _number(value: float, metric: str) -> str:
    if pd.isna(value):
        return "–"
    return f"{value:.1f}" if metric == RANK_DISTANCE else f"{value:.3f}"


def _with_spread(mean: float, spread: float, metric: str) -> str:
    return _number(mean, metric) + (f" ± {_number(spread, metric)}" if not pd.isna(spread) else "")


def _best_marked(table: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Formatted cells, the best value of each column in bold (lowest for rank distance) where
    there are models to compare."""
    cells = pd.DataFrame(index=table.index)
    for column in columns:
        metric = column if column in LOWER_IS_BETTER else column.rsplit("_", 1)[0]
        values = table[column]
        best = values.min() if metric in LOWER_IS_BETTER else values.max()
        spreads = table.get(f"{column}_sd", pd.Series(np.nan, index=table.index))
        cells[column] = [
            (f"**{text}**" if value == best and len(table) > 1 else text)
            for value, text in zip(values, (_with_spread(m, s, metric) for m, s in zip(values, spreads, strict=True)), strict=True)
        ]
    return cells


METRIC_TITLES = {MAP: "mAP", MRR_10: "MRR@10", RANK_DISTANCE: "rank distance"}


def provenance_note(metrics: pd.DataFrame) -> str:
    """How one experiment's models were embedded (precision, device, library versions), each
    combination with its models when the files differ."""
    if not set(PROVENANCE) <= set(metrics.columns):
        return "Precision, device and library versions are not recorded in these metrics files."
    models = metrics.groupby(list(PROVENANCE), sort=False, dropna=False)["model"].unique()

    def described(precision: str, device: str, torch: str, transformers: str) -> str:
        return f"{precision} on {device}, torch {torch}, transformers {transformers}"

    if len(models) == 1:
        return f"Embedded in {described(*models.index[0])}."
    return "Embedded in " + "; ".join(f"{described(*key)} ({', '.join(names)})" for key, names in models.items()) + "."


def _strategy_label(strategy: str, roles: Mapping[str, str]) -> str:
    """The paper's name of a strategy, with ours beside it when they differ."""
    paper = ROLE_TITLES.get(roles.get(strategy, ""), strategy)
    return paper if paper.lower() == strategy else f"{paper} ({strategy})"


def _signed(value: float, metric: str) -> str:
    return f"{value:+.1f}" if metric in LOWER_IS_BETTER else f"{value:+.4f}"


def _p(value: float) -> str:
    """A p-value to four decimals ("<0.0001" below them; "–" where there is none)."""
    return "–" if pd.isna(value) else "<0.0001" if value < 0.0001 else f"{value:.4f}"


def claim_table(tests: pd.DataFrame, roles: Mapping[str, str]) -> pd.DataFrame:
    """One row per claim test of significance.csv (hybridbatch.results.claim_tests): the claim, its
    hypothesis, metric, difference, interval (with its level), margin, Holm-adjusted p, verdict
    (bold where it is the one the claim needs) and the baselines' trade-off the claim presupposes."""
    holds = {claim.number: claim.holds for claim in CLAIMS}
    rows = []
    for test in significance_rows(tests):
        metric = test.metric
        compared = f"{_strategy_label(test.hybrid, roles)} − {_strategy_label(test.baseline, roles)}"
        margin = f"{test.margin:.4f}"
        if metric in LOWER_IS_BETTER:
            margin = f"{test.margin:.1f} ({test.margin / test.baseline_value:.0%} of {test.baseline_value:.1f})"
        trade_off = "none presupposed"
        if test.precondition != "none":
            trade_off = (
                f"{test.precondition}: {_signed(test.precondition_difference, metric)} "
                f"[{_signed(test.precondition_ci_low, metric)}, {_signed(test.precondition_ci_high, metric)}], "
                f"{test.precondition_result}"
            )
        verdict = test.verdict
        rows.append(
            [
                f"{test.claim}. {test.statement} ({compared})",
                test.hypothesis,
                METRIC_TITLES[metric],
                _signed(test.difference, metric),
                f"[{_signed(test.ci_low, metric)}, {_signed(test.ci_high, metric)}] ({test.ci_confidence:.1%})",
                margin,
                _p(test.p_holm),
                f"**{verdict}**" if verdict == holds[test.claim] else verdict,
                trade_off,
                f"v{test.protocol_version}",
            ]
        )
    columns = ["claim", "hypothesis", "metric", "difference", "interval", "margin", "Holm-adjusted p", "verdict", "trade-off between the baselines", "protocol"]
    return pd.DataFrame(rows, columns=columns)


def claims_block(experiment: str, tests: pd.DataFrame, roles: Mapping[str, str], notes: list[str], trained: bool) -> Block:
    """An experiment's claim tests (`claim_table`) with `notes`, or the note why there are none
    (`trained`: whether the experiment trains any strategy)."""
    if tests.empty:
        return Block(f"{experiment}: the paper's claims, tested", None, [NO_CLAIM_TESTS if trained else NOTHING_TRAINED])
    return Block(f"{experiment}: the paper's claims, tested", claim_table(tests, roles), notes)


def claim_notes(tests: pd.DataFrame, family: int) -> list[str]:
    """How to read `claim_table`: the protocol, hypotheses, verdicts, the Holm family and what the
    intervals cover. `family`: the number of tests Holm adjusted over (the whole table)."""
    rows = significance_rows(tests)
    first = rows[0]
    confidence = float(first.confidence)
    quality = [row for row in rows if row.metric not in LOWER_IS_BETTER]
    bias = [row for row in rows if row.metric in LOWER_IS_BETTER]
    margins = [f"{quality[0].margin:.4g} for mAP and MRR@10"] if quality else []
    if bias:
        margins.append(f"{bias[0].margin / bias[0].baseline_value:.0%} of the baseline's rank distance")
    return [
        (
            f"Protocol version {first.protocol_version} (hash {first.protocol_hash}; rules and history in docs/protocol.md), "
            "fixed before the run. Each claim is a test of d = hybrid − baseline (macro averages: per (query language, pool) "
            f"pair, then over the setting's pairs; mean over seeds) with a margin of {' and '.join(margins)}. Claims 1–3 "
            '("matches") are equivalence tests (TOST, H1: |d| < margin); claim 4 ("lowest bias") is superiority over each '
            "baseline by more than the margin."
        ),
        (
            "Verdicts, read from the interval of d (for rank distance lower is better, so the sides turn): **better** above "
            "+margin, **equivalent** within ±margin, **worse** below −margin, else **inconclusive**; the four do not overlap. "
            "A claim holds where its verdict is the one its hypothesis names (in bold)."
        ),
        (
            "Claims 1–3 presuppose a trade-off between the baselines on the same metric: X-X above X-Y on Mono (claim 1), X-Y "
            f"above X-X on Cross and Multi (claims 2, 3), by more than the margin: the one-sided bound at {(1 + confidence) / 2:.1%} "
            "must lie above it, otherwise the claim is **not testable here** and the gap is shown."
        ),
        (
            f"Holm-Bonferroni adjusts over one family: the {family} testable claim tests of significance.csv (all experiments, "
            "hybrids, metrics and claims). p-values come from Student's t (one variance component) or the pivot of several "
            "(articles and seeds), analytic, with no resampling floor; "
            "each interval is at the level Holm's step-down decided its test at (shown beside it), so the verdict and the "
            f"adjusted p agree. Not testable rows keep the nominal {confidence:.0%}."
        ),
        (
            f"Standard errors: {first.clusters} clusters of {first.questions} questions (articles, each with all its "
            f"questions' translations) resampled {first.samples} times; {first.scope}."
        ),
    ]


def summary_blocks(
    summary: pd.DataFrame,
    significance: pd.DataFrame,
    roles: Mapping[str, str],
    provenance: Mapping[str, str],
    trained: Collection[str],
) -> list[Block]:
    """Per experiment: mAP and bias, the other metrics, and the claim tests (read in the paper
    comparison); `trained`: the experiments that train strategies."""
    blocks = []
    for experiment, table in summary.groupby("experiment", sort=False):
        table = table.reset_index(drop=True)
        columns = [summary_column(MAP, s) for s in SETTINGS] + [RANK_DISTANCE]
        main = pd.concat([table[["strategy", "seeds"]], _best_marked(table, columns)], axis=1)
        main.columns = ["model", "seeds", *(f"mAP {SETTING_TITLES[s]}" for s in SETTINGS), "rank distance"]
        other = [summary_column(m, s) for m in METRICS if m != MAP for s in SETTINGS]
        more = pd.concat([table[["strategy"]], _best_marked(table, other)], axis=1)
        more.columns = ["model", *(f"{m} {SETTING_TITLES[s]}" for m in METRICS if m != MAP for s in SETTINGS)]
        notes = [
            (
                "Macro averages: per (query language, pool) pair first, then over a setting's pairs. "
                "Best per column in bold (lowest rank distance). ± is the standard deviation over seeds."
            ),
            provenance[experiment],
        ]
        tests = significance[significance["experiment"] == experiment]
        blocks += [
            Block(f"{experiment}: mAP and language bias", main, notes),
            Block(f"{experiment}: recall, MRR and nDCG", more),
            claims_block(
                experiment,
                tests,
                roles,
                ["Margins, levels, the Holm family and the trade-off each claim presupposes: see the comparison with the paper."],
                experiment in trained,
            ),
        ]
    return blocks


PER_LANGUAGE_TITLES = ("mAP Mono", "mAP Cross (mean over pools)", "mAP Multi", "rank distance")


def per_language_blocks(table: pd.DataFrame) -> list[Block]:
    """Per experiment and measure: query languages down, strategies across, and their mean."""
    blocks = []
    for experiment, rows in table.groupby("experiment", sort=False):
        strategies = list(dict.fromkeys(rows["strategy"]))
        for column, title in zip(PER_LANGUAGE_COLUMNS, PER_LANGUAGE_TITLES, strict=True):
            wide = rows.pivot(index="query_lang", columns="strategy", values=column)[strategies]
            wide.loc["mean"] = wide.mean()
            metric = RANK_DISTANCE if column == RANK_DISTANCE else MAP
            formatted = wide.apply(lambda values, m=metric: values.map(lambda v: _number(v, m))).reset_index()
            blocks.append(Block(f"{experiment}: {title} per query language", formatted.rename(columns={"query_lang": "query language"})))
    return blocks


def paper_numbers(
    summary: pd.DataFrame,
    reference: pd.DataFrame,
    roles: Mapping[str, str],
    encoders: Mapping[str, str],
    benchmarks: Mapping[str, str],
) -> pd.DataFrame:
    """Our numbers beside the paper's, per experiment (formatted cells; the last column names the
    experiment). `roles` maps our strategies to the paper's (x-x, x-y, hybrid); `encoders`
    and `benchmarks` each experiment to its initial encoder and its benchmark."""
    rows = []
    for experiment, ours in summary.groupby("experiment", sort=False):
        for (paper_encoder, strategy), values in reference[reference["benchmark"] == benchmarks[experiment]].groupby(["encoder", "strategy"], sort=False):
            by_metric = values.set_index(["metric", "setting"])["value"]
            rows.append(
                [
                    f"paper, {paper_encoder}",
                    ROLE_TITLES[strategy],
                    *(_number(by_metric.get((MAP, s)), MAP) for s in SETTINGS),
                    _number(by_metric.get((RANK_DISTANCE, MULTI)), RANK_DISTANCE),
                    experiment,
                ]
            )
        for row in ours.itertuples(index=False):
            name = ROLE_TITLES.get(roles.get(row.strategy, ""), row.strategy)
            rows.append(
                [
                    f"here, {encoders[experiment]}",
                    name,
                    *(_number(getattr(row, summary_column(MAP, s)), MAP) for s in SETTINGS),
                    _number(getattr(row, RANK_DISTANCE), RANK_DISTANCE),
                    experiment,
                ]
            )
    columns = ["encoder", "strategy", "mAP Mono", "mAP Cross", "mAP Multi", "rank distance", "experiment"]
    return pd.DataFrame(rows, columns=columns)


def paper_blocks(
    numbers: pd.DataFrame,
    significance: pd.DataFrame,
    roles: Mapping[str, str],
    benchmarks: Mapping[str, str],
    provenance: Mapping[str, str],
    trained: Collection[str],
) -> list[Block]:
    """Per experiment: `paper_numbers` and the tests of the paper's claims (`claim_table`);
    `trained`: the experiments that train strategies."""
    blocks = []
    family = int(significance["p_holm"].notna().sum())
    for experiment, rows in numbers.groupby("experiment", sort=False):
        tests = significance[significance["experiment"] == experiment]
        blocks += [
            Block(f"{experiment} (benchmark {benchmarks[experiment]})", rows.drop(columns="experiment"), [provenance[experiment]]),
            claims_block(experiment, tests, roles, claim_notes(tests, family) if len(tests) else [], experiment in trained),
        ]
    return blocks


@dataclass(frozen=True)
class Document:
    title: str
    data: pd.DataFrame  # the CSV version
    blocks: list[Block]


def build_documents(
    metrics: pd.DataFrame,
    significance: pd.DataFrame,
    reference: pd.DataFrame,
    alphas: Mapping[str, float],
    benchmarks: Mapping[str, str],
    encoders: Mapping[str, str],
    steps: int,
) -> dict[str, Document]:
    """The summary, per-language and paper-comparison documents."""
    table, languages = summary(metrics), per_language(metrics)
    roles = strategy_roles(alphas)
    provenance = {experiment: provenance_note(rows) for experiment, rows in metrics.groupby("experiment", sort=False)}
    numbers = paper_numbers(table, reference, roles, encoders, benchmarks)
    trained = set(metrics.loc[metrics["strategy"] != BASE, "experiment"])
    comparison = paper_blocks(numbers, significance, roles, benchmarks, provenance, trained)
    comparison[0].notes.insert(
        0,
        f"Here: {', '.join(dict.fromkeys(encoders.values()))} fine-tuned {steps} steps per strategy (the paper trains XLM-R and LaBSE to convergence "
        "at batch 100), so absolute numbers are not comparable; the claims are about the ordering of strategies.",
    )
    return {
        "summary": Document("Summary: macro-averaged retrieval metrics", table, summary_blocks(table, significance, roles, provenance, trained)),
        "per_language": Document("Per query language", languages, per_language_blocks(languages)),
        "paper_comparison": Document("Comparison with the paper", numbers, comparison),
    }
