"""The domain study's table on synthetic per-query values whose truth is known."""

import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from hybridbatch.core.contract import macro_average
from hybridbatch.core.errors import DataError
from hybridbatch.core.runs import Run
from hybridbatch.domains import COLUMNS, Margins, domain_blocks, domain_table, evaluations_from, study_models, study_per_query, verdict
from hybridbatch.figures import FigureOptions, domain_mrr, study_colours
from hybridbatch.results import bootstrap_value

MARGINS = Margins(0.01, 0.05)
PAIRS = [("de", "en"), ("en", "de"), ("de", "multi"), ("en", "multi")]
METRICS = ["mrr@10", "map", "recall@1", "rank_distance"]


def per_query(models, domain="scientific", questions=80, seeds=(0,), rng_seed=0):
    """`models`: name -> mean quality; values are that mean plus noise shared by a question."""
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
    return pd.DataFrame(rows, columns=["experiment", "strategy", "seed", "qid", "query_lang", "pool_lang", "metric", "value"])


def test_a_model_value_is_its_macro_average_with_an_interval_around_it():
    frame = per_query({"general/hybrid": 0.6})
    result = bootstrap_value(frame, "scientific", "general/hybrid", "cross", "mrr@10", 999, np.random.default_rng(1))
    pair_means = frame[frame["metric"] == "mrr@10"].groupby(["query_lang", "pool_lang"], as_index=False)["value"].mean()
    cross = pair_means[pair_means["pool_lang"] != "multi"].assign(benchmark="b", model="m", setting="cross", metric="mrr@10")
    assert result.observed == pytest.approx(macro_average(cross)["value"].item(), abs=1e-12)
    assert result.replicates[24] < result.observed < result.replicates[-25]
    assert (result.seeds, result.questions, result.pairs) == (1, 80, 2)


def test_the_table_finds_the_better_model_and_says_how_sure():
    models = {"general/hybrid": 0.7, "scientific/hybrid": 0.6, "general/x-x": 0.6}
    frame = pd.concat([per_query(models, seeds=(0, 1)), per_query(models, domain="news", seeds=(0, 1), rng_seed=3)])
    table = domain_table(frame, list(models), [("general/hybrid", "scientific/hybrid"), ("general/hybrid", "general/x-y")], MARGINS,
                         samples=499, seed=0, confidence=0.95)  # fmt: skip
    assert list(table.columns) == COLUMNS
    # Every domain x (2 settings x 3 metrics + rank distance) x (3 models + 1 difference present).
    assert len(table) == 2 * 7 * 4
    gain = table[(table["kind"] == "difference") & (table["setting"] == "cross") & (table["metric"] == "mrr@10")]
    assert (gain["ci_low"] > 0).all() and gain["value"].between(0.08, 0.12).all()
    assert set(gain["name"]) == {"general/hybrid − scientific/hybrid"} and set(gain["seeds"]) == {2}
    assert set(gain["verdict"]) == {"better"} and set(table.loc[table["kind"] == "model", "verdict"].fillna("")) == {""}
    again = domain_table(frame, list(models), [("general/hybrid", "scientific/hybrid")], MARGINS, samples=499, seed=0, confidence=0.95)
    shared = table.merge(again, on=["domain", "kind", "name", "setting", "metric"], suffixes=("", "_again"))
    assert np.allclose(shared["ci_low"], shared["ci_low_again"])  # a row's interval does not depend on the others


def test_the_domain_figure_draws_every_domain_and_model(tmp_path):
    models = {"base": 0.4, "general/hybrid": 0.7, "scientific/hybrid": 0.6}
    frame = pd.concat([per_query(models), per_query(models, domain="news", rng_seed=3)])
    table = domain_table(frame, list(models), [], MARGINS, samples=99, seed=0, confidence=0.95)
    colours = study_colours("general", {"general": [Run("hybrid", "hybrid", 0.5, 0)], "scientific": [Run("hybrid", "hybrid", 0.5, 0)]})
    assert colours["base"] != colours["general/hybrid"] != colours["scientific/hybrid"]
    domain_mrr(table, colours, tmp_path / "domains.png", FigureOptions(dpi=60))
    width, height = Image.open(tmp_path / "domains.png").size
    assert width > 300 and height > 150


def runs_of(*strategies, seeds=(0,)):
    alphas = {"x-x": 1.0, "x-y": 0.0, "hybrid": 0.5}
    return [Run(s if i == 0 else f"{s}.seed{seed}", s, alphas[s], seed) for s in strategies for i, seed in enumerate(seeds)]


