"""Figures of one experiment (matplotlib, PNG). Every figure colours a strategy by its role (the
base model grey, X-X blue, X-Y orange, the hybrid green), and a strategy with several seeds is drawn
as their mean (with the spread where the figure has room).

Which figures there are, what each reads and its caption: hybridbatch.results.figure_catalog; how
each is drawn: `DRAWERS`, by the same names.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hybridbatch.core.contract import MAP, MRR_10, MULTI, RANK_DISTANCE, SETTINGS, macro_average
from hybridbatch.core.io import atomic_path, read_frame, read_frame_csv
from hybridbatch.core.runs import BASE, HYBRID, X_X, X_Y, Run, role_of, runs_by_name, strategy_alphas, strategy_roles
from hybridbatch.results.domains import DOMAIN_SETTINGS
from hybridbatch.results.figure_catalog import FIGURES, FigureOptions
from hybridbatch.results.tables import load_metrics

# Fixed colours by role; a second strategy of one role takes a spare colour.
ROLE_COLOURS = {BASE: "#7f7f7f", X_X: "#1f77b4", X_Y: "#ff7f0e", HYBRID: "#2ca02c"}
OTHER_COLOURS = ["#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#d62728"]


def strategy_colours(alphas: Mapping[str, float]) -> dict[str, str]:
    """A colour per strategy (and the base model), the same in every figure and run."""
    colours = {BASE: ROLE_COLOURS[BASE]}
    spare = iter(OTHER_COLOURS)
    for name, alpha in alphas.items():
        colour = ROLE_COLOURS[role_of(alpha)]
        colours[name] = colour if colour not in colours.values() else next(spare)
    return colours


def _save(figure, target: str | os.PathLike[str], options: FigureOptions) -> None:
    with atomic_path(target) as tmp:
        figure.savefig(tmp, format="png", dpi=options.dpi, bbox_inches="tight")
    plt.close(figure)


def _pair_means(metrics: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean over seeds per (strategy, query language, pool)."""
    rows = metrics[metrics["metric"] == metric]
    return rows.groupby(["strategy", "query_lang", "pool_lang"], sort=False)["value"].mean().reset_index()


def _grid(means: pd.DataFrame, strategy: str, languages: Sequence[str]) -> np.ndarray:
    table = means[means["strategy"] == strategy].pivot(index="query_lang", columns="pool_lang", values="value")
    return table.reindex(index=languages, columns=[*languages, MULTI]).to_numpy()


def _heatmap(axis, grid: np.ndarray, languages: Sequence[str], title: str, cell: str = "{:.0f}", **style) -> object:
    image = axis.imshow(grid, aspect="auto", **style)
    axis.set_xticks(range(len(languages) + 1), [*languages, "all"], fontsize=8)
    axis.set_yticks(range(len(languages)), languages, fontsize=8)
    axis.axvline(len(languages) - 0.5, color="white", linewidth=3)
    axis.set_xlabel("pool language (all = multilingual pool)", fontsize=9)
    axis.set_ylabel("query language", fontsize=9)
    axis.set_title(title, fontsize=10)
    for (row, column), value in np.ndenumerate(grid):
        if np.isfinite(value):
            axis.text(
                column,
                row,
                cell.format(100 * value),
                ha="center",
                va="center",
                fontsize=6.5,
                color="white" if style.get("cmap") == "viridis" and value < 0.5 * (style["vmin"] + style["vmax"]) else "black",
            )
    return image


def _languages(metrics: pd.DataFrame) -> list[str]:
    return sorted(set(metrics["query_lang"]))


def map_heatmaps(metrics: pd.DataFrame, strategies: Sequence[str], title: str, target, options: FigureOptions) -> None:
    means, languages = _pair_means(metrics, MAP), _languages(metrics)
    columns = min(2, len(strategies))
    rows = -(-len(strategies) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(6.2 * columns, 0.42 * len(languages) * rows + 1.2 * rows), squeeze=False, layout="constrained")
    style = {"cmap": "viridis", "vmin": 0.0, "vmax": float(np.nanmax(means["value"]))}
    for axis, strategy in zip(axes.flat, strategies, strict=False):
        image = _heatmap(axis, _grid(means, strategy, languages), languages, strategy, **style)
    for axis in list(axes.flat)[len(strategies) :]:
        axis.set_visible(False)
    figure.colorbar(image, ax=axes, shrink=0.6, label="mAP (cells x 100)")
    figure.suptitle(f"{title}: mAP per query language and pool")
    _save(figure, target, options)


