"""The text-overlap leak check (hybridbatch.data.overlap) on hand-made texts."""

import subprocess
import sys

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hybridbatch.core.contract import SCHEMAS
from hybridbatch.core.errors import DataError
from hybridbatch.data import overlap


def test_normalise_folds_width_case_and_punctuation():
    # NFKC turns the full-width letters and the ligature into plain ones; casefold turns ß into ss.
    assert overlap.normalise("  Ｆｕｌｌ-width\tﬁne STRAẞE, «quoted»!\n") == "full width fine strasse quoted"
    # Combining vowel signs are letters of the word, not punctuation.
    assert overlap.normalise("नमस्ते, दुनिया।") == "नमस्ते दुनिया"


def test_tokens_are_words_and_characters_of_unspaced_scripts():
    assert overlap.tokens(overlap.normalise("Hello, world: 42 times")) == ["hello", "world", "42", "times"]
    # Chinese and Thai: one token per character, Latin words and numbers inside them stay whole.
    assert overlap.tokens(overlap.normalise("美国有140万名教师(school teachers)")) == [
        "美",
        "国",
        "有",
        "140",
        "万",
        "名",
        "教",
        "师",
        "school",
        "teachers",
    ]
    assert overlap.tokens("ไทย") == ["ไ", "ท", "ย"]


def test_ngram_size_per_language():
    assert [overlap.ngram_size(lang) for lang in ("en", "de", "ar", "hi", "vi", "ru")] == [8] * 6
    assert overlap.ngram_size("zh") == overlap.ngram_size("ja") == 12
    assert overlap.ngram_size("th") == 32
    assert overlap.ngram_name("en") == "word 8-gram" and overlap.ngram_name("zh") == "character 12-gram"


def test_ngrams_of_a_text():
    assert overlap.ngrams("One two three, four!", 3) == ["one two three", "two three four"]
    assert overlap.ngrams("too short", 3) == []
    assert overlap.ngrams("美国有140万名", 6) == ["美国有 140 万名"]


def test_window_hashes_follow_the_ngrams_and_never_cross_texts():
    texts = [overlap.normalise(t) for t in ("a b c d", "e f", "c d e f")]
    hashes, owners = overlap.window_hashes(texts, 2)
    assert owners.tolist() == [0, 0, 0, 1, 2, 2, 2]
    # Equal n-grams hash equally ("c d" in texts 0 and 2, "e f" in texts 1 and 2), others differ.
    assert hashes[2] == hashes[4] and hashes[3] == hashes[6]
    assert len(set(hashes.tolist())) == 5
    again, _ = overlap.window_hashes(["x c d y"], 2)
    assert again[1] == hashes[2]  # the same n-gram in another call (deterministic hashing)


def test_counts_on_a_hand_computed_example():
    one_to_nine = "one two three four five six seven eight nine"
    benchmark = overlap.BenchmarkLanguage.of(
        "bench",
        "en",
        [
            one_to_nine,  # shares "one ... eight" and "two ... nine"
            "Two three four five six seven eight nine ten",  # shares "two ... nine"
            "One two three four five six seven",  # 7 words: no 8-gram at all
            "completely different words that nobody ever wrote in the source",
        ],
    )
    source = [f"Q: {one_to_nine}?", "an unrelated positive passage"]
    row = overlap.measure("exp", "src", source, benchmark)
    assert (row.benchmark_texts, row.texts_sharing_an_ngram, row.shared_ngrams) == (4, 2, 2)
    assert row.example == one_to_nine and row.example_ngram == "one two three four five six seven eight"
    assert row.share == 0.5


def test_chinese_is_compared_by_characters():
    text = "北京是中华人民共和国的首都也是全国的政治中心"
    benchmark = overlap.BenchmarkLanguage.of("bench", "zh", [text, "完全不同的另一个句子没有任何重复的内容在这里"])
    # The source holds 12 consecutive characters of the first text, inside other text.
    row = overlap.measure("exp", "src", ["他说" + text[3:15] + "。"], benchmark)
    assert (row.texts_sharing_an_ngram, row.shared_ngrams) == (1, 1)
    assert row.example_ngram == text[3:15]
    # 11 characters are not enough.
    assert overlap.measure("exp", "src", [text[3:14]], benchmark).texts_sharing_an_ngram == 0


def test_a_source_matches_in_any_language_and_after_normalisation():
    benchmark = overlap.BenchmarkLanguage.of("bench", "de", ["Der schnelle braune Fuchs springt über den faulen Hund."])
    row = overlap.measure("exp", "src", ["«DER SCHNELLE BRAUNE FUCHS — springt über den faulen Hund»"], benchmark)
    assert row.texts_sharing_an_ngram == 1


def test_short_texts_are_caught_by_whole_text_identity():
    """A text shorter than the n-gram has no n-gram: before the whole-text check, a copied short
    question or Tatoeba sentence never counted as shared."""
    benchmark = overlap.BenchmarkLanguage.of("bench", "en", ["Tom needs water.", "Where is the station?", "Who built it?", "!!!", "{NS}", "Thank you!"])
    row = overlap.measure("exp", "src", ["TOM NEEDS WATER", "Who built it? Nobody knows.", "?", "{NS}", "thank you"], benchmark)
    # Identical after normalisation: the first text; a text inside a longer one is not identical,
    # and a text of fewer than 3 tokens (a placeholder like TICO-19's "{NS}", "Thank you!", a
    # punctuation-only text) never is: such texts occur in unrelated corpora alike.
    assert (row.texts_sharing_an_ngram, row.texts_identical, row.texts_shared) == (0, 1, 1)
    assert row.share == 1 / 6 and row.example == "Tom needs water." and row.example_ngram is None
    chinese = overlap.BenchmarkLanguage.of("bench", "zh", ["我喜欢你。"])
    assert overlap.measure("exp", "src", ["我喜欢你"], chinese).texts_identical == 1


