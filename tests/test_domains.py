"""The domain study's table on synthetic per-query values whose truth is known."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from hybridbatch.core.contract import macro_average
from hybridbatch.core.runs import Run
from hybridbatch.domains import COLUMNS, domain_table
from hybridbatch.figures import FigureOptions, domain_mrr, study_colours
from hybridbatch.results import bootstrap_value

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
    table = domain_table(frame, list(models), [("general/hybrid", "scientific/hybrid"), ("general/hybrid", "general/x-y")],
                         samples=499, seed=0, confidence=0.95)  # fmt: skip
    assert list(table.columns) == COLUMNS
    # Every domain x (2 settings x 3 metrics + rank distance) x (3 models + 1 difference present).
    assert len(table) == 2 * 7 * 4
    gain = table[(table["kind"] == "difference") & (table["setting"] == "cross") & (table["metric"] == "mrr@10")]
    assert (gain["ci_low"] > 0).all() and gain["value"].between(0.08, 0.12).all()
    assert set(gain["name"]) == {"general/hybrid − scientific/hybrid"} and set(gain["seeds"]) == {2}
    again = domain_table(frame, list(models), [("general/hybrid", "scientific/hybrid")], samples=499, seed=0, confidence=0.95)
    shared = table.merge(again, on=["domain", "kind", "name", "setting", "metric"], suffixes=("", "_again"))
    assert np.allclose(shared["ci_low"], shared["ci_low_again"])  # a row's interval does not depend on the others


def test_the_domain_figure_draws_every_domain_and_model(tmp_path):
    models = {"base": 0.4, "general/hybrid": 0.7, "scientific/hybrid": 0.6}
    frame = pd.concat([per_query(models), per_query(models, domain="news", rng_seed=3)])
    table = domain_table(frame, list(models), [], samples=99, seed=0, confidence=0.95)
    colours = study_colours("general", {"general": [Run("hybrid", "hybrid", 0.5, 0)], "scientific": [Run("hybrid", "hybrid", 0.5, 0)]})
    assert colours["base"] != colours["general/hybrid"] != colours["scientific/hybrid"]
    domain_mrr(table, colours, tmp_path / "domains.png", FigureOptions(dpi=60))
    width, height = Image.open(tmp_path / "domains.png").size
    assert width > 300 and height > 150
