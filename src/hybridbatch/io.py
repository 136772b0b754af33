"""Atomic file output: a reader sees the old file or the complete new one, never a partial one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `target`; move it onto `target` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_parquet(table: pa.Table, target: str | os.PathLike[str]) -> None:
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp)


def write_frame(frame: pd.DataFrame, target: str | os.PathLike[str]) -> None:
    with atomic_path(target) as tmp:
        frame.to_parquet(tmp, index=False)


def write_frame_csv(frame: pd.DataFrame, target: str | os.PathLike[str], sep: str = ",") -> None:
    with atomic_path(target) as tmp:
        frame.to_csv(tmp, sep=sep, index=False)


def write_text(text: str, target: str | os.PathLike[str]) -> None:
    with atomic_path(target) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
