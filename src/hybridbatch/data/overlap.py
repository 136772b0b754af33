"""Text overlap between training sources and benchmarks: the leak check that origin labels miss.

The config's leak guard (hybridbatch.config) refuses a training source of the same origin as the
benchmark, but a source of another origin can still contain benchmark text (a Wikipedia paragraph
in two corpora, a web crawl that holds the benchmark). This module measures the shared text.

A benchmark text (a row of queries.parquet or candidates.parquet, per language) "shares an n-gram"
with a training source when any of its n-grams occurs in any text of the source's pairs table
(query, positive or hard negative, any language). Texts are normalised first: Unicode NFKC,
casefold, every punctuation character (Unicode category P*) replaced by a space.

Tokens are words (runs of characters between spaces), except in the scripts written without spaces
between words (Thai, Lao, Khmer, Burmese, Chinese, Japanese kana and ideographs), where each
character is a token: a whitespace split there gives whole clauses, which would miss copies that
differ by one character. Latin words and numbers inside such a text stay whole words, so "school
teachers" inside Chinese text counts as two tokens, not fourteen characters.

- Spaced languages: word 8-grams. Eight words are longer than the names, dates and fixed phrases
  that unrelated texts share, and shorter than any copied sentence.
- Unspaced languages (NGRAM_SIZES), n sized to about eight words: 12 tokens for Chinese and
  Japanese (a word is about 1.5 characters), 32 for Thai, Lao, Khmer and Burmese (alphabets whose
  letters and vowel marks are separate code points: a Thai word is about 4-5 of them). Measured on
  XQuAD-R / MLQA-R / NTREX: Chinese 8-grams share 0.6-0.7% of the texts between XQuAD-R and
  MLQA-R (phrases like "的两个例子是什么", "what are two examples of"), 10-grams 0.04%, 12-grams none; Thai 24-grams share 0.4% of
  XQuAD-R's Thai texts with NTREX ("which is normal for"), 32-grams none. Training on the benchmark
  itself still shares 89% (zh) and 93% (th) of the texts, like word 8-grams in the other languages.

A text shorter than n tokens has no n-gram (a short question, most Tatoeba sentences, a dialogue
turn), so whole texts are compared too: a benchmark text of at least MIN_IDENTICAL_TOKENS tokens
whose normalised form equals a source text's is *identical*. A text is *shared* when it shares an n-gram or is identical, and the limit
applies to the shared texts.
Tokens, whole texts and n-grams are hashed to 64 bits in numpy (one rolling hash over many texts at once, no
Python loop per n-gram). The benchmark's n-grams (the small side, ~10^6) are one sorted uint64
array; the source is streamed through it in batches, so memory does not grow with the source.
The real data (~10^5 texts) takes well under a minute. A collision (about 1e-7 chance over the
real data) could only add a shared n-gram, never hide one.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from hybridbatch.core.errors import DataError
from hybridbatch.core.io import read_frame, read_frame_csv, reading, write_frame_csv, write_text

log = logging.getLogger(__name__)

WORD_NGRAM = 8
# A whole text shorter than this (in tokens) is no evidence when identical: a word or two, or a
# transcript's placeholder such as TICO-19's "{NS}", occurs in unrelated corpora alike.
MIN_IDENTICAL_TOKENS = 3
# Languages written without spaces between words, and their n (in characters, see above).
NGRAM_SIZES: dict[str, int] = {"zh": 12, "ja": 12, "th": 32, "lo": 32, "km": 32, "my": 32}
WORDS_WITHOUT_SPACES = frozenset(NGRAM_SIZES)
# Thai, Lao, Burmese, Khmer, CJK radicals to kana and bopomofo, CJK ideographs (and extensions).
_UNSPACED_SCRIPTS = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u2e80-\u2fdf\u3005-\u3007\u3040-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"
_TOKEN = re.compile(f"[{_UNSPACED_SCRIPTS}]|[^\\s{_UNSPACED_SCRIPTS}]+")
_UNSPACED_CHARACTER = re.compile(f"[{_UNSPACED_SCRIPTS}]")
COLUMNS = ["experiment", "train_source", "benchmark", "lang", "benchmark_texts", "texts_sharing_an_ngram", "texts_identical", "texts_shared", "shared_ngrams"]
# A one-line error message quotes at most this many characters of the example text.
EXAMPLE_CHARACTERS = 200


def ngram_size(lang: str) -> int:
    """n of the n-grams compared for a benchmark language."""
    return NGRAM_SIZES.get(lang, WORD_NGRAM)


def ngram_name(lang: str) -> str:
    """How a message names the n-grams of a language: "word 8-gram", "character 12-gram"."""
    return f"{'character' if lang in WORDS_WITHOUT_SPACES else 'word'} {ngram_size(lang)}-gram"


@cache
def _punctuation_to_space() -> dict[int, str]:
    """Every Unicode punctuation code point mapped to a space (built once, in about a second).

    Not a regex of \\W: combining vowel signs (Hindi, Thai) are not \\w and would be lost."""
    return {point: " " for point in range(sys.maxunicode + 1) if unicodedata.category(chr(point)).startswith("P")}


def normalise(text: str) -> str:
    """NFKC, casefolded, punctuation replaced by spaces, whitespace runs collapsed to one space."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_punctuation_to_space())
    return " ".join(folded.split())


