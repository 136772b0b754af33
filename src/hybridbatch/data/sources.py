"""Training sources (config `sources:`): one table per language, mapped onto pairs.

A source names either `datasets.load_dataset`'s path (a hub id, or the parquet / json / csv
builders over local files) and per language the arguments that select that language's table, or,
with `id_triples`, a folder of id triples and per-language id-to-text files (the MS MARCO / mMARCO
layout, read by hybridbatch.data.formats.idtriples, local or on the hub). It says which columns hold the query,
the positive passage and optionally the parallel group id, the conflict key and hard negatives.
The result is the pairs table of the artifact contract, so manifests and training treat it like a
built-in data set.
"""

from __future__ import annotations

import glob
import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from hybridbatch.core.contract import contract_table, empty_columns
from hybridbatch.core.errors import DataError
from hybridbatch.data.formats.idtriples import read_id_triples

log = logging.getLogger(__name__)

# The pairs table's schema metadata key holding `provenance`.
PROVENANCE_KEY = b"hybridbatch.source"


# load_dataset's packaged builders: their data_files are local paths (or URLs).
BUILDERS = ("parquet", "json", "csv", "text", "arrow")


def _is_url(path: str) -> bool:
    return "://" in path


def _data_file_patterns(data_files: Any) -> list[str]:
    """The paths and glob patterns of a `data_files` argument: a string, a list, or split -> either."""
    if isinstance(data_files, str):
        return [data_files]
    if isinstance(data_files, Mapping):
        return [pattern for value in data_files.values() for pattern in _data_file_patterns(value)]
    return [pattern for value in data_files for pattern in _data_file_patterns(value)]


def local_files(source: Mapping[str, Any]) -> list[str]:
    """The local files a `sources:` entry reads, so that the workflow reruns its load when one of
    them changes: id-triple files under a local folder, a builder's data_files (globs expanded; a
    pattern that matches nothing stays, for Snakemake to name as missing), or every file of a local
    data set folder. A hub source reads none (hub_commit records what it read)."""
    path = source["path"]
    if "id_triples" in source:
        if _is_url(path):
            return []
        files = source["id_triples"]
        names = [files["triples"], *(files[key].format(**fields) for fields in source["languages"].values() for key in ("queries", "collection"))]
        return list(dict.fromkeys(str(Path(path) / name) for name in names))
    local_folder = path not in BUILDERS and Path(path).is_dir()
    if path not in BUILDERS and not local_folder:
        return []
    found: list[str] = []
    for arguments in source["languages"].values():
        root = Path(path) if local_folder else Path(".")
        root = root / arguments["data_dir"] if "data_dir" in arguments else root
        patterns = _data_file_patterns(arguments["data_files"]) if "data_files" in arguments else ["**/*"]
        for pattern in patterns:
            if _is_url(pattern):
                continue
            where = str(root / pattern)
            matches = sorted(match for match in glob.glob(where, recursive=True) if Path(match).is_file())
            found += matches or [where]
    return list(dict.fromkeys(found))


def hub_commit(repo_id: str, revision: str | None) -> str | None:
    """The commit a hub data set's revision (None: the default branch) stands for: asked of the hub,
    else read from the local hub cache where the hub cannot be reached; None where neither knows."""
    if revision and re.fullmatch(r"[0-9a-f]{40}", revision):
        return revision
    from huggingface_hub import HfApi, constants

    try:
        return HfApi().dataset_info(repo_id, revision=revision).sha
    except Exception:  # noqa: BLE001 - offline, unreachable, unknown repository: the cache may still know
        ref = Path(constants.HF_HUB_CACHE) / f"datasets--{repo_id.replace('/', '--')}" / "refs" / (revision or "main")
        return ref.read_text(encoding="utf-8").strip() if ref.is_file() else None


def provenance(source: Mapping[str, Any]) -> dict[str, Any]:
    """What a source was read from, stored with its pairs table: the hub repository, the revision
    asked for and the commit it stood for, or the local files."""
    path = source["path"]
    files = local_files(source)
    if files or path in BUILDERS:
        return {"path": path, "files": files}
    repo_id, _, revision = path.removeprefix("hf://datasets/").partition("@")
    revision = revision or source.get("revision")
    commit = hub_commit(repo_id, revision)
    if commit is None:
        log.warning("source %s: the commit of revision %s is unknown (hub unreachable, nothing cached)", path, revision or "main")
    return {"path": path, "hub_repository": repo_id, "revision": revision, "commit": commit}


