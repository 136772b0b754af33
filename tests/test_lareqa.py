import json

import pytest

from hybridbatch.core.errors import DataError
from hybridbatch.data.extract import extract_lareqa
from hybridbatch.data.formats.lareqa import read_language_file


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


@pytest.mark.parametrize(
    ("breaks", "message"),
    [
        # Overlapping: the second sentence starts inside the first.
        ([[0, 15], [10, 31], [32, 47]], r"sentence_breaks\[1\]: \[10, 31\] starts before the previous sentence ends at 15"),
        # Unordered: the first two spans swapped.
        ([[16, 31], [0, 15], [32, 47]], r"sentence_breaks\[0\]: context\[16:31\] is 'Beta is second\.', not the sentence 'Alpha is first\.'"),
        ([[0, 15], [32, 47], [16, 31]], r"sentence_breaks\[1\]: context\[32:47\] is 'Gamma is third\.', not the sentence 'Beta is second\.'"),
        # Past the end of the context.
        ([[0, 15], [16, 31], [32, 60]], r"sentence_breaks\[2\]: \[32, 60\] ends beyond the context \(47 characters\)"),
        # In order, but holding another text than its sentence.
        ([[0, 15], [16, 24], [25, 47]], r"sentence_breaks\[1\]: context\[16:24\] is 'Beta is ', not the sentence 'Beta is second\.'"),
        ([[0, 15], [16, 31], [-1, 47]], r"sentence_breaks\[2\]: expected \[start, end\] with 0 <= start < end, got \[-1, 47\]"),
    ],
)
def test_bad_sentence_breaks_name_the_paragraph_and_break(lareqa_dir, breaks, message):
    def change(document):
        document["data"][0]["paragraphs"][0]["sentence_breaks"] = breaks

    with pytest.raises(DataError, match=r"en\.json: data\[0\]\.paragraphs\[0\]\." + message):
        read_language_file(_corrupt(lareqa_dir, change), "en")


def test_a_span_drifting_by_a_character_is_kept(lareqa_dir, caplog):
    # As in the published XQuAD-R tr.json: the span is shifted against its sentence but holds it nearly.
    def change(document):
        document["data"][0]["paragraphs"][0]["sentence_breaks"] = [[0, 15], [17, 31], [32, 47]]

    parsed = read_language_file(_corrupt(lareqa_dir, change), "en")
    assert parsed.paragraphs[0].sentences[1] == "Beta is second."
    assert "sentence_breaks[1]: span differs slightly from its sentence (similarity 0.97); kept" in caplog.text


def test_an_answer_between_sentences_or_outside_says_which(lareqa_dir):
    def change(document):
        document["data"][0]["paragraphs"][0]["qas"][1]["answers"][0]["answer_start"] = 47

    with pytest.raises(DataError, match=r"offset 47 lies outside the sentences, which cover characters 0\.\.47$"):
        read_language_file(_corrupt(lareqa_dir, change), "en")
