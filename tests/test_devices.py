import os
import tempfile
import threading
import time

import pytest

from hybridbatch.core.machine import _try_lock, claimed_gpus, default_lock_dir


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


def test_a_job_waits_for_a_gpu_to_free(two_gpus, monkeypatch):
    released = threading.Event()

    def hold_both():
        with claimed_gpus(2, two_gpus):
            time.sleep(0.5)
        released.set()

    holder = threading.Thread(target=hold_both)
    holder.start()
    time.sleep(0.2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    with claimed_gpus(1, two_gpus, poll_seconds=0.05) as claimed:
        assert released.is_set() and claimed == ["0"]
    holder.join()


def test_a_claim_is_all_or_nothing(two_gpus, monkeypatch):
    """A job waiting for two GPUs holds neither meanwhile: no two jobs can block each other."""
    two_gpus.mkdir(parents=True)
    outsider = _try_lock(two_gpus / "gpu1.lock")
    got = []

    def claim_both():
        with claimed_gpus(2, two_gpus, poll_seconds=0.05) as claimed:
            got.extend(claimed)

    waiter = threading.Thread(target=claim_both)
    waiter.start()
    time.sleep(0.3)
    assert not got
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    with claimed_gpus(1, two_gpus, poll_seconds=0.05) as claimed:
        assert claimed == ["0"]  # free although the waiting job wants it too
    outsider.close()
    waiter.join(timeout=5)
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


def test_more_gpus_than_exist_takes_all(two_gpus):
    with claimed_gpus(4, two_gpus) as claimed:
        assert claimed == ["0", "1"] and os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"