def test_identical_short_texts_stop_the_run(tmp_path):
    short = [("en", f"Question number {i}?") for i in range(10)]
    check = write_tables(tmp_path, short, [("question number 3", "a passage.", ["question number 4!"])])
    with pytest.raises(DataError, match=r"2 of 10 texts \(20.0%\).*\(0\) or are identical.*\(2\).*'Question number 3\?' is identical to a source text"):
        overlap.leak_check([check], 0.1, tmp_path / "overlap.csv")


def write_tables(folder, benchmark_texts, source_pairs):
    """A benchmark (queries, candidates) and a source pairs table under folder, as the workflow has them."""
    queries = pa.Table.from_pydict(
        {
            "qid": [f"q{i}" for i in range(len(benchmark_texts))],
            "lang": [lang for lang, _ in benchmark_texts],
            "text": [t for _, t in benchmark_texts],
            "cluster": [f"q{i}" for i in range(len(benchmark_texts))],
        },
        schema=SCHEMAS["queries"],
    )
    candidates = pa.Table.from_pydict({"cid": [], "lang": [], "text": [], "context_id": []}, schema=SCHEMAS["candidates"])
    pairs = pa.Table.from_pydict(
        {
            "group_id": [str(i) for i in range(len(source_pairs))],
            "conflict_key": [str(i) for i in range(len(source_pairs))],
            "lang": ["en"] * len(source_pairs),
            "query": [q for q, _, _ in source_pairs],
            "positive": [p for _, p, _ in source_pairs],
            "hard_negatives": [n for _, _, n in source_pairs],
        },
        schema=SCHEMAS["pairs"],
    )
    paths = {name: folder / f"{name}.parquet" for name in ("queries", "candidates", "pairs")}
    for name, table in (("queries", queries), ("candidates", candidates), ("pairs", pairs)):
        pq.write_table(table, paths[name])
    return overlap.Check("exp", "bench", str(paths["queries"]), str(paths["candidates"]), "toy", str(paths["pairs"]))


LEAKED = "The castle on the hill was built in the year 1200 by a duke."


def test_a_planted_overlap_stops_with_a_one_line_message(tmp_path):
    benchmark_texts = [
        ("en", LEAKED),
        *[("en", f"question number {i} about something else entirely here") for i in range(9)],
        ("de", "ein ganz anderer deutscher Satz mit mehr als acht Wörtern darin"),
    ]
    # The leaked text hides in a hard negative.
    check = write_tables(tmp_path, benchmark_texts, [("a question?", "a passage.", ["noise", LEAKED.upper()])])
    output = tmp_path / "overlap.csv"
    with pytest.raises(DataError) as raised:
        overlap.leak_check([check], 0.05, output)
    message = str(raised.value)
    assert "\n" not in message
    for part in (
        "experiment 'exp'",
        "training source 'toy'",
        "benchmark 'bench'",
        "language en",
        "1 of 10 texts (10.0%)",
        "word 8-gram",
        repr(LEAKED),
        "data.max_overlap = 0.05",
    ):
        assert part in message, part
    assert not output.exists()


def test_an_overlap_within_the_limit_writes_the_table(tmp_path):
    benchmark_texts = [("en", LEAKED), *[("en", f"question number {i} about something else entirely here") for i in range(9)]]
    check = write_tables(tmp_path, benchmark_texts, [("a question?", LEAKED, ["noise"])])
    output = tmp_path / "overlap.csv"
    overlap.leak_check([check], 0.1, output)
    table = pd.read_csv(output)
    assert list(table.columns) == overlap.COLUMNS
    # LEAKED has 14 words: 7 word 8-grams, all in the source.
    assert table.to_dict("records") == [
        {
            "experiment": "exp",
            "train_source": "toy",
            "benchmark": "bench",
            "lang": "en",
            "benchmark_texts": 10,
            "texts_sharing_an_ngram": 1,
            "texts_identical": 1,
            "texts_shared": 1,
            "shared_ngrams": 7,
        }
    ]
    combined = overlap.combine_tables([output, output], 0.1, tmp_path / "all.csv", tmp_path / "all.html")
    assert len(combined) == 2 and "<table" in (tmp_path / "all.html").read_text()


def test_the_largest_leak_is_named(tmp_path):
    english = [("en", f"sentence {i} with a few more words to make eight") for i in range(4)]
    german = [("de", f"Satz {i} mit ein paar Wörtern mehr um acht zu haben") for i in range(4)]
    # One English text of four leaks, every German one.
    check = write_tables(tmp_path, english + german, [("q", english[0][1], [t for _, t in german])])
    with pytest.raises(DataError, match=r"language de: 4 of 4 texts \(100.0%\).*\(1 more pair\(s\) over the limit"):
        overlap.leak_check([check], 0.2, tmp_path / "overlap.csv")


def test_the_library_does_not_import_torch():
    """It runs on every CI run: importing torch alone would take seconds."""
    code = "import sys, hybridbatch.data.overlap; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
