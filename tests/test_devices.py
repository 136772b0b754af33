import fcntl
import logging
import os
import tempfile
import threading

import pytest
import torch

from hybridbatch.core.errors import DeviceError
from hybridbatch.core.machine import claimed_gpus, default_lock_dir, gpu_names, usable_threads
from hybridbatch.models.accelerator import job_device


@pytest.fixture
def two_gpus(monkeypatch, tmp_path):
    """A machine that shows GPUs 0 and 1 (CUDA is never started by claiming)."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    return tmp_path / "locks"


def test_concurrent_jobs_get_different_gpus(two_gpus, monkeypatch):
    with claimed_gpus(1, two_gpus) as first:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")  # the second job's own environment
        with claimed_gpus(1, two_gpus) as second:
            assert first == ["0"] and second == ["1"]
            assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"


@pytest.fixture
def waiting():
    """An event set when a claim starts waiting for GPUs (it logs that once), instead of sleeping."""
    event = threading.Event()

    class Handler(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("waiting for"):
                event.set()

    handler = Handler()
    logger = logging.getLogger("hybridbatch.core.machine")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield event
    logger.removeHandler(handler)


def claim_in_thread(count, lock_dir):
    """A job claiming `count` GPUs in a thread: the thread and the GPUs it got (once it got them)."""
    got = []

    def claim():
        with claimed_gpus(count, lock_dir, poll_seconds=0.05) as claimed:
            got.extend(claimed)

    thread = threading.Thread(target=claim)
    thread.start()
    return thread, got


def test_a_job_waits_for_a_gpu_to_free(two_gpus, waiting):
    with claimed_gpus(2, two_gpus):
        waiter, got = claim_in_thread(1, two_gpus)
        assert waiting.wait(timeout=30)
        assert not got
    waiter.join(timeout=30)
    assert got == ["0"]


def test_a_claim_is_all_or_nothing(two_gpus, monkeypatch, waiting):
    """A job waiting for two GPUs holds neither meanwhile: no two jobs can block each other."""
    two_gpus.mkdir(parents=True)
    with open(two_gpus / "gpu1.lock", "w") as outsider:  # another process's job holds GPU 1
        fcntl.flock(outsider, fcntl.LOCK_EX)
        waiter, got = claim_in_thread(2, two_gpus)
        assert waiting.wait(timeout=30)
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
        with claimed_gpus(1, two_gpus) as claimed:
            assert claimed == ["0"] and not got  # free although the waiting job wants it too
    waiter.join(timeout=30)
    assert got == ["0", "1"]


def test_cpu_jobs_see_no_gpu(two_gpus):
    with claimed_gpus(0, two_gpus) as claimed:
        assert claimed == [] and os.environ["CUDA_VISIBLE_DEVICES"] == ""


def test_jobs_in_one_slurm_allocation_share_its_gpus_out(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("SLURM_JOB_ID", "17")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")  # the allocation's GPUs, as SLURM numbers them
    assert default_lock_dir().name == "slurm-job-17"
    with claimed_gpus(1) as first:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
        with claimed_gpus(1) as second:
            assert (first, second) == (["0"], ["1"])
    monkeypatch.setenv("SLURM_JOB_ID", "18")  # another allocation: its own locks
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with claimed_gpus(1) as other:
        assert other == ["0"]


def test_threads_are_capped_at_the_cores_this_process_may_use():
    assert 1 <= usable_threads(1000) <= len(os.sched_getaffinity(0)) and usable_threads(1) == 1


def test_more_gpus_than_exist_takes_all(two_gpus):
    with claimed_gpus(4, two_gpus) as claimed:
        assert claimed == ["0", "1"] and os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"


@pytest.fixture
def no_usable_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("shutil.which", lambda name: None)  # no nvidia-smi to name the GPU


def test_a_job_without_gpus_runs_on_the_cpu_whatever_is_visible(no_usable_gpu, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert job_device(0) == torch.device("cpu")


@pytest.mark.parametrize("visible", ["", "-1"])
def test_a_machine_without_gpus_runs_on_the_cpu(no_usable_gpu, monkeypatch, visible):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert job_device(1) == torch.device("cpu")


def test_a_gpu_given_but_unusable_stops_naming_the_device_and_the_reason(no_usable_gpu, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(DeviceError, match=r"GPU 3 was given to this job, but torch .* cannot use it: it is a CPU-only build.*gpus to 0"):
        job_device(1)


def test_a_driver_mismatch_is_said_in_the_driver_s_words(no_usable_gpu, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setattr(torch.version, "cuda", "12.8")

    def too_old():
        raise RuntimeError("The NVIDIA driver on your system is too old (found version 11040).")

    monkeypatch.setattr(torch.cuda, "init", too_old)
    with pytest.raises(DeviceError, match=r"GPU 0, 1 .* CUDA 12\.8 build, The NVIDIA driver on your system is too old \(found version 11040\)"):
        job_device(2)


def test_gpus_are_named_as_nvidia_smi_lists_them(tmp_path, monkeypatch):
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho '0, NVIDIA H100 80GB HBM3, 550.54.15'\necho '1, NVIDIA H100 80GB HBM3, 550.54.15'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert gpu_names(["1", "7"]) == "1 (NVIDIA H100 80GB HBM3, driver 550.54.15), 7"