def map_difference(metrics: pd.DataFrame, pairs: Sequence[tuple[str, str]], title: str, target, options: FigureOptions) -> None:
    means, languages = _pair_means(metrics, MAP), _languages(metrics)
    grids = [_grid(means, a, languages) - _grid(means, b, languages) for a, b in pairs]
    limit = max(0.01, float(np.nanmax(np.abs(grids)))) if grids else 0.01
    figure, axes = plt.subplots(1, max(1, len(pairs)), figsize=(6.2 * max(1, len(pairs)), 0.42 * len(languages) + 1.4), squeeze=False, layout="constrained")
    image = None
    for axis, (a, b), grid in zip(axes.flat, pairs, grids, strict=False):
        image = _heatmap(axis, grid, languages, f"{a} − {b}", cell="{:+.1f}", cmap="RdBu", vmin=-limit, vmax=limit)
    if image is None:
        axes[0, 0].text(0.5, 0.5, "no hybrid / baseline pair in this run", ha="center", va="center")
    else:
        figure.colorbar(image, ax=axes, shrink=0.8, label="mAP difference (cells x 100; blue: first is better)")
    figure.suptitle(f"{title}: where the hybrid gains and loses mAP")
    _save(figure, target, options)


def settings_bars(metrics: pd.DataFrame, strategies: Sequence[str], colours: Mapping[str, str], title: str, target, options: FigureOptions) -> None:
    macro = macro_average(metrics[metrics["metric"] == MAP]).merge(metrics[["model", "strategy"]].drop_duplicates(), on="model")
    stats = macro.groupby(["strategy", "setting"])["value"].agg(["mean", "std"])
    # A translation benchmark has no monolingual setting.
    settings = [setting for setting in SETTINGS if setting in set(macro["setting"])]
    figure, axis = plt.subplots(figsize=(7.5, 4), layout="constrained")
    width = 0.8 / len(strategies)
    for index, strategy in enumerate(strategies):
        values = [stats.loc[(strategy, s), "mean"] for s in settings]
        spreads = [stats.loc[(strategy, s), "std"] for s in settings]
        positions = np.arange(len(settings)) + (index - (len(strategies) - 1) / 2) * width
        spread = spreads if np.isfinite(spreads).any() else None  # one seed: no spread to draw
        bars = axis.bar(positions, values, width, yerr=spread, color=colours[strategy], label=strategy, capsize=3)
        axis.bar_label(bars, [f"{v:.3f}" for v in values], fontsize=7, padding=2)
    axis.set_xticks(range(len(settings)), [setting.capitalize() for setting in settings])
    axis.set_ylabel("macro mAP")
    axis.set_ylim(0, min(1.0, stats["mean"].max() * 1.15))
    axis.legend(ncols=len(strategies), fontsize=8, loc="upper right")
    axis.set_title(f"{title}: mAP by retrieval setting (error bars: spread over seeds)", fontsize=10)
    _save(figure, target, options)


def rank_distance(metrics: pd.DataFrame, strategies: Sequence[str], colours: Mapping[str, str], title: str, target, options: FigureOptions) -> None:
    means, languages = _pair_means(metrics, RANK_DISTANCE), _languages(metrics)
    figure, axis = plt.subplots(figsize=(max(6, 0.2 * len(languages) * len(strategies)), 4), layout="constrained")
    width = 0.8 / len(strategies)
    for index, strategy in enumerate(strategies):
        values = means[means["strategy"] == strategy].set_index("query_lang")["value"].reindex(languages)
        positions = np.arange(len(languages)) + (index - (len(strategies) - 1) / 2) * width
        axis.bar(positions, values, width, color=colours[strategy], label=f"{strategy} (mean {values.mean():.0f})")
    axis.set_xticks(range(len(languages)), languages)
    axis.set_xlabel("query language")
    axis.set_ylabel("rank distance (lower = less bias)")
    axis.legend(fontsize=8)
    axis.set_title(f"{title}: language bias in the multilingual pool", fontsize=10)
    _save(figure, target, options)


