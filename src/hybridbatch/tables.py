"""Render the result tables (hybridbatch.results) as Markdown, for the repository and terminals,
and as HTML, for the Snakemake report. Each document is a list of blocks (heading, table, notes)
rendered by one of two small writers, so the two formats always show the same content.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hybridbatch.evaluate import SETTINGS
from hybridbatch.metrics import METRICS
from hybridbatch.results import LOWER_IS_BETTER

SETTING_TITLES = {"mono": "Mono", "cross": "Cross", "multi": "Multi"}
# The paper's names for the three alphas (1, 0, in between).
PAPER_STRATEGIES = {"x-x": "X-X", "x-y": "X-Y", "hybrid": "hybrid"}


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
        "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin:.5em 0 1.5em}"
        "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f3f3f3}"
        "td:first-child,td:nth-child(2){text-align:left}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for block in blocks:
        parts.append(f"<h2>{html.escape(block.heading)}</h2>")
        if block.table is not None:
            header = "".join(f"<th>{html.escape(str(c))}</th>" for c in block.table.columns)
            body = "".join(
                "<tr>" + "".join(f"<td>{_html_cell(cell)}</td>" for cell in row) + "</tr>"
                for row in block.table.itertuples(index=False)
            )
            parts.append(f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>")
        parts += [f"<p>{html.escape(note).replace('**', '')}</p>" for note in block.notes]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _number(value: float, metric: str) -> str:
    if pd.isna(value):
        return "–"
    return f"{value:.1f}" if metric == "rank_distance" else f"{value:.3f}"


def _with_spread(mean: float, spread: float, metric: str) -> str:
    return _number(mean, metric) + (f" ± {_number(spread, metric)}" if not pd.isna(spread) else "")


def _best_marked(table: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Formatted cells, the best value of each column in bold (lowest for rank distance)."""
    cells = pd.DataFrame(index=table.index)
    for column in columns:
        metric = column if column in LOWER_IS_BETTER else column.rsplit("_", 1)[0]
        values = table[column]
        best = values.min() if metric in LOWER_IS_BETTER else values.max()
        spreads = table.get(f"{column}_sd", pd.Series(np.nan, index=table.index))
        cells[column] = [
            (f"**{text}**" if value == best else text)
            for value, text in zip(values, (_with_spread(m, s, metric) for m, s in zip(values, spreads, strict=True)), strict=True)
        ]
    return cells


def _verdict(row: Mapping) -> str:
    """One comparison: difference, confidence interval, p-value, and what may be read from it."""
    lower_better = row["metric"] in LOWER_IS_BETTER
    measure = "rank distance" if lower_better else f"{SETTING_TITLES[row['setting']]} mAP"
    text = (
        f"{row['better']} − {row['other']} {measure}: {row['difference']:+.4f} "
        f"({row['confidence']:.0%} CI [{row['ci_low']:+.4f}, {row['ci_high']:+.4f}], p = {row['p_value']:.3f})"
    )
    if row["ci_low"] > 0 or row["ci_high"] < 0:
        wins = (row["ci_high"] < 0) == lower_better
        return f"{text}: {row['better'] if wins else row['other']} is better"
    return f"{text}: no significant difference"


def summary_blocks(summary: pd.DataFrame, significance: pd.DataFrame) -> list[Block]:
    blocks = []
    for experiment, table in summary.groupby("experiment", sort=False):
        table = table.reset_index(drop=True)
        columns = [f"map_{s}" for s in SETTINGS] + ["rank_distance"]
        main = pd.concat([table[["strategy", "seeds"]], _best_marked(table, columns)], axis=1)
        main.columns = ["model", "seeds", *(f"mAP {SETTING_TITLES[s]}" for s in SETTINGS), "rank distance"]
        other = [f"{m}_{s}" for m in METRICS if m != "map" for s in SETTINGS]
        more = pd.concat([table[["strategy"]], _best_marked(table, other)], axis=1)
        more.columns = ["model", *(f"{m} {SETTING_TITLES[s]}" for m in METRICS if m != "map" for s in SETTINGS)]
        notes = [
            "Macro averages: per (query language, pool) pair first, then over a setting's pairs. "
            "Best per column in bold (lowest rank distance). ± is the standard deviation over seeds."
        ]
        tests = significance[significance["experiment"] == experiment]
        if table.loc[table["strategy"] != "base", "seeds"].min() == 1:
            notes.append(
                "One seed per strategy: the bootstrap intervals cover the sampling of questions, not the "
                "randomness of training; more `training.seeds` give that spread too."
            )
        blocks += [
            Block(f"{experiment}: mAP and language bias", main, notes),
            Block(f"{experiment}: recall, MRR and nDCG", more),
            Block(
                f"{experiment}: paired bootstrap over questions",
                None,
                [f"- {_verdict(row)}" for row in tests.to_dict("records")]
                or ["No hybrid strategy (0 < alpha < 1) with X-X / X-Y baselines to compare."],
            ),
        ]
    return blocks


