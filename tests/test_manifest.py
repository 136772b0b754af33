import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybridbatch.errors import ConfigError
from hybridbatch.manifest import BatchPlan, build_manifest, groups_of, manifest_stats, validation_split, without_validation

LANGS = ["de", "en", "es", "zh"]


def random_pairs(seed: int, groups: int, per_key: int, min_langs: int = 2) -> pd.DataFrame:
    generator = np.random.default_rng(seed)
    rows = []
    for g in range(groups):
        langs = generator.choice(LANGS, size=generator.integers(min_langs, len(LANGS) + 1), replace=False)
        rows += [(f"g{g}", f"k{g // per_key}", str(lang), f"q{g}{lang}", f"p{g}{lang}", []) for lang in langs]
    return pd.DataFrame(rows, columns=["group_id", "conflict_key", "lang", "query", "positive", "hard_negatives"])


pair_sets = st.builds(
    lambda seed, a, b, per_key: {"a": random_pairs(seed, a, per_key), "b": random_pairs(seed + 1, b, per_key)},
    st.integers(0, 10_000), st.integers(24, 60), st.integers(24, 60), st.integers(1, 3),
)  # fmt: skip
fast = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_batches(manifest, pairs):
    languages = {s: p.groupby("group_id")["lang"].agg(set).to_dict() for s, p in pairs.items()}
    keys = {s: p.drop_duplicates("group_id").set_index("group_id")["conflict_key"].to_dict() for s, p in pairs.items()}
    for _, batch in manifest.groupby("batch"):
        assert batch["source"].nunique() == 1 and batch["kind"].nunique() == 1
        source = batch["source"].iloc[0]
        assert not batch["group_id"].duplicated().any()
        assert not batch["group_id"].map(keys[source]).duplicated().any()
        for row in batch.itertuples():
            assert {row.query_lang, row.passage_lang} <= languages[source][row.group_id]
        if batch["kind"].iloc[0] == "mono":
            assert batch["query_lang"].nunique() == 1 and (batch["query_lang"] == batch["passage_lang"]).all()
        else:
            assert (batch["query_lang"] != batch["passage_lang"]).all()


@pytest.mark.parametrize(("alpha", "kind"), [(1.0, "mono"), (0.0, "cross")])
@fast
@given(pairs=pair_sets, seed=st.integers(0, 1000))
def test_pure_strategies_give_one_kind_of_batch(alpha, kind, pairs, seed):
    manifest = build_manifest(pairs, BatchPlan(alpha, 4, 30, seed))
    assert (manifest["kind"] == kind).all()
    check_batches(manifest, pairs)


@fast
@given(pairs=pair_sets, seed=st.integers(0, 1000), steps=st.integers(1, 60))
def test_exact_share_of_monolingual_batches(pairs, seed, steps):
    manifest = build_manifest(pairs, BatchPlan(0.5, 4, steps, seed))
    assert (manifest.drop_duplicates("batch")["kind"] == "mono").sum() == round(0.5 * steps)
    check_batches(manifest, pairs)


def test_coin_flip_share_within_binomial_bounds():
    pairs = {"a": random_pairs(1, 50, 1)}
    steps = 400
    for seed in range(5):
        manifest = build_manifest(pairs, BatchPlan(0.5, 2, steps, seed, kind_draw="coin"))
        mono = (manifest.drop_duplicates("batch")["kind"] == "mono").sum()
        assert abs(mono - steps / 2) <= 4 * np.sqrt(steps / 4)  # 4 standard deviations


def test_source_shares_follow_sizes():
    pairs = {"small": random_pairs(2, 20, 1), "large": random_pairs(3, 80, 1)}
    steps = 2000
    batches = build_manifest(pairs, BatchPlan(0.5, 2, steps, 0)).drop_duplicates("batch")
    large = (batches["source"] == "large").sum()
    assert abs(large - 0.8 * steps) <= 4 * np.sqrt(steps * 0.8 * 0.2)


