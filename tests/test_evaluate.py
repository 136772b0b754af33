import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import average_precision_score

from hybridbatch.core.contract import macro_average
from hybridbatch.core.embeddings import LanguageEmbeddings, save_embeddings
from hybridbatch.core.errors import DataError
from hybridbatch.data.extract import extract
from hybridbatch.data.registry import DATASETS
from hybridbatch.evaluation.evaluate import RUN_DEPTH, evaluate, evaluate_files, load_checked_embeddings
from hybridbatch.models.encode import embed_language
from hybridbatch.models.folder import load_encoder
from hybridbatch.models.settings import EncodeSettings

LANGS = ["de", "en", "es"]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """MLQA-like: every question in English, some also in German and/or Spanish; random vectors."""
    generator = np.random.default_rng(11)
    folder = tmp_path_factory.mktemp("synthetic")
    queries, candidates, qrels, files = [], [], [], {}
    present = {f"q{i}": ["en", *[lang for lang in ("de", "es") if generator.random() < 0.6]] for i in range(40)}
    for lang in LANGS:
        qids = [qid for qid, langs in present.items() if lang in langs]
        cids = [f"{lang}:{qid}" for qid in qids] + [f"{lang}:x{j}" for j in range(15)]
        queries += [(qid, lang, f"{qid} in {lang}", f"article{int(qid[1:]) // 8}") for qid in qids]
        candidates += [(cid, lang, cid, "ctx") for cid in cids]
        qrels += [(qid, f"{lang}:{qid}") for qid in qids]
        vectors = {}
        for name, count in (("queries", len(qids)), ("candidates", len(cids))):
            v = generator.normal(size=(count, 16)).astype(np.float32)
            vectors[name] = v / np.linalg.norm(v, axis=1, keepdims=True)
        files[lang] = str(folder / f"{lang}.npz")
        save_embeddings(files[lang], LanguageEmbeddings(np.array(qids), vectors["queries"], np.array(cids), vectors["candidates"]))
    return (
        pd.DataFrame(queries, columns=["qid", "lang", "text", "cluster"]),
        pd.DataFrame(candidates, columns=["cid", "lang", "text", "context_id"]),
        pd.DataFrame(qrels, columns=["qid", "cid"]),
        files,
    )


def reference_metrics(queries, candidates, qrels, files):
    """Per (query language, pool): sort each query's whole pool, AP from scikit-learn (float64 scores)."""
    loaded = {lang: dict(np.load(path)) for lang, path in files.items()}
    for stored in loaded.values():
        stored["queries"], stored["candidates"] = stored["queries"].astype(float), stored["candidates"].astype(float)
    all_ids = np.concatenate([loaded[lang]["candidate_ids"] for lang in LANGS])
    all_vectors = np.concatenate([loaded[lang]["candidates"] for lang in LANGS])
    relevant = qrels.groupby("qid")["cid"].apply(set).to_dict()
    rows = []
    for lang in LANGS:
        for pool in [*LANGS, "multi"]:
            in_pool = np.ones(len(all_ids), bool) if pool == "multi" else np.char.startswith(all_ids.astype(str), f"{pool}:")
            ids, vectors = all_ids[in_pool], all_vectors[in_pool]
            values = {"map": [], "mrr@10": [], "recall@10": [], "rank_distance": []}
            for qid, query in zip(loaded[lang]["query_ids"], loaded[lang]["queries"], strict=True):
                is_relevant = np.isin(ids, list(relevant[qid]))
                if not is_relevant.any():
                    continue
                scores = vectors @ query
                # Ties against the model: relevant items after the non-relevant ones they tie with;
                # the rank distance is the widest spread any tie-breaking allows.
                positions = np.flatnonzero(is_relevant[np.lexsort((is_relevant, -scores))]) + 1
                best_case = np.flatnonzero(is_relevant[np.lexsort((~is_relevant, -scores))]) + 1
                values["map"].append(average_precision_score(is_relevant, scores))
                values["mrr@10"].append(1 / positions[0] if positions[0] <= 10 else 0.0)
                values["recall@10"].append((positions <= 10).mean())
                values["rank_distance"].append(positions[-1] - best_case[0] if len(positions) > 1 else 0)
            for metric, per_query in values.items():
                if per_query and (metric != "rank_distance" or pool == "multi"):
                    rows.append((lang, pool, metric, np.mean(per_query), len(per_query)))
    return pd.DataFrame(rows, columns=["query_lang", "pool_lang", "metric", "expected", "expected_n"])