def _load_language(name: str, source: Mapping[str, Any], lang: str) -> pd.DataFrame:
    # Imported here: `datasets` reads its HF_* settings (cache, offline) from the environment when
    # it is imported, so a caller (or test) that sets them first gets them.
    import datasets

    streaming = source.get("streaming", False)
    arguments = {"split": source.get("split", "train"), **source["languages"][lang]}
    if "revision" in source:
        arguments["revision"] = source["revision"]
    if streaming:
        arguments["streaming"] = True
    if source.get("trust_remote_code"):
        # Runs the repository's own loading script (datasets < 4 only): code from the hub, so opt-in.
        arguments["trust_remote_code"] = True
    described = f"source {name!r}, language {lang}: load_dataset({source['path']!r}, {arguments})"
    try:
        table = datasets.load_dataset(source["path"], **arguments)
        if streaming and isinstance(table, datasets.IterableDataset):
            # Streaming reads only the first max_rows rows instead of downloading the whole set.
            table = datasets.Dataset.from_list(list(table.take(source["max_rows"])), features=table.features)
    except Exception as error:  # noqa: BLE001 - datasets raises many types (network, missing files, bad format)
        raise DataError(f"{described} failed: {type(error).__name__}: {error}") from None
    if not isinstance(table, datasets.Dataset):
        raise DataError(f"{described} gave {type(table).__name__}, not one table: name a `split`")
    wanted = list(dict.fromkeys(column for column in source["columns"].values() if column is not None))
    missing = [column for column in wanted if column not in table.column_names]
    if missing:
        raise DataError(f"{described}: no column(s) {', '.join(map(repr, missing))} (it has: {', '.join(table.column_names)})")
    if source.get("max_rows") is not None:
        table = table.select(range(min(source["max_rows"], len(table))))
    log.info("%s: %d rows", described, len(table))
    return table.select_columns(wanted).to_pandas()


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{where}: expected a non-empty text, got {value!r}")
    return value


def _negatives(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [_text(value, where)]
    try:
        return [_text(item, where) for item in value]
    except TypeError:
        raise DataError(f"{where}: hard negatives must be a text or a list of texts, got {value!r}") from None


def load_source_pairs(name: str, source: Mapping[str, Any]) -> pa.Table:
    """The pairs table (hybridbatch.core.contract.SCHEMAS["pairs"]) of the `sources:` entry `name`."""
    columns = source["columns"]
    if "id_triples" in source:
        frames = read_id_triples(source["path"], source["id_triples"], source["languages"], source["max_rows"])
    else:
        frames = {lang: _load_language(name, source, lang) for lang in source["languages"]}
    if columns.get("group_id") is None:
        sizes = {lang: len(frame) for lang, frame in frames.items()}
        if len(set(sizes.values())) > 1:
            raise DataError(
                f"source {name!r}: group ids are row numbers (columns.group_id is null), so every language "
                f"needs the same number of rows, but they have {sizes}; map columns.group_id to an id column"
            )
    rows = empty_columns("pairs")
    # A group's conflict key is its value in the first language listed that has the group, so
    # that it is the same in every language (e.g. the English positive of translated triples).
    group_keys: dict[str, str] = {}
    for lang, frame in frames.items():
        for number, record in enumerate(frame.to_dict("records")):
            where = f"source {name!r}, language {lang}, row {number}"
            group = str(record[columns["group_id"]]) if columns.get("group_id") else str(number)
            key = str(record[columns["conflict_key"]]) if columns.get("conflict_key") else group
            rows["group_id"].append(group)
            rows["conflict_key"].append(group_keys.setdefault(group, key))
            rows["lang"].append(lang)
            rows["query"].append(_text(record[columns["query"]], f"{where}, column {columns['query']!r}"))
            rows["positive"].append(_text(record[columns["positive"]], f"{where}, column {columns['positive']!r}"))
            negatives = record[columns["hard_negatives"]] if columns.get("hard_negatives") else None
            rows["hard_negatives"].append(_negatives(negatives, f"{where}, column {columns.get('hard_negatives')!r}"))
    table = contract_table("pairs", rows)
    keys = table.select(["group_id", "lang"]).to_pandas()
    duplicated = keys[keys.duplicated()]
    if not duplicated.empty:
        first = duplicated.iloc[0]
        raise DataError(
            f"source {name!r}: {len(duplicated)} duplicate (group id, language) rows, the first: group "
            f"{first['group_id']!r} in {first['lang']}; a group holds one pair per language"
        )
    origin = provenance(source)
    log.info("source %r read from %s", name, origin)
    return table.replace_schema_metadata({**(table.schema.metadata or {}), PROVENANCE_KEY: json.dumps(origin, sort_keys=True)})
