"""Contrastive fine-tuning that follows a manifest batch by batch.

Loss: InfoNCE with in-batch negatives: each query's positive is its row's passage, every other
passage of the batch (and any hard negatives) is a negative; similarities are cosines divided by
the temperature. AdamW (no decay on biases and LayerNorm), linear warm-up then linear decay to 0,
gradient clipping, bf16 autocast where `precision` resolves to it (`auto`: on a GPU only).

Checkpoints (model, optimiser, schedule, RNG state, log) are written atomically every
`checkpoint_every` steps outside the output folder; a run finds its checkpoint and resumes from it,
so a killed run ends with the same weights as an uninterrupted one on CPU. A checkpoint written
under another configuration is refused.

With a held-out slice (`validation`), the model is scored on it every `validation_every` steps
(see hybridbatch.validation); after `patience` scores without a gain training stops early, and the
best-scoring weights are the ones saved.

A job on several GPUs runs one process per GPU under torchrun (`python -m hybridbatch.train
job.json`, see hybridbatch.distributed); rank 0 validates, checkpoints and saves.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from hybridbatch import distributed
from hybridbatch.basemodel import save_encoder
from hybridbatch.distributed import Process
from hybridbatch.encode import EncodeSettings, autocast_dtype, job_device, load_encoder, pad_multiple, provenance
from hybridbatch.errors import ConfigError, DataError
from hybridbatch.io import atomic_path, read_frame, reading, remove_stale_temporaries, write_frame_csv
from hybridbatch.validation import SETTINGS, HeldOut, validation_scores

log = logging.getLogger(__name__)

LOG_COLUMNS = ["step", "loss", "lr", "seconds", *(f"val_{name}" for name in (*SETTINGS, "score"))]
CHECKPOINT = "checkpoint.pt"
BEST = "best-{step}.pt"  # one file per best step: a resumed run never reads a later run's best


@dataclass(frozen=True)
class TrainSettings:
    learning_rate: float = 2e-5
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    temperature: float = 0.05
    max_grad_norm: float = 1.0
    hard_negatives: int = 0
    query_max_length: int = 64
    passage_max_length: int = 128
    freeze_embeddings: bool = True
    precision: str = "auto"
    checkpoint_every: int = 50
    seed: int = 0
    validation_every: int = 20
    patience: int = 0  # validation scores without a gain before stopping; 0 = never stop early


def info_nce(queries: torch.Tensor, passages: torch.Tensor, temperature: float, offset: int = 0) -> torch.Tensor:
    """Row i of `queries` matches row `offset` + i of `passages`; all other passages are its negatives."""
    scores = queries @ passages.T / temperature
    labels = torch.arange(offset, offset + len(queries), device=queries.device)
    return torch.nn.functional.cross_entropy(scores, labels)


def learning_rate_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up over `warmup` steps, then linear decay to 0 at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


class _Batches:
    """Texts of each manifest batch, looked up in the sources' pairs tables."""

    def __init__(self, manifest: pd.DataFrame, pairs: Mapping[str, pd.DataFrame], hard_negatives: int) -> None:
        self.manifest = manifest
        self.hard_negatives = hard_negatives
        self.lookup = {
            source: table.set_index(["group_id", "lang"])[["query", "positive", "hard_negatives"]].to_dict("index")
            for source, table in pairs.items()
        }
        self.starts = manifest.groupby("batch", sort=True).indices

    def __len__(self) -> int:
        return len(self.starts)

    def rows(self, batch: int) -> int:
        return len(self.starts[batch])

    def texts(self, batch: int, process: Process) -> tuple[list[str], list[str]]:
        """Queries and passages (positives, then hard negatives) of this process's share of a batch."""
        queries, positives, negatives = [], [], []
        for row in self.manifest.iloc[self.starts[batch][process.share(self.rows(batch))]].itertuples():
            table = self.lookup[row.source]
            try:
                query_row, passage_row = table[(row.group_id, row.query_lang)], table[(row.group_id, row.passage_lang)]
            except KeyError as error:
                raise DataError(f"manifest batch {batch}: {row.source} has no pair {error.args[0]}") from None
            queries.append(query_row["query"])
            positives.append(passage_row["positive"])
            negatives += list(passage_row["hard_negatives"])[: self.hard_negatives]
        return queries, positives + negatives


