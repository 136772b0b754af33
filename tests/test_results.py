import numpy as np
import pandas as pd
import pytest
from PIL import Image

from hybridbatch.errors import DataError
from hybridbatch.evaluate import macro_average
from hybridbatch.figures import FIGURES, FigureOptions, draw, strategy_colours
from hybridbatch.metrics import METRICS
from hybridbatch.results import (
    Comparison,
    ModelRun,
    check_complete,
    hybrid_comparisons,
    load_metrics,
    paired_bootstrap,
    per_language,
    summary,
)
from hybridbatch.tables import build_documents, html_page, markdown

LANGS = ["de", "en"]
RUNS = {
    "base": ModelRun("base", "base", None),
    "x-x": ModelRun("x-x", "x-x", 0),
    "x-x.seed1": ModelRun("x-x.seed1", "x-x", 1),
    "x-y": ModelRun("x-y", "x-y", 0),
    "hybrid": ModelRun("hybrid", "hybrid", 0),
}
ALPHAS = {"x-x": 1.0, "x-y": 0.0, "hybrid": 0.5}


def metrics_file(folder, model, offset, drop=None):
    """A metrics file whose mAP is 0.5 + offset + 0.01 * (pair index), other metrics alike."""
    rows = []
    for index, (query, pool) in enumerate((q, p) for q in LANGS for p in [*LANGS, "multi"]):
        setting = "multi" if pool == "multi" else ("mono" if pool == query else "cross")
        for metric in (*METRICS, "rank_distance"):
            if metric == "rank_distance" and pool != "multi":
                continue
            value = 10.0 + offset if metric == "rank_distance" else 0.5 + offset + 0.01 * index
            rows.append(("toy", model, setting, query, pool, metric, value, 5))
    frame = pd.DataFrame(rows, columns=["benchmark", "model", "setting", "query_lang", "pool_lang", "metric", "value", "n_queries"])
    if drop:
        frame = frame[~((frame["setting"] == drop[0]) & (frame["metric"] == drop[1]))]
    path = folder / f"{model}.parquet"
    frame.to_parquet(path)
    return str(path)


@pytest.fixture
def metric_files(tmp_path):
    offsets = {"base": 0.0, "x-x": 0.1, "x-x.seed1": 0.2, "x-y": 0.05, "hybrid": 0.12}
    return {("toy", model): metrics_file(tmp_path, model, offset) for model, offset in offsets.items()}


def test_summary_averages_pairs_then_seeds(metric_files):
    table = summary(load_metrics(metric_files, RUNS)).set_index("strategy")
    assert list(table.index) == ["base", "x-x", "x-y", "hybrid"]
    # Mono pairs are (de, de) index 0 and (en, en) index 4: mean offset 0.02; x-x seeds 0.1 and 0.2.
    assert table.at["x-x", "map_mono"] == pytest.approx(0.5 + 0.15 + 0.02)
    assert table.at["x-x", "map_mono_sd"] == pytest.approx(np.std([0.1, 0.2], ddof=1))
    assert table.at["x-x", "seeds"] == 2 and np.isnan(table.at["hybrid", "map_mono_sd"])
    assert table.at["base", "map_cross"] == pytest.approx(0.5 + (0.01 + 0.03) / 2)
    assert table.at["hybrid", "rank_distance"] == pytest.approx(10.12)
    languages = per_language(load_metrics(metric_files, RUNS)).set_index(["strategy", "query_lang"])
    assert languages.at[("base", "en"), "map_cross"] == pytest.approx(0.53)


