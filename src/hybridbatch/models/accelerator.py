"""Where and how the torch stages compute: the device of a job, the precision it resolves to, and
the threads it uses."""

from __future__ import annotations

import faiss
import torch

from hybridbatch.core.errors import DeviceError
from hybridbatch.core.machine import gpu_names, usable_threads, visible_gpus

PRECISIONS = ("auto", "bf16", "fp32")


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def job_device(gpus: int, local_rank: int = 0) -> torch.device:
    """The device of a job given `gpus` (its GPU count; 0 = CPU): a GPU when one is visible, the CPU
    when none is. A job that holds a GPU (CUDA_VISIBLE_DEVICES, set by core.machine.claimed_gpus or
    the cluster) which torch cannot use stops, rather than spend the allocation on the CPU."""
    if not gpus:
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    if held := visible_gpus():
        raise DeviceError(
            f"GPU {gpu_names(held)} was given to this job, but torch {torch.__version__} cannot use it: {_cuda_problem()}. "
            "Install a torch build for this machine's CUDA driver, or set training.gpus / encode.gpus to 0 to run on the CPU"
        )
    return torch.device("cpu")


def _cuda_problem() -> str:
    """Why torch sees no usable GPU, in words."""
    if torch.version.cuda is None:
        return "it is a CPU-only build"
    try:
        torch.cuda.init()
    except Exception as error:  # noqa: BLE001 - torch raises RuntimeError or AssertionError with the driver's words
        return f"CUDA {torch.version.cuda} build, {' '.join(str(error).split())}"
    return f"CUDA {torch.version.cuda} build, but CUDA reports no usable device"


def use_threads(requested: int) -> int:
    """Run torch and FAISS on `requested` threads, capped at the cores this process may use; the count."""
    threads = usable_threads(requested)
    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)
    return threads


def resolved_precision(precision: str, device: torch.device) -> str:
    """ "bf16" or "fp32": what `precision` means on `device`. `auto` is fp32 on every CPU, so that
    one config gives the same metrics whatever the CPU's bf16 unit (on a CPU with native bf16 the
    base model's mAP moved by up to 0.002 per language pair, the size of the differences tested)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return precision


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for `precision` on `device` (None: plain fp32)."""
    return torch.bfloat16 if resolved_precision(precision, device) == "bf16" else None


def pad_multiple(device: torch.device) -> int:
    """Batches are padded to a multiple of this many tokens. On a GPU, bf16 kernels pay a one-time
    choice per new tensor shape (more than a 12-layer forward pass: bench/README.md), so few
    distinct shapes pay; a CPU has no such cost, and padding would only add work."""
    return 32 if device.type == "cuda" else 1