def tokens(normalised: str) -> list[str]:
    """Words, and single characters of the scripts written without spaces."""
    return _TOKEN.findall(normalised)


def _joined(ngram: Sequence[str]) -> str:
    """An n-gram as text: a space between tokens unless both are unspaced-script characters."""
    parts = [ngram[0]]
    for before, token in itertools.pairwise(ngram):
        unspaced = _UNSPACED_CHARACTER.fullmatch(before) and _UNSPACED_CHARACTER.fullmatch(token)
        parts.append(token if unspaced else " " + token)
    return "".join(parts)


def ngrams(text: str, n: int) -> list[str]:
    """The n-grams of a text (normalised here), in text order; none when it has fewer than n tokens."""
    found = tokens(normalise(text))
    return [_joined(found[start : start + n]) for start in range(len(found) - n + 1)]


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def _mixed(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit moves every output bit."""
    with np.errstate(over="ignore"):
        values = values + _GOLDEN
        values = (values ^ (values >> np.uint64(30))) * _MIX_1
        values = (values ^ (values >> np.uint64(27))) * _MIX_2
        return values ^ (values >> np.uint64(31))


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique by sorting (numpy 2's hash-based unique takes seconds on millions of uint64)."""
    ordered = np.sort(values)
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if ordered.size else ordered


def _lookup(sorted_values: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of `queries` would sit in the sorted array, and whether it occurs there
    (np.isin, without re-sorting the big side)."""
    if not sorted_values.size:
        return np.zeros(queries.shape, dtype=np.int64), np.zeros(queries.shape, dtype=bool)
    where = np.minimum(np.searchsorted(sorted_values, queries), sorted_values.size - 1)
    return where, sorted_values[where] == queries


def _contains(sorted_values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Which `queries` occur in the sorted array."""
    return _lookup(sorted_values, queries)[1]


def _token_hashes(normalised: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Every token of the texts hashed (pandas: deterministic, unlike Python's salted str hash),
    in order, and each text's token count."""
    per_text = [tokens(text) for text in normalised]
    lengths = np.fromiter(map(len, per_text), dtype=np.int64, count=len(per_text))
    flat = np.array([token for found in per_text for token in found], dtype=object)
    hashes = pd.util.hash_array(flat, categorize=True) if flat.size else np.empty(0, dtype=np.uint64)
    return hashes, lengths


def _windows(token_hashes: np.ndarray, lengths: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """One polynomial rolling hash over all texts' tokens at once; windows that run from one text
    into the next are dropped. Returns the n-gram hashes and the index of each one's text."""
    windows = token_hashes.size - n + 1
    if windows <= 0:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    hashes = np.zeros(windows, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for offset in range(n):
            hashes = hashes * _MIX_1 + token_hashes[offset : offset + windows]
    text_of_token = np.repeat(np.arange(lengths.size), lengths)
    inside = text_of_token[:windows] == text_of_token[n - 1 :]
    return _mixed(hashes[inside]), text_of_token[:windows][inside]


def window_hashes(normalised: Sequence[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """The hash of every n-gram of the (normalised) texts, and the index of the text it is in."""
    return _windows(*_token_hashes(normalised), n)


# Whole-text hashes are salted apart from n-gram hashes, so a text never matches an n-gram.
_WHOLE_TEXT_SALT = np.uint64(0x5851F42D4C957F2D)


def text_hashes(normalised: Sequence[str]) -> np.ndarray:
    """The hash of each (normalised) whole text."""
    if not normalised:
        return np.empty(0, dtype=np.uint64)
    return _mixed(pd.util.hash_array(np.array(normalised, dtype=object), categorize=True) ^ _WHOLE_TEXT_SALT)


@dataclass(frozen=True)
class BenchmarkLanguage:
    """One benchmark language's texts and their hashed n-grams (the small side of the check)."""

    benchmark: str
    lang: str
    texts: list[str]
    hashes: np.ndarray
    owners: np.ndarray  # index in texts of each hash
    whole: np.ndarray  # each text's whole-text hash
    too_short: np.ndarray  # texts of fewer than MIN_IDENTICAL_TOKENS tokens: never identical

    @property
    def n(self) -> int:
        return ngram_size(self.lang)

    @classmethod
    def of(cls, benchmark: str, lang: str, texts: list[str]) -> BenchmarkLanguage:
        normalised = [normalise(text) for text in texts]
        hashes, owners = window_hashes(normalised, ngram_size(lang))
        too_short = np.array([len(tokens(text)) < MIN_IDENTICAL_TOKENS for text in normalised], dtype=bool)
        return cls(benchmark, lang, texts, hashes, owners, text_hashes(normalised), too_short)


@dataclass(frozen=True)
class Present:
    """The benchmark hashes found in a source: n-grams per n, and whole texts (sorted arrays)."""

    ngrams: dict[int, np.ndarray]
    texts: np.ndarray


def _mark(seen: np.ndarray, wanted: np.ndarray, hashes: np.ndarray) -> None:
    if wanted.size:
        where, found = _lookup(wanted, hashes)
        seen[where[found]] = True


def present_in_source(source_text_batches: Iterable[Sequence[str]], ngram_targets: Mapping[int, np.ndarray], text_targets: np.ndarray) -> Present:
    """Which of the sorted target hashes (n-grams per n, whole texts) occur in the source's texts.

    The source is streamed batch by batch and never held whole: memory follows the benchmark's
    hashes, so a paper-scale source (millions of texts) fits as well as the built-in ones."""
    seen = {n: np.zeros(wanted.size, dtype=bool) for n, wanted in ngram_targets.items()}
    seen_texts = np.zeros(text_targets.size, dtype=bool)
    for batch in source_text_batches:
        normalised = list(dict.fromkeys(normalise(text) for text in batch))
        token_hashes, lengths = _token_hashes(normalised)
        for n, wanted in ngram_targets.items():
            _mark(seen[n], wanted, _windows(token_hashes, lengths, n)[0])
        _mark(seen_texts, text_targets, text_hashes(normalised))
    return Present({n: ngram_targets[n][seen[n]] for n in ngram_targets}, text_targets[seen_texts])


@dataclass(frozen=True)
class Overlap:
    """One row of the overlap table, with the first benchmark text that shares an n-gram."""

    experiment: str
    train_source: str
    benchmark: str
    lang: str
    benchmark_texts: int
    texts_sharing_an_ngram: int
    texts_identical: int
    texts_shared: int  # sharing an n-gram or identical
    shared_ngrams: int
    example: str | None = None
    example_ngram: str | None = None  # None: the example is identical to a source text

    @property
    def share(self) -> float:
        return self.texts_shared / self.benchmark_texts if self.benchmark_texts else 0.0


def overlap_row(experiment: str, train_source: str, language: BenchmarkLanguage, present: Present) -> Overlap:
    """The row of a benchmark language, given the hashes the source was found to have."""
    found = _contains(present.ngrams[language.n], language.hashes)
    sharing = np.zeros(len(language.texts), dtype=bool)
    sharing[language.owners[found]] = True
    identical = _contains(present.texts, language.whole) & ~language.too_short
    shared = np.flatnonzero(sharing | identical)
    example = example_ngram = None
    if shared.size:
        example = language.texts[int(shared[0])]
        if sharing[shared[0]]:
            example_hashes, _ = window_hashes([normalise(example)], language.n)
            example_ngram = ngrams(example, language.n)[int(np.argmax(_contains(present.ngrams[language.n], example_hashes)))]
    return Overlap(
        experiment,
        train_source,
        language.benchmark,
        language.lang,
        len(language.texts),
        int(sharing.sum()),
        int(identical.sum()),
        int(shared.size),
        int(_sorted_unique(language.hashes[found]).size),
        example,
        example_ngram,
    )


def measure(experiment: str, train_source: str, source_texts: Iterable[str], language: BenchmarkLanguage) -> Overlap:
    """The row of one benchmark language against one source held in memory (tests, small data)."""
    present = present_in_source([list(source_texts)], {language.n: _sorted_unique(language.hashes)}, _sorted_unique(language.whole))
    return overlap_row(experiment, train_source, language, present)


def pairs_texts(pairs: pd.DataFrame) -> list[str]:
    """Every text of a pairs table: queries, positives and hard negatives, all languages."""
    texts = [*pairs["query"], *pairs["positive"]]
    for negatives in pairs["hard_negatives"]:
        if negatives is not None:
            texts.extend(negatives)
    return texts


def benchmark_languages(benchmark: str, queries: pd.DataFrame, candidates: pd.DataFrame) -> list[BenchmarkLanguage]:
    """Per language (sorted): its queries then its candidates (every row; a repeated text counts each time)."""
    both = pd.concat([queries[["lang", "text"]], candidates[["lang", "text"]]], ignore_index=True)
    return [BenchmarkLanguage.of(benchmark, lang, group["text"].tolist()) for lang, group in both.groupby("lang", sort=True)]


def overlap_table(overlaps: Sequence[Overlap]) -> pd.DataFrame:
    return pd.DataFrame([[getattr(o, column) for column in COLUMNS] for o in overlaps], columns=COLUMNS)


def _quoted(text: str) -> str:
    """A text on one line, shortened, for a one-line message."""
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= EXAMPLE_CHARACTERS else flat[: EXAMPLE_CHARACTERS - 1] + "…")


def leak_message(overlap: Overlap, max_overlap: float, others: int) -> str:
    """The one-line report of a leaking (source, benchmark language)."""
    more = f" ({others} more pair(s) over the limit: see the table in this log)" if others else ""
    how = f"shares {overlap.example_ngram!r}" if overlap.example_ngram is not None else "is identical to a source text"
    return (
        f"experiment {overlap.experiment!r}: training source {overlap.train_source!r} shares text with benchmark "
        f"{overlap.benchmark!r}, language {overlap.lang}: {overlap.texts_shared} of {overlap.benchmark_texts} texts "
        f"({overlap.share:.1%}) share a {ngram_name(overlap.lang)} with it ({overlap.texts_sharing_an_ngram}) or are "
        f"identical to one of its texts after normalisation ({overlap.texts_identical}), over data.max_overlap = "
        f"{max_overlap:g}; e.g. the benchmark text {_quoted(overlap.example or '')} {how}{more}. "
        "Drop the source from the experiment's train_sources, remove the shared texts from it, or raise data.max_overlap"
    )


def check(overlaps: Sequence[Overlap], max_overlap: float) -> None:
    """Raise a DataError naming the largest share over `max_overlap`, if any."""
    leaking = [o for o in overlaps if o.share > max_overlap]
    if leaking:
        worst = max(leaking, key=lambda o: o.share)
        raise DataError(leak_message(worst, max_overlap, len(leaking) - 1))


@dataclass(frozen=True)
class Check:
    """One training source of one experiment, against the experiment's benchmark (file paths)."""

    experiment: str
    benchmark: str
    queries: str
    candidates: str
    train_source: str
    pairs: str


# Pairs rows read at a time from a source (with its hard negatives: about 10^5 texts).
_PAIRS_PER_BATCH = 20_000


def _pairs_batches(path: str, what: str) -> Iterable[list[str]]:
    """A pairs table's texts, batch by batch (a loaded source can hold millions of rows)."""
    with reading(path, what):
        table = pq.ParquetFile(path)
        for batch in table.iter_batches(batch_size=_PAIRS_PER_BATCH, columns=["query", "positive", "hard_negatives"]):
            yield pairs_texts(batch.to_pandas())


def measure_all(checks: Sequence[Check]) -> list[Overlap]:
    """Every check's rows (benchmark languages sorted). Each benchmark is hashed once and each
    source read once, against the n-grams of every benchmark language it is checked against."""
    languages: dict[str, list[BenchmarkLanguage]] = {}
    for item in checks:
        if item.benchmark not in languages:
            queries = read_frame(item.queries, f"queries table of {item.benchmark}", ["lang", "text"])
            candidates = read_frame(item.candidates, f"candidates table of {item.benchmark}", ["lang", "text"])
            languages[item.benchmark] = benchmark_languages(item.benchmark, queries, candidates)
    present: dict[str, Present] = {}
    for pairs, train_source in dict.fromkeys((item.pairs, item.train_source) for item in checks):
        checked = [language for item in checks if item.pairs == pairs for language in languages[item.benchmark]]
        targets = {
            n: _sorted_unique(np.concatenate([language.hashes for language in checked if language.n == n]))
            for n in sorted({language.n for language in checked})
        }
        texts = _sorted_unique(np.concatenate([language.whole for language in checked]))
        log.info("%s: looking for %s benchmark n-grams and %d whole texts", train_source, {n: wanted.size for n, wanted in targets.items()}, texts.size)
        present[pairs] = present_in_source(_pairs_batches(pairs, f"pairs table of {train_source}"), targets, texts)
    return [overlap_row(item.experiment, item.train_source, language, present[item.pairs]) for item in checks for language in languages[item.benchmark]]


def overlap_html(table: pd.DataFrame, max_overlap: float) -> str:
    """The table as an HTML page for the Snakemake report (which offers a CSV only as a download)."""
    shown = table.assign(share=(table["texts_shared"] / table["benchmark_texts"]).map("{:.2%}".format))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Text overlap</title><style>"
        "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f3f3f3}</style></head><body>"
        f"<h1>Text overlap of training sources with benchmarks</h1><p>Limit (data.max_overlap): {max_overlap:.2%} "
        "of a benchmark language's texts.</p>" + shown.to_html(index=False, border=0) + "</body></html>\n"
    )


def leak_check(checks: Sequence[Check], max_overlap: float, table_csv: str | os.PathLike[str]) -> pd.DataFrame:
    """Measure every check, log the table and its examples, stop on a leak, else write the table.

    On a leak nothing is written: the table stays in the log and training cannot start."""
    overlaps = measure_all(checks)
    table = overlap_table(overlaps)
    log.info("text overlap (limit data.max_overlap = %g):\n%s", max_overlap, table.to_string(index=False))
    for row in overlaps:
        if row.example is not None:
            log.info(
                "%s: %s vs %s %s: %d text(s) (%.2f%%; %d identical), e.g. %s %s",
                row.experiment,
                row.train_source,
                row.benchmark,
                row.lang,
                row.texts_shared,
                100 * row.share,
                row.texts_identical,
                _quoted(row.example),
                "is identical" if row.example_ngram is None else f"shares {row.example_ngram!r}",
            )
    check(overlaps, max_overlap)
    write_frame_csv(table, table_csv)
    return table


def combine_tables(
    tables: Sequence[str | os.PathLike[str]], max_overlap: float, table_csv: str | os.PathLike[str], table_html: str | os.PathLike[str]
) -> pd.DataFrame:
    """The experiments' checked tables as one CSV, and as HTML for the report."""
    frames = [read_frame_csv(path, "overlap table", keep_default_na=False, dtype={"lang": str}) for path in tables]
    table = pd.concat(frames, ignore_index=True)[COLUMNS] if frames else pd.DataFrame(columns=COLUMNS)
    write_frame_csv(table, table_csv)
    write_text(overlap_html(table, max_overlap), table_html)
    return table


def checks_from(entries: Iterable[Mapping[str, str]]) -> list[Check]:
    """Checks from the plain dicts a workflow rule passes as params."""
    return [Check(**entry) for entry in entries]
