"""What a killed training run resumes from, and the best weights early stopping keeps.

A checkpoint (model, optimiser, schedule, each process's RNG state, the log so far, the best
validation score) is written atomically every `checkpoint_every` steps into a folder outside the
model's output folder; a run finds it and resumes, so a killed run ends with the same weights as an
uninterrupted one on CPU. Every file carries the run's stamp (`run_stamp`): a checkpoint written
under another configuration is refused. Best weights are one file per best step, so a resumed run
never reads a later run's best.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import torch

from hybridbatch.core.errors import ConfigError
from hybridbatch.core.io import atomic_path, reading, remove_stale_temporaries
from hybridbatch.training.distributed import Process
from hybridbatch.training.settings import TrainSettings

log = logging.getLogger(__name__)


CHECKPOINT = "checkpoint.pt"
BEST = "best-{step}.pt"


def run_stamp(manifest_path: str | os.PathLike[str], base_model: str | os.PathLike[str], settings: TrainSettings, validation: pd.DataFrame | None) -> str:
    """A digest of what decides a run's weights: manifest, held-out slice, base model, settings.
    Stored under the key "fingerprint" in every file, as before the trainer was split, so that
    checkpoints written then still resume."""
    digest = hashlib.sha256()
    digest.update(Path(manifest_path).read_bytes())
    if validation is not None:
        digest.update(pd.util.hash_pandas_object(validation[["source", "group_id", "lang"]], index=False).to_numpy().tobytes())
    digest.update((Path(base_model) / "config.json").read_bytes())
    digest.update(json.dumps(asdict(settings), sort_keys=True).encode())
    return digest.hexdigest()


@dataclass
class Progress:
    """How far a run is: steps done, the log rows, the best validation score, and `seconds`, the
    wall time spent up to the checkpoint it resumed from (each log row has its own)."""

    step: int = 0
    rows: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    best: dict = field(default_factory=lambda: {"score": -math.inf, "step": 0, "stale": 0})


def random_state(device: torch.device) -> dict:
    return {"cpu": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def restore_random_state(saved, process: Process, device: torch.device) -> None:
    """Each process's random state from a checkpoint: one per process, or (older checkpoints) one CPU state."""
    if isinstance(saved, torch.Tensor):
        saved = [{"cpu": saved, "cuda": None}]
    if process.rank >= len(saved):
        log.warning("the checkpoint holds %d random states, for fewer processes than %d: reseeding", len(saved), process.world)
        return
    torch.set_rng_state(saved[process.rank]["cpu"])
    if device.type == "cuda" and saved[process.rank]["cuda"] is not None:
        torch.cuda.set_rng_state(saved[process.rank]["cuda"], device)


class Checkpoints:
    """The checkpoint and best-weights files of one run in `folder`, stamped with `stamp`."""

    def __init__(self, folder: str | os.PathLike[str], stamp: str, device: torch.device) -> None:
        self.folder, self.stamp, self.device = Path(folder), stamp, device
        self.path = self.folder / CHECKPOINT

    def remove_stale(self) -> None:
        remove_stale_temporaries(self.folder)

    def _load(self, path: Path) -> dict:
        with reading(path, "checkpoint"):
            state = torch.load(path, map_location=self.device, weights_only=False)
        if state["fingerprint"] != self.stamp:
            raise ConfigError(
                f"{path}: checkpoint from a different configuration (manifest, base model, validation slice or "
                "training settings changed); delete it to start over"
            )
        return state

    def resume(self, encoder, optimizer, schedule, process: Process) -> Progress:
        """Load the checkpoint into the model, optimiser and schedule, if there is one: its progress."""
        if not self.path.exists():
            return Progress()
        state = self._load(self.path)
        encoder.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        restore_random_state(state["rng"], process, self.device)
        return Progress(state["step"], state["log"], state["seconds"], state["best"])

    def save(self, encoder, optimizer, schedule, progress: Progress, random_states: list[dict]) -> None:
        """Write the checkpoint (`random_states`: one per process), keeping only the best step's weights."""
        state = {
            "fingerprint": self.stamp,
            "step": progress.step,
            "model": encoder.state_dict(),
            "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(),
            "rng": random_states,
            "log": progress.rows,
            "best": progress.best,
            "seconds": progress.rows[-1]["seconds"],
        }
        with atomic_path(self.path) as tmp:
            torch.save(state, tmp)
        self.remove_best(keep=progress.best["step"])

    def save_best(self, encoder, step: int) -> None:
        with atomic_path(self.folder / BEST.format(step=step)) as tmp:
            torch.save({"fingerprint": self.stamp, "step": step, "model": encoder.state_dict()}, tmp)

    def best_weights(self, step: int) -> dict:
        return self._load(self.folder / BEST.format(step=step))["model"]

    def remove_best(self, keep: int | None) -> None:
        """Delete best-weights files except the one of step `keep` (the checkpoint's best)."""
        for path in self.folder.glob(BEST.format(step="*")):
            if keep is None or path.name != BEST.format(step=keep):
                path.unlink()

    def remove_all(self) -> None:
        """The run is saved: nothing to resume from."""
        self.path.unlink(missing_ok=True)
        self.remove_best(keep=None)