def test_the_study_compares_the_general_hybrid_with_each_domain_hybrid_then_its_baselines():
    runs = {"general": runs_of("x-x", "x-y", "hybrid", seeds=(0, 1)), "scientific": runs_of("hybrid", seeds=(0, 1)),
            "news": runs_of("hybrid", seeds=(0, 1))}  # fmt: skip
    models, differences = study_models("general", runs)
    assert models == ["base", "general/x-x", "general/x-y", "general/hybrid", "scientific/hybrid", "news/hybrid"]
    assert differences == [
        ("general/hybrid", "scientific/hybrid"),
        ("general/hybrid", "news/hybrid"),
        ("general/hybrid", "general/x-x"),
        ("general/hybrid", "general/x-y"),
    ]


def test_evaluations_become_one_domain_with_sentence_ids_unique_per_benchmark(tmp_path):
    def per_query_file(name, qids, value):
        frame = pd.DataFrame({"benchmark": name, "model": "m", "qid": qids, "query_lang": "de", "pool_lang": "en",
                              "metric": "mrr@10", "value": value})  # fmt: skip
        path = tmp_path / f"{name}-{value}.parquet"
        frame.to_parquet(path)
        return str(path)

    hybrid = Run("hybrid.seed1", "hybrid", 0.5, 1)
    records = [
        {"domain": "conversational", "benchmark": "tatoeba_de", "experiment": "general", "run": Run("base", "base").plain(),
         "path": per_query_file("tatoeba_de", ["1", "2"], 0.25)},
        {"domain": "conversational", "benchmark": "tico19_conversational", "experiment": "general", "run": hybrid.plain(),
         "path": per_query_file("tico19_conversational", ["1"], 0.5)},
    ]  # fmt: skip
    frame = study_per_query(evaluations_from(records))
    assert list(frame["qid"]) == ["tatoeba_de:1", "tatoeba_de:2", "tico19_conversational:1"]
    assert list(frame["strategy"]) == ["base", "base", "general/hybrid"] and list(frame["seed"]) == [0, 0, 1]
    assert set(frame["experiment"]) == {"conversational"}
    empty = per_query_file("tatoeba_de", [], 0.0)
    with pytest.raises(DataError, match="no per-query values"):
        study_per_query(evaluations_from([{**records[0], "path": empty}]))


def test_the_markdown_table_shows_each_value_with_its_interval():
    models = {"general/hybrid": 0.7, "scientific/hybrid": 0.6}
    table = domain_table(per_query(models), list(models), [("general/hybrid", "scientific/hybrid")], MARGINS, samples=99, seed=0,
                         confidence=0.9)  # fmt: skip
    [block] = domain_blocks(table, {"scientific": ["tico19_scientific"]}, MARGINS)
    assert list(block.table["model"]) == ["general/hybrid", "scientific/hybrid", "general/hybrid − scientific/hybrid"]
    row = table[(table["name"] == "general/hybrid") & (table["setting"] == "cross") & (table["metric"] == "mrr@10")].iloc[0]
    assert block.table.loc[0, "mrr@10 (cross)"] == f"{row['value']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
    assert re.fullmatch(r"\+0\.(09|10)\d \[\+0\.\d{3}, \+0\.\d{3}\] better", block.table.loc[2, "mrr@10 (cross)"])  # signed
    assert "tico19_scientific; 80 sentences" in block.notes[0] and "90% bootstrap" in block.notes[0]
    assert block.notes[1] == "Fine-tuned on this domain (in-domain): scientific/hybrid; every other model is zero-shot here."


@pytest.mark.parametrize(
    ("low", "high", "lower_is_better", "expected"),
    [
        (0.002, 0.03, False, "better"),
        (-0.03, -0.002, False, "worse"),
        (-0.004, 0.006, False, "equivalent"),
        (0.002, 0.008, False, "equivalent"),  # not 0, but within the margin: negligible by the pre-stated rule
        (-0.004, 0.02, False, "cannot tell"),
        (-12.0, -3.0, True, "better"),  # rank distance: lower is better
        (3.0, 12.0, True, "worse"),
    ],
)
def test_a_difference_is_decided_against_the_pre_stated_margin(low, high, lower_is_better, expected):
    assert verdict(low, high, 0.01 if not lower_is_better else 2.0, lower_is_better) == expected


def test_the_rank_distance_margin_is_relative_to_the_baseline():
    assert MARGINS.of("rank_distance", 300.0) == pytest.approx(15.0) and MARGINS.of("mrr@10", 0.5) == 0.01
