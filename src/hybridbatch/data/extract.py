"""Turn raw data set files into the four data tables of the artifact contract (hybridbatch.core.contract)."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from hybridbatch.core.contract import TABLES, contract_table, empty_columns
from hybridbatch.core.errors import DataError
from hybridbatch.core.io import write_parquet
from hybridbatch.data.formats import lareqa, ntrex, tatoeba, tico19
from hybridbatch.data.registry import NTREX_DOCUMENT_IDS, DatasetSpec, DocumentView, dataset
from hybridbatch.data.splits import blocks, positions, split_documents

log = logging.getLogger(__name__)


# Languages whose sentences follow one another without a space (Thai puts one between sentences,
# though not between words: hybridbatch.data.overlap's set is another one).
SENTENCES_WITHOUT_SPACES = frozenset({"zh", "ja"})


@dataclass(frozen=True)
class Extracted:
    queries: pa.Table
    candidates: pa.Table
    qrels: pa.Table
    pairs: pa.Table
    # context_id -> conflict_key, so a subset can keep whole conflict groups with their candidates.
    context_conflicts: Mapping[str, str]

    def table(self, name: str) -> pa.Table:
        return getattr(self, name)


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, item: str) -> str:
        self.parent.setdefault(item, item)
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, a: str, b: str) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            # The smaller id wins, so component names do not depend on the order of unions.
            low, high = sorted((root_a, root_b))
            self.parent[high] = low


def extract_lareqa(raw_dir: str | os.PathLike[str], languages: Iterable[str]) -> Extracted:
    """Candidates are paragraph sentences; a question's relevant candidate is its answer sentence.

    Paragraphs linked by a parallel question (same qid in two languages) form one conflict group:
    two questions of such a group can have the same answer sentence in some language. A question's
    cluster is its article, articles linked by a parallel question counted as one (the translations
    of an article, or MLQA's articles on one topic in several languages).
    """
    files = [lareqa.read_language_file(Path(raw_dir) / f"{lang}.json", lang) for lang in sorted(languages)]

    components, articles = _UnionFind(), _UnionFind()
    first_context: dict[str, str] = {}
    article_of = {paragraph.context_id: paragraph.article for file in files for paragraph in file.paragraphs}
    for file in files:
        for paragraph in file.paragraphs:
            components.find(paragraph.context_id)
        for question in file.questions:
            anchor = first_context.setdefault(question.qid, question.context_id)
            components.union(anchor, question.context_id)
            articles.union(article_of[anchor], article_of[question.context_id])

    queries, candidates, qrels, pairs = (empty_columns(name) for name in TABLES)
    for file in files:
        sentences = {p.context_id: p.sentences for p in file.paragraphs}
        for paragraph in file.paragraphs:
            for index, sentence in enumerate(paragraph.sentences):
                candidates["cid"].append(f"{paragraph.context_id}:{index}")
                candidates["lang"].append(file.lang)
                candidates["text"].append(sentence)
                candidates["context_id"].append(paragraph.context_id)
        for question in file.questions:
            queries["qid"].append(question.qid)
            queries["lang"].append(file.lang)
            queries["text"].append(question.text)
            queries["cluster"].append(articles.find(article_of[question.context_id]))
            qrels["qid"].append(question.qid)
            qrels["cid"].append(f"{question.context_id}:{question.answer_sentence}")
            paragraph_sentences = sentences[question.context_id]
            pairs["group_id"].append(question.qid)
            pairs["conflict_key"].append(components.find(question.context_id))
            pairs["lang"].append(file.lang)
            pairs["query"].append(question.text)
            pairs["positive"].append(paragraph_sentences[question.answer_sentence])
            pairs["hard_negatives"].append([s for i, s in enumerate(paragraph_sentences) if i != question.answer_sentence])
    context_conflicts = {context: components.find(context) for context in components.parent}
    return Extracted(
        contract_table("queries", queries),
        contract_table("candidates", candidates),
        contract_table("qrels", qrels),
        contract_table("pairs", pairs),
        context_conflicts,
    )


def _translation_tables(
    ids: Sequence[str], documents: Sequence[str], sentences: Mapping[str, Sequence[str]], clusters: Sequence[str] | None = None
) -> Extracted:
    """The tables of a parallel corpus (translation retrieval): sentence i of every language is
    query `ids[i]` and candidate `{lang}:{ids[i]}`, relevant to each other in every language.
    Training pairs: `_neighbour_pairs`. A query's cluster is `clusters[i]` (default: its document)."""
    clusters = documents if clusters is None else clusters
    queries, candidates, qrels = (empty_columns(name) for name in ("queries", "candidates", "qrels"))
    for lang, texts in sentences.items():
        for index, sentence in enumerate(texts):
            _append(queries, qid=ids[index], lang=lang, text=sentence, cluster=clusters[index])
            _append(candidates, cid=f"{lang}:{ids[index]}", lang=lang, text=sentence, context_id=documents[index])
    for sentence_id in ids:
        for lang in sentences:
            _append(qrels, qid=sentence_id, cid=f"{lang}:{sentence_id}")
    return _tables(queries, candidates, qrels, _neighbour_pairs(ids, documents, sentences), documents)


def _context_tables(ids: Sequence[str], documents: Sequence[str], sentences: Mapping[str, Sequence[str]], clusters: Sequence[str] | None = None) -> Extracted:
    """Next-sentence retrieval on a parallel corpus, shaped like LAReQA (context retrieval): each
    document's sentences pair up in order, the 1st with the 2nd, the 3rd with the 4th, and so on (an
    odd last sentence is left out); the first of a pair is query `ids[i]` in every language, the
    second candidate `{lang}:{ids[i + 1]}` in every language, relevant to the query in all of them.
    Only second sentences are candidates: a query's own text (or its translation) in the pool would
    be every query's nearest neighbour. No pair crosses a document. A query's cluster is
    `clusters[i]` (default: its document). No training pairs: a context benchmark is a test set
    (its corpus's training side is the translation view's)."""
    clusters = documents if clusters is None else clusters
    first = [
        index for index, position in enumerate(positions(documents)) if position % 2 == 0 and index + 1 < len(ids) and documents[index + 1] == documents[index]
    ]
    queries, candidates, qrels = (empty_columns(name) for name in ("queries", "candidates", "qrels"))
    for lang, texts in sentences.items():
        for index in first:
            _append(queries, qid=ids[index], lang=lang, text=texts[index], cluster=clusters[index])
            _append(candidates, cid=f"{lang}:{ids[index + 1]}", lang=lang, text=texts[index + 1], context_id=documents[index + 1])
    for index in first:
        for lang in sentences:
            _append(qrels, qid=ids[index], cid=f"{lang}:{ids[index + 1]}")
    return _tables(queries, candidates, qrels, empty_columns("pairs"), documents)


def _neighbour_pairs(ids: Sequence[str], documents: Sequence[str], sentences: Mapping[str, Sequence[str]]) -> dict[str, list]:
    """Training pairs of a parallel corpus: query = a sentence, positive = its up to two neighbours
    on each side in the same document (`documents[i]`, contiguous), joined; group_id = the sentence
    id (the same sentence in every language), conflict_key = the document."""
    pairs = empty_columns("pairs")
    for lang, texts in sentences.items():
        separator = "" if lang in SENTENCES_WITHOUT_SPACES else " "
        for index, sentence in enumerate(texts):
            context = ntrex.neighbours(documents, index)
            if context:  # a one-sentence document has no positive to offer
                _append(
                    pairs,
                    group_id=ids[index],
                    conflict_key=documents[index],
                    lang=lang,
                    query=sentence,
                    positive=separator.join(texts[i] for i in context),
                    hard_negatives=[],
                )
    return pairs


def _append(columns: dict[str, list], **row: object) -> None:
    for name, value in row.items():
        columns[name].append(value)


def _tables(queries: dict, candidates: dict, qrels: dict, pairs: dict, documents: Sequence[str]) -> Extracted:
    return Extracted(
        contract_table("queries", queries),
        contract_table("candidates", candidates),
        contract_table("qrels", qrels),
        contract_table("pairs", pairs),
        {doc: doc for doc in documents},
    )


def _in_view(documents: Sequence[str], domains: Sequence[str | None], view: DocumentView | None) -> list[int]:
    """The indices of the sentences a view keeps: whole documents of its domain, on its side of the split."""
    kept = [index for index, domain in enumerate(domains) if view is None or view.domain is None or domain == view.domain]
    if view is None or view.split == "all":
        return kept
    sizes = Counter(documents[index] for index in kept)
    train, test = split_documents(sizes, view.test_share, view.seed)
    side = set(test if view.split == "test" else train)
    return [index for index in kept if documents[index] in side]


def extract_ntrex(spec: DatasetSpec, raw_dir: str | os.PathLike[str], languages: Iterable[str]) -> Extracted:
    """NTREX-128 (news), or the documents of its view: queries and candidates are the sentences, a
    sentence's relevant candidates its translations (`_translation_tables`)."""
    raw_dir = Path(raw_dir)
    documents = ntrex.read_document_ids(raw_dir / NTREX_DOCUMENT_IDS)
    kept = _in_view(documents, [None] * len(documents), spec.view)
    sentences = {lang: ntrex.read_sentences(raw_dir / f"{lang}.txt", len(documents)) for lang in sorted(languages)}
    return _sentence_tables(spec)(
        [str(index + 1) for index in kept],
        [documents[index] for index in kept],
        {lang: [texts[index] for index in kept] for lang, texts in sentences.items()},
    )


def extract_tico19(spec: DatasetSpec, raw_dir: str | os.PathLike[str], languages: Iterable[str]) -> Extracted:
    """The documents of a TICO-19 view (a domain, one side of its split): sentence ids are tuids."""
    chosen = sorted(languages)
    files = {lang: Path(raw_dir) / tico19.file_name(lang) for lang in chosen if lang != "en"}
    if not files:
        raise DataError(f"{spec.name}: English alone cannot be read (it comes with each translation's file); configure another language")
    corpus = tico19.read_corpus(files)
    documents = [corpus.documents[tuid] for tuid in corpus.tuids]
    kept = _in_view(documents, [corpus.domain(tuid) for tuid in corpus.tuids], spec.view)
    if not kept:
        raise DataError(f"{spec.name}: no document of domain {spec.view.domain!r} in {', '.join(map(str, files.values()))}")
    tuids = [corpus.tuids[index] for index in kept]
    kept_documents = [documents[index] for index in kept]
    contexts = blocks(kept_documents, spec.view.block) if spec.view.block else kept_documents
    return _sentence_tables(spec)(tuids, contexts, {lang: [corpus.texts[lang][t] for t in tuids] for lang in chosen}, kept_documents)


def _sentence_tables(spec: DatasetSpec):
    """How a parallel corpus becomes a benchmark: context or translation retrieval."""
    return _context_tables if spec.context_retrieval else _translation_tables


def extract_union(spec: DatasetSpec, raw_dir: str | os.PathLike[str], languages: Iterable[str]) -> Extracted:
    """The queries (and their relevant candidates) of `spec.parts[0]` in a pool of every part's
    candidates: a model that prefers some part's text shows it. The parts' raw files share `raw_dir`."""
    parts = [EXTRACTORS[dataset(name).format](dataset(name), raw_dir, languages) for name in spec.parts]
    queried = parts[0]
    candidates = pa.concat_tables([part.candidates for part in parts])
    if len(pc.unique(candidates["cid"])) != candidates.num_rows:
        raise DataError(f"{spec.name}: candidate ids of {', '.join(spec.parts)} collide; a union needs them distinct")
    conflicts = {context: key for part in parts for context, key in part.context_conflicts.items()}
    return Extracted(queried.queries, candidates, queried.qrels, queried.pairs.slice(0, 0), conflicts)


def extract_aligned_lareqa(spec: DatasetSpec, raw_dir: str | os.PathLike[str], languages: Iterable[str]) -> Extracted:
    """The paragraphs of a LAReQA data set whose sentences align across `languages`, as a parallel
    corpus (`_translation_tables`: its training pairs are sentence-neighbour pairs).

    LAReQA segments each language's paragraph on its own, so sentence i of two translations need
    not be the same sentence: a paragraph counts as aligned where every language has as many
    sentences and each sentence's share of its paragraph's characters lies within
    ALIGNED_SHARE_GAP of the first language's (a sentence split in one language and merged in
    another moves those shares)."""
    chosen = sorted(languages)
    files = [lareqa.read_language_file(Path(raw_dir) / f"{lang}.json", lang) for lang in chosen]
    if len({len(file.paragraphs) for file in files}) != 1:
        raise DataError(f"{spec.name}: the languages' files hold different numbers of paragraphs ({', '.join(f'{f.lang} {len(f.paragraphs)}' for f in files)})")
    ids, documents, sentences = [], [], {lang: [] for lang in chosen}
    for index, parallel in enumerate(zip(*(file.paragraphs for file in files), strict=True)):
        if not _aligned([paragraph.sentences for paragraph in parallel]):
            continue
        for position in range(len(parallel[0].sentences)):
            ids.append(f"{parallel[0].context_id.split(':', 1)[-1]}:{position}")
            documents.append(f"paragraph-{index}")
            for file, paragraph in zip(files, parallel, strict=True):
                sentences[file.lang].append(paragraph.sentences[position])
    if not ids:
        raise DataError(f"{spec.name}: no paragraph's sentences align across {', '.join(chosen)}")
    log.info("%s: %d of %d paragraphs align across %s (%d sentences)", spec.name, len(set(documents)), len(files[0].paragraphs), ", ".join(chosen), len(ids))
    return _translation_tables(ids, documents, sentences)


# How far (as a share of its paragraph's characters) a sentence may lie from its counterpart in
# the first language before the paragraph counts as segmented differently.
ALIGNED_SHARE_GAP = 0.15


def _aligned(paragraphs: Sequence[Sequence[str]]) -> bool:
    """Whether the translations of one paragraph (`paragraphs`: each language's sentences) split alike."""
    if len({len(sentences) for sentences in paragraphs}) != 1:
        return False
    shares = [[len(sentence) / max(1, sum(map(len, sentences))) for sentence in sentences] for sentences in paragraphs]
    return all(abs(share - first) <= ALIGNED_SHARE_GAP for other in shares[1:] for share, first in zip(other, shares[0], strict=True))


def extract_tatoeba(spec: DatasetSpec, raw_dir: str | os.PathLike[str], languages: Iterable[str]) -> Extracted:
    """One Tatoeba pair (a language and English): each line is its own context and cluster (the
    sentences are independent), no training pairs."""
    chosen = sorted(languages)
    (lang,) = [code for code in spec.languages if code != "en"]
    if chosen != sorted(spec.languages):
        raise DataError(f"{spec.name}: a Tatoeba pair needs both {lang} and en (configured: {', '.join(chosen)})")
    pairs = tatoeba.read_pair(*(Path(raw_dir) / name for name in tatoeba.pair_files(lang)))
    ids = [f"{lang}-{number}" for number in range(1, len(pairs) + 1)]
    sides = {lang: [text for text, _ in pairs], "en": [english for _, english in pairs]}
    return _translation_tables(ids, ids, {code: sides[code] for code in chosen})


EXTRACTORS = {
    "lareqa": lambda spec, raw_dir, languages: extract_lareqa(raw_dir, languages),
    "ntrex": extract_ntrex,
    "tico19": extract_tico19,
    "tatoeba": extract_tatoeba,
    "union": extract_union,
    "lareqa_aligned": extract_aligned_lareqa,
}


def _count_by_lang(table: pa.Table) -> dict[str, int]:
    counts = table.group_by("lang").aggregate([("lang", "count")])
    return dict(zip(counts["lang"].to_pylist(), counts["lang_count"].to_pylist(), strict=True))


def check_counts(spec: DatasetSpec, extracted: Extracted, languages: Iterable[str]) -> None:
    """Compare per-language query and candidate counts with the published ones."""
    problems = []
    for name, expected in (("queries", spec.expected_queries), ("candidates", spec.expected_candidates)):
        if not expected:  # counts that depend on the languages chosen (aligned paragraphs)
            continue
        found = _count_by_lang(extracted.table(name))
        for lang in sorted(languages):
            if found.get(lang, 0) != expected[lang]:
                problems.append(f"{lang}: {found.get(lang, 0)} {name}, expected {expected[lang]}")
    contexts = len(pc.unique(extracted.candidates["context_id"]))
    if spec.expected_contexts is not None and contexts != spec.expected_contexts:
        problems.append(f"{contexts} distinct contexts, expected {spec.expected_contexts}")
    if problems:
        raise DataError(f"{spec.name}: extracted counts differ from the published ones: " + "; ".join(problems))


def _group_keys(extracted: Extracted) -> Iterable[tuple[str, str]]:
    """(group, conflict key) in table order: from the training pairs, or, for a data set without
    any (Tatoeba), from each question's relevant candidates' contexts."""
    pairs = extracted.pairs
    if pairs.num_rows:
        return zip(pairs["group_id"].to_pylist(), pairs["conflict_key"].to_pylist(), strict=True)
    context_of = dict(zip(extracted.candidates["cid"].to_pylist(), extracted.candidates["context_id"].to_pylist(), strict=True))
    return (
        (qid, extracted.context_conflicts[context_of[cid]])
        for qid, cid in zip(extracted.qrels["qid"].to_pylist(), extracted.qrels["cid"].to_pylist(), strict=True)
    )


def subset(extracted: Extracted, max_questions: int) -> Extracted:
    """Keep whole conflict groups, first ones first, until at least `max_questions` qids are kept.

    Whole groups keep every relevant candidate of a kept question and every sentence of its paragraphs.
    """
    pairs = extracted.pairs
    groups_of: dict[str, set[str]] = {}
    for group, key in _group_keys(extracted):
        groups_of.setdefault(key, set()).add(group)
    kept_keys: set[str] = set()
    kept_groups: set[str] = set()
    for key, groups in groups_of.items():
        if len(kept_groups) >= max_questions:
            break
        kept_keys.add(key)
        kept_groups |= groups
    contexts = [c for c, key in extracted.context_conflicts.items() if key in kept_keys]
    groups = pa.array(sorted(kept_groups), pa.string())

    def keep(table: pa.Table, column: str, values: pa.Array) -> pa.Table:
        return table.filter(pc.is_in(table[column], value_set=values))

    return replace(
        extracted,
        queries=keep(extracted.queries, "qid", groups),
        candidates=keep(extracted.candidates, "context_id", pa.array(contexts, pa.string())),
        qrels=keep(extracted.qrels, "qid", groups),
        pairs=keep(pairs, "group_id", groups),
        context_conflicts={c: extracted.context_conflicts[c] for c in contexts},
    )


def _naming_origins(error: DataError, raw_dir: str | os.PathLike[str], origins: Mapping[str, str]) -> DataError:
    """`error` with each local copy it names replaced by the file it was copied from (the one a
    user can fix), the local copy in brackets."""
    message = str(error)
    for name, origin in origins.items():
        local = str(Path(raw_dir) / name)
        message = message.replace(local, f"{origin} (copied to {local})")
    return DataError(message)


def extract(
    spec: DatasetSpec,
    raw_dir: str | os.PathLike[str],
    languages: Iterable[str] | None = None,
    max_questions: int | None = None,
    origins: Mapping[str, str] | None = None,
) -> Extracted:
    """Extract a data set, check its counts against the published ones, then subset if asked.

    `origins`: raw file name -> where that file came from, named in errors beside the local copy.
    """
    chosen = sorted(spec.languages if languages is None else set(languages) & set(spec.languages))
    if not chosen:
        raise DataError(f"{spec.name}: none of the configured languages {sorted(languages or [])} is in it")
    try:
        extracted = EXTRACTORS[spec.format](spec, raw_dir, chosen)
    except DataError as error:
        raise _naming_origins(error, raw_dir, origins or {}) from None
    check_counts(spec, extracted, chosen)
    log.info("%s: %d clusters (articles or documents) for interval resampling", spec.name, len(pc.unique(extracted.queries["cluster"])))
    log.info(
        "%s: %d queries, %d candidates, %d qrels, %d pairs in %d languages",
        spec.name,
        *(extracted.table(name).num_rows for name in TABLES),
        len(chosen),
    )
    if max_questions is not None:
        extracted = subset(extracted, max_questions)
        log.info(
            "%s subset (max_questions=%d): %d queries, %d candidates, %d qrels, %d pairs",
            spec.name,
            max_questions,
            *(extracted.table(name).num_rows for name in TABLES),
        )
    return extracted


def write(extracted: Extracted, targets: Mapping[str, str | os.PathLike[str]]) -> None:
    for name in TABLES:
        write_parquet(extracted.table(name), targets[name])
