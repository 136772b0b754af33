"""The training loop: AdamW (no decay on biases and LayerNorm), linear warm-up then linear decay
to 0, gradient clipping, bf16 autocast where `precision` resolves to it (`auto`: on a GPU only), the
InfoNCE loss of hybridbatch.training.loss on each manifest batch in order.

A non-finite loss stops the run, keeping the last good checkpoint. With a held-out slice
(`validation`), the model is scored on it every `validation.every` steps (hybridbatch.training.validation);
after `validation.patience` scores without a gain training stops early, and the best-scoring weights are the
ones saved. Under torchrun every process runs `train` on its share of each batch (see
hybridbatch.training.distributed); rank 0 validates, checkpoints and saves.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm import tqdm

from hybridbatch.core.contract import SETTINGS
from hybridbatch.core.errors import ConfigError, DataError
from hybridbatch.core.io import read_frame, write_frame_csv
from hybridbatch.models.accelerator import autocast_dtype, pad_multiple
from hybridbatch.models.encode import length_chunks, padded_features
from hybridbatch.models.folder import load_encoder, provenance, save_encoder
from hybridbatch.training import distributed
from hybridbatch.training.batches import ManifestBatches
from hybridbatch.training.checkpoints import Checkpoints, Progress, random_state, run_stamp
from hybridbatch.training.distributed import Process
from hybridbatch.training.loss import info_nce
from hybridbatch.training.settings import TrainSettings
from hybridbatch.training.validation import HeldOut, validation_scores

log = logging.getLogger(__name__)


LOG_COLUMNS = ["step", "loss", "lr", "seconds", *(f"val_{name}" for name in (*SETTINGS, "score"))]
# With `training.profile`, each step's wall time by phase: text assembly and tokenisation, forward
# and loss, backward, clipping and the optimiser step, validation (each phase ends with a device
# synchronisation, so that a GPU's queued work is counted where it was queued).
PROFILE_COLUMNS = ["t_texts", "t_forward", "t_backward", "t_optimizer", "t_validation"]


def log_columns(settings: TrainSettings) -> list[str]:
    return LOG_COLUMNS + (PROFILE_COLUMNS if settings.profile else [])


class _PhaseClock:
    """Wall time per phase of a step when profiling; nothing (no synchronisation) otherwise."""

    def __init__(self, device: torch.device, enabled: bool) -> None:
        self.device, self.enabled, self.times = device, enabled, {}
        self.last = time.perf_counter()

    def lap(self, phase: str) -> None:
        if not self.enabled:
            return
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        self.times[phase] = now - self.last
        self.last = now


def learning_rate_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up over `warmup` steps, then linear decay to 0 at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


# A forward call's fixed cost, in padded tokens it is worth spending to save one: a batch's texts
# are grouped by length only where a group saves more padding than this (models.encode.length_chunks).
CHUNK_OVERHEAD_TOKENS = 64


@dataclass(frozen=True)
class _Texts:
    """One side of a batch (queries or passages), tokenized as the forward pass takes it: padded
    chunks, and where each text's embedding lands in their concatenation (`rows`)."""

    chunks: list[dict]
    rows: torch.Tensor


def _tokenize(encoder, texts: list[str], prefix: str, max_length: int, device: torch.device, chunked: bool) -> _Texts:
    """`texts` in length-grouped padded chunks (`chunked`), or in one tensor padded to the longest."""
    multiple = pad_multiple(device)
    ids = encoder.tokenizer([prefix + text for text in texts], truncation=True, max_length=max_length)["input_ids"]
    groups = length_chunks([len(row) for row in ids], CHUNK_OVERHEAD_TOKENS, multiple) if chunked else [list(range(len(ids)))]
    chunks = [padded_features(encoder.tokenizer, [ids[index] for index in group], multiple, device) for group in groups]
    placed = torch.tensor([index for group in groups for index in group], dtype=torch.long)
    return _Texts(chunks, torch.argsort(placed).to(device))


class _PairForward(torch.nn.Module):
    """Queries and passages in one forward call, the unit that DistributedDataParallel wraps; each
    side's chunks are encoded one by one and their embeddings put back in the texts' order, so the
    loss sees the whole batch."""

    def __init__(self, encoder) -> None:
        super().__init__()
        self.encoder = encoder

    def _embed(self, texts: _Texts) -> torch.Tensor:
        return torch.cat([self.encoder(chunk)["sentence_embedding"] for chunk in texts.chunks])[texts.rows]

    def forward(self, queries: _Texts, passages: _Texts) -> tuple[torch.Tensor, torch.Tensor]:
        return self._embed(queries), self._embed(passages)