def fingerprint(
    manifest_path: str | os.PathLike[str],
    base_model: str | os.PathLike[str],
    settings: TrainSettings,
    validation: pd.DataFrame | None,
) -> str:
    digest = hashlib.sha256()
    digest.update(Path(manifest_path).read_bytes())
    if validation is not None:
        digest.update(pd.util.hash_pandas_object(validation[["source", "group_id", "lang"]], index=False).to_numpy().tobytes())
    digest.update((Path(base_model) / "config.json").read_bytes())
    digest.update(json.dumps(asdict(settings), sort_keys=True).encode())
    return digest.hexdigest()


def _tokenize(encoder, texts: list[str], prefix: str, max_length: int, device: torch.device) -> dict:
    multiple = pad_multiple(device)
    features = encoder.tokenizer(
        [prefix + text for text in texts], padding=True, truncation=True, max_length=max_length,
        pad_to_multiple_of=multiple if multiple > 1 else None, return_tensors="pt",
    )  # fmt: skip
    return {name: tensor.to(device) for name, tensor in features.items()}


class _PairForward(torch.nn.Module):
    """Queries and passages in one forward call, the unit that DistributedDataParallel wraps."""

    def __init__(self, encoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, queries: dict, passages: dict) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(queries)["sentence_embedding"], self.encoder(passages)["sentence_embedding"]