def per_language_blocks(table: pd.DataFrame) -> list[Block]:
    """Per experiment and measure: query languages down, strategies across, and their mean."""
    blocks = []
    for experiment, rows in table.groupby("experiment", sort=False):
        strategies = list(dict.fromkeys(rows["strategy"]))
        for column, title in (("map_mono", "mAP Mono"), ("map_cross", "mAP Cross (mean over pools)"),
                              ("map_multi", "mAP Multi"), ("rank_distance", "rank distance")):  # fmt: skip
            wide = rows.pivot(index="query_lang", columns="strategy", values=column)[strategies]
            wide.loc["mean"] = wide.mean()
            metric = "rank_distance" if column == "rank_distance" else "map"
            formatted = wide.apply(lambda values, m=metric: values.map(lambda v: _number(v, m))).reset_index()
            blocks.append(Block(f"{experiment}: {title} per query language", formatted.rename(columns={"query_lang": "query language"})))
    return blocks


def paper_blocks(
    summary: pd.DataFrame,
    significance: pd.DataFrame,
    reference: pd.DataFrame,
    paper_names: Mapping[str, str],
    encoders: Mapping[str, str],
    benchmarks: Mapping[str, str],
) -> list[Block]:
    """Our numbers beside the paper's and a verdict on each of its claims, per experiment.

    `paper_names` maps our strategies to the paper's (x-x, x-y, hybrid); `encoders` and
    `benchmarks` each experiment to its initial encoder and its benchmark."""
    blocks = []
    for experiment, ours in summary.groupby("experiment", sort=False):
        benchmark = benchmarks[experiment]
        rows = []
        for (paper_encoder, strategy), values in reference[reference["benchmark"] == benchmark].groupby(["encoder", "strategy"], sort=False):
            by_metric = values.set_index(["metric", "setting"])["value"]
            rows.append([f"paper, {paper_encoder}", PAPER_STRATEGIES[strategy],
                         *(_number(by_metric.get(("map", s)), "map") for s in SETTINGS),
                         _number(by_metric.get(("rank_distance", "multi")), "rank_distance")])  # fmt: skip
        for row in ours.itertuples(index=False):
            name = PAPER_STRATEGIES.get(paper_names.get(row.strategy, ""), row.strategy)
            rows.append([f"here, {encoders[experiment]}", name, *(_number(getattr(row, f"map_{s}"), "map") for s in SETTINGS),
                         _number(row.rank_distance, "rank_distance")])  # fmt: skip
        table = pd.DataFrame(rows, columns=["encoder", "strategy", "mAP Mono", "mAP Cross", "mAP Multi", "rank distance"])
        blocks.append(Block(f"{experiment} (benchmark {benchmark})", table, _claims(significance[significance["experiment"] == experiment], paper_names)))
    return blocks


def _claims(tests: pd.DataFrame, paper_names: Mapping[str, str]) -> list[str]:
    """The paper's three claims, each checked with the bootstrap: 'matches' = not significantly worse."""
    named = tests.assign(other_paper=tests["other"].map(paper_names))
    claims = [
        ("Hybrid matches X-X on monolingual retrieval", "x-x", ["mono"], "map"),
        ("Hybrid matches X-Y on cross-lingual retrieval", "x-y", ["cross"], "map"),
        ("Hybrid matches X-Y on multilingual retrieval", "x-y", ["multi"], "map"),
        ("Hybrid has the lowest (or near-lowest) language bias", None, ["multi"], "rank_distance"),
    ]
    lines = []
    for claim, baseline, settings, metric in claims:
        rows = named[named["setting"].isin(settings) & (named["metric"] == metric)]
        if baseline:
            rows = rows[rows["other_paper"] == baseline]
        if rows.empty:
            lines.append(f"- {claim}: not checked (no such strategies in this run).")
            continue
        lower_better = metric in LOWER_IS_BETTER
        worse = rows["ci_low"] > 0 if lower_better else rows["ci_high"] < 0
        verdict = "does not hold" if worse.any() else "holds"
        details = "; ".join(_verdict(row) for row in rows.to_dict("records"))
        lines.append(f"- {claim}: **{verdict}** here ({details}).")
    lines.append(
        "'Matches' is read as 'not significantly worse' (paired bootstrap interval over questions); "
        "differences whose interval contains 0 are not wins either way."
    )
    return lines


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
    from hybridbatch.results import paper_strategy_names, per_language, summary

    table, languages = summary(metrics), per_language(metrics)
    names = paper_strategy_names(alphas)
    comparison = paper_blocks(table, significance, reference, names, encoders, benchmarks)
    comparison[0].notes.insert(
        0,
        f"Here: {', '.join(dict.fromkeys(encoders.values()))} fine-tuned {steps} steps per strategy (the paper trains XLM-R and LaBSE to convergence "
        "at batch 100), so absolute numbers are not comparable; the claims are about the ordering of strategies.",
    )
    paper_data = pd.concat([block.table.assign(experiment=block.heading.split(" ")[0]) for block in comparison], ignore_index=True)
    return {
        "summary": Document("Summary: macro-averaged retrieval metrics", table, summary_blocks(table, significance)),
        "per_language": Document("Per query language", languages, per_language_blocks(languages)),
        "paper_comparison": Document("Comparison with the paper", paper_data, comparison),
    }
