"""A job's device: the CPU without GPUs, and a loud stop when a GPU it was given cannot be used."""

import pytest
import torch

from hybridbatch.accelerator import job_device
from hybridbatch.core.errors import DeviceError
from hybridbatch.core.machine import gpu_names


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
