"""Encoding throughput: hybridbatch.models.encode vs SentenceTransformer.encode, and the share of the
machine's fp32 matmul rate that the encoder's FLOPs reach. Everything is measured in one run.

    python bench/encode.py --model results/models/base --data results/data/xquad_r
"""

from __future__ import annotations

import argparse
import json
import time

import pandas as pd
import torch
from flops import forward_flops, gemm_gflops, token_lengths  # bench/flops.py, beside this script

from hybridbatch.models.accelerator import use_threads
from hybridbatch.models.encode import encode
from hybridbatch.models.folder import load_encoder
from hybridbatch.models.settings import EncodeSettings


def encoder_gflop(encoder, texts: list[str], prefix: str, max_length: int) -> float:
    """Forward GFLOPs over the real (unpadded) tokens."""
    return forward_flops(encoder[0].auto_model.config, token_lengths(encoder, texts, prefix, max_length)) / 1e9


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, help="a results/data/{dataset} folder")
    parser.add_argument("--texts", type=int, default=1024, help="candidates to encode (spread over languages)")
    parser.add_argument("--batch-size", type=int, default=EncodeSettings().batch_size)
    parser.add_argument("--batch-tokens", type=int, default=EncodeSettings().batch_tokens)
    parser.add_argument("--st-batch-sizes", type=int, nargs="+", default=[16, 32, 64], help="sentence-transformers runs at each; its best counts")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    use_threads(args.threads)
    candidates = pd.read_parquet(f"{args.data}/candidates.parquet")
    step = max(1, len(candidates) // args.texts)
    texts = candidates["text"].iloc[::step].head(args.texts).tolist()
    encoder = load_encoder(args.model, torch.device("cpu"))
    prefix = encoder.prompts.get("passage", "")
    encode(encoder, texts[:64], "passage", EncodeSettings(precision="fp32"))  # warm-up
    # Same truncation for both: sentence-transformers would otherwise read up to 512 tokens.
    encoder.max_seq_length = EncodeSettings().passage_max_length

    runs: dict[str, list[float]] = {"gemm": [], "ours_fp32": [], "sentence_transformers_fp32": []}
    for _ in range(args.repeats):  # interleaved, best of each
        runs["gemm"].append(gemm_gflops())
        runs["ours_fp32"].append(timed(lambda: encode(encoder, texts, "passage", EncodeSettings(args.batch_size, args.batch_tokens, precision="fp32"))))
        runs["sentence_transformers_fp32"].append(
            min(
                timed(lambda size=size: encoder.encode(texts, prompt_name="passage", batch_size=size, normalize_embeddings=True))
                for size in args.st_batch_sizes
            )
        )
    gemm = max(runs["gemm"])
    flop = encoder_gflop(encoder, texts, prefix, EncodeSettings().passage_max_length)
    report = {
        "texts": len(texts),
        "threads": torch.get_num_threads(),
        "gemm_fp32_gflops": round(gemm, 1),
        "encoder_gflop": round(flop, 1),
    }
    for key, name in (("", "ours_fp32"), ("st_", "sentence_transformers_fp32")):
        seconds = min(runs[name])
        report[f"{key}texts_per_s"] = round(len(texts) / seconds, 1)
        report[f"{key}gemm_share"] = round(flop / seconds / gemm, 3)
    report["ratio_vs_st"] = round(min(runs["sentence_transformers_fp32"]) / min(runs["ours_fp32"]), 3)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
