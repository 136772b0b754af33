from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from hybridbatch.core.contract import TABLES, read_table
from hybridbatch.core.errors import DataError
from hybridbatch.data.extract import _aligned, _context_tables, check_counts, extract, subset, write
from hybridbatch.data.registry import DATASETS


@pytest.fixture(scope="module")
def full(raw_root):
    return {name: extract(spec, raw_root / name) for name, spec in DATASETS.items()}


def test_counts_equal_the_published_ones(full):
    # extract() raises on any difference; check the totals here as well.
    assert full["xquad_r"].queries.num_rows == 11 * 1190
    assert full["xquad_r"].candidates.num_rows == 13014
    assert full["mlqa_r"].queries.num_rows == 4199
    assert full["mlqa_r"].candidates.num_rows == 20534
    assert full["ntrex"].queries.num_rows == 11 * 1997


def documents_of(contexts):
    """The documents of context ids (a training split's blocks are "{document}#{n}")."""
    return {context.split("#")[0] for context in contexts}


def test_domain_views_split_by_whole_documents(full):
    for test, train in (("tico19_scientific", "tico19_scientific_train"), ("ntrex_news", "ntrex_news_train")):
        test_documents = documents_of(full[test].candidates["context_id"].to_pylist())
        train_documents = documents_of(full[train].candidates["context_id"].to_pylist())
        assert test_documents and train_documents and not test_documents & train_documents, test
        assert set(full[train].pairs["conflict_key"].to_pylist()) <= set(full[train].candidates["context_id"].to_pylist())
    assert full["ntrex_news"].queries.num_rows + full["ntrex_news_train"].queries.num_rows == full["ntrex"].queries.num_rows
    assert set(full["tico19_conversational"].candidates["context_id"].to_pylist()) == {"CMU_1"}
    # Translation benchmarks: a sentence is relevant to its translations in every language.
    scientific = full["tico19_scientific"]
    assert scientific.qrels.num_rows == scientific.queries.num_rows == 9 * 539
    assert full["tatoeba_de"].queries.num_rows == 2000 and full["tatoeba_de"].pairs.num_rows == 0


def test_clusters_are_the_articles_and_documents_the_questions_come_from(full):
    """Intervals resample these: XQuAD-R's 48 articles (the same in every language), MLQA-R's
    articles linked by parallel questions, whole documents of the translation benchmarks (not a
    training view's blocks), every Tatoeba line on its own."""
    counts = {}
    for name, extracted in full.items():
        queries = extracted.queries.to_pandas()
        assert queries.groupby("qid")["cluster"].nunique().eq(1).all(), name
        counts[name] = queries["cluster"].nunique()
    assert (counts["xquad_r"], counts["mlqa_r"], counts["ntrex"]) == (48, 520, 123)
    assert counts["tico19_conversational"] == 1 and counts["tatoeba_de"] == 1000
    # The test side of the scientific domain is 3 documents; the training side's 8-sentence blocks
    # stay one cluster per document.
    assert counts["tico19_scientific"] == 3 and counts["tico19_scientific_train"] == 3
    xquad = full["xquad_r"].queries.to_pandas()
    # The first article of the English file (Super Bowl 50) is one cluster of its questions in every language.
    first = xquad.loc[xquad["qid"] == "56beb4343aeaaa14008c925b", "cluster"]
    assert (xquad["cluster"] == first.iloc[0]).sum() == 11 * (xquad.drop_duplicates("qid")["cluster"] == first.iloc[0]).sum()


def test_count_difference_fails(full):
    damaged = full["xquad_r"]
    damaged = type(damaged)(damaged.queries, damaged.candidates.slice(1), damaged.qrels, damaged.pairs, damaged.context_conflicts)
    with pytest.raises(DataError, match="ar: 1221 candidates, expected 1222"):
        check_counts(DATASETS["xquad_r"], damaged, DATASETS["xquad_r"].languages)


