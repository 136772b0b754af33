import numpy as np
import pandas as pd
import pytest
from PIL import Image

from hybridbatch.core.contract import METRICS, macro_average, setting_of
from hybridbatch.core.errors import DataError
from hybridbatch.core.runs import BASE_RUN, Run, strategy_roles
from hybridbatch.results.claims import NOT_TESTABLE, claim_plan, claim_tests, significance_rows
from hybridbatch.results.documents import NO_CLAIM_TESTS, NOTHING_TRAINED, build_documents, html_page, markdown
from hybridbatch.results.figure_catalog import FIGURES, FigureOptions, figure_caption, figure_names
from hybridbatch.results.figures import DRAWERS, draw, strategy_colours
from hybridbatch.results.protocol import RULE_VERSION, Protocol
from hybridbatch.results.tables import check_complete, load_metrics, per_language, summary
from hybridbatch.results.verdicts import Comparison, compare

LANGS = ["de", "en"]
RUNS = {
    "base": BASE_RUN,
    "x-x": Run("x-x", "x-x", 1.0, 0),
    "x-x.seed1": Run("x-x.seed1", "x-x", 1.0, 1),
    "x-y": Run("x-y", "x-y", 0.0, 0),
    "hybrid": Run("hybrid", "hybrid", 0.5, 0),
}
ALPHAS = {"x-x": 1.0, "x-y": 0.0, "hybrid": 0.5}


PROVENANCE = {"precision": "fp32", "device": "cpu", "torch": "2.13.0", "transformers": "4.99.0"}


def metrics_file(folder, model, offset, drop=None, provenance=PROVENANCE):
    """A metrics file whose mAP is 0.5 + offset + 0.01 * (pair index), other metrics alike, with
    the evaluate step's provenance columns."""
    rows = []
    for index, (query, pool) in enumerate((q, p) for q in LANGS for p in [*LANGS, "multi"]):
        setting = "multi" if pool == "multi" else ("mono" if pool == query else "cross")
        for metric in (*METRICS, "rank_distance"):
            if metric == "rank_distance" and pool != "multi":
                continue
            value = 10.0 + offset if metric == "rank_distance" else 0.5 + offset + 0.01 * index
            rows.append(("toy", model, setting, query, pool, metric, value, 5))
    frame = pd.DataFrame(rows, columns=["benchmark", "model", "setting", "query_lang", "pool_lang", "metric", "value", "n_queries"])
    frame = frame.assign(**provenance)
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
        check_complete(broken, {"toy": list(RUNS)})


CLAIM_PAIRS = [("de", "de"), ("en", "en"), ("de", "en"), ("en", "de"), ("de", "multi"), ("en", "multi")]
MARGIN, RELATIVE_MARGIN = 0.01, 0.05
PROTOCOL = Protocol(RULE_VERSION, 0.95, MARGIN, RELATIVE_MARGIN, 500, 0, "cross", "mrr@10")
ONE_SEED = "one seed: clusters (articles, documents) only, not training randomness"


def claim_frame(shift=0.0, *, trade_off=0.1, seed_effects=None, noise_sd=0.0, rank_factor=1.0, questions=100):
    """Per-query mAP and MRR@10 of x-x, x-y and hybrid on every pair, and rank distance on the
    multilingual pool, where the truth is known: x-x is `trade_off` above x-y on Mono, x-y
    `trade_off` above x-x on Cross and Multi, and the hybrid is the better baseline + `shift` +
    its seed's effect (`seed_effects`: seed -> effect) + per-query noise. The hybrid's rank
    distance is `rank_factor` times the baselines' (which are equal)."""
    generator = np.random.default_rng(7)
    seed_effects = seed_effects or {0: 0.0}
    qids = [f"q{i}" for i in range(questions)]
    rows = []
    for query, pool in CLAIM_PAIRS:
        setting = str(setting_of(query, pool))
        shared = generator.uniform(0.3, 0.7, size=(2, questions))
        bias = generator.uniform(5, 40, size=questions)
        for seed, effect in seed_effects.items():
            noise = generator.normal(0, noise_sd, size=(2, questions))
            for index, metric in enumerate(("map", "mrr@10")):
                values = {
                    "x-x": shared[index] + (trade_off if setting == "mono" else 0),
                    "x-y": shared[index] + (0 if setting == "mono" else trade_off),
                    "hybrid": shared[index] + max(trade_off, 0) + shift + effect + noise[index],
                }
                for strategy, per_question in values.items():
                    rows += [("toy", strategy, seed, q, query, pool, metric, v) for q, v in zip(qids, per_question, strict=True)]
            if pool == "multi":
                for strategy, factor in (("x-x", 1.0), ("x-y", 1.0), ("hybrid", rank_factor)):
                    rows += [("toy", strategy, seed, q, query, pool, "rank_distance", v) for q, v in zip(qids, bias * factor, strict=True)]
    frame = pd.DataFrame(rows, columns=["experiment", "strategy", "seed", "qid", "query_lang", "pool_lang", "metric", "value"])
    return frame.assign(cluster=frame["qid"])


