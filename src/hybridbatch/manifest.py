"""Hybrid batch manifests: the exact list of training batches, a pure function of its inputs.

Each batch is monolingual (every row's query and passage in one language, drawn uniformly per
batch among the source's languages) or cross-lingual (per row, a query language and a different
passage language among those the row's group has). A batch's source is drawn with probability
proportional to its number of groups. No two rows of a batch share a group_id or a conflict_key,
and each source's groups are consumed without replacement within an epoch (a shuffled pass).

The share of monolingual batches is alpha: by default exactly round(alpha * steps) of them in
shuffled order (`kind_draw="exact"`), or the paper's independent coin flip per batch (`"coin"`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hybridbatch.errors import ConfigError

MANIFEST_COLUMNS = ["batch", "row", "source", "group_id", "query_lang", "passage_lang", "kind"]
KIND_DRAWS = ("exact", "coin")


@dataclass(frozen=True)
class BatchPlan:
    alpha: float
    batch_size: int
    steps: int
    seed: int
    kind_draw: str = "exact"

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"alpha {self.alpha} is outside [0, 1]")
        if self.kind_draw not in KIND_DRAWS:
            raise ConfigError(f"kind_draw {self.kind_draw!r} is not one of {', '.join(KIND_DRAWS)}")
        if self.batch_size < 1 or self.steps < 1:
            raise ConfigError(f"batch_size ({self.batch_size}) and steps ({self.steps}) must be positive")


@dataclass(frozen=True)
class Group:
    group_id: str
    conflict_key: str
    languages: tuple[str, ...]


def groups_of(pairs: pd.DataFrame) -> list[Group]:
    """One Group per group_id of a pairs table, with the languages it exists in (sorted)."""
    keys = pairs.groupby("group_id")["conflict_key"].agg(["first", "nunique"])
    inconsistent = keys.index[keys["nunique"] > 1]
    if len(inconsistent):
        raise ConfigError(f"group {inconsistent[0]} has several conflict keys in the pairs table")
    languages = pairs.groupby("group_id")["lang"].agg(lambda values: tuple(sorted(set(values))))
    return [Group(str(g), str(keys.at[g, "first"]), languages[g]) for g in sorted(keys.index)]


def _usable(group: Group, wanted: str | None) -> bool:
    """A group can fill a mono row in language `wanted`, or (`wanted` None) a cross-lingual row."""
    return wanted in group.languages if wanted else len(group.languages) > 1


def _describe(wanted: str | None) -> str:
    return f"language {wanted}" if wanted else "two or more languages"


class _GroupStream:
    """The groups of one source, drawn in shuffled epochs without replacement within an epoch."""

    def __init__(self, name: str, groups: list[Group], rng: np.random.Generator) -> None:
        self.name, self.groups, self.rng = name, groups, rng
        self.queue: list[Group] = []

    def _new_epoch(self) -> None:
        self.queue += [self.groups[i] for i in self.rng.permutation(len(self.groups))]

    def take(self, count: int, wanted: str | None) -> list[Group]:
        """`count` groups without shared group_id or conflict_key, each having language `wanted`
        (mono) or at least two languages (cross, `wanted` None)."""
        chosen: list[Group] = []
        ids: set[str] = set()
        keys: set[str] = set()
        for refill in (False, True):
            if refill:
                self._new_epoch()
            kept: list[Group] = []
            for group in self.queue:
                if len(chosen) < count and _usable(group, wanted) and group.group_id not in ids and group.conflict_key not in keys:
                    chosen.append(group)
                    ids.add(group.group_id)
                    keys.add(group.conflict_key)
                else:
                    kept.append(group)
            self.queue = kept
            if len(chosen) == count:
                return chosen
        raise ConfigError(
            f"source {self.name}: a batch needs {count} groups with {_describe(wanted)} and distinct conflict keys, "
            f"but only {len(chosen)} exist; lower the batch size"
        )


def _check_sources(groups: Mapping[str, list[Group]], languages: Mapping[str, list[str]], plan: BatchPlan) -> None:
    for source, source_groups in groups.items():
        if plan.alpha < 1 and len(languages[source]) < 2:
            raise ConfigError(
                f"source {source} has a single language ({', '.join(languages[source])}): it cannot give cross-lingual batches (alpha {plan.alpha} < 1)"
            )
        needs: list[str | None] = (list(languages[source]) if plan.alpha > 0 else []) + ([None] if plan.alpha < 1 else [])
        for wanted in needs:
            distinct = len({group.conflict_key for group in source_groups if _usable(group, wanted)})
            if distinct < plan.batch_size:
                raise ConfigError(
                    f"source {source}: batch size {plan.batch_size} is larger than the {distinct} conflict groups "
                    f"with {_describe(wanted)}; lower the batch size"
                )


def build_manifest(pairs: Mapping[str, pd.DataFrame], plan: BatchPlan) -> pd.DataFrame:
    """The manifest for training sources `pairs` (name -> pairs table) under `plan`."""
    if not pairs:
        raise ConfigError("no training source")
    sources = sorted(pairs)
    groups = {source: groups_of(pairs[source]) for source in sources}
    source_languages = {source: sorted({lang for g in groups[source] for lang in g.languages}) for source in sources}
    _check_sources(groups, source_languages, plan)
    rng = np.random.default_rng(plan.seed)
    if plan.kind_draw == "exact":
        mono_count = round(plan.alpha * plan.steps)
        is_mono = rng.permutation(np.arange(plan.steps) < mono_count)
    else:
        is_mono = rng.random(plan.steps) < plan.alpha
    sizes = np.array([len(groups[source]) for source in sources], dtype=float)
    batch_sources = rng.choice(len(sources), size=plan.steps, p=sizes / sizes.sum())
    streams = {source: _GroupStream(source, groups[source], rng) for source in sources}

    rows = []
    for batch in range(plan.steps):
        source = sources[batch_sources[batch]]
        if is_mono[batch]:
            lang = source_languages[source][rng.integers(len(source_languages[source]))]
            for row, group in enumerate(streams[source].take(plan.batch_size, lang)):
                rows.append((batch, row, source, group.group_id, lang, lang, "mono"))
        else:
            for row, group in enumerate(streams[source].take(plan.batch_size, None)):
                query, passage = rng.choice(len(group.languages), size=2, replace=False)
                rows.append((batch, row, source, group.group_id, group.languages[query], group.languages[passage], "cross"))
    return pd.DataFrame(rows, columns=MANIFEST_COLUMNS)


def validation_split(pairs: Mapping[str, pd.DataFrame], groups: int) -> pd.DataFrame:
    """The held-out validation rows (pairs columns plus `source`): per source, whole conflict groups
    in a fixed order (by a hash of the conflict key, so every strategy and seed holds out the same
    slice) until at least `groups` group_ids are held out. 0 holds out nothing."""
    held_out = []
    for source in sorted(pairs):
        table = pairs[source]
        if groups == 0:
            held_out.append(table.iloc[:0].assign(source=source))
            continue
        keys = sorted(table["conflict_key"].unique(), key=lambda key: hashlib.sha256(str(key).encode()).hexdigest())
        per_key = table.groupby("conflict_key")["group_id"].nunique()
        counted = per_key.loc[keys].cumsum()
        taken = counted.index[: int(np.searchsorted(counted.to_numpy(), groups)) + 1]
        if len(taken) == len(keys):
            raise ConfigError(
                f"source {source}: holding out {groups} validation groups would leave nothing to train on "
                f"(it has {counted.iloc[-1]}); lower training.validation.groups"
            )
        held_out.append(table[table["conflict_key"].isin(taken)].assign(source=source))
    return pd.concat(held_out, ignore_index=True)


def without_validation(pairs: Mapping[str, pd.DataFrame], validation: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The training pairs minus every conflict group of the held-out slice."""
    return {
        source: table[~table["conflict_key"].isin(validation.loc[validation["source"] == source, "conflict_key"])]
        .reset_index(drop=True)
        for source, table in pairs.items()
    }


def manifest_stats(manifest: pd.DataFrame) -> pd.DataFrame:
    """Counts of rows per (source, kind, query language, passage language), with batch totals."""
    batches = manifest.drop_duplicates("batch")
    stats = manifest.groupby(["source", "kind", "query_lang", "passage_lang"], as_index=False).size()
    stats = stats.rename(columns={"size": "rows"})
    stats["batches_of_kind"] = stats["kind"].map(batches["kind"].value_counts())
    stats["mono_share"] = float((batches["kind"] == "mono").mean())
    return stats


def read_training_pairs(paths: Mapping[str, str], languages: list[str] | None) -> dict[str, pd.DataFrame]:
    """The pairs tables of the training sources, restricted to the training languages."""
    from hybridbatch.extract import read_table

    tables = {}
    for source, path in paths.items():
        table = read_table(path, "pairs").to_pandas()
        if languages is not None:
            table = table[table["lang"].isin(languages)].reset_index(drop=True)
        if table.empty:
            raise ConfigError(f"{path}: no training pairs in the training languages {languages}")
        tables[source] = table
    return tables