def _trainable_model(
    base_model: str | os.PathLike[str], settings: TrainSettings, device: torch.device | None, process: Process
) -> tuple[object, torch.nn.Module]:
    """The encoder with the parameters it trains, and its forward pass (data-parallel across processes)."""
    torch.manual_seed(settings.seed + process.rank)  # each process its own dropout
    encoder = load_encoder(base_model, device)
    distributed.start(process, encoder.device)
    encoder[0].auto_model.get_input_embeddings().weight.requires_grad_(not settings.freeze_embeddings)
    # Sentence embeddings pool the token states: a BERT pooler head gets no gradient (and
    # DistributedDataParallel refuses parameters without one).
    if getattr(encoder[0].auto_model, "pooler", None) is not None:
        encoder[0].auto_model.pooler.requires_grad_(False)
    forward = _PairForward(encoder)
    if process.distributed:
        device_ids = [encoder.device] if encoder.device.type == "cuda" else None
        forward = torch.nn.parallel.DistributedDataParallel(forward, device_ids=device_ids)
    return encoder, forward


def _optimizer_and_schedule(encoder, settings: TrainSettings, total: int) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    trainable = [(n, p) for n, p in encoder.named_parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for _, p in trainable if p.ndim > 1], "weight_decay": settings.weight_decay},
            {"params": [p for _, p in trainable if p.ndim <= 1], "weight_decay": 0.0},
        ],
        lr=settings.learning_rate,
    )
    warmup = max(1, round(settings.warmup_fraction * total))
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: learning_rate_factor(step, total, warmup))


@dataclass
class _TrainingRun:
    """One process's training run: what the loop, validation and the final save share."""

    encoder: Any
    forward: torch.nn.Module
    optimizer: torch.optim.AdamW
    schedule: torch.optim.lr_scheduler.LambdaLR
    batches: ManifestBatches
    settings: TrainSettings
    process: Process
    checkpoints: Checkpoints
    progress: Progress
    held_out: HeldOut | None
    manifest_path: str | os.PathLike[str]
    started: float = 0.0  # perf_counter at step 0 (earlier than now when resumed)


def train(
    base_model: str | os.PathLike[str],
    manifest_path: str | os.PathLike[str],
    pairs: Mapping[str, pd.DataFrame],
    target: str | os.PathLike[str],
    checkpoint_dir: str | os.PathLike[str],
    settings: TrainSettings,
    validation: pd.DataFrame | None = None,
    device: torch.device | None = None,
    process: Process = Process(),
) -> pd.DataFrame:
    """Fine-tune `base_model` on the manifest's batches; write the model folder `target`
    (with train_log.csv) and return the log. `validation`: held-out pairs (pairs columns and
    `source`) scored during training; None or empty: no validation, no early stopping.
    `process`: this process's rank among data-parallel processes (all of them call train)."""
    manifest = read_frame(manifest_path, "manifest")
    batches = ManifestBatches(manifest, pairs, settings.hard_negatives)
    if not len(batches):
        raise DataError(f"{manifest_path}: the manifest holds no batch, so training would take no step and save the base model as trained")
    if process.world > manifest.groupby("batch").size().min():
        raise ConfigError(f"{manifest_path}: {process.world} processes need at least as many rows per batch")
    encoder, forward = _trainable_model(base_model, settings, device, process)
    optimizer, schedule = _optimizer_and_schedule(encoder, settings, len(batches))
    validation = None if validation is None or validation.empty else validation
    checkpoints = Checkpoints(checkpoint_dir, run_stamp(manifest_path, base_model, settings, validation), encoder.device)
    if process.main:
        checkpoints.remove_stale()
    progress = checkpoints.resume(encoder, optimizer, schedule, process)
    if progress.step:
        log.info("resuming from %s at step %d of %d", checkpoints.path, progress.step, len(batches))
    held_out = HeldOut.from_pairs(validation) if validation is not None else None
    run = _TrainingRun(encoder, forward, optimizer, schedule, batches, settings, process, checkpoints, progress, held_out, manifest_path)
    encoder.train()
    _loop(run)
    if process.main:
        _save(run, target)
    distributed.stop(process)
    return pd.DataFrame(progress.rows, columns=log_columns(settings))


def _batch_texts(run: _TrainingRun, step: int) -> tuple[_Texts, _Texts, int]:
    """This process's share of batch `step`, tokenized: queries, passages (with any hard
    negatives) and the number of queries."""
    encoder, settings = run.encoder, run.settings
    queries, passages = run.batches.texts(step, run.process.share(run.batches.rows(step)))
    prefixes = encoder.prompts.get("query", ""), encoder.prompts.get("passage", "")
    return (
        _tokenize(encoder, queries, prefixes[0], settings.query_max_length, encoder.device, settings.length_chunks),
        _tokenize(encoder, passages, prefixes[1], settings.passage_max_length, encoder.device, settings.length_chunks),
        len(queries),
    )


