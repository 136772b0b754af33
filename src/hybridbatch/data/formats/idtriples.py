"""Training triples stored as ids, joined to their texts: the MS MARCO / mMARCO file layout.

A triples file holds `query id \\t positive passage id \\t negative passage id` per line; per
language a queries file and a collection file hold `id \\t text`. The first `max_rows` triples
give one row-aligned table per language (row i is triple i, translated), with columns query,
positive and negative.

Files are read from a folder given as an fsspec path: a local folder, or hf://datasets/<owner>/<name>
(optionally @revision) for a Hugging Face hub repository, streamed through one sequential request
per file. The triples file is read only as far as `max_rows` lines; each queries and collection
file from its start until every needed id is found, keeping only those rows. An mMARCO collection
is gigabytes per language; it is never written to disk nor held in memory whole.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd
from tqdm import tqdm

from hybridbatch.core.errors import DataError

log = logging.getLogger(__name__)

CHUNK = 1 << 22
COLUMNS = ("query", "positive", "negative")


def file_url(root: str, relative: str) -> str:
    return f"{root.rstrip('/')}/{relative.lstrip('/')}"


def _lines(url: str) -> Iterator[tuple[int, str]]:
    """(line number, line without its end) of a UTF-8 text file, read in chunks from any fsspec path."""
    import fsspec  # comes with datasets; imported here so the module loads without it

    try:
        # block_size=0: one streaming request on the hub (HfFileSystemStreamFile); ignored locally.
        with fsspec.open(url, "rb", block_size=0) as handle:
            size = getattr(handle, "size", None)  # unknown while streaming from the hub
            with tqdm(total=size, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1], mininterval=30) as bar:
                number, rest = 0, b""
                while block := handle.read(CHUNK):
                    bar.update(len(block))
                    *complete, rest = (rest + block).split(b"\n")
                    for raw in complete:
                        number += 1
                        yield number, _decoded(raw, url, number)
                if rest:
                    yield number + 1, _decoded(rest, url, number + 1)
    except DataError:
        raise
    except Exception as error:  # noqa: BLE001 - fsspec raises many types (missing file, network, unknown protocol)
        raise DataError(f"{url}: cannot be read: {type(error).__name__}: {error}") from None


def _decoded(raw: bytes, url: str, number: int) -> str:
    try:
        # A byte-order mark (Windows editors write one) starts the first line: not part of its id.
        return raw.decode("utf-8-sig" if number == 1 else "utf-8").rstrip("\r")
    except UnicodeDecodeError as error:
        raise DataError(f"{url}, line {number}: not UTF-8 text ({error.reason} at byte {error.start})") from None


def read_triples(url: str, max_rows: int) -> list[tuple[str, str, str]]:
    """The first `max_rows` (query id, positive id, negative id) lines of a triples file."""
    triples: list[tuple[str, str, str]] = []
    for number, line in _lines(url):
        fields = line.split("\t")
        if len(fields) != 3 or not all(field.strip() for field in fields):
            raise DataError(f"{url}, line {number}: expected query id, positive id and negative id separated by tabs, got {line!r}")
        triples.append((fields[0], fields[1], fields[2]))
        if len(triples) == max_rows:
            break
    if not triples:
        raise DataError(f"{url}: no triples")
    return triples


def read_texts(url: str, wanted: set[str]) -> dict[str, str]:
    """id -> text for the `wanted` ids of an `id \\t text` file, reading no further than the last one.

    An id given twice with different texts in the lines read is an error naming both lines (the
    first would silently win); the same text twice is accepted."""
    found: dict[str, tuple[str, int]] = {}
    number = 0
    for number, line in _lines(url):
        identifier, tab, text = line.partition("\t")
        if not tab or not identifier:
            raise DataError(f"{url}, line {number}: expected an id and a text separated by a tab, got {line!r}")
        if identifier not in wanted:
            continue
        if identifier in found:
            first_text, first_line = found[identifier]
            if text != first_text:
                raise DataError(
                    f"{url}: id {identifier} is given twice with different texts, line {first_line}: {first_text!r} and line {number}: {text!r}; keep one"
                )
            continue
        if not text.strip():
            raise DataError(f"{url}, line {number}: id {identifier} has an empty text")
        found[identifier] = (text, number)
        if len(found) == len(wanted):
            break
    if missing := wanted - found.keys():
        examples = ", ".join(sorted(missing)[:5])
        raise DataError(f"{url}: {len(missing)} of the {len(wanted)} ids the triples need are missing (e.g. {examples})")
    log.info("%s: kept %d texts of the first %d lines", url, len(found), number)
    return {identifier: text for identifier, (text, _) in found.items()}


def read_id_triples(root: str, files: Mapping[str, str], languages: Mapping[str, Mapping[str, Any]], max_rows: int) -> dict[str, pd.DataFrame]:
    """Per language, the first `max_rows` triples with their texts (columns query, positive, negative).

    `files` holds the triples, queries and collection paths under `root`; `{name}` and any other
    field in the latter two is filled from the language's entry of `languages` (e.g. {name: german}).
    """
    triples = read_triples(file_url(root, files["triples"]), max_rows)
    query_ids = {query for query, _, _ in triples}
    passage_ids = {passage for _, positive, negative in triples for passage in (positive, negative)}
    log.info("%s: %d triples, %d queries, %d passages", files["triples"], len(triples), len(query_ids), len(passage_ids))
    frames = {}
    for lang, fields in languages.items():
        queries = read_texts(file_url(root, files["queries"].format(**fields)), query_ids)
        passages = read_texts(file_url(root, files["collection"].format(**fields)), passage_ids)
        frames[lang] = pd.DataFrame(
            {
                "query": [queries[query] for query, _, _ in triples],
                "positive": [passages[positive] for _, positive, _ in triples],
                "negative": [passages[negative] for _, _, negative in triples],
            }
        )
    return frames
