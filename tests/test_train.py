import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

import hybridbatch.training.loop as training
from hybridbatch.core.errors import ConfigError, DataError
from hybridbatch.models.folder import provenance
from hybridbatch.training.checkpoints import BEST, CHECKPOINT, Checkpoints
from hybridbatch.training.loop import learning_rate_factor, train
from hybridbatch.training.loss import info_nce
from hybridbatch.training.manifest import BatchPlan, build_manifest, validation_split, without_validation
from hybridbatch.training.settings import TrainSettings, ValidationSchedule
from hybridbatch.training.validation import HeldOut, validation_scores

from conftest import REPOSITORY

WORDS = [
    "river",
    "castle",
    "engine",
    "violin",
    "desert",
    "harbor",
    "comet",
    "forest",
    "garden",
    "tunnel",
    "glacier",
    "market",
    "bridge",
    "island",
    "temple",
    "canyon",
    "museum",
    "volcano",
    "meadow",
    "lantern",
]


def toy_pairs() -> pd.DataFrame:
    rows = []
    for i, word in enumerate(WORDS):
        for lang, template in (("en", "what about the {w}?"), ("de", "was ist mit {w}?")):
            rows.append((f"g{i}", f"k{i}", lang, template.format(w=word), f"the {word} is described here", []))
    return pd.DataFrame(rows, columns=["group_id", "conflict_key", "lang", "query", "positive", "hard_negatives"])


@pytest.fixture
def toy(tmp_path):
    pairs = {"toy": toy_pairs()}
    manifest = tmp_path / "manifest.parquet"
    build_manifest(pairs, BatchPlan(0.5, 8, 40, 0)).to_parquet(manifest, index=False)
    return pairs, manifest


FAST = TrainSettings(learning_rate=1e-3, warmup_fraction=0.1, precision="fp32", freeze_embeddings=False, checkpoint_every=5)


def test_info_nce_and_schedule():
    aligned = torch.nn.functional.normalize(torch.eye(4), dim=-1)
    assert info_nce(aligned, aligned, 0.05) < 1e-6
    assert info_nce(aligned, aligned.roll(1, 0), 0.05) > 10
    assert [round(learning_rate_factor(s, 10, 2), 3) for s in range(10)] == [0.5, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125]


def test_loss_falls_and_the_model_loads(tiny_model, toy, tmp_path):
    from sentence_transformers import SentenceTransformer

    pairs, manifest = toy
    log = train(tiny_model, manifest, pairs, tmp_path / "model", tmp_path / "checkpoints", FAST)
    assert list(log.columns)[:4] == ["step", "loss", "lr", "seconds"] and len(log) == 40
    assert log["val_score"].isna().all()  # no validation slice given
    assert log["loss"].tail(10).mean() < 0.5 * log["loss"].head(10).mean()
    assert not (tmp_path / "checkpoints" / CHECKPOINT).exists()  # removed once the model is saved
    loaded = SentenceTransformer(str(tmp_path / "model"), device="cpu")
    assert loaded.prompts["query"] == "query: "
    assert pd.read_csv(tmp_path / "model" / "train_log.csv")["step"].tolist() == list(range(1, 41))
    made_with = json.loads((tmp_path / "model" / "made_with.json").read_text())
    assert made_with == provenance(FAST.precision, torch.device("cpu"))


def test_frozen_token_embeddings_stay_put(tiny_model, toy, tmp_path):
    pairs, manifest = toy
    settings = TrainSettings(learning_rate=1e-3, precision="fp32", freeze_embeddings=True, checkpoint_every=100)
    train(tiny_model, manifest, pairs, tmp_path / "model", tmp_path / "checkpoints", settings)
    name = "embeddings.word_embeddings.weight"
    before, after = load_file(tiny_model / "model.safetensors"), load_file(tmp_path / "model" / "model.safetensors")
    assert torch.equal(before[name], after[name])
    assert not torch.equal(before["encoder.layer.0.output.dense.weight"], after["encoder.layer.0.output.dense.weight"])