def test_every_query_has_a_relevant_candidate_in_its_own_language(full):
    for name, extracted in full.items():
        cid_lang = dict(zip(extracted.candidates["cid"].to_pylist(), extracted.candidates["lang"].to_pylist(), strict=True))
        relevant = {(qid, cid_lang[cid]) for qid, cid in zip(extracted.qrels["qid"].to_pylist(), extracted.qrels["cid"].to_pylist(), strict=True)}
        queries = set(zip(extracted.queries["qid"].to_pylist(), extracted.queries["lang"].to_pylist(), strict=True))
        assert queries <= relevant, name


def test_mlqa_questions_exist_in_two_to_four_languages(full):
    per_qid = pc.value_counts(full["mlqa_r"].queries["qid"]).field("counts").to_pylist()
    assert min(per_qid) >= 2 and max(per_qid) <= 4


def test_conflict_groups_hold_every_paragraph_sharing_a_question(full):
    # XQuAD-R is 11-way parallel: each group is one paragraph in its 11 translations.
    extracted = full["xquad_r"]
    groups = {}
    for context, key in extracted.context_conflicts.items():
        groups.setdefault(key, set()).add(context.split(":")[0])
    assert len(groups) == 240
    assert all(len(langs) == 11 for langs in groups.values())


def test_subset_keeps_whole_groups_and_their_candidates(full):
    for name, extracted in full.items():
        small = subset(extracted, 40)
        qids = set(small.queries["qid"].to_pylist())
        # Whole conflict groups (a document, for the domain views): at most one group past 40.
        context_of = dict(zip(extracted.candidates["cid"].to_pylist(), extracted.candidates["context_id"].to_pylist(), strict=True))
        key_of = {
            q: extracted.context_conflicts[context_of[c]] for q, c in zip(extracted.qrels["qid"].to_pylist(), extracted.qrels["cid"].to_pylist(), strict=True)
        }
        largest = max(Counter(key_of.values()).values())
        # (All of it where there are fewer: 11 languages' XQuAD-R paragraphs seldom segment alike.)
        available = len(set(extracted.pairs["group_id"].to_pylist())) if extracted.pairs.num_rows else len(key_of)
        assert min(40, available) <= len(qids) < 40 + max(60, largest), name
        if extracted.pairs.num_rows:
            kept_keys = set(small.pairs["conflict_key"].to_pylist())
            every_group_of_key = {
                g for g, k in zip(extracted.pairs["group_id"].to_pylist(), extracted.pairs["conflict_key"].to_pylist(), strict=True) if k in kept_keys
            }
            assert every_group_of_key == qids, name
        assert set(small.qrels["cid"].to_pylist()) <= set(small.candidates["cid"].to_pylist()), name


def test_languages_and_subset_in_extract(raw_root):
    small = extract(DATASETS["mlqa_r"], raw_root / "mlqa_r", ["de", "en", "es", "el"], 30)
    assert set(small.queries["lang"].to_pylist()) == {"de", "en", "es"}
    with pytest.raises(DataError, match="none of the configured languages"):
        extract(DATASETS["mlqa_r"], raw_root / "mlqa_r", ["el"], None)


def test_written_tables_follow_the_contract_and_are_byte_identical(raw_root, tmp_path):
    extracted = extract(DATASETS["ntrex"], raw_root / "ntrex", ["en", "de"], 20)
    outputs = []
    for run in ("a", "b"):
        targets = {name: tmp_path / run / f"{name}.parquet" for name in TABLES}
        write(extract(DATASETS["ntrex"], raw_root / "ntrex", ["en", "de"], 20), targets)
        outputs.append({name: path.read_bytes() for name, path in targets.items()})
    assert outputs[0] == outputs[1]
    pairs = read_table(tmp_path / "a" / "pairs.parquet", "pairs")
    assert pairs.schema.field("hard_negatives").type == pa.list_(pa.string())
    assert pairs.equals(extracted.pairs)


def test_read_table_names_a_missing_column(tmp_path):
    import pyarrow.parquet as pq

    path = tmp_path / "queries.parquet"
    pq.write_table(pa.table({"qid": ["1"], "text": ["x"]}), path)
    with pytest.raises(DataError, match=r"queries\.parquet: missing column\(s\) lang"):
        read_table(path, "queries")


