"""Hybrid batch manifests: the exact list of training batches, a pure function of its inputs.

Each batch is monolingual (every row's query and passage in one language) or cross-lingual (per
row, a query language and a different passage language among those the row's group has). No two
rows of a batch share a group_id or a conflict_key, and each source's groups are consumed without
replacement within an epoch (a shuffled pass).

Drawing rules (each purpose has its own seeded random stream, so that what does not depend on
alpha is the same for every strategy of one experiment and seed):

- Kinds: exactly round(alpha * steps) monolingual batches in shuffled order (`kind_draw="exact"`),
  or the paper's independent coin flip per batch (`"coin"`).
- Sources: each source gets an exact number of batches, the largest-remainder rounding of
  weight / sum of weights * steps (`source_weights`, a source not named weighs 1), in a shuffled
  order that depends on the seed and the sources and weights only: every strategy trains on the
  same sequence of sources.
- Groups: one shuffled group order per source and epoch, cut into slots of batch_size groups with
  distinct group_ids and conflict keys; a source's k-th batch has the k-th slot whatever its kind,
  so the slots are the same for every strategy. A batch keeps, in place, the slot groups that can
  fill its kind and that this strategy has not used yet in their epoch, and fills the other
  positions with usable groups this strategy passed over in earlier slots, else borrowed from the
  end of the epoch (a hole in a later slot of this strategy only). With parallel data (every group
  in every language) batch b of X-X, X-Y and hybrid holds the same group_ids; otherwise the
  strategies differ where a kind cannot use a slot group, without drifting apart.
- Languages: a source's monolingual batches cycle through a shuffled order of its languages, and
  each cross-lingual row takes the ordered (query, passage) language pair its group offers that
  the source has used least so far (ties in a shuffled order of the pairs), so language counts
  differ by at most one where every group has every language.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hybridbatch.core.contract import read_table
from hybridbatch.core.errors import ConfigError
from hybridbatch.core.settings import settings_from

MANIFEST_COLUMNS = ["batch", "row", "source", "group_id", "query_lang", "passage_lang", "kind"]
STATS_COLUMNS = ["statistic", "source", "kind", "query_lang", "passage_lang", "other_strategy", "value"]
KIND_DRAWS = ("exact", "coin")
# Purposes of the seeded random streams (the second entry of each stream's seed).
_KINDS, _SOURCES, _GROUPS, _MONO_LANGUAGES, _CROSS_PAIRS = range(5)


@dataclass(frozen=True)
class BatchPlan:
    """What a manifest depends on besides the pairs. `source_weights` (source, relative weight)
    pairs may be given as a mapping; they are kept as a sorted tuple so that plans stay hashable."""

    alpha: float
    batch_size: int
    steps: int
    seed: int
    kind_draw: str = "exact"
    source_weights: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"alpha {self.alpha} is outside [0, 1]")
        if self.kind_draw not in KIND_DRAWS:
            raise ConfigError(f"kind_draw {self.kind_draw!r} is not one of {', '.join(KIND_DRAWS)}")
        if self.batch_size < 1 or self.steps < 1:
            raise ConfigError(f"batch_size ({self.batch_size}) and steps ({self.steps}) must be positive")
        weights = tuple(sorted((str(source), float(weight)) for source, weight in dict(self.source_weights).items()))
        for source, weight in weights:
            if not (weight > 0 and math.isfinite(weight)):
                raise ConfigError(f"source weight of {source} is {weight}; weights must be positive and finite")
        object.__setattr__(self, "source_weights", weights)

    def weight(self, source: str) -> float:
        return dict(self.source_weights).get(source, 1.0)


# The keys of the config's `training:` section a manifest reads (alpha and seed are the run's).
PLAN_KEYS = ("batch_size", "steps", "kind_draw", "source_weights")


def batch_plan(section: Mapping[str, object], alpha: float, seed: int) -> BatchPlan:
    """A run's plan from the `PLAN_KEYS` of the `training:` section (others refused by name)."""
    return settings_from(BatchPlan, section, "training", complete=True, alpha=alpha, seed=seed)


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


def _stream(seed: int, purpose: int, source: str | None = None) -> np.random.Generator:
    """The random stream of one purpose (and source): keyed by the source's name rather than its
    position, so that a source draws the same way whichever other sources an experiment has."""
    key = [seed, purpose]
    if source is not None:
        key.append(int.from_bytes(hashlib.sha256(source.encode()).digest()[:8], "big"))
    return np.random.default_rng(key)


