"""The threads and GPUs a job uses.

`usable_threads` caps a rule's thread count at the cores the process may run on.

Several jobs may start at once on one machine (a local run, or the jobs of one SLURM allocation),
so each claims its GPUs through lock files, one per GPU, and sets CUDA_VISIBLE_DEVICES to them
before CUDA starts; `--resources gpu=N` keeps snakemake from starting more GPU jobs than there
are GPUs, and the locks keep two jobs off one GPU even without it. Outside SLURM the locks are
shared by every workflow of this user on the machine; inside a SLURM job they are the job's own,
since SLURM may number each allocation's GPUs from 0.
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


def usable_threads(requested: int) -> int:
    """Threads to use: what the rule asked for, capped at the cores this process may run on."""
    return max(1, min(requested, len(os.sched_getaffinity(0))))


def visible_gpus() -> list[str] | None:
    """The GPU indices CUDA_VISIBLE_DEVICES grants this process (none for "" or "-1"); None when unset."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return None
    return [device.strip() for device in visible.split(",") if device.strip() not in ("", "-1")]


def _nvidia_smi(fields: str) -> list[list[str]]:
    """nvidia-smi's answer to --query-gpu=`fields`, a row of values per GPU; none without nvidia-smi."""
    if shutil.which("nvidia-smi") is None:
        return []
    listing = subprocess.run(["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader"], capture_output=True, text=True, check=False)
    if listing.returncode != 0:
        return []
    return [[value.strip() for value in line.split(",", fields.count(","))] for line in listing.stdout.splitlines() if line.strip()]


def _machine_gpus() -> list[str]:
    """GPU indices this process may use, without starting CUDA (which would fix the visible set)."""
    visible = visible_gpus()
    return visible if visible is not None else [row[0] for row in _nvidia_smi("index")]


def gpu_names(indices: list[str]) -> str:
    """The GPUs at `indices` as nvidia-smi names them ("0 (NVIDIA H100 80GB HBM3, driver 550.54.15)"),
    or the bare indices where nvidia-smi cannot say."""
    named = {index: f"{index} ({name}, driver {driver})" for index, name, driver in _nvidia_smi("index,name,driver_version")}
    return ", ".join(named.get(index, index) for index in indices)


def default_lock_dir() -> Path:
    folder = Path(tempfile.gettempdir()) / f"hybridbatch-gpu-locks-{os.getuid()}"
    job = os.environ.get("SLURM_JOB_ID")
    return folder / f"slurm-job-{job}" if job else folder


def _try_lock(path: Path):
    """An open file holding an exclusive lock on `path`, or None when another process holds it."""
    # Kept open past this function: the lock lasts as long as the handle (the job's life).
    handle = open(path, "w")  # noqa: SIM115
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


@contextmanager
def claimed_gpus(count: int, lock_dir: str | os.PathLike[str] | None = None, poll_seconds: float = 5.0) -> Iterator[list[str]]:
    """Set CUDA_VISIBLE_DEVICES for a job that uses `count` GPUs (0: none, the job runs on CPU)
    and yield the GPUs it got, holding their locks until the job ends. With fewer GPUs than asked
    for, the job gets those there are (none: CPU); while they are taken, it waits. A job takes all
    its GPUs at once or none, so two jobs never hold part of each other's share."""
    if count == 0:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        yield []
        return
    pool = _machine_gpus()
    if not pool:
        log.warning("%d GPU(s) asked for, but none is visible: running on the CPU", count)
        yield []
        return
    wanted = min(count, len(pool))
    if wanted < count:
        log.warning("%d GPU(s) asked for, %d visible: using %d", count, len(pool), wanted)
    folder = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    waited = False
    while (handles := _claim_all(folder, pool, wanted)) is None:
        if not waited:
            log.info("waiting for %d free GPU(s) of %s (locks in %s)", wanted, ",".join(pool), folder)
            waited = True
        time.sleep(poll_seconds)
    with ExitStack() as held:
        for handle in handles.values():
            held.callback(handle.close)  # closing the file releases its lock
        claimed = list(handles)
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(claimed)
        log.info("using GPU(s) %s", ",".join(claimed))
        yield claimed


def _claim_all(folder: Path, pool: list[str], wanted: int) -> dict | None:
    """Locks on `wanted` GPUs of `pool` (GPU -> open lock file), or None, holding none, when fewer
    are free. One claimer at a time looks at the GPU locks, so a claim is all or nothing."""
    with open(folder / "claim.lock", "w") as claim:
        fcntl.flock(claim, fcntl.LOCK_EX)
        handles = {}
        for gpu in pool:
            if len(handles) == wanted:
                break
            if (handle := _try_lock(folder / f"gpu{gpu}.lock")) is not None:
                handles[gpu] = handle
        if len(handles) == wanted:
            return handles
        for handle in handles.values():
            handle.close()
        return None
