"""Which GPUs a job uses.

Under SLURM the scheduler has already set CUDA_VISIBLE_DEVICES for the job's allocation. In a local
run several jobs may start at once, so each claims its GPUs through lock files (one per GPU,
shared by every workflow of this user on the machine) and sets CUDA_VISIBLE_DEVICES to them
before CUDA starts; `--resources gpu=N` keeps snakemake from starting more GPU jobs than there
are GPUs, and the locks keep two jobs off one GPU even without it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

log = logging.getLogger(__name__)


def _machine_gpus() -> list[str]:
    """GPU indices this process may use, without starting CUDA (which would fix the visible set)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [device for device in visible.split(",") if device.strip() and device.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    listing = subprocess.run(
        ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True, text=True, check=False
    )
    return listing.stdout.split() if listing.returncode == 0 else []


def default_lock_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"hybridbatch-gpu-locks-{os.getuid()}"


@contextmanager
def claimed_gpus(count: int, lock_dir: str | os.PathLike[str] | None = None, poll_seconds: float = 5.0) -> Iterator[list[str]]:
    """Set CUDA_VISIBLE_DEVICES for a job that uses `count` GPUs (0: none, the job runs on CPU)
    and yield the GPUs it got, holding their locks until the job ends. With fewer GPUs than asked
    for, the job gets those there are (none: CPU); when they are taken, it waits for them."""
    if count == 0:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        yield []
        return
    if os.environ.get("SLURM_JOB_ID") and "CUDA_VISIBLE_DEVICES" in os.environ:
        yield _machine_gpus()  # the allocation's own GPUs
        return
    pool = _machine_gpus()
    if not pool:
        log.warning("%d GPU(s) asked for, but none is visible: running on the CPU", count)
        yield []
        return
    wanted = min(count, len(pool))
    if wanted < count:
        log.warning("%d GPU(s) asked for, %d exist: using %d", count, len(pool), wanted)
    folder = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with ExitStack() as held:
        claimed: list[str] = []
        waited = False
        while len(claimed) < wanted:
            for gpu in pool:
                if gpu in claimed or len(claimed) == wanted:
                    continue
                handle = open(folder / f"gpu{gpu}.lock", "w")
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    handle.close()
                    continue
                held.callback(handle.close)  # closing the file releases its lock
                claimed.append(gpu)
            if len(claimed) < wanted:
                if not waited:
                    log.info("waiting for a free GPU (%d of %d claimed; locks in %s)", len(claimed), wanted, folder)
                    waited = True
                time.sleep(poll_seconds)
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(claimed)
        log.info("using GPU(s) %s", ",".join(claimed))
        yield claimed
