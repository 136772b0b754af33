"""Fetch raw data files from the offline mirror or their public URL, checking each file's sha256."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from hybridbatch.core.errors import DataError
from hybridbatch.core.io import atomic_path
from hybridbatch.data.registry import RawFile

log = logging.getLogger(__name__)

CHUNK = 1 << 20


def sha256_of(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url: str, target: Path, timeout: float) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1]) as bar:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))


def origin_of(raw: RawFile, mirror: str | os.PathLike[str] | None) -> str:
    """Where `raw` comes from: its file in the mirror folder, or its public URL without a mirror."""
    return raw.url if mirror is None else str(Path(mirror) / raw.mirror_path)


def mirror_problem(mirror: str | os.PathLike[str], needed: Sequence[tuple[str, RawFile]]) -> str | None:
    """One message for all the (data set, raw file)s still to be copied that the mirror lacks, or
    None. Said once at start-up rather than once per download job."""
    mirror = Path(mirror)
    fix = "or set `mirror: null` to download from the public URLs"
    if needed and not mirror.is_dir():
        return (
            f"mirror: the folder {mirror} does not exist, and {len(needed)} raw file(s) of this run are to be "
            f"copied from it; point `mirror` at a copy of the data (the layout of ../shared/data), {fix}"
        )
    missing = [
        f"{raw.mirror_path} ({dataset}{f', language {raw.lang}' if raw.lang else ''})" for dataset, raw in needed if not (mirror / raw.mirror_path).is_file()
    ]
    if missing:
        listed = ", ".join(missing)
        return f"mirror: {mirror} lacks {len(missing)} file(s) this run needs: {listed}; restore them, {fix}"
    return None


def fetch(
    raw: RawFile,
    target: str | os.PathLike[str],
    expected_sha256: str,
    mirror: str | os.PathLike[str] | None,
    timeout: float = 60.0,
) -> str:
    """Copy `raw` from the mirror folder (or download it when `mirror` is None) to `target`.

    The bytes are verified before `target` appears, so a truncated or altered file never lands.
    Returns where the file came from.
    """
    target = Path(target)
    source = origin_of(raw, mirror)
    with atomic_path(target) as tmp:
        if mirror is not None:
            if not os.path.isfile(source):
                what = f"language {raw.lang}" if raw.lang else raw.name
                raise DataError(
                    f"{source}: missing from the mirror folder {mirror} ({what} of {target.parent.name}); "
                    "restore the mirror, or set `mirror: null` in the config to download from the public URLs"
                )
            shutil.copyfile(source, tmp)
        else:
            try:
                _download(raw.url, tmp, timeout)
            except OSError as error:
                raise DataError(f"{raw.url}: download failed ({error}); target {target}") from error
        actual = sha256_of(tmp)
        if actual != expected_sha256:
            raise DataError(f"{source}: sha256 {actual} does not match the expected {expected_sha256} (truncated or altered file; {target} was not written)")
    log.info("fetched %s from %s (sha256 ok)", target, source)
    return source