def verdicts(table, claims=(1, 2, 3)):
    return set(table.loc[table["claim"].isin(claims), "verdict"])


@pytest.mark.parametrize(
    ("shift", "noise_sd", "expected"),
    [(0.0, 0.0, "equivalent"), (-MARGIN / 2, 0.01, "equivalent"), (-2 * MARGIN, 0.01, "worse"), (2 * MARGIN, 0.01, "better"), (0.0, 0.3, "inconclusive")],
)
def test_claim_verdicts_follow_the_truth(shift, noise_sd, expected):
    """Case 2: a hybrid truly equal to the baseline but with noisy questions is *inconclusive*,
    not "does not match"."""
    table = claim_tests(claim_frame(shift, noise_sd=noise_sd), ["toy"], ALPHAS, PROTOCOL)
    assert len(table) == 3 * 2 + 2 and set(table["metric"]) == {"map", "mrr@10", "rank_distance"}
    assert verdicts(table) == {expected}
    assert set(table.loc[table["claim"] != 4, "precondition_result"]) == {"trade-off"}
    claims = table[table["claim"] != 4]
    assert np.allclose(claims["difference"], shift, atol=4 * noise_sd / np.sqrt(100) + 1e-12)
    assert np.allclose(claims["precondition_difference"], 0.1)
    assert set(claims["hypothesis"]) == {"equivalence: −0.01 < hybrid − baseline < 0.01 (TOST); holds if equivalent"}
    # Case 3: the hybrid's rank distance equals the baselines': equivalent, so "lowest bias" (superiority) does not hold.
    assert verdicts(table, [4]) == {"equivalent"} and set(table.loc[table["claim"] == 4, "precondition"]) == {"none"}
    assert table.loc[table["claim"] == 4, "hypothesis"].str.startswith("superiority: hybrid better by more than").all()
    assert set(table["scope"]) == {ONE_SEED} and set(table["seeds"]) == {1}
    assert set(table["questions"]) == {100} and set(table["clusters"]) == {100} and set(table["pairs"]) == {2}
    assert set(table["protocol_version"]) == {RULE_VERSION} and set(table["protocol_hash"]) == {PROTOCOL.digest()}


@pytest.mark.parametrize("trade_off", [0.0, -0.1, MARGIN / 2])
def test_claims_without_a_trade_off_beyond_the_margin_are_not_testable(trade_off):
    """Equal baselines, the trade-off the wrong way round, or (case 4) baselines only half a
    margin apart: no verdict on claims 1-3, and they leave the Holm family."""
    table = claim_tests(claim_frame(0.0, trade_off=trade_off, noise_sd=0.01, rank_factor=0.9), ["toy"], ALPHAS, PROTOCOL)
    untestable = table[table["claim"] != 4]
    assert untestable["verdict"].str.startswith(f"{NOT_TESTABLE}: ").all() and untestable["p_holm"].isna().all()
    assert set(untestable["precondition_result"]) == {"no trade-off"} and set(untestable["family"]) == {""}
    assert untestable["ci_confidence"].to_numpy() == pytest.approx(0.95)
    assert f"not shown above {MARGIN:g}" in untestable["verdict"].iloc[0]
    bias = table[table["claim"] == 4]
    # The family is the two bias tests: the smaller p doubles.
    assert bias["p_holm"].min() == pytest.approx(2 * bias["p_value"].min()) and set(bias["family"]) == {"primary"}


