"""Fetch raw data files from the offline mirror or their public URL, checking each file's sha256."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import urllib.request
from pathlib import Path

from tqdm import tqdm

from hybridbatch.errors import DataError
from hybridbatch.io import atomic_path
from hybridbatch.registry import RawFile

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
    with atomic_path(target) as tmp:
        if mirror is not None:
            source = str(Path(mirror) / raw.mirror_path)
            if not os.path.isfile(source):
                what = f"language {raw.lang}" if raw.lang else raw.name
                raise DataError(
                    f"{source}: missing from the mirror folder {mirror} ({what} of {target.parent.name}); "
                    "restore the mirror, or set `mirror: null` in the config to download from the public URLs"
                )
            shutil.copyfile(source, tmp)
        else:
            source = raw.url
            try:
                _download(raw.url, tmp, timeout)
            except OSError as error:
                raise DataError(f"{raw.url}: download failed ({error}); target {target}") from error
        actual = sha256_of(tmp)
        if actual != expected_sha256:
            raise DataError(
                f"{source}: sha256 {actual} does not match the expected {expected_sha256} "
                f"(truncated or altered file; {target} was not written)"
            )
    log.info("fetched %s from %s (sha256 ok)", target, source)
    return source
