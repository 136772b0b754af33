"""Data-parallel training: two gloo processes under torchrun must train like one process."""

import json
import shutil

import pandas as pd
import pyarrow as pa
import pytest
import torch
from safetensors.torch import load_file
from test_train import WORDS, toy_pairs

from hybridbatch.core.contract import SCHEMAS
from hybridbatch.core.io import write_parquet
from hybridbatch.training.checkpoints import restore_random_state
from hybridbatch.training.distributed import Process
from hybridbatch.training.launch import TrainJob, run_job
from hybridbatch.training.manifest import BatchPlan, build_manifest
from hybridbatch.training.settings import TrainSettings


@pytest.mark.parametrize("rows,world", [(5, 2), (4, 2), (7, 3), (3, 1)])
def test_process_shares_cover_a_batch_once_in_order(rows, world):
    shares = [Process(rank, world, rank).share(rows) for rank in range(world)]
    covered = [row for share in shares for row in range(rows)[share]]
    assert covered == list(range(rows))
    assert max(s.stop - s.start for s in shares) - min(s.stop - s.start for s in shares) <= 1


@pytest.fixture
def deterministic_model(tiny_model, tmp_path):
    """The tiny encoder without dropout, so that one and two processes can be compared exactly."""
    folder = tmp_path / "base"
    shutil.copytree(tiny_model, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_two_gloo_processes_train_like_one_process(deterministic_model, tmp_path):
    pairs = toy_pairs()
    # Hard negatives on some rows only: the processes hold different numbers of passages.
    pairs["hard_negatives"] = [[f"the {WORDS[(i // 2 + 3) % len(WORDS)]} is elsewhere"] if i % 4 == 0 else [] for i in range(len(pairs))]
    write_parquet(pa.Table.from_pandas(pairs, schema=SCHEMAS["pairs"], preserve_index=False), tmp_path / "pairs.parquet")
    # Batches of 5 rows: the two processes take 2 and 3 rows.
    build_manifest({"toy": pairs}, BatchPlan(0.5, 5, 6, 0)).to_parquet(tmp_path / "manifest.parquet", index=False)
    settings = TrainSettings(learning_rate=1e-3, precision="fp32", freeze_embeddings=False, hard_negatives=1, checkpoint_every=4)

    def job(name, gpus):
        return TrainJob(
            str(deterministic_model),
            str(tmp_path / "manifest.parquet"),
            {"toy": str(tmp_path / "pairs.parquet")},
            None,
            str(tmp_path / name),
            str(tmp_path / f"{name}-checkpoints"),
            None,
            settings,
            gpus,
        )

    run_job(job("single", 0), threads=2)
    run_job(job("parallel", 2), threads=2)  # no GPU here: two gloo CPU processes

    single = pd.read_csv(tmp_path / "single" / "train_log.csv")
    parallel = pd.read_csv(tmp_path / "parallel" / "train_log.csv")
    assert len(single) == len(parallel) == 6
    # The loss of every step is the whole batch's: each query saw the other process's passages.
    pd.testing.assert_series_equal(single["loss"], parallel["loss"], rtol=1e-4)
    one, two = (load_file(tmp_path / name / "model.safetensors") for name in ("single", "parallel"))
    base = load_file(deterministic_model / "model.safetensors")
    assert one.keys() == two.keys()
    assert any(not torch.equal(one[name], base[name]) for name in one)  # training moved the weights
    # All-reduce sums the gradients in another order than one process does, and Adam turns a
    # rounding-level difference in a near-zero gradient into a whole step of lr: a handful of
    # weights may differ (1 of 8 million on one CPU kind, none on another), never by more than
    # the steps taken; every other weight agrees to float32 rounding.
    apart = {name: (two[name] - one[name]).abs() > 1e-5 + 1e-4 * one[name].abs() for name in one}
    assert sum(int(mask.sum()) for mask in apart.values()) <= 1e-5 * sum(tensor.numel() for tensor in one.values())
    largest = max(float((two[name] - one[name]).abs().max()) for name in one)
    assert largest <= 2 * settings.learning_rate * len(single)


def test_each_process_resumes_its_own_random_state():

    cpu = torch.device("cpu")
    states = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        states.append({"cpu": torch.get_rng_state(), "cuda": None})
    restore_random_state(states, Process(1, 2, 1), cpu)
    assert torch.equal(torch.get_rng_state(), states[1]["cpu"])
    restore_random_state(states[0]["cpu"], Process(), cpu)  # a checkpoint of one process, before per-process states
    assert torch.equal(torch.get_rng_state(), states[0]["cpu"])