class _GroupStream:
    """The groups of one source for one strategy, laid out in slots shared by every strategy.

    The source's occurrences are its shuffled epochs one after the other (permutation e of the
    seeded stream, drawn on demand, is the same whoever draws it). Slot k, for the source's k-th
    batch, is the first `count` occurrences not yet in a slot with distinct group_ids and conflict
    keys (the others wait for the next slot): it depends on the permutations only, never on the
    batch kinds. See `take` for how a batch fills its kind from its slot.
    """

    def __init__(self, name: str, groups: list[Group], rng: np.random.Generator) -> None:
        self.name, self.groups, self.rng = name, groups, rng
        self.occurrences: list[Group] = []  # the epochs one after the other
        self.unslotted: list[int] = []  # occurrences not yet in a slot, in order
        self.passed: list[int] = []  # occurrences of past slots this strategy has not used, in order
        self.used_epoch: dict[str, int] = {}  # group_id -> epoch of its last used occurrence

    def _epoch(self, index: int) -> int:
        return index // len(self.groups)

    def _new_epoch(self) -> None:
        start = len(self.occurrences)
        self.occurrences += [self.groups[i] for i in self.rng.permutation(len(self.groups))]
        self.unslotted += range(start, len(self.occurrences))

    def _open(self, index: int) -> bool:
        """Whether this strategy may still use occurrence `index`: neither it nor a later
        occurrence of its group has been used."""
        return self._epoch(index) > self.used_epoch.get(self.occurrences[index].group_id, -1)

    def _use(self, index: int) -> Group:
        group = self.occurrences[index]
        self.used_epoch[group.group_id] = self._epoch(index)
        return group

    def _slot(self, count: int) -> list[int]:
        """The next slot: the first `count` occurrences not yet in a slot with distinct group_ids
        and conflict keys; the others stay for the next slots."""
        slot: list[int] = []
        ids: set[str] = set()
        keys: set[str] = set()
        for refill in (False, True):
            if refill:
                self._new_epoch()
            kept: list[int] = []
            for index in self.unslotted:
                group = self.occurrences[index]
                if len(slot) < count and group.group_id not in ids and group.conflict_key not in keys:
                    slot.append(index)
                    ids.add(group.group_id)
                    keys.add(group.conflict_key)
                else:
                    kept.append(index)
            self.unslotted = kept
            if len(slot) == count:
                return slot
        raise ConfigError(f"source {self.name}: a batch needs {count} groups with distinct conflict keys, but only {len(slot)} exist; lower the batch size")

    def _borrowable(self) -> list[int]:
        """The occurrences of later slots, latest of the earliest epoch first."""
        return sorted(self.unslotted, key=lambda index: (self._epoch(index), -index))

    def take(self, count: int, wanted: str | None) -> list[Group]:
        """The groups of the source's next batch: `count` groups without shared group_id or
        conflict_key, each having language `wanted` (mono) or at least two languages (cross,
        `wanted` None).

        The batch keeps, in place, the occurrences of its slot that can fill its kind and are
        still open to this strategy; the others join the strategy's passed occurrences. Each other
        position takes the first usable open occurrence, without shared group_id or conflict key,
        among the passed occurrences (oldest first: they are in no later slot), then among the
        later slots' occurrences from the end of their epoch backwards (the next epoch, drawn when
        nothing usable is left, from its end backwards): a borrowed occurrence leaves a hole in a
        later slot of this strategy only, as late in its epoch as possible. Using a group's
        occurrence closes that group's earlier occurrences, so that no strategy uses a group twice
        within an epoch.
        """
        slot = self._slot(count)
        batch = _Filling([self._use(index) if _usable(self.occurrences[index], wanted) and self._open(index) else None for index in slot])
        # The next epoch is drawn only if the passed and the later slots' occurrences leave a hole.
        for candidates in (lambda: self.passed, self._borrowable, self._next_epoch_backwards):
            if batch.full:
                break
            self._fill(batch, candidates(), wanted)
        if not batch.full:
            raise ConfigError(
                f"source {self.name}: a batch needs {count} groups with {_describe(wanted)} and distinct conflict keys, "
                f"but only {batch.filled} exist; lower the batch size"
            )
        self.passed = [index for index in self.passed + slot if self._open(index)]
        return batch.rows  # type: ignore[return-value]  # every hole is filled

    def _next_epoch_backwards(self) -> list[int]:
        """A new epoch's occurrences, drawn now, from its end backwards."""
        start = len(self.occurrences)
        self._new_epoch()
        return list(reversed(range(start, len(self.occurrences))))

    def _fill(self, batch: _Filling, candidates: list[int], wanted: str | None) -> None:
        """Fill `batch`'s holes in order with the usable open `candidates` that fit it."""
        for index in candidates:
            if batch.full:
                return
            group = self.occurrences[index]
            if _usable(group, wanted) and self._open(index) and batch.fits(group):
                batch.put(self._use(index))


