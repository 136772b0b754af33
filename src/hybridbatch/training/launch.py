"""A training job as plain data, run in this process or, on several GPUs, in one torchrun process per
GPU (`python -m hybridbatch.training.launch job.json`, see hybridbatch.training.distributed)."""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import torch

from hybridbatch.core.io import atomic_path, read_frame
from hybridbatch.models.accelerator import job_device, use_threads
from hybridbatch.training import distributed
from hybridbatch.training.distributed import Process
from hybridbatch.training.loop import train
from hybridbatch.training.manifest import read_training_pairs
from hybridbatch.training.settings import TrainSettings

MODULE = "hybridbatch.training.launch"


@dataclass(frozen=True)
class TrainJob:
    """Everything one training run needs, as plain data: a torchrun process reads it from JSON."""

    base_model: str
    manifest: str
    pairs: dict[str, str]  # source -> pairs.parquet
    languages: list[str] | None
    target: str
    checkpoints: str
    validation: str | None  # the held-out slice (parquet), or None
    settings: TrainSettings = field(default_factory=TrainSettings)
    gpus: int = 0  # 0: CPU; N > 1: N data-parallel processes (one per GPU; gloo CPU processes without one)

    def to_json(self, path: str | os.PathLike[str]) -> None:
        with atomic_path(path) as tmp:
            Path(tmp).write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> TrainJob:
        fields = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(**{**fields, "settings": TrainSettings.from_plain(fields["settings"])})

    def run(self, process: Process = Process()) -> pd.DataFrame:
        pairs = read_training_pairs(self.pairs, self.languages)
        validation = read_frame(self.validation, "validation slice") if self.validation else None
        return train(
            self.base_model, self.manifest, pairs, self.target, self.checkpoints, self.settings, validation, job_device(self.gpus, process.local_rank), process
        )


def run_job(job: TrainJob, threads: int) -> None:
    """Train in this process, or, for a job on several GPUs, in one torchrun process per GPU
    (per visible GPU when fewer are visible; gloo CPU processes when none is)."""
    processes = min(job.gpus, torch.cuda.device_count()) if torch.cuda.is_available() else job.gpus
    threads = use_threads(threads)
    if processes < 2:
        job.run()
        return
    spec = Path(job.checkpoints) / "job.json"
    spec.parent.mkdir(parents=True, exist_ok=True)
    job.to_json(spec)
    distributed.launch(MODULE, [str(spec)], processes, threads)
    spec.unlink()


def main(arguments: list[str]) -> None:
    """Entry point of each torchrun process."""
    process = distributed.from_environment()
    # No time stamp: the launching process logs each line with its own.
    logging.basicConfig(level=logging.INFO, format=f"[rank {process.rank}] %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    TrainJob.from_json(arguments[0]).run(process)


if __name__ == "__main__":
    main(sys.argv[1:])