RUN = """
import sys, pandas as pd
from hybridbatch.training.loop import train
sys.path.insert(0, {tests!r})
from test_train import FAST, toy_pairs
train({model!r}, {manifest!r}, {{"toy": toy_pairs()}}, {target!r}, {checkpoints!r}, FAST)
"""


def run_training(tiny_model, manifest, target, checkpoints):
    code = RUN.format(tests=str(REPOSITORY / "tests"), model=str(tiny_model), manifest=str(manifest), target=str(target), checkpoints=str(checkpoints))
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_killed_run_resumes_to_identical_weights(tiny_model, toy, tmp_path):
    pairs, manifest = toy
    train(tiny_model, manifest, pairs, tmp_path / "straight", tmp_path / "straight-checkpoints", FAST)

    checkpoint = tmp_path / "checkpoints" / CHECKPOINT
    process = run_training(tiny_model, manifest, tmp_path / "resumed", tmp_path / "checkpoints")
    deadline = time.time() + 120
    while not checkpoint.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "training finished before it could be killed"
    killed_at = torch.load(checkpoint, weights_only=False)["step"]
    assert 0 < killed_at < 40 and not (tmp_path / "resumed").exists()

    log = train(tiny_model, manifest, pairs, tmp_path / "resumed", tmp_path / "checkpoints", FAST)
    assert log["step"].tolist() == list(range(1, 41))
    straight, resumed = load_file(tmp_path / "straight" / "model.safetensors"), load_file(tmp_path / "resumed" / "model.safetensors")
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[name], resumed[name]) for name in straight)


def test_checkpoint_from_another_configuration_is_refused(tiny_model, toy, tmp_path, monkeypatch):
    pairs, manifest = toy
    stop = {"after": 7}
    original = training.info_nce

    def failing(*args):
        stop["after"] -= 1
        return original(*args) * (float("nan") if stop["after"] < 0 else 1.0)

    monkeypatch.setattr(training, "info_nce", failing)
    with pytest.raises(DataError, match="training loss is nan at step 7 .*last good checkpoint is kept"):
        train(tiny_model, manifest, pairs, tmp_path / "model", tmp_path / "checkpoints", FAST)
    assert torch.load(tmp_path / "checkpoints" / CHECKPOINT, weights_only=False)["step"] == 5
    assert not (tmp_path / "model").exists()
    monkeypatch.setattr(training, "info_nce", original)
    changed = dataclasses.replace(FAST, learning_rate=5e-4)
    with pytest.raises(ConfigError, match="checkpoint from a different configuration"):
        train(tiny_model, manifest, pairs, tmp_path / "model", tmp_path / "checkpoints", changed)


@pytest.fixture
def toy_with_validation(tmp_path):
    pairs = {"toy": toy_pairs()}
    validation = validation_split(pairs, 4)
    manifest = tmp_path / "manifest.parquet"
    build_manifest(without_validation(pairs, validation), BatchPlan(0.5, 8, 40, 0)).to_parquet(manifest, index=False)
    return pairs, manifest, validation


def test_identical_positives_share_one_candidate():
    pairs = toy_pairs()
    pairs.loc[pairs["group_id"] == "g1", "positive"] = pairs.loc[pairs["group_id"] == "g0", "positive"].to_numpy()
    held_out = HeldOut.from_pairs(pairs.assign(source="toy"))
    assert len(held_out.candidates) == len(pairs) - 2  # g1's two positives are g0's
    assert set(held_out.qrels[held_out.qrels["qid"] == "toy/g1"]["cid"]) == set(held_out.qrels[held_out.qrels["qid"] == "toy/g0"]["cid"])