def test_seed_variance_enters_the_interval():
    """Training randomness (the hybrid's seed effects) much larger than question noise: the mean
    over seeds is within the margin, but the interval with seeds is wide; one seed alone would
    have said "equivalent"."""
    effects = {0: 0.0, 1: 0.04, 2: -0.04, 3: -0.03}
    per_query = claim_frame(0.0, seed_effects=effects, noise_sd=0.002)
    several = claim_tests(per_query, ["toy"], ALPHAS, PROTOCOL)
    claims = several[several["claim"] != 4]
    assert set(claims["seeds"]) == {4} and set(claims["scope"]) == {"clusters (articles, documents) and seeds"}
    assert np.allclose(claims["difference"], np.mean(list(effects.values())), atol=0.001)
    assert (claims["difference"] > -MARGIN).all()
    assert verdicts(several) == {"inconclusive"} and (claims["ci_low"] < -2 * MARGIN).all()
    one = claim_tests(per_query[per_query["seed"] == 0], ["toy"], ALPHAS, PROTOCOL)
    assert verdicts(one) == {"equivalent"} and set(one["scope"]) == {ONE_SEED}
    assert (one["ci_high"] - one["ci_low"]).max() < 0.1 * (claims["ci_high"] - claims["ci_low"]).min()


def test_seeds_must_be_shared_by_the_strategies():
    per_query = claim_frame(0.0, seed_effects={0: 0.0, 1: 0.0})
    per_query = per_query[~((per_query["strategy"] == "x-y") & (per_query["seed"] == 1))]
    with pytest.raises(DataError, match=r"toy: x-x − x-y, map \(mono\): seeds \[0, 1\] of x-x differ from seeds \[0\] of x-y"):
        claim_tests(per_query, ["toy"], ALPHAS, PROTOCOL)


@pytest.mark.parametrize(
    ("rank_factor", "relative_margin", "expected"),
    [
        (1.0, RELATIVE_MARGIN, "equivalent"),
        (1.02, RELATIVE_MARGIN, "equivalent"),
        (1.1, RELATIVE_MARGIN, "worse"),
        (1.1, 0.2, "equivalent"),
        (0.98, RELATIVE_MARGIN, "equivalent"),
        (0.8, RELATIVE_MARGIN, "better"),
    ],
)
def test_lowest_bias_is_superiority_beyond_a_margin_relative_to_the_baseline(rank_factor, relative_margin, expected):
    """Case 3: "lowest bias" holds only when the hybrid's rank distance is shown lower than each
    baseline's by more than the margin; equal or 2% lower is *equivalent*, not better."""
    per_query = claim_frame(0.0, rank_factor=rank_factor)
    protocol = Protocol(RULE_VERSION, 0.95, MARGIN, relative_margin, 500, 0, "cross", "mrr@10")
    table = claim_tests(per_query, ["toy"], ALPHAS, protocol)
    bias = table[table["claim"] == 4]
    assert set(bias["baseline"]) == {"x-x", "x-y"} and verdicts(table, [4]) == {expected}
    baseline = per_query[(per_query["metric"] == "rank_distance") & (per_query["strategy"] == "x-x")]
    macro = baseline.groupby("query_lang")["value"].mean().mean()
    assert np.allclose(bias["margin"], relative_margin * macro) and np.allclose(bias["baseline_value"], macro)
    assert np.allclose(bias["difference"], (rank_factor - 1) * macro)


def test_verdicts_come_after_the_holm_adjustment():
    """Hybrids near the margin: some tests pass unadjusted but not after Holm, and every interval
    (at the level Holm decided its test) agrees with its verdict."""
    table = claim_tests(claim_frame(-0.004, noise_sd=0.03), ["toy"], ALPHAS, PROTOCOL)
    alpha = (1 - 0.95) / 2
    family = len(table)
    smallest = table["p_value"].idxmin()
    assert table.at[smallest, "p_holm"] == pytest.approx(family * table.at[smallest, "p_value"])
    assert ((table["p_value"] < alpha) & (table["p_holm"] >= alpha) & (table["verdict"] != "equivalent")).any()
    claims = table[table["claim"] != 4]
    passed = claims["verdict"] == "equivalent"
    assert list(passed) == list(claims["p_holm"] < alpha)
    assert list(passed) == list((claims["ci_low"] > -claims["margin"]) & (claims["ci_high"] < claims["margin"]))
    assert (table["ci_confidence"] > 0.95).all()