def test_a_damaged_table_is_named_with_what_to_do(tmp_path):
    import pyarrow.parquet as pq

    path = tmp_path / "qrels.parquet"
    pq.write_table(pa.table({"qid": ["1"], "cid": ["en:0:0"]}), path)
    path.write_bytes(path.read_bytes()[8:])
    with pytest.raises(DataError, match=rf"^{path}: cannot read this qrels table \(.*\); it is damaged or incomplete: delete"):
        read_table(path, "qrels")


def test_errors_name_the_file_a_raw_copy_came_from(tmp_path):
    raw = tmp_path / "resources" / "raw" / "xquad_r"
    raw.mkdir(parents=True)
    (raw / "en.json").write_text('{"data": [ {"paragraphs": [}', encoding="utf-8")
    mirror_file = "/data/mirror/lareqa/xquad-r/en.json"
    with pytest.raises(DataError, match=rf"^{mirror_file} \(copied to {raw / 'en.json'}\): malformed JSON at line 1, column 28"):
        extract(DATASETS["xquad_r"], raw, ["en"], origins={"en.json": mirror_file})


def test_training_blocks_share_no_text_between_conflict_keys(full):
    # TICO-19's scientific training side is 3 articles: its pairs come from 8-sentence blocks, so
    # that a batch of 32 finds 32 groups, and two rows of different blocks never share a sentence.
    pairs = full["tico19_scientific_train"].pairs.to_pandas()
    english = pairs[pairs["lang"] == "en"]
    assert english["conflict_key"].nunique() >= 32 and english.groupby("conflict_key").size().max() <= 8
    for _, block in english.groupby("conflict_key", sort=False):
        sentences = list(block["query"])
        for index, positive in enumerate(block["positive"]):
            # Up to two neighbours on each side, from the block alone.
            assert positive == " ".join(sentences[i] for i in range(max(0, index - 2), index + 3) if i != index and i < len(sentences))


def test_context_retrieval_asks_for_the_next_sentence_in_every_language_within_a_document():
    ids, documents = ["a:1", "a:2", "a:3", "b:1", "b:2", "c:1"], ["a", "a", "a", "b", "b", "c"]
    sentences = {"en": ["A1", "A2", "A3", "B1", "B2", "C1"], "de": ["a1", "a2", "a3", "b1", "b2", "c1"]}
    extracted = _context_tables(ids, documents, sentences)
    queries = extracted.queries.to_pandas()
    # Sentences pair up in order within a document: (a:1, a:2) and (b:1, b:2); a:3 and c:1 have no
    # partner, and a:3 never pairs with b:1 across the document boundary.
    assert sorted(zip(queries["qid"], queries["lang"], queries["text"], strict=True)) == [
        ("a:1", "de", "a1"),
        ("a:1", "en", "A1"),
        ("b:1", "de", "b1"),
        ("b:1", "en", "B1"),
    ]
    candidates = extracted.candidates.to_pandas()
    assert sorted(candidates["cid"]) == ["de:a:2", "de:b:2", "en:a:2", "en:b:2"]
    assert dict(zip(candidates["cid"], candidates["text"], strict=True))["de:b:2"] == "b2"
    # A query is relevant to its next sentence in every language, its own text is no candidate.
    qrels = extracted.qrels.to_pandas()
    assert sorted(zip(qrels["qid"], qrels["cid"], strict=True)) == [("a:1", "de:a:2"), ("a:1", "en:a:2"), ("b:1", "de:b:2"), ("b:1", "en:b:2")]
    assert not set(queries["text"]) & set(candidates["text"])
    assert set(queries["cluster"]) == {"a", "b"} and set(candidates["context_id"]) == {"a", "b"}


