import json

import pytest

from hybridbatch.errors import DataError
from hybridbatch.extract import extract_lareqa
from hybridbatch.lareqa import read_language_file


def rows(table, *columns):
    return sorted(zip(*(table[c].to_pylist() for c in columns), strict=True))


def test_candidates_are_paragraph_sentences(lareqa_dir):
    extracted = extract_lareqa(lareqa_dir, ["en", "zh"])
    assert rows(extracted.candidates, "cid", "lang", "text", "context_id") == [
        ("en:0:0", "en", "Alpha is first.", "en:0"),
        ("en:0:1", "en", "Beta is second.", "en:0"),
        ("en:0:2", "en", "Gamma is third.", "en:0"),
        ("en:1:0", "en", "Only one sentence.", "en:1"),
        ("zh:0:0", "zh", "甲是第一。", "zh:0"),
        ("zh:0:1", "zh", "乙是第二。", "zh:0"),
        ("zh:0:2", "zh", "丙是第三。", "zh:0"),
        ("zh:1:0", "zh", "另一段。", "zh:1"),
    ]


def test_relevant_sentence_holds_the_answer_start(lareqa_dir):
    # First, last and middle sentence; the zh middle answer starts inside its sentence, in
    # characters (a byte offset would land in another sentence).
    qrels = rows(extract_lareqa(lareqa_dir, ["en", "zh"]).qrels, "qid", "cid")
    assert qrels == [
        ("q-first", "en:0:0"),
        ("q-first", "zh:0:0"),
        ("q-last", "en:0:2"),
        ("q-last", "zh:0:2"),
        ("q-middle", "en:0:1"),
        ("q-middle", "zh:0:1"),
        ("q-solo", "en:1:0"),
        ("q-zh-only", "zh:1:0"),
    ]


def test_queries_share_qid_across_languages(lareqa_dir):
    queries = rows(extract_lareqa(lareqa_dir, ["en", "zh"]).queries, "qid", "lang", "text")
    assert ("q-middle", "en", "What is second?") in queries
    assert ("q-middle", "zh", "什么是第二？") in queries
    assert len(queries) == 8


def test_pairs_view(lareqa_dir):
    pairs = extract_lareqa(lareqa_dir, ["en", "zh"]).pairs
    by_key = {(r["group_id"], r["lang"]): r for r in pairs.to_pylist()}
    assert len(by_key) == pairs.num_rows == 8
    last_en = by_key[("q-last", "en")]
    assert last_en["query"] == "What is third?"
    assert last_en["positive"] == "Gamma is third."
    assert last_en["hard_negatives"] == ["Alpha is first.", "Beta is second."]
    assert by_key[("q-middle", "zh")]["positive"] == "乙是第二。"
    assert by_key[("q-solo", "en")]["hard_negatives"] == []


def test_conflict_key_joins_paragraphs_linked_by_parallel_questions(lareqa_dir):
    keys = {(r["group_id"], r["lang"]): r["conflict_key"] for r in extract_lareqa(lareqa_dir, ["en", "zh"]).pairs.to_pylist()}
    # en:0 and zh:0 hold translations of the same questions: one conflict group.
    assert {keys[(q, lang)] for q in ("q-first", "q-last", "q-middle") for lang in ("en", "zh")} == {"en:0"}
    assert keys[("q-solo", "en")] == "en:1"
    assert keys[("q-zh-only", "zh")] == "zh:1"


def test_language_selection_reads_only_those_files(lareqa_dir):
    (lareqa_dir / "en.json").unlink()
    extracted = extract_lareqa(lareqa_dir, ["zh"])
    assert set(extracted.queries["lang"].to_pylist()) == {"zh"}


def _corrupt(lareqa_dir, change):
    path = lareqa_dir / "en.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def test_malformed_json_names_file_and_position(lareqa_dir):
    path = lareqa_dir / "en.json"
    path.write_text('{"data": [ {"paragraphs": [}', encoding="utf-8")
    with pytest.raises(DataError, match=r"en\.json: malformed JSON at line 1, column 28"):
        read_language_file(path, "en")


def test_answer_in_no_sentence_names_the_question(lareqa_dir):
    # Offset 15 is the space between two sentences: no sentence span holds it.
    def change(document):
        document["data"][0]["paragraphs"][0]["qas"][1]["answers"][0]["answer_start"] = 15

    path = _corrupt(lareqa_dir, change)
    with pytest.raises(DataError, match=r"data\[0\]\.paragraphs\[0\]\.qas\[1\] \(id q-last\).*offset 15 falls in no sentence"):
        read_language_file(path, "en")


def test_empty_question_is_refused(lareqa_dir):
    def change(document):
        document["data"][1]["paragraphs"][0]["qas"][0]["question"] = "   "

    path = _corrupt(lareqa_dir, change)
    with pytest.raises(DataError, match=r"data\[1\]\.paragraphs\[0\]\.qas\[0\] \(id q-solo\)\.question: empty question"):
        read_language_file(path, "en")


def test_duplicate_question_id_is_refused(lareqa_dir):
    def change(document):
        document["data"][1]["paragraphs"][0]["qas"][0]["id"] = "q-first"

    with pytest.raises(DataError, match="q-first.*appears twice"):
        read_language_file(_corrupt(lareqa_dir, change), "en")


def test_missing_field_is_named(lareqa_dir):
    def change(document):
        del document["data"][0]["paragraphs"][0]["sentence_breaks"]

    with pytest.raises(DataError, match=r"data\[0\]\.paragraphs\[0\]: missing field 'sentence_breaks'"):
        read_language_file(_corrupt(lareqa_dir, change), "en")


def test_sentence_count_must_match_breaks(lareqa_dir):
    def change(document):
        document["data"][0]["paragraphs"][0]["sentence_breaks"].pop()

    with pytest.raises(DataError, match="3 sentences but 2 sentence_breaks"):
        read_language_file(_corrupt(lareqa_dir, change), "en")