def test_claim_tests_are_deterministic_and_each_comparison_has_its_own_stream():
    per_query = claim_frame(-0.005, noise_sd=0.01)
    first = claim_tests(per_query, ["toy"], ALPHAS, PROTOCOL)
    pd.testing.assert_frame_equal(first, claim_tests(per_query, ["toy"], ALPHAS, PROTOCOL))
    second_hybrid = per_query[per_query["strategy"] == "hybrid"].assign(strategy="hybrid2")
    both = claim_tests(pd.concat([per_query, second_hybrid]), ["toy"], {**ALPHAS, "hybrid2": 0.3}, PROTOCOL)
    again = both[both["hybrid"] == "hybrid"].reset_index(drop=True)
    assert len(both) == 2 * len(first)
    pd.testing.assert_frame_equal(again[["difference", "se", "p_value"]], first[["difference", "se", "p_value"]])


def test_significance_rows_read_back_what_claim_tests_wrote(tmp_path):
    table = claim_tests(claim_frame(-0.005, noise_sd=0.01), ["toy"], ALPHAS, PROTOCOL)
    table.to_csv(tmp_path / "significance.csv", index=False)
    rows = significance_rows(pd.read_csv(tmp_path / "significance.csv"))
    assert [row.verdict for row in rows] == list(table["verdict"]) and rows[0].protocol_hash == PROTOCOL.digest()
    with pytest.raises(DataError, match="the significance table has no column ci_low, precondition_result$"):
        significance_rows(table.drop(columns=["precondition_result", "ci_low"]))


def test_claim_plan_follows_alphas():
    tests = claim_plan(["e", "f"], {"mono": 1.0, "cross": 0.0, "mix": 0.4, "more": 0.6})
    assert len(tests) == 2 * 2 * (3 * 2 + 2)
    first = tests[0]
    assert (first.claim.number, first.metric, first.comparison.a, first.comparison.b) == (1, "map", "mix", "mono")
    assert (first.precondition.a, first.precondition.b, first.precondition.setting) == ("mono", "cross", "mono")
    bias = [test for test in tests if test.claim.number == 4]
    assert {test.comparison.b for test in bias} == {"mono", "cross"} and all(test.precondition is None for test in bias)
    assert claim_plan(["e"], {"mono": 1.0, "mix": 0.5}) == [test for test in claim_plan(["e"], {"mono": 1.0, "mix": 0.5}) if test.claim.number == 4]