def test_context_benchmarks_of_the_domain_study_as_published(full):
    for name in ("tico19_scientific_context", "ntrex_news_context", "tico19_encyclopedic_context"):
        extracted = full[name]
        candidates = extracted.candidates.to_pandas()
        queries = extracted.queries.to_pandas()
        qrels = extracted.qrels.to_pandas()
        languages = queries["lang"].nunique()
        # Every query has its next sentence in each language, in the query's own document.
        assert qrels.groupby("qid").size().eq(languages).all(), name
        document_of = dict(zip(candidates["cid"], candidates["context_id"], strict=True))
        cluster_of = dict(zip(queries["qid"], queries["cluster"], strict=True))
        assert all(document_of[cid] == cluster_of[qid] for qid, cid in zip(qrels["qid"], qrels["cid"], strict=True)), name
        assert not set(queries["qid"]) & {cid.split(":", 1)[1] for cid in candidates["cid"]}, name
    scientific = full["tico19_scientific_context"].qrels.to_pandas()
    # TICO-19 ids are "{document}:{n}": the relevant sentence is the next one.
    assert all(int(cid.rsplit(":", 1)[1]) == int(qid.rsplit(":", 1)[1]) + 1 for qid, cid in zip(scientific["qid"], scientific["cid"], strict=True))


def test_a_union_benchmark_pools_every_parts_candidates_for_the_first_parts_queries(full):
    union, scientific, news = full["tico19_scientific_context_union"], full["tico19_scientific_context"], full["ntrex_news_context"]
    assert union.queries.equals(
        scientific.queries.select(union.queries.column_names).filter(
            pc.is_in(scientific.queries["lang"], value_set=pa.array(DATASETS["tico19_scientific_context_union"].languages))
        )
    )
    shared = pc.is_in(news.candidates["lang"], value_set=pa.array(DATASETS["tico19_scientific_context_union"].languages))
    assert set(union.candidates["cid"].to_pylist()) >= set(news.candidates.filter(shared)["cid"].to_pylist())
    assert union.qrels.num_rows < union.candidates.num_rows and union.pairs.num_rows == 0


def test_aligned_paragraphs_have_as_many_sentences_of_like_shares():
    assert _aligned([["One two.", "Three four five."], ["Eins zwei.", "Drei vier fünf."]])
    assert not _aligned([["One two.", "Three four five."], ["Eins zwei. Drei vier fünf."]])
    # As many sentences, split elsewhere: the first is a tenth of one paragraph and most of the other.
    assert not _aligned([["A.", "B c d e f g h i j k l m n o p q r s."], ["A b c d e f g h i j k l m n.", "O p q r s."]])


def test_xquad_r_neighbours_hold_the_paragraphs_that_segment_alike(raw_root):
    chosen = ["ar", "en", "es", "ru", "zh"]
    extracted = extract(DATASETS["xquad_r_neighbours"], raw_root / "xquad_r_neighbours", chosen)
    pairs = extracted.pairs.to_pandas()
    # 107 of the 240 paragraphs have as many sentences in these five languages, 101 of them in like
    # shares; 3 of those are one sentence long, without a neighbour to pair with.
    assert len(pc.unique(extracted.candidates["context_id"])) == 101 and extracted.queries.num_rows == 5 * 463
    assert pairs["conflict_key"].nunique() == 98
    assert pairs.groupby("group_id")["lang"].nunique().eq(5).all()


def test_the_topic_control_is_covid_text_of_another_domain(full):
    """Encyclopedic TICO-19 documents (Wikipedia on COVID-19), none of the scientific ones, and the
    union pools hold both domains' test documents."""
    encyclopedic = set(full["tico19_encyclopedic_context"].candidates["context_id"].to_pylist())
    scientific = set(full["tico19_scientific_context"].candidates["context_id"].to_pylist())
    assert len(encyclopedic) == 15 and all(name.startswith(("Wikipedia_handpicked_", "wiki_")) for name in encyclopedic)
    assert all(name.startswith("PubMed_") for name in scientific) and not encyclopedic & scientific
    news = set(full["ntrex_news_context"].candidates["context_id"].to_pylist())
    for union in ("tico19_scientific_context_union", "ntrex_news_context_union"):
        assert set(full[union].candidates["context_id"].to_pylist()) == scientific | news, union