def _batch_loss(run: _TrainingRun, queries: _Texts, passages: _Texts, share: float) -> tuple[torch.Tensor, torch.Tensor]:
    """This process's loss (scaled by `share`, its queries x processes / the batch's rows, so that
    the processes' gradients, averaged, are those of the batch's mean loss) and the batch's mean loss."""
    device, process = run.encoder.device, run.process
    dtype = autocast_dtype(run.settings.precision, device)
    with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        query_vectors, passage_vectors = run.forward(queries, passages)
        all_passages, offset = distributed.gather_rows(torch.nn.functional.normalize(passage_vectors.float(), dim=-1), process)
        loss = info_nce(torch.nn.functional.normalize(query_vectors.float(), dim=-1), all_passages, run.settings.temperature, offset)
        loss = loss * share
    return loss, distributed.mean_over_processes(loss, process)


def _loop(run: _TrainingRun) -> None:
    """Train from `progress.step` to the end of the manifest, or to an early stop."""
    total, progress = len(run.batches), run.progress
    run.started = time.perf_counter() - progress.seconds
    with tqdm(total=total, initial=progress.step, desc="train", unit="step", disable=not run.process.main) as bar:
        while progress.step < total:
            batch_loss = _step(run)
            bar.set_postfix(loss=f"{batch_loss:.4f}")
            bar.update()
            step = progress.step
            if run.held_out is not None and (step % run.settings.validation.every == 0 or step == total):
                clock = _PhaseClock(run.encoder.device, run.settings.profile)
                stop = run.process.main and _validate(run)
                clock.lap("t_validation")
                progress.rows[-1].update(clock.times)
                if run.process.main:
                    bar.set_postfix(loss=f"{batch_loss:.4f}", val=f"{progress.rows[-1]['val_score']:.4f}")
                if distributed.broadcast_flag(stop, run.process, run.encoder.device):
                    log.info("early stop at step %d of %d: no validation gain in %d scores", step, total, progress.best["stale"])
                    return
            if step % run.settings.checkpoint_every == 0 and step < total:
                random_states = distributed.gather_objects(random_state(run.encoder.device), run.process)
                if run.process.main:
                    run.checkpoints.save(run.encoder, run.optimizer, run.schedule, progress, random_states)


def _step(run: _TrainingRun) -> float:
    """One optimiser step on the next batch, logged; the batch's mean loss. A non-finite loss
    stops the run before the step, so the last checkpoint stays good."""
    step = run.progress.step
    clock = _PhaseClock(run.encoder.device, run.settings.profile)
    queries, passages, count = _batch_texts(run, step)
    clock.lap("t_texts")
    loss, batch_loss = _batch_loss(run, queries, passages, count * run.process.world / run.batches.rows(step))
    clock.lap("t_forward")
    if not torch.isfinite(batch_loss):
        raise DataError(
            f"training loss is {batch_loss.item()} at step {step} (batch {step} of {run.manifest_path}); "
            f"the last good checkpoint is kept at {run.checkpoints.path}"
        )
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    clock.lap("t_backward")
    torch.nn.utils.clip_grad_norm_(run.encoder.parameters(), run.settings.max_grad_norm)
    learning_rate = run.schedule.get_last_lr()[0]
    run.optimizer.step()
    run.schedule.step()
    clock.lap("t_optimizer")
    run.progress.step = step + 1
    row = {"step": step + 1, "loss": batch_loss.item(), "lr": learning_rate, "seconds": time.perf_counter() - run.started, **clock.times}
    run.progress.rows.append(row)
    return row["loss"]


def _validate(run: _TrainingRun) -> bool:
    """Score the held-out slice into the last log row, keep the best weights; True: stop early."""
    encoder, progress = run.encoder, run.progress
    encoder.eval()
    scores = validation_scores(encoder, run.held_out, run.settings.encoding())
    encoder.train()
    progress.rows[-1].update({f"val_{name}": value for name, value in scores.items()})
    log.info("step %d validation: %s", progress.step, ", ".join(f"{name} {value:.4f}" for name, value in scores.items()))
    best = progress.best
    if scores["score"] > best["score"]:
        best.update(score=scores["score"], step=progress.step, stale=0)
        run.checkpoints.save_best(encoder, progress.step)
        return False
    best["stale"] += 1
    patience = run.settings.validation.patience
    return patience > 0 and best["stale"] >= patience


def _save(run: _TrainingRun, target: str | os.PathLike[str]) -> None:
    """Write the model folder (the best-scoring weights when validated) with its log; drop the checkpoints."""
    encoder, progress = run.encoder, run.progress
    if run.held_out is not None and progress.best["step"] != progress.step:
        encoder.load_state_dict(run.checkpoints.best_weights(progress.best["step"]))
        log.info("keeping the weights of step %d (validation score %.4f)", progress.best["step"], progress.best["score"])
    encoder.eval()
    save_encoder(encoder, target, provenance(run.settings.precision, encoder.device))
    write_frame_csv(pd.DataFrame(progress.rows, columns=log_columns(run.settings)), Path(target) / "train_log.csv")
    run.checkpoints.remove_all()
    final = progress.rows[-1]
    log.info("trained %d steps in %.1f s, final loss %.4f", progress.step, final["seconds"], final["loss"])