def test_documents_mark_the_best_and_show_the_claim_tests(metric_files, tmp_path):
    (tmp_path / "gpu").mkdir()
    bf16 = PROVENANCE | {"precision": "bf16", "device": "cuda"}
    mixed = {**metric_files, ("toy", "hybrid"): metrics_file(tmp_path / "gpu", "hybrid", 0.12, provenance=bf16)}
    significance = claim_tests(claim_frame(-0.005, trade_off=0.1, noise_sd=0.01), ["toy"], ALPHAS, PROTOCOL)
    significance.loc[significance["claim"] == 3, "verdict"] = NOT_TESTABLE
    significance.loc[significance["claim"] == 3, "p_holm"] = np.nan
    # As the workflow passes it: through results/tables/significance.csv.
    significance.to_csv(tmp_path / "significance.csv", index=False)
    significance = pd.read_csv(tmp_path / "significance.csv")
    reference = pd.DataFrame([("XLM-R", "toy", "hybrid", "mono", "map", 0.798)], columns=["encoder", "benchmark", "strategy", "setting", "metric", "value"])
    documents = build_documents(load_metrics(metric_files, RUNS), significance, reference, ALPHAS, {"toy": "toy"}, {"toy": "e5"}, 60)
    text = markdown(documents["summary"].title, documents["summary"].blocks)
    # x-x (mean of seeds, offset 0.15) has the best mAP; base the lowest rank distance.
    assert "| x-x     | 2       | **0.670 ± 0.071**" in text and "| **10.0** " in text
    assert "Embedded in fp32 on cpu, torch 2.13.0, transformers 4.99.0." in text
    row = significance.iloc[0]
    cells = [
        "1. Hybrid matches X-X on monolingual retrieval (hybrid − X-X)",
        "equivalence: −0.01 < hybrid − baseline < 0.01 (TOST); holds if equivalent",
        "mAP",
        f"{row['difference']:+.4f}",
        f"[{row['ci_low']:+.4f}, {row['ci_high']:+.4f}] ({row['ci_confidence']:.1%})",
        "0.0100",
        "<0.0001" if row["p_holm"] < 0.0001 else f"{row['p_holm']:.4f}",
        "**equivalent**",
    ]
    paper = markdown(documents["paper_comparison"].title, documents["paper_comparison"].blocks)
    for document in (text, paper):
        line = next(line for line in document.splitlines() if line.startswith("| 1. Hybrid matches X-X") and "| mAP " in line)
        assert [cell.strip() for cell in line.strip("|").split("|")][:8] == cells
        assert [cell.strip() for cell in line.strip("|").split("|")][-1] == f"v{RULE_VERSION}"
        assert NOT_TESTABLE in document
    assert "| claim " in paper and "| Holm-adjusted p " in paper and f"Protocol version {RULE_VERSION} (hash {PROTOCOL.digest()}" in paper
    assert f"resampled 500 times; {ONE_SEED}." in paper
    assert any(line.startswith("| 4. Hybrid has the lowest language bias (hybrid − X-Y)") and "| rank distance " in line for line in paper.splitlines())
    assert "| paper, XLM-R | hybrid     | 0.798      | –  " in paper
    assert list(documents["paper_comparison"].data["experiment"].unique()) == ["toy"]
    page = html_page("t", documents["summary"].blocks)
    assert "<b>0.670 ± 0.071</b>" in page and "**" not in page
    none = build_documents(load_metrics(metric_files, RUNS), significance.iloc[:0], reference, ALPHAS, {"toy": "toy"}, {"toy": "e5"}, 60)
    assert "No hybrid strategy (0 < alpha < 1) with X-X / X-Y baselines" in markdown("t", none["paper_comparison"].blocks)
    several = build_documents(load_metrics(mixed, RUNS), significance, reference, ALPHAS, {"toy": "toy"}, {"toy": "e5"}, 60)
    note = several["paper_comparison"].blocks[0].notes[-1]
    assert note == (
        "Embedded in fp32 on cpu, torch 2.13.0, transformers 4.99.0 (base, x-x, x-x.seed1, x-y); bf16 on cuda, torch 2.13.0, transformers 4.99.0 (hybrid)."
    )


def test_an_experiment_that_trains_nothing_shows_the_base_model_and_why_no_claim_is_tested(metric_files, tmp_path):
    (tmp_path / "other").mkdir()
    files = {**metric_files, ("zero", "base"): metrics_file(tmp_path / "other", "base", 0.3)}
    check_complete(files, {"toy": list(RUNS), "zero": ["base"]})
    with pytest.raises(DataError, match="no metrics for zero/x-x"):
        check_complete(files, {"toy": list(RUNS), "zero": list(RUNS)})
    significance = claim_tests(claim_frame(-0.005, trade_off=0.1, noise_sd=0.01), ["toy"], ALPHAS, PROTOCOL)
    reference = pd.DataFrame(columns=["encoder", "benchmark", "strategy", "setting", "metric", "value"])
    documents = build_documents(load_metrics(files, RUNS), significance, reference, ALPHAS, {"toy": "toy", "zero": "toy"}, {"toy": "e5", "zero": "e5"}, 60)
    table = documents["summary"].data
    assert list(table.loc[table["experiment"] == "zero", "strategy"]) == ["base"]
    # One model: nothing to mark as best.
    summary_text = markdown("t", documents["summary"].blocks)
    assert "**" not in summary_text[summary_text.index("zero: mAP") :]
    for name in ("summary", "paper_comparison"):
        text = markdown("t", documents[name].blocks)
        assert NO_CLAIM_TESTS not in text, name
        assert NOTHING_TRAINED in text[text.index("zero: the paper's claims, tested") :], name
        toy = text[text.index("toy: the paper's claims, tested") : text.index("zero: the paper's claims, tested")]
        assert "Hybrid matches X-X" in toy and NOTHING_TRAINED not in toy, name
    runs = [run.plain() for run in RUNS.values()]
    assert figure_names(trains=False) == ["map_heatmaps", "settings_bars", "rank_distance"]
    for figure in figure_names(trains=False):
        target = tmp_path / f"{figure}.png"
        draw(figure, "zero", [files[("zero", "base")]], runs, FigureOptions(dpi=60), target)
        assert Image.open(target).size[0] > 200, figure


