"""Files in and out of the pipeline's artifacts.

Writing is atomic: a reader sees the old file or the complete new one, never a partial one. The
temporary file (or staging folder) sits beside the target under a name that says whose it is, so
the next write of the same target removes what a killed process left behind. Outputs take the
user's umask, like any file a program creates, so that a shared project folder stays readable.

Reading an artifact that an earlier rule made goes through `reading`: a damaged or truncated file
is named, with what to do about it.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hybridbatch.core.errors import DataError, HybridbatchError, OutputError

log = logging.getLogger(__name__)

TEMPORARY_SUFFIXES = (".tmp", ".staging")
# Errors of a write that are about the disk, not the program: said in one line naming the file.
DISK_ERRORS = {
    errno.ENOSPC: "free space on that disk",
    errno.EDQUOT: "free space within your disk quota",
    errno.EFBIG: "the file system, or a file size limit (ulimit -f), refuses files this large",
    errno.EROFS: "run from a writable working directory",
}


def _temporary(target: Path, suffix: str) -> Path:
    return target.parent / f".{target.name}.{secrets.token_hex(4)}{suffix}"


def _is_temporary_of(name: str, target_name: str | None) -> bool:
    owner = re.escape(target_name) if target_name is not None else ".+"
    suffixes = "|".join(map(re.escape, TEMPORARY_SUFFIXES))
    return re.fullmatch(rf"\.{owner}\.[0-9a-f]{{8}}(?:{suffixes})", name) is not None


def remove_stale_temporaries(folder: str | os.PathLike[str], target_name: str | None = None) -> None:
    """Delete the temporary files and staging folders a killed writer left in `folder` (those of
    `target_name` only, or all). Safe because one job at a time owns an output: Snakemake locks it."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if _is_temporary_of(path.name, target_name):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            log.info("removed %s, left behind by a killed job", path)


def _cannot_write(target: Path, error: OSError) -> OutputError:
    reason = os.strerror(error.errno) if error.errno else error
    advice = DISK_ERRORS.get(error.errno, "check that you may write there")
    return OutputError(f"{target}: cannot write it: {reason} ({advice}, then run snakemake again; nothing partial was left)")


@contextmanager
def _named_on_failure(target: Path) -> Iterator[None]:
    """Failures of the block that writes `target`: a disk error becomes one line naming it, any
    other failure gets a note naming it."""
    try:
        yield
    except HybridbatchError:
        raise
    except Exception as error:
        if isinstance(error, OSError) and error.errno in DISK_ERRORS:
            raise _cannot_write(target, error) from error
        error.add_note(f"while writing {target} (nothing was written)")
        raise


def _prepare(target: Path, temporary: Path, make) -> None:
    """Create `target`'s folder and its temporary (after removing stale ones); any failure here
    is a write failure of `target`."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(target.parent, target.name)
        make(temporary)
    except OSError as error:
        raise _cannot_write(target, error) from error


def current_umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, then put it back
    os.umask(mask)
    return mask


def _take_umask(path: Path) -> None:
    """Give `path` (and everything under a folder) the modes the umask gives new files and folders:
    some writers create private files whatever the umask (safetensors makes model weights 0600)."""
    mask = current_umask()
    for item in [path, *(path.rglob("*") if path.is_dir() else [])]:
        if item.is_symlink():
            continue
        full = 0o777 if item.is_dir() or item.stat().st_mode & 0o111 else 0o666
        os.chmod(item, full & ~mask)


def _create_file(path: Path) -> None:
    # 0o666 so that the umask decides who may read it (mkstemp would make it 0600).
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `target`; move it onto `target` only if the block succeeds."""
    target = Path(target)
    tmp = _temporary(target, ".tmp")
    _prepare(target, tmp, _create_file)
    try:
        with _named_on_failure(target):
            yield tmp
            _take_umask(tmp)
            os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_folder(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty staging folder beside `target`; it replaces `target` only if the block succeeds."""
    target = Path(target)
    staging = _temporary(target, ".staging")
    _prepare(target, staging, Path.mkdir)  # mkdir: 0o777 less the umask
    try:
        with _named_on_failure(target):
            yield staging
            _take_umask(staging)
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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


@contextmanager
def reading(path: str | os.PathLike[str], what: str, rebuild: str | os.PathLike[str] | None = None) -> Iterator[None]:
    """Turn a failure to read `path`, `what` an earlier rule wrote, into a DataError that names it
    and says what to do: delete `rebuild` (the rule's output holding it; default `path`) so that
    the next snakemake run makes it again. Errors that already name their input pass unchanged."""
    try:
        yield
    except HybridbatchError:
        raise
    except Exception as error:
        rebuild = path if rebuild is None else rebuild
        detail = next(iter(str(error).strip().splitlines()), "")
        raise DataError(
            f"{path}: cannot read this {what} ({type(error).__name__}{': ' + detail if detail else ''}); "
            f"it is damaged or incomplete: delete {rebuild} and run snakemake again to rebuild it"
        ) from error


def text_lines(path: str | os.PathLike[str]) -> list[str]:
    """The lines of a UTF-8 text file (a raw data file), without line ends; a final newline ends
    the last line rather than starting another. Text that is not UTF-8 is named with its byte."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text at byte {error.start}") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def read_frame(path: str | os.PathLike[str], what: str, columns: list[str] | None = None) -> pd.DataFrame:
    """A parquet artifact (only `columns`, if given) as a DataFrame, named if it cannot be read."""
    with reading(path, what):
        return pd.read_parquet(path, columns=columns)


def read_frame_csv(path: str | os.PathLike[str], what: str, rebuild: str | os.PathLike[str] | None = None, **options) -> pd.DataFrame:
    """A CSV artifact as a DataFrame (`options` go to pandas.read_csv), named if it cannot be read."""
    with reading(path, what, rebuild):
        return pd.read_csv(path, **options)
