"""The embeddings file: one language of one data set embedded by one model (`.npz`).

Arrays `query_ids`, `queries`, `candidate_ids`, `candidates` (vectors L2-normalised, float32, rows
in the order of the data tables) and `made_with`, the provenance of the vectors as JSON (see
hybridbatch.core.contract.PROVENANCE). The embed rule writes one folder per (data set, model) with
a `{lang}.npz` per language.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hybridbatch.core.errors import DataError
from hybridbatch.core.io import atomic_path, reading

ARRAYS = ("query_ids", "queries", "candidate_ids", "candidates")


@dataclass(frozen=True)
class LanguageEmbeddings:
    """One language of a data set embedded by one model, with the ids that tie rows to the tables
    and the provenance of the vectors."""

    query_ids: np.ndarray
    queries: np.ndarray
    candidate_ids: np.ndarray
    candidates: np.ndarray
    made_with: dict[str, str] = field(default_factory=dict)


def embedding_files(folder: str | os.PathLike[str], languages: Sequence[str]) -> dict[str, Path]:
    """Language -> its embeddings file in a data set's folder of one model."""
    return {lang: Path(folder) / f"{lang}.npz" for lang in languages}


def save_embeddings(target: str | os.PathLike[str], embeddings: LanguageEmbeddings) -> None:
    arrays = {name: getattr(embeddings, name) for name in ARRAYS}
    with atomic_path(target) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays, made_with=np.array(json.dumps(embeddings.made_with, sort_keys=True)))


def load_embeddings(path: str | os.PathLike[str]) -> LanguageEmbeddings:
    # The embed rule's output is the model's folder of the data set: rebuilding means deleting it.
    with reading(path, "embeddings file", Path(path).parent), np.load(path, allow_pickle=False) as stored:
        if "made_with" not in stored:
            raise DataError(f"{path}: no record of the precision and versions it was made with; re-run the embed rule")
        made_with = json.loads(str(stored["made_with"]))
        return LanguageEmbeddings(**{name: stored[name] for name in ARRAYS}, made_with=made_with)
