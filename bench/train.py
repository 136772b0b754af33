"""Training throughput: hybridbatch.training with length-grouped chunks, its padded path (each side
of a batch padded to its longest text: `baseline_pairs_per_s`) and sentence-transformers' trainer with
MultipleNegativesRankingLoss, same model, batches (the manifest's texts, in order), truncation,
frozen token embeddings and fp32, measured in one run. Pairs/s over the steps after the first.

    python bench/train.py --model results/models/base --manifest results/manifests/xquad_r/hybrid.parquet \
        --pairs mlqa_r=results/data/mlqa_r/pairs.parquet ntrex=results/data/ntrex/pairs.parquet
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from flops import forward_flops, gemm_gflops, token_lengths  # bench/flops.py, beside this script

from hybridbatch.models.accelerator import use_threads
from hybridbatch.models.folder import load_encoder
from hybridbatch.training.batches import ManifestBatches
from hybridbatch.training.loop import train
from hybridbatch.training.manifest import read_training_pairs
from hybridbatch.training.settings import TrainSettings


def sentence_transformers_run(model_path: str, queries: list[str], passages: list[str], batch: int, length: int) -> list[float]:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.losses import MultipleNegativesRankingLoss
    from transformers import TrainerCallback

    model = SentenceTransformer(model_path, device="cpu")
    model.max_seq_length = length
    model[0].auto_model.get_input_embeddings().weight.requires_grad_(False)
    stamps: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            stamps.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as output:
        arguments = SentenceTransformerTrainingArguments(
            output_dir=output,
            per_device_train_batch_size=batch,
            num_train_epochs=1,
            learning_rate=3e-5,
            warmup_ratio=0.1,
            save_strategy="no",
            logging_steps=10_000,
            report_to=[],
            seed=0,
            prompts={"anchor": model.prompts["query"], "positive": model.prompts["passage"]},
            dataloader_drop_last=True,
            use_cpu=True,
        )
        dataset = Dataset.from_dict({"anchor": queries, "positive": passages})
        trainer = SentenceTransformerTrainer(
            model=model,
            args=arguments,
            train_dataset=dataset,
            loss=MultipleNegativesRankingLoss(model, scale=20.0),
            callbacks=[Clock()],
        )
        trainer._get_train_sampler = lambda *args, **kwargs: torch.utils.data.SequentialSampler(dataset)  # manifest order
        trainer.train()
    return stamps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--pairs", nargs="+", required=True, help="source=path of each training source")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=128, help="for queries and passages alike")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    use_threads(args.threads)

    pairs = read_training_pairs(dict(item.split("=", 1) for item in args.pairs), None)
    manifest = pd.read_parquet(args.manifest)
    manifest = manifest[manifest["batch"] < args.steps]
    batch_size = int(manifest.groupby("batch").size().iloc[0])
    with tempfile.TemporaryDirectory() as folder:
        short = Path(folder) / "manifest.parquet"
        manifest.to_parquet(short, index=False)
        settings = TrainSettings(
            precision="fp32",
            query_max_length=args.max_length,
            passage_max_length=args.max_length,
            freeze_embeddings=True,
            checkpoint_every=10_000,
            length_chunks=True,
        )
        ours = train(args.model, short, pairs, Path(folder) / "model", Path(folder) / "checkpoints", settings)
        # The padded path: each side of a batch in one tensor padded to its longest text.
        padded = dataclasses.replace(settings, length_chunks=False)
        baseline = train(args.model, short, pairs, Path(folder) / "padded", Path(folder) / "padded-checkpoints", padded)
        batches = ManifestBatches(manifest, pairs, 0)
        texts = [batches.texts(step) for step in range(args.steps)]
    stamps = sentence_transformers_run(args.model, [q for qs, _ in texts for q in qs], [p for _, ps in texts for p in ps], batch_size, args.max_length)
    # Model FLOPs of the timed steps on real tokens: a training step costs three forwards.
    encoder = load_encoder(args.model, torch.device("cpu"))
    timed_texts = texts[1:]
    lengths = [
        length
        for queries, passages in timed_texts
        for texts_of, kind in ((queries, "query"), (passages, "passage"))
        for length in token_lengths(encoder, texts_of, encoder.prompts.get(kind, ""), args.max_length)
    ]
    step_gflop = 3 * forward_flops(encoder[0].auto_model.config, lengths) / 1e9
    gemm = gemm_gflops()
    ours_seconds = float(ours["seconds"].iloc[-1] - ours["seconds"].iloc[0])
    baseline_seconds = float(baseline["seconds"].iloc[-1] - baseline["seconds"].iloc[0])
    st_seconds = stamps[-1] - stamps[0]
    pairs_timed = (args.steps - 1) * batch_size
    print(
        json.dumps(
            {
                "batch_size": batch_size,
                "timed_steps": args.steps - 1,
                "pairs_per_s": round(pairs_timed / ours_seconds, 2),
                "baseline_pairs_per_s": round(pairs_timed / baseline_seconds, 2),
                "st_pairs_per_s": round(pairs_timed / st_seconds, 2),
                "speedup_over_baseline": round(baseline_seconds / ours_seconds, 3),
                "gemm_fp32_gflops": round(gemm, 1),
                "gemm_share": round(step_gflop / ours_seconds / gemm, 3),
                "baseline_gemm_share": round(step_gflop / baseline_seconds / gemm, 3),
                "seconds_per_step": round(ours_seconds / (args.steps - 1), 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
