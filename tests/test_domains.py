"""The domain study's table on synthetic per-query values whose truth is known."""

import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from hybridbatch.core.contract import macro_average
from hybridbatch.core.errors import DataError
from hybridbatch.core.runs import Run
from hybridbatch.results.domains import COLUMNS, domain_blocks, domain_table, evaluations_from, own_models, study_models, study_per_query
from hybridbatch.results.figure_catalog import FigureOptions
from hybridbatch.results.figures import domain_mrr, study_colours
from hybridbatch.results.protocol import Protocol
from hybridbatch.results.verdicts import Comparison, compare

PROTOCOL = Protocol(2, 0.95, 0.01, 0.05, 499, 0, "cross", "mrr@10")
OWN = {"scientific": "scientific/hybrid"}
PAIRS = [("de", "en"), ("en", "de"), ("de", "multi"), ("en", "multi")]
METRICS = ["mrr@10", "map", "recall@1", "rank_distance"]


def per_query(models, domain="scientific", questions=80, seeds=(0,), rng_seed=0, benchmark="tico19_scientific"):
    """`models`: name -> mean quality; values are that mean plus noise shared by a question; 8
    questions a document."""
    generator = np.random.default_rng(rng_seed)
    difficulty = generator.normal(0, 0.1, questions)
    rows = []
    for model, quality in models.items():
        for seed in seeds:
            for q in range(questions):
                for query_lang, pool_lang in PAIRS:
                    for metric in METRICS:
                        if metric == "rank_distance" and pool_lang != "multi":
                            continue
                        value = float(np.clip(quality + difficulty[q] + generator.normal(0, 0.02), 0, 1))
                        rows.append((domain, model, seed, f"q{q}", query_lang, pool_lang, metric, value))
    frame = pd.DataFrame(rows, columns=["experiment", "strategy", "seed", "qid", "query_lang", "pool_lang", "metric", "value"])
    return frame.assign(stratum=benchmark, cluster=benchmark + ":d" + (frame["qid"].str[1:].astype(int) // 8).astype(str))


def test_a_domain_whose_base_model_is_above_the_ceiling_has_no_primary_endpoint():
    models = {"base": 0.95, "general/hybrid": 0.7, "scientific/hybrid": 0.6}
    frame = pd.concat([per_query(models), per_query(models | {"base": 0.5}, domain="news", rng_seed=3, benchmark="ntrex_news")])
    own = OWN | {"news": "scientific/hybrid"}
    ceiling = Protocol(3, 0.95, 0.01, 0.05, 499, 0, "cross", "mrr@10", domain_ceiling=0.9)
    table = domain_table(frame, list(models), [("general/hybrid", "scientific/hybrid")], own, ceiling)
    endpoint = table[(table["kind"] == "difference") & (table["setting"] == "cross") & (table["metric"] == "mrr@10")].set_index("domain")
    # Scientific: the base model scores about 0.95 there, above the ceiling: exploratory, saying why.
    assert endpoint.at["scientific", "family"] == "exploratory" and "above the ceiling 0.9" in endpoint.at["scientific", "hypothesis"]
    assert endpoint.at["news", "family"] == "primary" and "ceiling" not in endpoint.at["news", "hypothesis"]
    # Without the ceiling (version 2) both are primary.
    plain = domain_table(frame, list(models), [("general/hybrid", "scientific/hybrid")], own, PROTOCOL)
    assert set(plain.loc[plain["family"] == "primary", "domain"]) == {"scientific", "news"}


def test_a_model_value_is_its_macro_average_with_an_interval_around_it():
    frame = per_query({"general/hybrid": 0.6})
    result = compare(frame[frame["pool_lang"] != "multi"], Comparison("scientific", "general/hybrid", None, "cross", "mrr@10"), 999, 1)
    pair_means = frame[frame["metric"] == "mrr@10"].groupby(["query_lang", "pool_lang"], as_index=False)["value"].mean()
    cross = pair_means[pair_means["pool_lang"] != "multi"].assign(benchmark="b", model="m", setting="cross", metric="mrr@10")
    assert result.observed == pytest.approx(macro_average(cross)["value"].item(), abs=1e-12)
    low, high = result.interval(0.025)
    assert low < result.observed < high
    assert (result.seeds, result.clusters, result.questions, result.pairs) == (1, 10, 80, 2)


def test_the_table_finds_the_better_model_and_says_how_sure():
    models = {"general/hybrid": 0.7, "scientific/hybrid": 0.6, "general/x-x": 0.6}
    frame = pd.concat([per_query(models, seeds=(0, 1)), per_query(models, domain="news", seeds=(0, 1), rng_seed=3, benchmark="ntrex_news")])
    differences = [("general/hybrid", "scientific/hybrid"), ("general/hybrid", "general/x-y")]
    table = domain_table(frame, list(models), differences, OWN, PROTOCOL)
    assert list(table.columns) == COLUMNS
    # Every domain x (2 settings x 3 metrics + rank distance) x (3 models + 1 difference present).
    assert len(table) == 2 * 7 * 4
    gain = table[(table["kind"] == "difference") & (table["setting"] == "cross") & (table["metric"] == "mrr@10")]
    assert (gain["ci_low"] > 0.01).all() and gain["value"].between(0.08, 0.12).all()
    assert set(gain["name"]) == {"general/hybrid − scientific/hybrid"} and set(gain["seeds"]) == {2}
    assert set(gain["verdict"]) == {"better"} and set(table.loc[table["kind"] == "model", "verdict"]) == {""}
    # The primary endpoint: Cross MRR@10 against the domain's own model, where the domain has one.
    primary = table[table["family"] == "primary"]
    assert list(zip(primary["domain"], primary["name"], primary["setting"], primary["metric"], strict=True)) == [
        ("scientific", "general/hybrid − scientific/hybrid", "cross", "mrr@10")
    ]
    assert primary["p_holm"].notna().all() and table.loc[table["family"] == "exploratory", "p_holm"].isna().all()
    assert set(table.loc[table["kind"] == "difference", "family"]) == {"primary", "exploratory"}
    assert set(table["protocol_version"]) == {2} and set(table["protocol_hash"]) == {PROTOCOL.digest()}
    again = domain_table(frame, list(models), differences[:1], OWN, PROTOCOL)
    shared = table.merge(again, on=["domain", "kind", "name", "setting", "metric"], suffixes=("", "_again"))
    # A row's interval does not depend on the other rows (each comparison its own random stream).
    exploratory = shared[(shared["kind"] == "model") | (shared["family"] == "exploratory")]
    assert np.allclose(exploratory["ci_low"], exploratory["ci_low_again"]) and np.allclose(exploratory["ci_high"], exploratory["ci_high_again"])


def test_a_domain_averages_its_benchmarks_not_their_pooled_pairs():
    """Case 7: TICO-19's ar->en and Tatoeba's ar->en are two benchmarks, not one pair; a domain's
    value is the mean of its benchmarks' macro averages."""
    one = per_query({"m": 0.6}, benchmark="first")
    other = per_query({"m": 0.2}, benchmark="second", rng_seed=4)
    other = other[other["query_lang"] == "de"]  # one pair in Cross: pooled, it would weigh a third
    table = domain_table(pd.concat([one, other]), ["m"], [], {}, PROTOCOL)
    row = table[(table["setting"] == "cross") & (table["metric"] == "mrr@10")].iloc[0]
    first = one[(one["pool_lang"] != "multi") & (one["metric"] == "mrr@10")].groupby(["query_lang", "pool_lang"])["value"].mean().mean()
    second = other[(other["pool_lang"] != "multi") & (other["metric"] == "mrr@10")]["value"].mean()
    assert row["value"] == pytest.approx((first + second) / 2)
    assert row["clusters"] == 20 and row["questions"] == 160


def test_the_domain_figure_draws_every_domain_and_model(tmp_path):
    models = {"base": 0.4, "general/hybrid": 0.7, "scientific/hybrid": 0.6}
    frame = pd.concat([per_query(models), per_query(models, domain="news", rng_seed=3)])
    table = domain_table(frame, list(models), [], {}, PROTOCOL)
    colours = study_colours("general", {"general": [Run("hybrid", "hybrid", 0.5, 0)], "scientific": [Run("hybrid", "hybrid", 0.5, 0)]})
    assert colours["base"] != colours["general/hybrid"] != colours["scientific/hybrid"]
    domain_mrr(table, colours, tmp_path / "domains.png", FigureOptions(dpi=60))
    width, height = Image.open(tmp_path / "domains.png").size
    assert width > 300 and height > 150


def runs_of(*strategies, seeds=(0,)):
    alphas = {"x-x": 1.0, "x-y": 0.0, "hybrid": 0.5}
    return [Run(s if i == 0 else f"{s}.seed{seed}", s, alphas[s], seed) for s in strategies for i, seed in enumerate(seeds)]


def test_the_study_compares_the_general_hybrid_with_each_domain_hybrid_then_its_baselines():
    runs = {"general": runs_of("x-x", "x-y", "hybrid", seeds=(0, 1)), "scientific": runs_of("hybrid", seeds=(0, 1)), "news": runs_of("hybrid", seeds=(0, 1))}
    models, differences = study_models("general", runs)
    assert models == ["base", "general/x-x", "general/x-y", "general/hybrid", "scientific/hybrid", "news/hybrid"]
    assert differences == [
        ("general/hybrid", "scientific/hybrid"),
        ("general/hybrid", "news/hybrid"),
        ("general/hybrid", "general/x-x"),
        ("general/hybrid", "general/x-y"),
    ]
    assert own_models(["scientific", "news", "conversational"], runs) == {"scientific": "scientific/hybrid", "news": "news/hybrid"}


def test_evaluations_become_one_domain_with_sentence_ids_unique_per_benchmark(tmp_path):
    def per_query_file(name, qids, value, query_langs=("de",), metric="mrr@10"):
        frame = pd.DataFrame(
            [
                {
                    "benchmark": name,
                    "model": "m",
                    "qid": qid,
                    "cluster": f"doc{qid}",
                    "query_lang": lang,
                    "pool_lang": "multi",
                    "metric": metric,
                    "value": value,
                }
                for qid in qids
                for lang in query_langs
            ]
        )
        path = tmp_path / f"{name}-{value}-{metric}.parquet"
        frame.to_parquet(path)
        return str(path)

    hybrid = Run("hybrid.seed1", "hybrid", 0.5, 1)
    records = [
        {
            "domain": "conversational",
            "benchmark": "tatoeba_de",
            "experiment": "general",
            "run": Run("base", "base").plain(),
            "path": per_query_file("tatoeba_de", ["1", "2"], 0.25),
        },
        {
            "domain": "conversational",
            "benchmark": "tico19_conversational",
            "experiment": "general",
            "run": hybrid.plain(),
            "path": per_query_file("tico19_conversational", ["1"], 0.5),
        },
    ]
    frame = study_per_query(evaluations_from(records))
    assert list(frame["qid"]) == ["tatoeba_de:1", "tatoeba_de:2", "tico19_conversational:1"]
    assert list(frame["cluster"]) == ["tatoeba_de:doc1", "tatoeba_de:doc2", "tico19_conversational:doc1"]
    assert list(frame["stratum"]) == ["tatoeba_de", "tatoeba_de", "tico19_conversational"]
    assert list(frame["strategy"]) == ["base", "base", "general/hybrid"] and list(frame["seed"]) == [0, 0, 1]
    assert set(frame["experiment"]) == {"conversational"}
    # Rank distance where a query has one relevant item (two languages: Tatoeba) is left out; with three it stays.
    bias = [
        {**records[0], "path": per_query_file("tatoeba_de", ["1"], 0.0, ("de", "en"), "rank_distance")},
        {**records[1], "path": per_query_file("tico19_conversational", ["1"], 3.0, ("de", "en", "es"), "rank_distance")},
    ]
    assert set(study_per_query(evaluations_from(bias))["stratum"]) == {"tico19_conversational"}
    empty = per_query_file("tatoeba_de", [], 0.0)
    with pytest.raises(DataError, match="no per-query values"):
        study_per_query(evaluations_from([{**records[0], "path": empty}]))
    unclustered = tmp_path / "old.parquet"
    pd.read_parquet(records[0]["path"]).drop(columns="cluster").to_parquet(unclustered)
    with pytest.raises(DataError, match="no cluster column .*run the evaluate rule again"):
        study_per_query(evaluations_from([{**records[0], "path": str(unclustered)}]))


def test_the_markdown_table_shows_each_value_with_its_interval():
    models = {"general/hybrid": 0.7, "scientific/hybrid": 0.6}
    table = domain_table(per_query(models), list(models), [("general/hybrid", "scientific/hybrid")], OWN, PROTOCOL)
    [block] = domain_blocks(table, {"scientific": ["tico19_scientific"]}, PROTOCOL)
    assert list(block.table["model"]) == ["general/hybrid", "scientific/hybrid", "general/hybrid − scientific/hybrid"]
    row = table[(table["name"] == "general/hybrid") & (table["setting"] == "cross") & (table["metric"] == "mrr@10")].iloc[0]
    assert block.table.loc[0, "mrr@10 (cross)"] == f"{row['value']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
    assert re.fullmatch(r"\+0\.(09|10)\d \[\+0\.\d{3}, \+0\.\d{3}\] \*\*better\*\* \(primary, Holm p 0\.\d{3}\)", block.table.loc[2, "mrr@10 (cross)"])
    assert block.table.loc[2, "map (cross)"].endswith("(exploratory)")
    assert "tico19_scientific, each macro-averaged" in block.notes[0] and "80 sentences in 10 clusters" in block.notes[0]
    assert block.notes[1] == "Fine-tuned on this domain (in-domain): scientific/hybrid; every other model is zero-shot here."
    assert f"Protocol version 2 (hash {PROTOCOL.digest()}" in block.notes[2]
    assert "Holm over the study's 1" in block.notes[3] and "exploratory" in block.notes[3]