class _Filling:
    """A batch being filled: its rows (None: a hole) and the group_ids and conflict keys it holds."""

    def __init__(self, rows: list[Group | None]) -> None:
        self.rows = rows
        chosen = [group for group in rows if group is not None]
        self.ids = {group.group_id for group in chosen}
        self.keys = {group.conflict_key for group in chosen}

    @property
    def filled(self) -> int:
        return sum(group is not None for group in self.rows)

    @property
    def full(self) -> bool:
        return None not in self.rows

    def fits(self, group: Group) -> bool:
        return group.group_id not in self.ids and group.conflict_key not in self.keys

    def put(self, group: Group) -> None:
        """`group` into the first hole."""
        self.rows[self.rows.index(None)] = group
        self.ids.add(group.group_id)
        self.keys.add(group.conflict_key)


class _LeastUsed:
    """Picks, among the options offered, the one picked least often so far (ties by a shuffled
    rank): offered every option each time, it cycles through them in the shuffled order."""

    def __init__(self, options: Sequence[Hashable], rng: np.random.Generator) -> None:
        self.rank = {options[i]: rank for rank, i in enumerate(rng.permutation(len(options)))}
        self.used = dict.fromkeys(options, 0)

    def pick(self, offered: Sequence[Hashable]) -> Hashable:
        choice = min(offered, key=lambda option: (self.used[option], self.rank[option]))
        self.used[choice] += 1
        return choice


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


def batch_kinds(plan: BatchPlan) -> np.ndarray:
    """Per batch, whether it is monolingual."""
    rng = _stream(plan.seed, _KINDS)
    if plan.kind_draw == "exact":
        return rng.permutation(np.arange(plan.steps) < round(plan.alpha * plan.steps))
    return rng.random(plan.steps) < plan.alpha


def source_batch_counts(sources: Sequence[str], plan: BatchPlan) -> dict[str, int]:
    """Batches per source: weight / sum of weights * steps, rounded by largest remainder (ties to
    the source first in name order) so that the counts add up to `steps` exactly."""
    names = sorted(sources)
    weights = np.array([plan.weight(source) for source in names])
    quotas = weights / weights.sum() * plan.steps
    counts = np.floor(quotas).astype(int)
    remainders = quotas - counts
    for index in sorted(range(len(names)), key=lambda i: -remainders[i])[: plan.steps - counts.sum()]:
        counts[index] += 1
    return dict(zip(names, counts.tolist(), strict=True))


def starved_sources(sources: Sequence[str], plan: BatchPlan) -> list[str]:
    """The sources whose weight is too small to give them a single one of `plan.steps` batches."""
    return [source for source, count in source_batch_counts(sources, plan).items() if count == 0]


def batch_sources(sources: Sequence[str], plan: BatchPlan) -> list[str]:
    """The source of each batch: the exact counts in a shuffled order that depends on the seed,
    the sources and their weights only (never on alpha)."""
    counts = source_batch_counts(sources, plan)
    ordered = [source for source, count in counts.items() for _ in range(count)]
    return [ordered[i] for i in _stream(plan.seed, _SOURCES).permutation(len(ordered))]


