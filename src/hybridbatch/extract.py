"""Turn raw data set files into the four data tables of the artifact contract (hybridbatch.core.contract)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from hybridbatch import lareqa, ntrex
from hybridbatch.core.contract import TABLES, contract_table, empty_columns
from hybridbatch.core.errors import DataError
from hybridbatch.core.io import write_parquet
from hybridbatch.registry import NTREX_DOCUMENT_IDS, DatasetSpec

log = logging.getLogger(__name__)


# Scripts written without spaces between sentences.
UNSPACED_LANGUAGES = frozenset({"zh", "ja"})


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
    two questions of such a group can have the same answer sentence in some language.
    """
    files = [lareqa.read_language_file(Path(raw_dir) / f"{lang}.json", lang) for lang in sorted(languages)]

    components = _UnionFind()
    first_context: dict[str, str] = {}
    for file in files:
        for paragraph in file.paragraphs:
            components.find(paragraph.context_id)
        for question in file.questions:
            anchor = first_context.setdefault(question.qid, question.context_id)
            components.union(anchor, question.context_id)

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
            qrels["qid"].append(question.qid)
            qrels["cid"].append(f"{question.context_id}:{question.answer_sentence}")
            paragraph_sentences = sentences[question.context_id]
            pairs["group_id"].append(question.qid)
            pairs["conflict_key"].append(components.find(question.context_id))
            pairs["lang"].append(file.lang)
            pairs["query"].append(question.text)
            pairs["positive"].append(paragraph_sentences[question.answer_sentence])
            pairs["hard_negatives"].append(
                [s for i, s in enumerate(paragraph_sentences) if i != question.answer_sentence]
            )
    context_conflicts = {context: components.find(context) for context in components.parent}
    return Extracted(
        contract_table("queries", queries),
        contract_table("candidates", candidates),
        contract_table("qrels", qrels),
        contract_table("pairs", pairs),
        context_conflicts,
    )


def extract_ntrex(raw_dir: str | os.PathLike[str], languages: Iterable[str]) -> Extracted:
    """Queries and candidates are the sentences; a sentence's relevant candidates are its
    translations (the same line in every language), so the monolingual setting is trivial here.
    Training pairs: query = a sentence, positive = its up to two neighbours on each side in the
    same document; group_id = the line number, conflict_key = the document.
    """
    raw_dir = Path(raw_dir)
    documents = ntrex.read_document_ids(raw_dir / NTREX_DOCUMENT_IDS)
    languages = sorted(languages)
    queries, candidates, qrels, pairs = (empty_columns(name) for name in TABLES)
    for lang in languages:
        sentences = ntrex.read_sentences(raw_dir / f"{lang}.txt", len(documents))
        separator = "" if lang in UNSPACED_LANGUAGES else " "
        for index, sentence in enumerate(sentences):
            line = str(index + 1)
            queries["qid"].append(line)
            queries["lang"].append(lang)
            queries["text"].append(sentence)
            candidates["cid"].append(f"{lang}:{line}")
            candidates["lang"].append(lang)
            candidates["text"].append(sentence)
            candidates["context_id"].append(documents[index])
            context = ntrex.neighbours(documents, index)
            if not context:  # a one-sentence document has no positive to offer
                continue
            pairs["group_id"].append(line)
            pairs["conflict_key"].append(documents[index])
            pairs["lang"].append(lang)
            pairs["query"].append(sentence)
            pairs["positive"].append(separator.join(sentences[i] for i in context))
            pairs["hard_negatives"].append([])
    for index in range(len(documents)):
        for lang in languages:
            qrels["qid"].append(str(index + 1))
            qrels["cid"].append(f"{lang}:{index + 1}")
    return Extracted(
        contract_table("queries", queries),
        contract_table("candidates", candidates),
        contract_table("qrels", qrels),
        contract_table("pairs", pairs),
        {doc: doc for doc in documents},
    )


EXTRACTORS = {"lareqa": extract_lareqa, "ntrex": extract_ntrex}


def _count_by_lang(table: pa.Table) -> dict[str, int]:
    counts = table.group_by("lang").aggregate([("lang", "count")])
    return dict(zip(counts["lang"].to_pylist(), counts["lang_count"].to_pylist(), strict=True))


def check_counts(spec: DatasetSpec, extracted: Extracted, languages: Iterable[str]) -> None:
    """Compare per-language query and candidate counts with the published ones."""
    problems = []
    for name, expected in (("queries", spec.expected_queries), ("candidates", spec.expected_candidates)):
        found = _count_by_lang(extracted.table(name))
        for lang in sorted(languages):
            if found.get(lang, 0) != expected[lang]:
                problems.append(f"{lang}: {found.get(lang, 0)} {name}, expected {expected[lang]}")
    contexts = len(pc.unique(extracted.candidates["context_id"]))
    if spec.expected_contexts is not None and contexts != spec.expected_contexts:
        problems.append(f"{contexts} distinct contexts, expected {spec.expected_contexts}")
    if problems:
        raise DataError(f"{spec.name}: extracted counts differ from the published ones: " + "; ".join(problems))


def subset(extracted: Extracted, max_questions: int) -> Extracted:
    """Keep whole conflict groups, first ones first, until at least `max_questions` qids are kept.

    Whole groups keep every relevant candidate of a kept question and every sentence of its paragraphs.
    """
    pairs = extracted.pairs
    groups_of: dict[str, set[str]] = {}
    for group, key in zip(pairs["group_id"].to_pylist(), pairs["conflict_key"].to_pylist(), strict=True):
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
        extracted = EXTRACTORS[spec.format](raw_dir, chosen)
    except DataError as error:
        raise _naming_origins(error, raw_dir, origins or {}) from None
    check_counts(spec, extracted, chosen)
    log.info(
        "%s: %d queries, %d candidates, %d qrels, %d pairs in %d languages",
        spec.name, *(extracted.table(name).num_rows for name in TABLES), len(chosen),
    )  # fmt: skip
    if max_questions is not None:
        extracted = subset(extracted, max_questions)
        log.info(
            "%s subset (max_questions=%d): %d queries, %d candidates, %d qrels, %d pairs",
            spec.name, max_questions, *(extracted.table(name).num_rows for name in TABLES),
        )  # fmt: skip
    return extracted


def write(extracted: Extracted, targets: Mapping[str, str | os.PathLike[str]]) -> None:
    for name in TABLES:
        write_parquet(extracted.table(name), targets[name])