def test_every_pair_agrees_with_a_sort_based_reference(synthetic):
    metrics, per_query, run = evaluate_files("toy", "base", *synthetic)
    merged = reference_metrics(*synthetic).merge(metrics, on=["query_lang", "pool_lang", "metric"], how="left")
    assert not merged["value"].isna().any()
    np.testing.assert_allclose(merged["value"], merged["expected"], rtol=1e-9)
    assert (merged["n_queries"] == merged["expected_n"]).all()
    settings = metrics.drop_duplicates(["query_lang", "pool_lang"]).groupby("setting").size().to_dict()
    assert settings == {"mono": 3, "cross": 6, "multi": 3}
    # German queries exist only for questions that also have a German candidate; pools follow qrels.
    en_in_de = metrics[(metrics.query_lang == "en") & (metrics.pool_lang == "de")]["n_queries"].iloc[0]
    assert en_in_de == synthetic[0].query("lang == 'de'").shape[0]
    assert len(per_query.query("metric == 'map'")) == metrics.query("metric == 'map'")["n_queries"].sum()
    # Each per-query row carries its question's cluster.
    assert (per_query["cluster"] == "article" + (per_query["qid"].str[1:].astype(int) // 8).astype(str)).all()
    assert run.groupby(["qid", "query_lang"]).size().eq(min(RUN_DEPTH, len(synthetic[1]))).all()


def test_macro_average_is_the_mean_over_pairs(synthetic):
    metrics, _, _ = evaluate_files("toy", "base", *synthetic)
    macro = macro_average(metrics).set_index(["setting", "metric"])["value"]
    cross = metrics[(metrics.setting == "cross") & (metrics.metric == "map")]["value"]
    assert macro[("cross", "map")] == pytest.approx(cross.mean())


def test_query_language_without_candidates(synthetic):
    queries, candidates, qrels, files = synthetic
    embeddings = load_checked_embeddings(files, queries, candidates)
    spanish = embeddings["es"]
    embeddings["es"] = LanguageEmbeddings(spanish.query_ids, spanish.queries, spanish.candidate_ids[:0], spanish.candidates[:0])
    with pytest.raises(DataError, match="query language\\(s\\) es have no candidates"):
        evaluate("toy", "base", qrels, embeddings)


def test_embeddings_out_of_step_with_the_tables(synthetic):
    queries, candidates, qrels, files = synthetic
    with pytest.raises(DataError, match="the query ids of de differ from the extracted tables"):
        evaluate_files("toy", "base", queries[~queries.qid.eq("q0") | queries.lang.ne("de")].iloc[1:], candidates, qrels, files)


def test_real_benchmark_with_the_tiny_model_agrees_with_scikit_learn(raw_root, tiny_model, tmp_path):
    extracted = extract(DATASETS["xquad_r"], raw_root / "xquad_r", LANGS, 40)
    queries, candidates, qrels = (extracted.table(n).to_pandas() for n in ("queries", "candidates", "qrels"))
    encoder = load_encoder(tiny_model)
    files = {}
    for lang in LANGS:
        files[lang] = str(tmp_path / f"{lang}.npz")
        save_embeddings(files[lang], embed_language(encoder, queries, candidates, lang, EncodeSettings(precision="fp32")))
    metrics, _, _ = evaluate_files("xquad_r", "base", queries, candidates, qrels, files)
    expected = reference_metrics(queries, candidates, qrels, files)
    merged = expected.merge(metrics, on=["query_lang", "pool_lang", "metric"])
    assert len(merged) == len(expected) == 3 * 4 * 3 + 3
    # Duplicate sentences across languages tie exactly in the multilingual pool: both count them
    # against the model.
    np.testing.assert_allclose(merged["value"], merged["expected"], rtol=1e-9)


def test_thread_counts_move_no_metric(raw_root, tiny_model):
    """fp32 on a CPU: BLAS kernels that block and round differently (here: 1 or 2 threads) must not
    move any metric by 1e-4, the protocol's promise across CPUs."""
    extracted = extract(DATASETS["xquad_r"], raw_root / "xquad_r", LANGS, 40)
    queries, candidates, qrels = (extracted.table(n).to_pandas() for n in ("queries", "candidates", "qrels"))
    encoder = load_encoder(tiny_model)
    results, before = [], torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            embedded = {lang: embed_language(encoder, queries, candidates, lang, EncodeSettings(precision="auto")) for lang in LANGS}
            results.append(evaluate("xquad_r", "base", qrels, embedded)[0])
    finally:
        torch.set_num_threads(before)
    assert (results[0]["precision"] == "fp32").all()
    np.testing.assert_allclose(results[0]["value"], results[1]["value"], rtol=0, atol=1e-4)


def test_an_exact_duplicate_of_the_relevant_candidate_counts_against_it():
    """Two candidate texts identical to the answer (so identical vectors): the relevant one is read
    below its non-relevant duplicate; AP takes the precision at the tied score."""
    answer, other = np.array([1.0, 0.0], dtype=np.float32), np.array([0.0, 1.0], dtype=np.float32)
    query = np.array([[0.8, 0.6]], dtype=np.float32)
    embeddings = {
        "en": LanguageEmbeddings(np.array(["q"]), query, np.array(["en:dup", "en:a", "en:b"]), np.stack([answer, answer, other])),
        "de": LanguageEmbeddings(np.array(["q"]), query, np.array(["de:a", "de:b"]), np.stack([answer, other])),
    }
    qrels = pd.DataFrame({"qid": ["q", "q"], "cid": ["en:a", "de:a"]})
    metrics, _, _ = evaluate("toy", "base", qrels, embeddings)
    value = metrics.set_index(["query_lang", "pool_lang", "metric"])["value"]
    assert value[("en", "en", "mrr@10")] == 0.5 and value[("en", "en", "recall@1")] == 0.0
    assert value[("en", "en", "map")] == pytest.approx(0.5)
    assert value[("de", "de", "mrr@10")] == 1.0  # no duplicate in the German pool
    # Multilingual pool: en:a, en:dup and de:a tie; the duplicate first, the translations at 2 and 3,
    # and either of them may come first, so the distance is the tie block's spread.
    assert value[("en", "multi", "mrr@10")] == 0.5 and value[("en", "multi", "rank_distance")] == 2


def test_translation_retrieval_scores_no_monolingual_pair_and_keeps_the_query_out_of_multi():
    """de:0's own text is a candidate; its translation en:0 is outscored only by the distractor en:1."""
    unit = np.eye(3, dtype=np.float32)
    query = unit[0]
    translation = np.float32([0.9, 0.43589, 0.0])
    distractor = np.float32([0.95, 0.0, 0.31225])
    embeddings = {
        "de": LanguageEmbeddings(np.array(["0"]), query[None], np.array(["de:0"]), query[None]),
        "en": LanguageEmbeddings(np.array(["1"]), unit[[2]], np.array(["en:0", "en:1"]), np.stack([translation, distractor])),
    }
    qrels = pd.DataFrame({"qid": ["0", "0", "1"], "cid": ["de:0", "en:0", "en:1"]})
    metrics, _, run = evaluate("toy", "m", qrels, embeddings, translation=True)
    # The run ranks the same pool: the other languages' candidates, the distractor first.
    assert list(run.loc[run["query_lang"] == "de", "cid"]) == ["en:1", "en:0"] and list(run.loc[run["query_lang"] == "en", "cid"]) == ["de:0"]
    de = metrics[metrics["query_lang"] == "de"].set_index(["pool_lang", "metric"])["value"]
    assert set(metrics["setting"]) == {"cross", "multi"}
    assert de[("en", "mrr@10")] == pytest.approx(0.5) and de[("multi", "mrr@10")] == pytest.approx(0.5)
    plain, _, _ = evaluate("toy", "m", qrels, embeddings)
    # Without the translation rule the query finds itself first in the multilingual pool.
    assert plain.set_index(["query_lang", "pool_lang", "metric"])["value"][("de", "multi", "mrr@10")] == 1.0
