"""Data-parallel training on one node: one process per device, started by torchrun.

Each process takes a contiguous share of every manifest batch. Passage embeddings are gathered
from all processes (with their gradients), so every query still sees the whole batch's passages as
negatives: the loss and the update equal those of the whole batch in one process.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_functional

from hybridbatch.core.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Process:
    """This process's place among the training processes (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def share(self, rows: int) -> slice:
        """The contiguous part of a batch of `rows` rows that this process trains on."""
        bounds = np.linspace(0, rows, self.world + 1).round().astype(int)
        return slice(int(bounds[self.rank]), int(bounds[self.rank + 1]))


def from_environment() -> Process:
    """The process group torchrun describes in the environment; a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Process()
    return Process(int(os.environ["RANK"]), world, int(os.environ["LOCAL_RANK"]))


def start(process: Process, device: torch.device) -> None:
    """Join the process group: NCCL between GPUs (each process bound to its own), gloo between CPU processes."""
    if process.distributed and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
            dist.init_process_group("nccl", device_id=device)
        else:
            dist.init_process_group("gloo")
        log.info("process %d of %d on %s", process.rank, process.world, device)


def stop(process: Process) -> None:
    if process.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def gather_rows(local: torch.Tensor, process: Process) -> tuple[torch.Tensor, int]:
    """Every process's rows of `local` in rank order, differentiable, and where this process's
    rows start. Processes may hold different numbers of rows (padded for the exchange)."""
    if not process.distributed:
        return local, 0
    sizes = torch.zeros(process.world, dtype=torch.long, device=local.device)
    sizes[process.rank] = len(local)
    dist.all_reduce(sizes)
    longest = int(sizes.max())
    padded = torch.nn.functional.pad(local, (0, 0, 0, longest - len(local)))
    pieces = dist_functional.all_gather(padded)
    rows = torch.cat([piece[:size] for piece, size in zip(pieces, sizes.tolist(), strict=True)])
    return rows, int(sizes[: process.rank].sum())


def mean_over_processes(value: torch.Tensor, process: Process) -> torch.Tensor:
    if not process.distributed:
        return value
    total = value.detach().clone()
    dist.all_reduce(total)
    return total / process.world


def gather_objects(value: object, process: Process) -> list:
    """Every process's `value`, in rank order (picklable objects)."""
    if not process.distributed:
        return [value]
    gathered: list = [None] * process.world
    dist.all_gather_object(gathered, value)
    return gathered


def broadcast_flag(flag: bool, process: Process, device: torch.device) -> bool:
    """Rank 0's decision, for every process."""
    if not process.distributed:
        return flag
    value = torch.tensor([int(flag)], device=device)
    dist.broadcast(value, 0)
    return bool(value.item())


def launch(module: str, arguments: list[str], processes: int, threads: int) -> None:
    """Run `python -m module arguments` in `processes` processes on this node through torchrun."""
    if processes < 2:
        raise ConfigError(f"launch needs at least 2 processes, got {processes}")
    # A progress bar line every 30 s at most: each refresh becomes a line of the log.
    environment = dict(os.environ, OMP_NUM_THREADS=str(max(1, threads // processes)), TQDM_MININTERVAL="30")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={processes}",
        "-m",
        module,
        *arguments,
    ]
    log.info("launching %d training processes: %s", processes, " ".join(command))
    # The processes' output goes through this log, so that it lands in the rule's log file too.
    with subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as running:
        for line in running.stdout:
            log.info("%s", line.rstrip())
    if running.returncode != 0:
        raise RuntimeError(f"distributed training failed (torchrun exit status {running.returncode}); see the log above")
