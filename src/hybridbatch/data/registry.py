"""The data sets the pipeline knows: their files, public URLs, checksums and expected sizes.

Every raw file has a path inside the offline mirror (the layout of ../shared/data) and a public URL;
both yield the same bytes, pinned by the sha256 list shipped with this package.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources

from hybridbatch.data.formats import tico19
from hybridbatch.data.formats.tatoeba import TATOEBA_CODES, pair_files
from hybridbatch.data.formats.tico19 import TICO_CODES

LAREQA_URL = "https://raw.githubusercontent.com/google-research-datasets/lareqa"
# MLQA-R was later removed from LAReQA's master branch: pin the last commit that has it.
LAREQA_MLQA_COMMIT = "354d67d1cd066854cdfbf5ad0e6105528976141d"
NTREX_URL = "https://raw.githubusercontent.com/MicrosoftTranslator/NTREX/main"

# NTREX-128 names its files with ISO 639-3 codes (and regional variants).
NTREX_CODES = {
    "ar": "arb",
    "de": "deu",
    "el": "ell",
    "en": "eng-US",
    "es": "spa",
    "hi": "hin",
    "ru": "rus",
    "th": "tha",
    "tr": "tur",
    "vi": "vie",
    "zh": "zho-CN",
}
NTREX_DOCUMENT_IDS = "DOCUMENT_IDS.tsv"
TICO19_URL = "https://raw.githubusercontent.com/tico-19/tico-19.github.io/d97615f9cffa28ec7de571e00fbd513e5a1c7fc7/data/TM"
TATOEBA_URL = "https://raw.githubusercontent.com/facebookresearch/LASER/74bc6ae7ffb7cba670fe0f428d0ede9f666fb821/data/tatoeba/v1"


@dataclass(frozen=True)
class RawFile:
    """One file of a data set: its name under resources/raw/{dataset}/ and where it comes from."""

    name: str
    mirror_path: str
    url: str
    lang: str | None = None


@dataclass(frozen=True)
class DocumentView:
    """A slice of a parallel corpus by whole documents: those of `domain` (None: all), and of them
    the `split` side ("test" or "train") of a seeded split that puts at least `test_share` of the
    sentences in the test side (hybridbatch.data.splits), or "all" of them."""

    domain: str | None
    split: str
    test_share: float = 0.5
    seed: int = 0
    # Training pairs from blocks of this many consecutive sentences of a document (a block is the
    # pairs' context and conflict key): a split of few long documents (TICO-19's scientific training
    # side: 3 articles) then offers a batch enough groups that share no text. None: whole documents.
    block: int | None = None


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    format: str  # which extractor reads it (hybridbatch.data.extract.EXTRACTORS)
    languages: tuple[str, ...]
    # The corpus the text was taken from. Training on a source of the same origin as the benchmark
    # leaks evaluation text into training (XQuAD is SQuAD dev translated; MLQA-R is MLQA).
    origin: str
    files: tuple[RawFile, ...]
    expected_queries: dict[str, int] = field(default_factory=dict)
    expected_candidates: dict[str, int] = field(default_factory=dict)
    expected_contexts: int | None = None  # distinct context_ids over all languages, where published
    # Translation retrieval (a sentence's relevant candidates are its translations): the query's own
    # text is in its language's pool, so the monolingual setting is trivial and is not scored, and
    # the multilingual pool is every other language's.
    translation: bool = False
    view: DocumentView | None = None
    # Next-sentence retrieval on the parallel text instead of translation retrieval
    # (hybridbatch.data.extract._context_tables): mono, cross and multilingual pools as on XQuAD-R.
    context_retrieval: bool = False
    # A union benchmark (format "union"): the queries of parts[0] against the candidates of every part.
    parts: tuple[str, ...] = ()

    def file(self, name: str) -> RawFile:
        for raw in self.files:
            if raw.name == name:
                return raw
        raise KeyError(f"dataset {self.name} has no file {name!r}")


def _lareqa(name: str, folder: str, ref: str, queries: dict[str, int], candidates: dict[str, int], origin: str) -> DatasetSpec:
    files = tuple(RawFile(f"{lang}.json", f"lareqa/{folder}/{lang}.json", f"{LAREQA_URL}/{ref}/{folder}/{lang}.json", lang) for lang in sorted(candidates))
    return DatasetSpec(name, "lareqa", tuple(sorted(candidates)), origin, files, queries, candidates)


XQUAD_R_CANDIDATES = {
    "ar": 1222,
    "de": 1276,
    "el": 1234,
    "en": 1180,
    "es": 1215,
    "hi": 1244,
    "ru": 1219,
    "th": 852,
    "tr": 1167,
    "vi": 1209,
    "zh": 1196,
}
MLQA_R_QUERIES = {"ar": 517, "de": 512, "en": 1148, "es": 500, "hi": 507, "vi": 511, "zh": 504}
MLQA_R_CANDIDATES = {"ar": 2545, "de": 2362, "en": 6264, "es": 1787, "hi": 2426, "vi": 2828, "zh": 2322}
NTREX_LINES = 1997
NTREX_DOCUMENTS = 123

DATASETS: dict[str, DatasetSpec] = {
    "xquad_r": _lareqa(
        "xquad_r",
        "xquad-r",
        "master",
        dict.fromkeys(XQUAD_R_CANDIDATES, 1190),
        XQUAD_R_CANDIDATES,
        origin="squad",
    ),
    "mlqa_r": _lareqa(
        "mlqa_r",
        "mlqa-r",
        LAREQA_MLQA_COMMIT,
        MLQA_R_QUERIES,
        MLQA_R_CANDIDATES,
        origin="mlqa",
    ),
    "ntrex": DatasetSpec(
        "ntrex",
        "ntrex",
        tuple(sorted(NTREX_CODES)),
        origin="wmt19-news",
        files=(
            RawFile(NTREX_DOCUMENT_IDS, f"ntrex/{NTREX_DOCUMENT_IDS}", f"{NTREX_URL}/{NTREX_DOCUMENT_IDS}"),
            *(
                RawFile(
                    f"{lang}.txt",
                    f"ntrex/newstest2019-ref.{code}.txt",
                    f"{NTREX_URL}/NTREX-128/newstest2019-ref.{code}.txt",
                    lang,
                )
                for lang, code in sorted(NTREX_CODES.items())
            ),
        ),
        expected_queries=dict.fromkeys(NTREX_CODES, NTREX_LINES),
        expected_candidates=dict.fromkeys(NTREX_CODES, NTREX_LINES),
        expected_contexts=NTREX_DOCUMENTS,
        translation=True,
    ),
}


def _ntrex_view(name: str, split: str, sentences: int, documents: int, origin: str) -> DatasetSpec:
    whole = DATASETS["ntrex"]
    counts = dict.fromkeys(whole.languages, sentences)
    return DatasetSpec(name, "ntrex", whole.languages, origin, whole.files, counts, counts, documents, True, DocumentView(None, split))


TICO19_LANGUAGES = ("en", *sorted(TICO_CODES))
TICO19_FILES = tuple(
    RawFile(tico19.file_name(lang), f"tico19/{tico19.file_name(lang)}", f"{TICO19_URL}/{tico19.file_name(lang)}", lang) for lang in sorted(TICO_CODES)
)


def _tico19(name: str, domain: str, split: str, sentences: int, contexts: int, origin: str, block: int | None = None) -> DatasetSpec:
    counts = dict.fromkeys(TICO19_LANGUAGES, sentences)
    view = DocumentView(domain, split, block=block)
    return DatasetSpec(name, "tico19", TICO19_LANGUAGES, origin, TICO19_FILES, counts, counts, contexts, True, view)


def _context(translation: DatasetSpec, name: str, pairs: int, documents: int, domain: str | None = None) -> DatasetSpec:
    """Next-sentence retrieval on the documents of a translation benchmark's view (or of another
    `domain` of its corpus): `pairs` sentence pairs per language, in `documents` documents."""
    counts = dict.fromkeys(translation.languages, pairs)
    view = translation.view if domain is None else DocumentView(domain, "all")
    return replace(
        translation,
        name=name,
        expected_queries=counts,
        expected_candidates=counts,
        expected_contexts=documents,
        translation=False,
        view=view,
        context_retrieval=True,
    )


def _union(name: str, parts: tuple[DatasetSpec, ...]) -> DatasetSpec:
    """The queries of parts[0] against the candidates of every part (the languages they share)."""
    languages = tuple(sorted(set.intersection(*(set(part.languages) for part in parts))))
    files = tuple(dict.fromkeys(raw for part in parts for raw in part.files))
    candidates = {lang: sum(part.expected_candidates[lang] for part in parts) for lang in languages}
    queries = {lang: parts[0].expected_queries[lang] for lang in languages}
    contexts = sum(part.expected_contexts for part in parts)
    return DatasetSpec(
        name,
        "union",
        languages,
        parts[0].origin,
        files,
        queries,
        candidates,
        contexts,
        translation=parts[0].translation,
        context_retrieval=parts[0].context_retrieval,
        parts=tuple(part.name for part in parts),
    )


def _tatoeba(lang: str, pairs: int) -> DatasetSpec:
    translation, english = pair_files(lang)
    files = (
        RawFile(translation, f"tatoeba/{translation}", f"{TATOEBA_URL}/{translation}", lang),
        RawFile(english, f"tatoeba/{english}", f"{TATOEBA_URL}/{english}"),  # needed whatever the languages
    )
    counts = dict.fromkeys((lang, "en"), pairs)
    return DatasetSpec(f"tatoeba_{lang}", "tatoeba", tuple(sorted((lang, "en"))), "tatoeba", files, counts, counts, pairs, True)


# The domain study's benchmarks and training splits (docs/domains.md):
# test sides by whole documents, pinned at seed 0 and half the sentences; a training side has an
# origin of its own, so that the leak guard lets it train for its test side (they share no document).
DOMAIN_DATASETS = {
    spec.name: spec
    for spec in (
        _tico19("tico19_scientific", "scientific", "test", 539, 3, origin="tico19"),
        # 3 documents in 8-sentence blocks: 52 contexts, enough for batches of 32 (docs/data.md).
        _tico19("tico19_scientific_train", "scientific", "train", 400, 52, origin="tico19-train", block=8),
        _tico19("tico19_news", "news", "all", 88, 6, origin="tico19"),
        _tico19("tico19_conversational", "conversational", "all", 141, 1, origin="tico19"),
        _ntrex_view("ntrex_news", "test", 1004, 60, origin="wmt19-news"),
        _ntrex_view("ntrex_news_train", "train", 993, 63, origin="wmt19-news-train"),
        *(_tatoeba(lang, 548 if lang == "th" else 1000) for lang in sorted(TATOEBA_CODES)),
    )
}
DATASETS |= DOMAIN_DATASETS

# The domain study's context-retrieval view (docs/domains.md): next-sentence retrieval in each
# domain's test documents, the topic control (encyclopedic text on COVID-19, as the scientific is),
# each domain's queries in the pool of every domain, and the general training source of the same
# task form (sentence-neighbour pairs from the XQuAD-R paragraphs that segment alike).
_SCIENTIFIC_CONTEXT = _context(DATASETS["tico19_scientific"], "tico19_scientific_context", 269, 3)
_NEWS_CONTEXT = _context(DATASETS["ntrex_news"], "ntrex_news_context", 485, 60)
CONTEXT_DATASETS = {
    spec.name: spec
    for spec in (
        _SCIENTIFIC_CONTEXT,
        _NEWS_CONTEXT,
        _context(DATASETS["tico19_news"], "tico19_encyclopedic_context", 765, 15, domain="encyclopedic"),
        _union("tico19_scientific_context_union", (_SCIENTIFIC_CONTEXT, _NEWS_CONTEXT)),
        _union("ntrex_news_context_union", (_NEWS_CONTEXT, _SCIENTIFIC_CONTEXT)),
        replace(DATASETS["xquad_r"], name="xquad_r_neighbours", format="lareqa_aligned", expected_queries={}, expected_candidates={}, translation=True),
    )
}
DATASETS |= CONTEXT_DATASETS


def dataset(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r} (known: {', '.join(sorted(DATASETS))})") from None


@cache
def checksums() -> dict[str, str]:
    """sha256 of every raw file, keyed by its path inside the mirror."""
    text = resources.files("hybridbatch.data").joinpath("sha256sums.txt").read_text(encoding="utf-8")
    table = {}
    for line in text.splitlines():
        if line.strip():
            digest, path = line.split(maxsplit=1)
            table[path] = digest
    return table


def expected_sha256(raw: RawFile) -> str:
    return checksums()[raw.mirror_path]