def test_held_out_slice_as_a_benchmark(tiny_model):
    validation = validation_split({"toy": toy_pairs()}, 4)
    held_out = HeldOut.from_pairs(validation)
    assert len(held_out.queries) == len(held_out.candidates) == 8
    # A query is relevant to its group's positive in each language.
    assert held_out.qrels.groupby("qid")["cid"].nunique().eq(2).all() and held_out.qrels["qid"].nunique() == 4
    from hybridbatch.models.folder import load_encoder
    from hybridbatch.models.settings import EncodeSettings

    scores = validation_scores(load_encoder(tiny_model), held_out, EncodeSettings(precision="fp32"))
    assert set(scores) == {"mono", "cross", "multi", "score"}
    assert all(0 < value <= 1 for value in scores.values())
    assert scores["score"] == pytest.approx((scores["mono"] + scores["cross"] + scores["multi"]) / 3)


def scripted_scores(monkeypatch, values):
    """Validation returns `values` in turn (one per validation), so the best step is known."""
    remaining = list(values)
    monkeypatch.setattr(training, "validation_scores", lambda *args: dict.fromkeys(["mono", "cross", "multi", "score"], remaining.pop(0)))


def weights_per_step(monkeypatch):
    """The model weights at every checkpoint of a run, by step."""
    seen = {}
    original = Checkpoints.save

    def recording(self, encoder, optimizer, schedule, progress, random_states):
        seen[progress.step] = {name: tensor.clone() for name, tensor in encoder.state_dict().items()}
        original(self, encoder, optimizer, schedule, progress, random_states)

    monkeypatch.setattr(Checkpoints, "save", recording)
    return seen


def assert_model_equals(folder, state):
    saved = load_file(folder / "model.safetensors")
    assert all(torch.equal(saved[name], state[f"0.model.{name}"]) for name in saved)


def test_early_stopping_keeps_the_best_weights(tiny_model, toy_with_validation, tmp_path, monkeypatch):
    pairs, manifest, validation = toy_with_validation
    settings = dataclasses.replace(FAST, validation=ValidationSchedule(every=8, patience=2))
    seen = weights_per_step(monkeypatch)
    train(tiny_model, manifest, pairs, tmp_path / "reference", tmp_path / "reference-checkpoints", dataclasses.replace(FAST, checkpoint_every=8))
    reference = dict(seen)

    scripted_scores(monkeypatch, [0.1, 0.5, 0.3, 0.2, 0.9])
    log = train(tiny_model, manifest, pairs, tmp_path / "model", tmp_path / "checkpoints", settings, validation)
    assert log["step"].max() == 32  # stopped after two scores without a gain
    assert log.dropna(subset=["val_score"])["step"].tolist() == [8, 16, 24, 32]
    assert_model_equals(tmp_path / "model", reference[16])  # validation does not disturb training either
    assert not list((tmp_path / "checkpoints").glob(BEST.format(step="*")))


def test_validation_without_patience_runs_every_step(tiny_model, toy_with_validation, tmp_path, monkeypatch):
    pairs, manifest, validation = toy_with_validation
    settings = dataclasses.replace(FAST, validation=ValidationSchedule(every=15, patience=0))
    scripted_scores(monkeypatch, [0.1, 0.2, 0.3])
    log = train(tiny_model, manifest, pairs, tmp_path / "model", tmp_path / "checkpoints", settings, validation)
    assert len(log) == 40 and log.dropna(subset=["val_score"])["step"].tolist() == [15, 30, 40]  # and the last step


def test_litter_of_a_killed_run_is_cleared_and_a_damaged_checkpoint_named(tiny_model, toy, tmp_path):
    pairs, manifest = toy
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    # What SIGKILL leaves mid-write: a half-written checkpoint and a staging folder of the model.
    orphans = [checkpoints / f".{CHECKPOINT}.5e1f00aa.tmp", tmp_path / ".model.0badf00d.staging"]
    orphans[0].write_bytes(b"half")
    orphans[1].mkdir()
    (orphans[1] / "model.safetensors").write_bytes(b"half")
    train(tiny_model, manifest, pairs, tmp_path / "model", checkpoints, FAST)
    assert not any(orphan.exists() for orphan in orphans)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints", "manifest.parquet", "model"]

    (checkpoints / CHECKPOINT).write_bytes(b"PK\x03\x04 not a whole checkpoint")
    with pytest.raises(
        DataError,
        match=rf"^{checkpoints / CHECKPOINT}: cannot read this checkpoint .*: delete "
        rf"{checkpoints / CHECKPOINT} and run snakemake again",
    ):
        train(tiny_model, manifest, pairs, tmp_path / "again", checkpoints, FAST)


