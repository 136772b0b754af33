"""Figures of one experiment (matplotlib, PNG). Every figure colours a strategy the same way, and a
strategy with several seeds is drawn as their mean (with the spread where the figure has room).

Figures: `map_heatmaps` (mAP per query language x pool, one panel per model), `map_difference`
(hybrid minus X-X and minus X-Y), `settings_bars` (macro Mono / Cross / Multi mAP per model),
`rank_distance` (per query language), `training_curves` (loss and validation score per step),
`manifest_mix` (rows per query x passage language in each strategy's manifest).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hybridbatch.evaluate import MULTI, SETTINGS, macro_average  # noqa: E402
from hybridbatch.io import atomic_path, read_frame, read_frame_csv  # noqa: E402

FIGURES = ("map_heatmaps", "map_difference", "settings_bars", "rank_distance", "training_curves", "manifest_mix")
# The figures of an experiment that trains nothing (no train_sources): those that show every model.
BASE_MODEL_FIGURES = ("map_heatmaps", "settings_bars", "rank_distance")
# Fixed colours: the untrained model grey, X-X blue, X-Y orange, the hybrid green; others after.
BY_ALPHA = {1.0: "#1f77b4", 0.0: "#ff7f0e", 0.5: "#2ca02c"}
BASE_COLOUR = "#7f7f7f"
OTHER_COLOURS = ["#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#d62728"]


@dataclass(frozen=True)
class FigureOptions:
    dpi: int = 130
    smoothing: int = 5  # steps in the loss curves' moving average


def strategy_colours(alphas: Mapping[str, float]) -> dict[str, str]:
    """A colour per strategy (and "base"), the same in every figure and run."""
    colours = {"base": BASE_COLOUR}
    spare = iter(OTHER_COLOURS)
    taken = set()
    for name, alpha in alphas.items():
        colour = BY_ALPHA.get(alpha)
        colours[name] = colour if colour and colour not in taken else next(spare)
        taken.add(colours[name])
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
            axis.text(column, row, cell.format(100 * value), ha="center", va="center", fontsize=6.5,
                      color="white" if style.get("cmap") == "viridis" and value < 0.5 * (style["vmin"] + style["vmax"]) else "black")  # fmt: skip
    return image


def _languages(metrics: pd.DataFrame) -> list[str]:
    return sorted(set(metrics["query_lang"]))


def map_heatmaps(metrics: pd.DataFrame, strategies: Sequence[str], title: str, target, options: FigureOptions) -> None:
    means, languages = _pair_means(metrics, "map"), _languages(metrics)
    columns = min(2, len(strategies))
    rows = -(-len(strategies) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(6.2 * columns, 0.42 * len(languages) * rows + 1.2 * rows), squeeze=False, layout="constrained")
    style = {"cmap": "viridis", "vmin": 0.0, "vmax": float(np.nanmax(means["value"]))}
    for axis, strategy in zip(axes.flat, strategies, strict=False):
        image = _heatmap(axis, _grid(means, strategy, languages), languages, strategy, **style)
    for axis in list(axes.flat)[len(strategies):]:
        axis.set_visible(False)
    figure.colorbar(image, ax=axes, shrink=0.6, label="mAP (cells x 100)")
    figure.suptitle(f"{title}: mAP per query language and pool")
    _save(figure, target, options)


def map_difference(metrics: pd.DataFrame, pairs: Sequence[tuple[str, str]], title: str, target, options: FigureOptions) -> None:
    means, languages = _pair_means(metrics, "map"), _languages(metrics)
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


def settings_bars(metrics: pd.DataFrame, strategies: Sequence[str], colours: Mapping[str, str], title: str, target,
                  options: FigureOptions) -> None:  # fmt: skip
    macro = macro_average(metrics[metrics["metric"] == "map"]).merge(metrics[["model", "strategy"]].drop_duplicates(), on="model")
    stats = macro.groupby(["strategy", "setting"])["value"].agg(["mean", "std"])
    figure, axis = plt.subplots(figsize=(7.5, 4), layout="constrained")
    width = 0.8 / len(strategies)
    for index, strategy in enumerate(strategies):
        values = [stats.loc[(strategy, s), "mean"] for s in SETTINGS]
        spreads = [stats.loc[(strategy, s), "std"] for s in SETTINGS]
        positions = np.arange(len(SETTINGS)) + (index - (len(strategies) - 1) / 2) * width
        spread = spreads if np.isfinite(spreads).any() else None  # one seed: no spread to draw
        bars = axis.bar(positions, values, width, yerr=spread, color=colours[strategy], label=strategy, capsize=3)
        axis.bar_label(bars, [f"{v:.3f}" for v in values], fontsize=7, padding=2)
    axis.set_xticks(range(len(SETTINGS)), ["Mono", "Cross", "Multi"])
    axis.set_ylabel("macro mAP")
    axis.set_ylim(0, min(1.0, stats["mean"].max() * 1.15))
    axis.legend(ncols=len(strategies), fontsize=8, loc="upper right")
    axis.set_title(f"{title}: mAP by retrieval setting (error bars: spread over seeds)", fontsize=10)
    _save(figure, target, options)


def rank_distance(metrics: pd.DataFrame, strategies: Sequence[str], colours: Mapping[str, str], title: str, target,
                  options: FigureOptions) -> None:  # fmt: skip
    means, languages = _pair_means(metrics, "rank_distance"), _languages(metrics)
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


def training_curves(logs: Mapping[str, pd.DataFrame], strategy_of: Mapping[str, str], colours: Mapping[str, str],
                    title: str, target, options: FigureOptions) -> None:  # fmt: skip
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
                axis.text(column, row, str(value), ha="center", va="center", fontsize=6.5,
                          color="white" if value > counts.to_numpy().max() / 2 else "black")  # fmt: skip
        mono = (manifest.drop_duplicates("batch")["kind"] == "mono").mean()
        axis.set_title(f"{name}: {manifest['batch'].nunique()} batches, {mono:.0%} mono", fontsize=9)
        axis.set_xticks(range(len(languages)), languages, fontsize=7)
        axis.set_yticks(range(len(languages)), languages, fontsize=7)
        axis.set_xlabel("passage language", fontsize=8)
        axis.set_ylabel("query language", fontsize=8)
    figure.suptitle(f"{title}: training rows per language pair")
    _save(figure, target, options)


def draw(
    figure: str,
    experiment: str,
    inputs: Mapping[str, list[str]],
    runs: Mapping[str, Sequence],
    alphas: Mapping[str, float],
    options: FigureOptions,
    target: str | os.PathLike[str],
) -> None:
    """Draw one figure of `experiment` from the rule's inputs: `metrics` (one file per model),
    `models` (trained model folders, for their train_log.csv) or `manifests` (one per strategy)."""
    from pathlib import Path

    from hybridbatch.results import load_metrics, model_runs, paper_strategy_names

    colours = strategy_colours(alphas)
    runs_by_model = model_runs(runs)
    if figure == "training_curves":
        logs = {
            Path(folder).name: read_frame_csv(Path(folder) / "train_log.csv", "training log", folder)
            for folder in inputs["models"]
        }
        training_curves(logs, {run: runs_by_model[run].strategy for run in logs}, colours, experiment, target, options)
        return
    if figure == "manifest_mix":
        manifests = {Path(path).stem: read_frame(path, "manifest") for path in inputs["manifests"]}
        manifest_mix(manifests, experiment, target, options)
        return
    files = {(experiment, Path(path).stem): path for path in inputs["metrics"]}
    metrics = load_metrics(files, runs_by_model)
    present = set(metrics["strategy"])
    strategies = [strategy for strategy in ["base", *alphas] if strategy in present]
    if figure == "map_heatmaps":
        map_heatmaps(metrics, strategies, experiment, target, options)
    elif figure == "map_difference":
        names = paper_strategy_names(alphas)
        hybrids = [s for s in alphas if names[s] == "hybrid"]
        baselines = [s for s in alphas if names[s] in ("x-x", "x-y")]
        map_difference(metrics, [(h, b) for h in hybrids for b in baselines], experiment, target, options)
    elif figure == "settings_bars":
        settings_bars(metrics, strategies, colours, experiment, target, options)
    elif figure == "rank_distance":
        rank_distance(metrics, strategies, colours, experiment, target, options)
    else:
        raise ValueError(f"unknown figure {figure!r} (known: {', '.join(FIGURES)})")
