import shutil

import pytest

from hybridbatch.core.errors import DataError
from hybridbatch.data.extract import extract_ntrex
from hybridbatch.data.registry import DATASETS

from conftest import FIXTURES


@pytest.fixture
def ntrex_dir(tmp_path):
    folder = tmp_path / "ntrex"
    shutil.copytree(FIXTURES / "ntrex", folder)
    return folder


def test_pairs_take_up_to_two_neighbours_each_side_in_the_document(ntrex_dir):
    pairs = {(r["group_id"], r["lang"]): r for r in extract_ntrex(DATASETS["ntrex"], ntrex_dir, ["en", "zh"]).pairs.to_pylist()}
    assert pairs[("1", "en")]["positive"] == "S2. S3."
    assert pairs[("3", "en")]["positive"] == "S1. S2. S4. S5."
    assert pairs[("5", "en")]["positive"] == "S3. S4."
    # Chinese is written without spaces between sentences.
    assert pairs[("3", "zh")]["positive"] == "句一。句二。句四。句五。"
    assert pairs[("3", "en")]["conflict_key"] == "docA"
    assert pairs[("3", "en")]["hard_negatives"] == []
    # Line 6 is a one-sentence document: no neighbour, no pair.
    assert ("6", "en") not in pairs
    assert len(pairs) == 10


def test_translations_are_relevant(ntrex_dir):
    extracted = extract_ntrex(DATASETS["ntrex"], ntrex_dir, ["en", "zh"])
    qrels = sorted(zip(extracted.qrels["qid"].to_pylist(), extracted.qrels["cid"].to_pylist(), strict=True))
    assert [cid for qid, cid in qrels if qid == "6"] == ["en:6", "zh:6"]
    assert len(qrels) == 12
    candidates = extracted.candidates.to_pylist()
    assert {"cid": "zh:6", "lang": "zh", "text": "孤句。", "context_id": "docB"} in candidates


def test_misaligned_language_file_is_refused(ntrex_dir):
    (ntrex_dir / "zh.txt").write_text("句一。\n句二。\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"zh\.txt: 2 lines, but DOCUMENT_IDS\.tsv has 6"):
        extract_ntrex(DATASETS["ntrex"], ntrex_dir, ["en", "zh"])


def test_empty_sentence_names_the_line(ntrex_dir):
    (ntrex_dir / "en.txt").write_text("S1.\nS2.\n \nS4.\nS5.\nLonely.\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"en\.txt: line 3: empty sentence"):
        extract_ntrex(DATASETS["ntrex"], ntrex_dir, ["en"])


def test_document_resuming_after_another_is_refused(ntrex_dir):
    (ntrex_dir / "DOCUMENT_IDS.tsv").write_text("docA\ndocB\ndocA\ndocA\ndocA\ndocA\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 3: document docA resumes"):
        extract_ntrex(DATASETS["ntrex"], ntrex_dir, ["en"])