def test_a_manifest_without_batches_trains_nothing_and_says_so(tiny_model, toy, tmp_path):
    pairs, manifest = toy
    empty = tmp_path / "empty.parquet"
    pd.read_parquet(manifest).head(0).to_parquet(empty, index=False)
    with pytest.raises(DataError, match=rf"{empty}: the manifest holds no batch, so training would take no step"):
        train(tiny_model, empty, pairs, tmp_path / "model", tmp_path / "checkpoints", FAST)
    assert not (tmp_path / "model").exists()


def test_length_chunks_give_the_loss_and_gradients_of_one_padded_batch(tiny_model):
    """A batch encoded in length-grouped chunks is the same batch: the same in-batch negatives,
    loss and gradients as one tensor padded to its longest text, to float tolerance."""
    from hybridbatch.models.folder import load_encoder

    encoder = load_encoder(tiny_model)
    encoder.eval()  # no dropout: both passes see the same function
    forward = training._PairForward(encoder)
    queries = [f"what about the {word}?" for word in WORDS[:8]]
    passages = [" ".join((WORDS * 3)[: 3 + 15 * (i % 4)]) + f" and the {word}" for i, word in enumerate(WORDS[:8])]

    def loss_and_gradients(chunked):
        encoder.zero_grad(set_to_none=True)
        sides = [training._tokenize(encoder, texts, "", 128, encoder.device, chunked) for texts in (queries, passages)]
        query_vectors, passage_vectors = forward(*sides)
        loss = info_nce(torch.nn.functional.normalize(query_vectors, dim=-1), torch.nn.functional.normalize(passage_vectors, dim=-1), 0.05)
        loss.backward()
        gradients = {name: parameter.grad.clone() for name, parameter in encoder.named_parameters() if parameter.grad is not None}
        return loss.item(), gradients, [len(side.chunks) for side in sides]

    padded_loss, padded, padded_chunks = loss_and_gradients(False)
    chunked_loss, chunked, chunked_chunks = loss_and_gradients(True)
    assert padded_chunks == [1, 1] and chunked_chunks[1] > 1  # passages of very different lengths were split
    assert chunked_loss == pytest.approx(padded_loss, rel=1e-5)
    assert padded.keys() == chunked.keys() and len(padded) > 10
    for name, gradient in padded.items():
        assert torch.allclose(chunked[name], gradient, rtol=1e-4, atol=1e-6), name


def test_a_profiled_run_logs_each_steps_time_by_phase(tiny_model, toy_with_validation, tmp_path):
    pairs, manifest, validation = toy_with_validation
    settings = dataclasses.replace(FAST, profile=True, validation=ValidationSchedule(every=10, patience=0))
    log = train(tiny_model, manifest, pairs, tmp_path / "model", tmp_path / "checkpoints", settings, validation)
    assert list(log.columns) == training.LOG_COLUMNS + training.PROFILE_COLUMNS
    steps = log[["t_texts", "t_forward", "t_backward", "t_optimizer"]]
    assert steps.notna().all().all() and (steps > 0).all().all()
    # Validation is timed on the steps that validate, and only there.
    assert list(log.loc[log["t_validation"].notna(), "step"]) == list(log.loc[log["val_score"].notna(), "step"])
    assert list(pd.read_csv(tmp_path / "model" / "train_log.csv").columns) == list(log.columns)
    plain = train(tiny_model, manifest, pairs, tmp_path / "plain", tmp_path / "plain-checkpoints", FAST)
    assert list(plain.columns) == training.LOG_COLUMNS