def training_curves(
    logs: Mapping[str, pd.DataFrame], strategy_of: Mapping[str, str], colours: Mapping[str, str], title: str, target, options: FigureOptions
) -> None:
    figure, (loss_axis, score_axis) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    labelled = set()
    for run, log in logs.items():
        strategy = strategy_of[run]
        label = None if strategy in labelled else strategy
        labelled.add(strategy)
        smooth = log["loss"].rolling(options.smoothing, min_periods=1).mean()
        width = 1.6 if run == strategy else 0.7  # the first seed's run is named after its strategy
        loss_axis.plot(log["step"], smooth, color=colours[strategy], label=label, linewidth=width)
        scored = log.dropna(subset=["val_score"]) if "val_score" in log else log.iloc[:0]
        score_axis.plot(scored["step"], scored["val_score"], "o-", color=colours[strategy], label=label, linewidth=width, markersize=2 + 2 * width)
    loss_axis.set(xlabel="step", ylabel=f"InfoNCE loss ({options.smoothing}-step mean)", title="training loss")
    score_axis.set(xlabel="step", ylabel="mean of Mono / Cross / Multi mAP", title="held-out validation score")
    if not score_axis.lines or all(not len(line.get_xdata()) for line in score_axis.lines):
        score_axis.text(0.5, 0.5, "no validation slice configured", ha="center", va="center", transform=score_axis.transAxes)
    for axis in (loss_axis, score_axis):
        axis.legend(fontsize=8)
        axis.grid(alpha=0.3)
    figure.suptitle(f"{title}: training (thin lines: further seeds)")
    _save(figure, target, options)


def manifest_mix(manifests: Mapping[str, pd.DataFrame], title: str, target, options: FigureOptions) -> None:
    languages = sorted({lang for m in manifests.values() for lang in pd.concat([m["query_lang"], m["passage_lang"]])})
    figure, axes = plt.subplots(1, len(manifests), figsize=(4.2 * len(manifests), 0.35 * len(languages) + 1.6), squeeze=False, layout="constrained")
    for axis, (name, manifest) in zip(axes.flat, manifests.items(), strict=True):
        counts = manifest.groupby(["query_lang", "passage_lang"]).size().unstack(fill_value=0)
        counts = counts.reindex(index=languages, columns=languages, fill_value=0)
        axis.imshow(counts.to_numpy(), cmap="Greys", aspect="auto")
        for (row, column), value in np.ndenumerate(counts.to_numpy()):
            if value:
                axis.text(column, row, str(value), ha="center", va="center", fontsize=6.5, color="white" if value > counts.to_numpy().max() / 2 else "black")
        mono = (manifest.drop_duplicates("batch")["kind"] == "mono").mean()
        axis.set_title(f"{name}: {manifest['batch'].nunique()} batches, {mono:.0%} mono", fontsize=9)
        axis.set_xticks(range(len(languages)), languages, fontsize=7)
        axis.set_yticks(range(len(languages)), languages, fontsize=7)
        axis.set_xlabel("passage language", fontsize=8)
        axis.set_ylabel("query language", fontsize=8)
    figure.suptitle(f"{title}: training rows per language pair")
    _save(figure, target, options)


def study_colours(general: str, runs: Mapping[str, Sequence[Run]]) -> dict[str, str]:
    """Colours of the domain study's models ("base" or "{experiment}/{strategy}"): the general
    experiment's strategies by role, as in every other figure; other experiments' take the spare
    colours in turn."""
    colours = {BASE: ROLE_COLOURS[BASE]}
    colours |= {f"{general}/{strategy}": colour for strategy, colour in strategy_colours(strategy_alphas(runs.get(general, []))).items() if strategy != BASE}
    spare = itertools.cycle(OTHER_COLOURS)
    for experiment, chosen in runs.items():
        for strategy in dict.fromkeys(run.strategy for run in chosen):
            colours.setdefault(f"{experiment}/{strategy}", next(spare))
    return colours