def test_groups_are_not_repeated_within_an_epoch():
    pairs = {"a": random_pairs(4, 40, 1)}
    manifest = build_manifest(pairs, BatchPlan(0.0, 4, 20, 0))  # two epochs of 10 batches
    first, second = manifest[manifest.batch < 10], manifest[manifest.batch >= 10]
    assert first["group_id"].nunique() == len(first) == 40
    assert second["group_id"].nunique() == 40


def test_same_inputs_give_byte_identical_manifests():
    pairs = {"a": random_pairs(5, 30, 2), "b": random_pairs(6, 30, 1)}
    outputs = []
    for _ in range(2):
        buffer = io.BytesIO()
        build_manifest(pairs, BatchPlan(0.5, 4, 50, 123)).to_parquet(buffer, index=False)
        outputs.append(buffer.getvalue())
    assert outputs[0] == outputs[1]
    other = build_manifest(pairs, BatchPlan(0.5, 4, 50, 124))
    assert not other.equals(build_manifest(pairs, BatchPlan(0.5, 4, 50, 123)))


def test_stats_table():
    pairs = {"a": random_pairs(7, 30, 1)}
    stats = manifest_stats(build_manifest(pairs, BatchPlan(0.5, 4, 10, 0)))
    assert stats["rows"].sum() == 40
    assert stats["mono_share"].iloc[0] == 0.5
    assert set(stats["kind"]) == {"mono", "cross"}


@pytest.mark.parametrize("alpha", [-0.1, 1.01])
def test_alpha_outside_unit_interval(alpha):
    with pytest.raises(ConfigError, match="outside \\[0, 1\\]"):
        BatchPlan(alpha, 4, 10, 0)


def test_batch_larger_than_the_groups_of_a_language():
    pairs = {"a": random_pairs(8, 10, 1)}
    with pytest.raises(ConfigError, match="source a: batch size 32 is larger than the .* conflict groups"):
        build_manifest(pairs, BatchPlan(1.0, 32, 10, 0))
    shared_keys = {"a": random_pairs(8, 10, 5)}  # 10 groups but only 2 conflict keys
    with pytest.raises(ConfigError, match="larger than the 2 conflict groups"):
        build_manifest(shared_keys, BatchPlan(0.0, 3, 10, 0))


def test_single_language_source_cannot_give_cross_lingual_batches():
    single = random_pairs(9, 20, 1)
    single = single[single["lang"] == single["lang"].iloc[0]]
    with pytest.raises(ConfigError, match="single language"):
        build_manifest({"mono_only": single}, BatchPlan(0.5, 2, 10, 0))
    assert len(build_manifest({"mono_only": single}, BatchPlan(1.0, 2, 10, 0))) == 20


def test_conflicting_conflict_keys_are_refused():
    pairs = random_pairs(10, 5, 1)
    pairs.loc[0, "conflict_key"] = "other"
    with pytest.raises(ConfigError, match="several conflict keys"):
        groups_of(pairs)


def test_validation_split_holds_out_whole_conflict_groups():
    pairs = {"a": random_pairs(1, 40, 3), "b": random_pairs(2, 30, 1)}
    validation = validation_split(pairs, 5)
    assert validation_split(pairs, 5).equals(validation)  # no seed: the same slice for every run
    for source, table in pairs.items():
        held = validation[validation["source"] == source]
        assert held["group_id"].nunique() >= 5
        # Whole conflict groups: every row of a held-out key is held out.
        assert set(table.loc[table["conflict_key"].isin(held["conflict_key"]), "group_id"]) == set(held["group_id"])
    rest = without_validation(pairs, validation)
    assert set(rest["a"]["conflict_key"]).isdisjoint(validation.loc[validation["source"] == "a", "conflict_key"])
    assert len(rest["a"]) + (validation["source"] == "a").sum() == len(pairs["a"])
    assert validation_split(pairs, 0).empty and without_validation(pairs, validation_split(pairs, 0))["a"].equals(pairs["a"])
    with pytest.raises(ConfigError, match="source b: holding out 30 validation groups would leave nothing to train on"):
        validation_split(pairs, 30)