def test_every_figure_draws(metric_files, tmp_path):
    runs = [run.plain() for run in RUNS.values()]
    models, manifests = [], []
    for run in ("x-x", "x-x.seed1", "x-y", "hybrid"):
        folder = tmp_path / "models" / run
        folder.mkdir(parents=True)
        steps = np.arange(1, 21)
        pd.DataFrame({"step": steps, "loss": 2 / steps, "lr": 1e-5, "seconds": steps, "val_score": np.where(steps % 10 == 0, 0.5, np.nan)}).to_csv(
            folder / "train_log.csv", index=False
        )
        models.append(str(folder))
    (tmp_path / "manifests").mkdir()
    for strategy in ALPHAS:
        path = tmp_path / "manifests" / f"{strategy}.parquet"
        pd.DataFrame(
            {
                "batch": [0, 0, 1, 1],
                "query_lang": ["de", "en", "de", "de"],
                "passage_lang": ["en", "de", "de", "de"],
                "kind": ["cross", "cross", "mono", "mono"],
            }
        ).to_parquet(path)
        manifests.append(str(path))
    inputs = {"metrics": list(metric_files.values()), "models": models, "manifests": manifests}
    assert figure_names(trains=True) == list(FIGURES) == list(DRAWERS)
    for figure, spec in FIGURES.items():
        target = tmp_path / f"{figure}.png"
        draw(figure, "toy", inputs[spec.reads], runs, FigureOptions(dpi=60), target)
        width, height = Image.open(target).size
        assert width > 200 and height > 100, figure
        assert figure_caption(figure, "toy").startswith("**toy**: ") and len(spec.caption) > 40, figure
    with pytest.raises(ValueError, match="unknown figure 'pie'"):
        draw("pie", "toy", inputs["metrics"], runs, FigureOptions(), tmp_path / "pie.png")


def test_colours_are_fixed_per_role():
    colours = strategy_colours({"hybrid": 0.5, "x-y": 0.0, "x-x": 1.0, "half": 0.5})
    assert colours["x-x"] == "#1f77b4" and colours["x-y"] == "#ff7f0e" and colours["hybrid"] == "#2ca02c"
    assert len(set(colours.values())) == len(colours)
    # Any alpha between 0 and 1 is a hybrid, in the figures as in the tables.
    assert strategy_colours({"mostly-mono": 0.8})["mostly-mono"] == "#2ca02c"
    assert strategy_roles({"mostly-mono": 0.8, "x-x": 1.0}) == {"mostly-mono": "hybrid", "x-x": "x-x"}


def test_the_compared_difference_matches_the_metrics_tables():
    """On aligned queries, the observed difference equals the difference of macro averages."""
    generator = np.random.default_rng(5)
    rows = []
    for strategy in ("a", "b"):
        for query, pool in (("de", "en"), ("en", "de"), ("de", "de")):
            for q in range(20):
                rows.append(("toy", strategy, 0, f"q{q}", f"c{q % 4}", query, pool, "map", generator.uniform()))
    per_query = pd.DataFrame(rows, columns=["experiment", "strategy", "seed", "qid", "cluster", "query_lang", "pool_lang", "metric", "value"])
    pair_means = per_query.groupby(["strategy", "query_lang", "pool_lang"])["value"].mean().reset_index()
    pair_means = pair_means.assign(
        benchmark="toy", model=pair_means["strategy"], metric="map", setting=np.where(pair_means["query_lang"] == pair_means["pool_lang"], "mono", "cross")
    )
    macro = macro_average(pair_means).set_index(["model", "setting"])["value"]
    cross = per_query[per_query["query_lang"] != per_query["pool_lang"]]
    result = compare(cross, Comparison("toy", "a", "b", "cross", "map"), 200, 0)
    assert result.observed == pytest.approx(macro[("a", "cross")] - macro[("b", "cross")], abs=1e-12)