def domain_mrr(table: pd.DataFrame, colours: Mapping[str, str], target, options: FigureOptions) -> None:
    """The domain study at a glance: MRR@10 of each model per domain (x axis), Cross and Multi side
    by side, with the interval of each value (`table`: hybridbatch.results.domains.domain_table;
    `colours`: study_colours)."""
    rows = table[(table["kind"] == "model") & (table["metric"] == MRR_10)]
    domains, models = list(dict.fromkeys(rows["domain"])), list(dict.fromkeys(rows["name"]))
    figure, axes = plt.subplots(1, 2, figsize=(max(7.0, 1.6 * len(domains) * 2), 4), sharey=True, layout="constrained")
    width = 0.8 / len(models)
    for axis, setting in zip(axes, DOMAIN_SETTINGS, strict=True):
        for index, model in enumerate(models):
            values = rows[(rows["setting"] == setting) & (rows["name"] == model)].set_index("domain").reindex(domains)
            errors = np.abs(np.vstack([values["value"] - values["ci_low"], values["ci_high"] - values["value"]]))
            positions = np.arange(len(domains)) + (index - (len(models) - 1) / 2) * width
            # Points, not bars: the values sit close to 1, where bars from 0 would hide every difference.
            axis.errorbar(positions, values["value"], yerr=errors, fmt="o", color=colours[model], label=model, capsize=3, markersize=5)
        axis.set_xticks(range(len(domains)), domains)
        axis.grid(axis="y", alpha=0.3)
        axis.set_title(f"{setting.capitalize()} (error bars: {rows['confidence'].iloc[0]:.0%} interval)", fontsize=10)
    axes[0].set_ylabel("MRR@10")
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, fontsize=8, loc="outside lower center", ncol=min(len(models), 4))
    figure.suptitle("Does it transfer across domains? MRR@10 per domain and model")
    _save(figure, target, options)


@dataclass(frozen=True)
class FigureData:
    """What one figure of an experiment is drawn from: the inputs it reads, loaded, and the runs."""

    experiment: str
    runs: Mapping[str, Run]
    options: FigureOptions
    metrics: pd.DataFrame | None = None  # Figure.reads "metrics": every model's metrics rows
    logs: Mapping[str, pd.DataFrame] | None = None  # "models": each trained run's train_log.csv
    manifests: Mapping[str, pd.DataFrame] | None = None  # "manifests": the first seed's, per strategy

    @property
    def alphas(self) -> dict[str, float]:
        return strategy_alphas(self.runs.values())

    @property
    def colours(self) -> dict[str, str]:
        return strategy_colours(self.alphas)

    @property
    def strategies(self) -> list[str]:
        """The strategies present in the metrics, base model first, in the config's order."""
        present = set(self.metrics["strategy"])
        return [strategy for strategy in [BASE, *self.alphas] if strategy in present]

    def hybrid_baseline_pairs(self) -> list[tuple[str, str]]:
        roles = strategy_roles(self.alphas)
        hybrids = [s for s, role in roles.items() if role == HYBRID]
        return [(h, b) for h in hybrids for b, role in roles.items() if role in (X_X, X_Y)]


# How each figure of `FIGURES` is drawn from its FigureData.
DRAWERS: dict[str, Callable[[FigureData, str | os.PathLike[str]], None]] = {
    "map_heatmaps": lambda data, target: map_heatmaps(data.metrics, data.strategies, data.experiment, target, data.options),
    "map_difference": lambda data, target: map_difference(data.metrics, data.hybrid_baseline_pairs(), data.experiment, target, data.options),
    "settings_bars": lambda data, target: settings_bars(data.metrics, data.strategies, data.colours, data.experiment, target, data.options),
    "rank_distance": lambda data, target: rank_distance(data.metrics, data.strategies, data.colours, data.experiment, target, data.options),
    "training_curves": lambda data, target: training_curves(
        data.logs, {run: data.runs[run].strategy for run in data.logs}, data.colours, data.experiment, target, data.options
    ),
    "manifest_mix": lambda data, target: manifest_mix(data.manifests, data.experiment, target, data.options),
}


def figure_data(experiment: str, reads: str, paths: Sequence[str], runs: Mapping[str, Run], options: FigureOptions) -> FigureData:
    """Load what a figure reads from the rule's input `paths`."""
    if reads == "models":
        logs = {Path(folder).name: read_frame_csv(Path(folder) / "train_log.csv", "training log", folder) for folder in paths}
        return FigureData(experiment, runs, options, logs=logs)
    if reads == "manifests":
        return FigureData(experiment, runs, options, manifests={Path(path).stem: read_frame(path, "manifest") for path in paths})
    files = {(experiment, Path(path).stem): path for path in paths}
    return FigureData(experiment, runs, options, metrics=load_metrics(files, runs))


def draw(figure: str, experiment: str, paths: Sequence[str], runs: Sequence[Mapping], options: FigureOptions, target: str | os.PathLike[str]) -> None:
    """Draw one figure of `experiment` from the rule's inputs (`runs`: every Run, in plain form)."""
    if figure not in FIGURES:
        raise ValueError(f"unknown figure {figure!r} (known: {', '.join(FIGURES)})")
    DRAWERS[figure](figure_data(experiment, FIGURES[figure].reads, paths, runs_by_name(runs), options), target)
