import os
import threading
import time

import pytest

from hybridbatch.devices import claimed_gpus


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


def test_cpu_jobs_see_no_gpu_and_slurm_allocations_are_kept(two_gpus, monkeypatch):
    with claimed_gpus(0, two_gpus) as claimed:
        assert claimed == [] and os.environ["CUDA_VISIBLE_DEVICES"] == ""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    monkeypatch.setenv("SLURM_JOB_ID", "17")
    with claimed_gpus(1, two_gpus) as claimed:
        assert claimed == ["3"] and os.environ["CUDA_VISIBLE_DEVICES"] == "3"
        assert not two_gpus.exists()  # the scheduler chose; no locks taken


def test_more_gpus_than_exist_takes_all(two_gpus):
    with claimed_gpus(4, two_gpus) as claimed:
        assert claimed == ["0", "1"] and os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"