def build_manifest(pairs: Mapping[str, pd.DataFrame], plan: BatchPlan) -> pd.DataFrame:
    """The manifest for training sources `pairs` (name -> pairs table) under `plan`."""
    if not pairs:
        raise ConfigError("no training source")
    sources = sorted(pairs)
    groups = {source: groups_of(pairs[source]) for source in sources}
    source_languages = {source: sorted({lang for g in groups[source] for lang in g.languages}) for source in sources}
    _check_sources(groups, source_languages, plan)
    is_mono = batch_kinds(plan)
    streams = {source: _GroupStream(source, groups[source], _stream(plan.seed, _GROUPS, source)) for source in sources}
    mono_languages = {source: _LeastUsed(source_languages[source], _stream(plan.seed, _MONO_LANGUAGES, source)) for source in sources}
    cross_pairs = {
        source: _LeastUsed(list(itertools.permutations(source_languages[source], 2)), _stream(plan.seed, _CROSS_PAIRS, source)) for source in sources
    }

    rows = []
    for batch, source in enumerate(batch_sources(sources, plan)):
        if is_mono[batch]:
            lang = mono_languages[source].pick(source_languages[source])
            for row, group in enumerate(streams[source].take(plan.batch_size, lang)):
                rows.append((batch, row, source, group.group_id, lang, lang, "mono"))
        else:
            for row, group in enumerate(streams[source].take(plan.batch_size, None)):
                query, passage = cross_pairs[source].pick(list(itertools.permutations(group.languages, 2)))
                rows.append((batch, row, source, group.group_id, query, passage, "cross"))
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
        source: table[~table["conflict_key"].isin(validation.loc[validation["source"] == source, "conflict_key"])].reset_index(drop=True)
        for source, table in pairs.items()
    }


def manifest_stats(manifest: pd.DataFrame, others: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The language mix of a manifest and how much of it it shares with the manifests `others`
    (strategy name -> manifest) of the same experiment and seed, as one long table with columns
    statistic, source, kind, query_lang, passage_lang, other_strategy, value (cells a statistic
    does not use are empty):

    - mono_batches (source, kind "mono", query_lang = passage_lang): monolingual batches per
      language that has any;
    - cross_rows (source, kind "cross", query_lang, passage_lang): cross-lingual rows per ordered
      language pair that has any;
    - batches (source, kind): batches per source and kind;
    - mono_share: share of monolingual batches;
    - same_group (other_strategy): share of (batch, row) positions holding the same group_id;
    - same_source (other_strategy): share of batches drawn from the same source.
    """
    batches = manifest.drop_duplicates("batch").set_index("batch")
    mono = batches[batches["kind"] == "mono"].groupby(["source", "query_lang", "passage_lang"], as_index=False).size()
    cross = manifest[manifest["kind"] == "cross"].groupby(["source", "query_lang", "passage_lang"], as_index=False).size()
    per_source = batches.groupby(["source", "kind"], as_index=False).size()
    parts = [
        mono.assign(statistic="mono_batches", kind="mono"),
        cross.assign(statistic="cross_rows", kind="cross"),
        per_source.assign(statistic="batches"),
        pd.DataFrame({"statistic": ["mono_share"], "size": [float((batches["kind"] == "mono").mean())]}),
    ]
    for strategy, other in sorted(others.items()):
        positions = manifest.merge(other, on=["batch", "row"], how="left", suffixes=("", "_other"))
        other_sources = other.drop_duplicates("batch").set_index("batch")["source"].reindex(batches.index)
        parts.append(
            pd.DataFrame(
                {
                    "statistic": ["same_group", "same_source"],
                    "other_strategy": strategy,
                    "size": [
                        float((positions["group_id"] == positions["group_id_other"]).mean()),
                        float((batches["source"] == other_sources).mean()),
                    ],
                }
            )
        )
    # Object values keep counts integral next to the shares in one column.
    stats = pd.concat([part.astype({"size": object}) for part in parts], ignore_index=True)
    stats = stats.rename(columns={"size": "value"})
    return stats.reindex(columns=STATS_COLUMNS)


def read_training_pairs(paths: Mapping[str, str], languages: list[str] | None) -> dict[str, pd.DataFrame]:
    """The pairs tables of the training sources, restricted to the training languages."""

    tables = {}
    for source, path in paths.items():
        table = read_table(path, "pairs").to_pandas()
        if languages is not None:
            table = table[table["lang"].isin(languages)].reset_index(drop=True)
        if table.empty:
            raise ConfigError(f"{path}: no training pairs in the training languages {languages}")
        tables[source] = table
    return tables
