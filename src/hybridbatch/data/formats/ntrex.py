"""Read NTREX-128: line-aligned news sentences per language, with a document id per line."""

from __future__ import annotations

import os
from pathlib import Path

from hybridbatch.core.errors import DataError
from hybridbatch.core.io import text_lines


def read_document_ids(path: str | os.PathLike[str]) -> list[str]:
    """One document id per line of the corpus (line i of DOCUMENT_IDS.tsv belongs to sentence i)."""
    path = Path(path)
    ids = [line.split("\t", 1)[0].strip() for line in text_lines(path)]
    finished: set[str] = set()
    for number, doc in enumerate(ids, start=1):
        if not doc:
            raise DataError(f"{path}: line {number}: empty document id")
        if doc in finished:
            raise DataError(f"{path}: line {number}: document {doc} resumes after another document began")
        if number > 1 and ids[number - 2] != doc:
            finished.add(ids[number - 2])
    return ids


def read_sentences(path: str | os.PathLike[str], expected_lines: int) -> list[str]:
    """The sentences of one language file, which must align line by line with the document ids."""
    path = Path(path)
    lines = text_lines(path)
    if len(lines) != expected_lines:
        raise DataError(f"{path}: {len(lines)} lines, but DOCUMENT_IDS.tsv has {expected_lines}; the files must be line-aligned")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise DataError(f"{path}: line {number}: empty sentence")
    return [line.strip() for line in lines]


def neighbours(document_ids: list[str], line: int, width: int = 2) -> list[int]:
    """Indices of the up to `width` sentences on each side of `line` in the same document."""
    doc = document_ids[line]
    low, high = max(0, line - width), min(len(document_ids), line + width + 1)
    return [i for i in range(low, high) if i != line and document_ids[i] == doc]