def _optimizer(encoder, settings: TrainSettings) -> torch.optim.AdamW:
    trainable = [(n, p) for n, p in encoder.named_parameters() if p.requires_grad]
    return torch.optim.AdamW(
        [
            {"params": [p for _, p in trainable if p.ndim > 1], "weight_decay": settings.weight_decay},
            {"params": [p for _, p in trainable if p.ndim <= 1], "weight_decay": 0.0},
        ],
        lr=settings.learning_rate,
    )


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
    batches = _Batches(manifest, pairs, settings.hard_negatives)
    if process.world > manifest.groupby("batch").size().min():
        raise ConfigError(f"{manifest_path}: {process.world} processes need at least as many rows per batch")
    total = len(batches)
    torch.manual_seed(settings.seed + process.rank)  # each process its own dropout
    encoder = load_encoder(base_model, device)
    device = encoder.device
    distributed.start(process, device)
    dtype = autocast_dtype(settings.precision, device)
    word_embeddings = encoder[0].auto_model.get_input_embeddings()
    word_embeddings.weight.requires_grad_(not settings.freeze_embeddings)
    # Sentence embeddings pool the token states: a BERT pooler head gets no gradient (and
    # DistributedDataParallel refuses parameters without one).
    if getattr(encoder[0].auto_model, "pooler", None) is not None:
        encoder[0].auto_model.pooler.requires_grad_(False)
    forward = _PairForward(encoder)
    if process.distributed:
        forward = torch.nn.parallel.DistributedDataParallel(forward, device_ids=[device] if device.type == "cuda" else None)
    optimizer = _optimizer(encoder, settings)
    warmup = max(1, round(settings.warmup_fraction * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: learning_rate_factor(step, total, warmup))
    validation = None if validation is None or validation.empty else validation
    stamp = fingerprint(manifest_path, base_model, settings, validation)
    held_out = HeldOut.from_pairs(validation) if validation is not None else None
    validation_encoding = EncodeSettings(
        query_max_length=settings.query_max_length, passage_max_length=settings.passage_max_length, precision=settings.precision
    )

    checkpoint_path, best_dir = Path(checkpoint_dir) / CHECKPOINT, Path(checkpoint_dir)
    if process.main:
        remove_stale_temporaries(best_dir)
    step, rows, elapsed = 0, [], 0.0
    best = {"score": -math.inf, "step": 0, "stale": 0}
    if checkpoint_path.exists():
        state = _load_checked(checkpoint_path, stamp, device)
        encoder.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        _restore_random_state(state["rng"], process, device)
        step, rows, elapsed, best = state["step"], state["log"], state["seconds"], state["best"]
        log.info("resuming from %s at step %d of %d", checkpoint_path, step, total)

    prefixes = encoder.prompts.get("query", ""), encoder.prompts.get("passage", "")
    encoder.train()
    started = time.perf_counter() - elapsed
    with tqdm(total=total, initial=step, desc="train", unit="step", disable=not process.main) as bar:
        while step < total:
            queries, passages = batches.texts(step, process)
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                query_vectors, passage_vectors = forward(
                    _tokenize(encoder, queries, prefixes[0], settings.query_max_length, device),
                    _tokenize(encoder, passages, prefixes[1], settings.passage_max_length, device),
                )
                all_passages, offset = distributed.gather_rows(
                    torch.nn.functional.normalize(passage_vectors.float(), dim=-1), process
                )
                # Scaled so that the processes' gradients, averaged, are those of the batch's mean loss.
                loss = info_nce(
                    torch.nn.functional.normalize(query_vectors.float(), dim=-1), all_passages, settings.temperature, offset
                ) * (len(queries) * process.world / batches.rows(step))
            batch_loss = distributed.mean_over_processes(loss, process)
            if not torch.isfinite(batch_loss):
                raise DataError(
                    f"training loss is {batch_loss.item()} at step {step} (batch {step} of {manifest_path}); "
                    f"the last good checkpoint is kept at {checkpoint_path}"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(encoder.parameters(), settings.max_grad_norm)
            learning_rate = schedule.get_last_lr()[0]
            optimizer.step()
            schedule.step()
            step += 1
            rows.append({"step": step, "loss": batch_loss.item(), "lr": learning_rate, "seconds": time.perf_counter() - started})
            bar.set_postfix(loss=f"{batch_loss.item():.4f}")
            bar.update()
            stop = False
            if held_out is not None and (step % settings.validation_every == 0 or step == total):
                if process.main:
                    stop = _validate(encoder, held_out, validation_encoding, step, rows[-1], best, settings.patience, best_dir, stamp)
                    bar.set_postfix(loss=f"{batch_loss.item():.4f}", val=f"{rows[-1]['val_score']:.4f}")
                stop = distributed.broadcast_flag(stop, process, device)
            if stop:
                log.info("early stop at step %d of %d: no validation gain in %d scores", step, total, best["stale"])
                break
            if step % settings.checkpoint_every == 0 and step < total:
                random_states = distributed.gather_objects(_random_state(device), process)
                if process.main:
                    _save_checkpoint(checkpoint_path, encoder, optimizer, schedule, step, rows, best, stamp, random_states)
                    _remove_best_files(best_dir, keep=best["step"])

    if not process.main:
        distributed.stop(process)
        return pd.DataFrame(rows, columns=LOG_COLUMNS)
    if held_out is not None and best["step"] != step:
        encoder.load_state_dict(_load_checked(best_dir / BEST.format(step=best["step"]), stamp, device)["model"])
        log.info("keeping the weights of step %d (validation score %.4f)", best["step"], best["score"])
    encoder.eval()
    save_encoder(encoder, target, provenance(settings.precision, device))
    log_frame = pd.DataFrame(rows, columns=LOG_COLUMNS)
    write_frame_csv(log_frame, Path(target) / "train_log.csv")
    checkpoint_path.unlink(missing_ok=True)
    _remove_best_files(best_dir, keep=None)
    log.info("trained %d steps in %.1f s, final loss %.4f", step, rows[-1]["seconds"] if rows else 0.0,
             rows[-1]["loss"] if rows else math.nan)  # fmt: skip
    distributed.stop(process)
    return log_frame


def _validate(encoder, held_out: HeldOut, encoding: EncodeSettings, step: int, row: dict, best: dict,
              patience: int, best_dir: Path, stamp: str) -> bool:  # fmt: skip
    """Score the held-out slice into the log `row`, keep the best weights; True: stop early."""
    encoder.eval()
    scores = validation_scores(encoder, held_out, encoding)
    encoder.train()
    row.update({f"val_{name}": value for name, value in scores.items()})
    log.info("step %d validation: %s", step, ", ".join(f"{name} {value:.4f}" for name, value in scores.items()))
    if scores["score"] > best["score"]:
        best.update(score=scores["score"], step=step, stale=0)
        with atomic_path(best_dir / BEST.format(step=step)) as tmp:
            torch.save({"fingerprint": stamp, "step": step, "model": encoder.state_dict()}, tmp)
        return False
    best["stale"] += 1
    return patience > 0 and best["stale"] >= patience


def _remove_best_files(folder: Path, keep: int | None) -> None:
    """Delete best-weights files except the one of step `keep` (the checkpoint's best)."""
    for path in folder.glob(BEST.format(step="*")):
        if keep is None or path.name != BEST.format(step=keep):
            path.unlink()


def _load_checked(path: Path, stamp: str, device: torch.device) -> dict:
    with reading(path, "checkpoint"):
        state = torch.load(path, map_location=device, weights_only=False)
    if state["fingerprint"] != stamp:
        raise ConfigError(
            f"{path}: checkpoint from a different configuration (manifest, base model, validation slice or "
            "training settings changed); delete it to start over"
        )
    return state


def _random_state(device: torch.device) -> dict:
    return {"cpu": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def _restore_random_state(saved, process: Process, device: torch.device) -> None:
    """Each process's random state from a checkpoint: one per process, or (older checkpoints) one CPU state."""
    if isinstance(saved, torch.Tensor):
        saved = [{"cpu": saved, "cuda": None}]
    if process.rank >= len(saved):
        log.warning("the checkpoint holds %d random states, for fewer processes than %d: reseeding", len(saved), process.world)
        return
    torch.set_rng_state(saved[process.rank]["cpu"])
    if device.type == "cuda" and saved[process.rank]["cuda"] is not None:
        torch.cuda.set_rng_state(saved[process.rank]["cuda"], device)


def _save_checkpoint(path: Path, encoder, optimizer, schedule, step: int, rows: list, best: dict, stamp: str,
                     random_states: list[dict]) -> None:  # fmt: skip
    state = {
        "fingerprint": stamp,
        "step": step,
        "model": encoder.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "rng": random_states,  # one per process
        "log": rows,
        "best": best,
        "seconds": rows[-1]["seconds"],
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


@dataclass(frozen=True)
class TrainJob:
    """Everything one training run needs, as plain data: a torchrun process reads it from JSON."""

    base_model: str
    manifest: str
    pairs: dict[str, str]  # source -> pairs.parquet
    languages: list[str] | None
    target: str
    checkpoints: str
    validation: str | None  # the held-out slice (parquet), or None
    settings: TrainSettings = field(default_factory=TrainSettings)
    gpus: int = 0  # 0: CPU; N > 1: N data-parallel processes (one per GPU; gloo CPU processes without one)

    def to_json(self, path: str | os.PathLike[str]) -> None:
        with atomic_path(path) as tmp:
            Path(tmp).write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> TrainJob:
        fields = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(**{**fields, "settings": TrainSettings(**fields["settings"])})

    def run(self, process: Process = Process()) -> pd.DataFrame:
        from hybridbatch.manifest import read_training_pairs

        pairs = read_training_pairs(self.pairs, self.languages)
        validation = read_frame(self.validation, "validation slice") if self.validation else None
        return train(self.base_model, self.manifest, pairs, self.target, self.checkpoints, self.settings, validation,
                     job_device(self.gpus, process.local_rank), process)  # fmt: skip


def run_job(job: TrainJob, threads: int) -> None:
    """Train in this process, or, for a job on several GPUs, in one torchrun process per GPU
    (per visible GPU when fewer are visible; gloo CPU processes when none is)."""
    processes = min(job.gpus, torch.cuda.device_count()) if torch.cuda.is_available() else job.gpus
    if processes < 2:
        torch.set_num_threads(threads)
        job.run()
        return
    spec = Path(job.checkpoints) / "job.json"
    spec.parent.mkdir(parents=True, exist_ok=True)
    job.to_json(spec)
    distributed.launch("hybridbatch.train", [str(spec)], processes, threads)
    spec.unlink()


def main(arguments: list[str]) -> None:
    """Entry point of each torchrun process: `python -m hybridbatch.train job.json`."""
    process = distributed.from_environment()
    # No time stamp: the launching process logs each line with its own.
    logging.basicConfig(level=logging.INFO, format=f"[rank {process.rank}] %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    TrainJob.from_json(arguments[0]).run(process)


if __name__ == "__main__":
    main(sys.argv[1:])