def test_experiments_sharing_a_benchmark_stay_apart(metric_files, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    offsets = {"base": 0.0, "x-x": 0.3, "x-x.seed1": 0.3, "x-y": 0.3, "hybrid": 0.3}
    files = {**metric_files, **{("second", m): metrics_file(other, m, o) for m, o in offsets.items()}}
    table = summary(load_metrics(files, RUNS)).set_index(["experiment", "strategy"])
    assert table.at[("toy", "x-x"), "map_mono"] == pytest.approx(0.67)
    assert table.at[("second", "x-x"), "map_mono"] == pytest.approx(0.82)


def test_missing_setting_or_model_is_named(metric_files, tmp_path):
    broken = dict(metric_files)
    broken[("toy", "x-y")] = metrics_file(tmp_path, "x-y", 0.0, drop=("cross", "ndcg@10"))
    with pytest.raises(DataError, match="x-y.parquet: experiment toy, model x-y: no ndcg@10 \\(cross\\)"):
        load_metrics(broken, RUNS)
    del broken[("toy", "x-y")]
    with pytest.raises(DataError, match="no metrics for toy/x-y: the tables need every model"):
        check_complete(broken, ["toy"], list(RUNS))


def per_query_frame(values_a, values_b, pairs):
    """Per-query AP of strategies a and b: values_x[pair][question]."""
    rows = []
    for strategy, values in (("a", values_a), ("b", values_b)):
        for (query, pool), per_question in zip(pairs, values, strict=True):
            for qid, value in per_question.items():
                rows.append(("toy", strategy, 0, qid, query, pool, "map", value))
    return pd.DataFrame(rows, columns=["experiment", "strategy", "seed", "qid", "query_lang", "pool_lang", "metric", "value"])


def test_bootstrap_difference_is_the_macro_difference():
    pairs = [("de", "en"), ("en", "de")]
    a = [{"q1": 0.9, "q2": 0.5, "q3": 0.4}, {"q1": 0.3, "q2": 0.2}]
    b = [{"q1": 0.6, "q2": 0.5, "q3": 0.1}, {"q1": 0.3, "q2": 0.4}]
    result = paired_bootstrap(per_query_frame(a, b, pairs), [Comparison("toy", "a", "b", "cross", "map")], 500, 0).iloc[0]
    # Pair (de, en): mean difference (0.3 + 0 + 0.3) / 3 = 0.2; pair (en, de): (0 - 0.2) / 2 = -0.1.
    assert result["difference"] == pytest.approx((0.2 - 0.1) / 2)
    assert result["questions"] == 3 and result["pairs"] == 2
    assert result["ci_low"] <= result["difference"] <= result["ci_high"]


def test_bootstrap_tells_noise_from_a_real_difference():
    generator = np.random.default_rng(3)
    pairs = [("de", "de"), ("en", "en")]
    base = [dict(zip([f"q{i}" for i in range(300)], generator.uniform(size=300), strict=True)) for _ in pairs]
    same = paired_bootstrap(per_query_frame(base, base, pairs), [Comparison("toy", "a", "b", "mono", "map")], 1000, 0).iloc[0]
    assert same["difference"] == 0 and same["ci_low"] == same["ci_high"] == 0 and same["p_value"] == 1
    noisy = [{q: v + generator.normal(0, 0.05) for q, v in per_pair.items()} for per_pair in base]
    shifted = [{q: v + 0.03 for q, v in per_pair.items()} for per_pair in noisy]
    real = paired_bootstrap(per_query_frame(shifted, base, pairs), [Comparison("toy", "a", "b", "mono", "map")], 1000, 0).iloc[0]
    assert real["ci_low"] > 0 and real["p_value"] < 0.01
    noise = paired_bootstrap(per_query_frame(noisy, base, pairs), [Comparison("toy", "a", "b", "mono", "map")], 1000, 0).iloc[0]
    assert noise["ci_low"] < 0 < noise["ci_high"] and noise["p_value"] > 0.05


def test_comparisons_follow_alphas():
    comparisons = hybrid_comparisons(["e"], {"mono": 1.0, "cross": 0.0, "mix": 0.4})
    assert {(c.better, c.other) for c in comparisons} == {("mix", "mono"), ("mix", "cross")}
    assert len(comparisons) == 2 * 4


def test_documents_mark_the_best_and_judge_the_claims(metric_files):
    metrics = load_metrics(metric_files, RUNS)
    significance = pd.DataFrame(
        [
            ("toy", "hybrid", "x-x", "mono", "map", -0.02, -0.03, -0.01, 0.001, 0.95, 50, 2),
            ("toy", "hybrid", "x-y", "cross", "map", 0.01, -0.01, 0.03, 0.4, 0.95, 50, 2),
        ],
        columns=["experiment", "better", "other", "setting", "metric", "difference", "ci_low", "ci_high", "p_value", "confidence", "questions", "pairs"],
    )
    reference = pd.DataFrame([("XLM-R", "toy", "hybrid", "mono", "map", 0.798)], columns=["encoder", "benchmark", "strategy", "setting", "metric", "value"])
    documents = build_documents(metrics, significance, reference, ALPHAS, {"toy": "toy"}, {"toy": "e5"}, 60)
    text = markdown(documents["summary"].title, documents["summary"].blocks)
    # x-x (mean of seeds, offset 0.15) has the best mAP; base the lowest rank distance.
    assert "| x-x     | 2       | **0.670 ± 0.071**" in text and "| **10.0** " in text
    assert "hybrid − x-x Mono mAP: -0.0200 (95% CI [-0.0300, -0.0100], p = 0.001): x-x is better" in text
    paper = markdown(documents["paper_comparison"].title, documents["paper_comparison"].blocks)
    assert "Hybrid matches X-X on monolingual retrieval: **does not hold**" in paper
    assert "Hybrid matches X-Y on cross-lingual retrieval: **holds**" in paper
    assert "Hybrid matches X-Y on multilingual retrieval: not checked" in paper
    assert "| paper, XLM-R | hybrid     | 0.798      | –  " in paper
    page = html_page("t", documents["summary"].blocks)
    assert "<b>0.670 ± 0.071</b>" in page and "**" not in page


def test_every_figure_draws(metric_files, tmp_path):
    runs = {name: [run.strategy, run.seed] for name, run in RUNS.items()}
    models, manifests = [], []
    for run in ("x-x", "x-x.seed1", "x-y", "hybrid"):
        folder = tmp_path / "models" / run
        folder.mkdir(parents=True)
        steps = np.arange(1, 21)
        pd.DataFrame({"step": steps, "loss": 2 / steps, "lr": 1e-5, "seconds": steps,
                      "val_score": np.where(steps % 10 == 0, 0.5, np.nan)}).to_csv(folder / "train_log.csv", index=False)  # fmt: skip
        models.append(str(folder))
    (tmp_path / "manifests").mkdir()
    for strategy in ALPHAS:
        path = tmp_path / "manifests" / f"{strategy}.parquet"
        pd.DataFrame({"batch": [0, 0, 1, 1], "query_lang": ["de", "en", "de", "de"], "passage_lang": ["en", "de", "de", "de"],
                      "kind": ["cross", "cross", "mono", "mono"]}).to_parquet(path)  # fmt: skip
        manifests.append(str(path))
    inputs = {"metrics": list(metric_files.values()), "models": models, "manifests": manifests}
    for figure in FIGURES:
        target = tmp_path / f"{figure}.png"
        draw(figure, "toy", inputs, runs, ALPHAS, FigureOptions(dpi=60), target)
        width, height = Image.open(target).size
        assert width > 200 and height > 100, figure
    with pytest.raises(ValueError, match="unknown figure 'pie'"):
        draw("pie", "toy", inputs, runs, ALPHAS, FigureOptions(), tmp_path / "pie.png")


def test_colours_are_fixed_per_strategy():
    colours = strategy_colours({"hybrid": 0.5, "x-y": 0.0, "x-x": 1.0, "half": 0.5})
    assert colours["x-x"] == "#1f77b4" and colours["x-y"] == "#ff7f0e" and colours["hybrid"] == "#2ca02c"
    assert len(set(colours.values())) == len(colours)


def test_bootstrap_difference_matches_the_metrics_tables(metric_files):
    """On aligned queries, the observed difference equals the difference of macro averages."""
    generator = np.random.default_rng(5)
    rows = []
    for strategy in ("a", "b"):
        for query, pool in (("de", "en"), ("en", "de"), ("de", "de")):
            for q in range(20):
                rows.append(("toy", strategy, 0, f"q{q}", query, pool, "map", generator.uniform()))
    per_query = pd.DataFrame(rows, columns=["experiment", "strategy", "seed", "qid", "query_lang", "pool_lang", "metric", "value"])
    pair_means = per_query.groupby(["strategy", "query_lang", "pool_lang"])["value"].mean().reset_index()
    pair_means = pair_means.assign(benchmark="toy", model=pair_means["strategy"], metric="map",
                                   setting=np.where(pair_means["query_lang"] == pair_means["pool_lang"], "mono", "cross"))  # fmt: skip
    macro = macro_average(pair_means).set_index(["model", "setting"])["value"]
    result = paired_bootstrap(per_query, [Comparison("toy", "a", "b", "cross", "map")], 200, 0).iloc[0]
    assert result["difference"] == pytest.approx(macro[("a", "cross")] - macro[("b", "cross")], abs=1e-12)
