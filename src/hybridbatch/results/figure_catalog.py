"""The figures of an experiment: their names, what the figure rule gives each to read, whether it
needs trained models, and its report caption. No matplotlib here: the workflow reads this catalog
at every parse (the figure wildcard, the rule's inputs, the report's captions); how each figure is
drawn is hybridbatch.results.figures.DRAWERS, by the same names.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FigureOptions:
    dpi: int = 130
    smoothing: int = 5  # steps in the loss curves' moving average


@dataclass(frozen=True)
class Figure:
    """A figure of an experiment: what the rule gives it to read ("metrics", "models" or
    "manifests"), whether it needs trained models, and its report caption."""

    reads: str
    needs_training: bool
    caption: str


FIGURES: dict[str, Figure] = {
    "map_heatmaps": Figure(
        "metrics",
        False,
        "mAP (x 100) of each model for every query language (rows) and pool (columns); the last column is "
        "the multilingual pool. The diagonal is monolingual retrieval.",
    ),
    "map_difference": Figure(
        "metrics",
        True,
        "the hybrid's mAP minus X-X's and minus X-Y's, per query language and pool (blue: the hybrid is "
        "better). Cells are single (query language, pool) pairs: small differences are noise; see the "
        "claim tests in the summary table.",
    ),
    "settings_bars": Figure(
        "metrics",
        False,
        "macro mAP by setting (Mono, Cross, Multi) per model; error bars are the spread over seeds.",
    ),
    "rank_distance": Figure(
        "metrics",
        False,
        "rank distance per query language in the multilingual pool (max minus min rank of a question's "
        "relevant sentences across languages; lower means less preference for some languages).",
    ),
    "training_curves": Figure(
        "models",
        True,
        "training loss (moving average) and the held-out validation score (mean of Mono, Cross and Multi "
        "mAP on a slice of the training sources) per strategy; thin lines are further seeds.",
    ),
    "manifest_mix": Figure(
        "manifests",
        True,
        "training rows per (query language, passage language) in each strategy's manifest; the diagonal holds the monolingual rows.",
    ),
}


def figure_names(trains: bool) -> list[str]:
    """The figures of an experiment that trains (all) or evaluates its base model only."""
    return [name for name, figure in FIGURES.items() if trains or not figure.needs_training]


def figure_caption(figure: str, experiment: str) -> str:
    """The report's caption of one figure of an experiment (reStructuredText)."""
    return f"**{experiment}**: {FIGURES[figure].caption}"
