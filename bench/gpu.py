"""GPU throughput of the training and embedding code at paper scale (batch 100), bf16 against fp32.

Runs hybridbatch.training.loop.train and hybridbatch.models.encode.encode on randomly initialised encoders of
the real models' shapes, vocabulary included (training updates the token embeddings, so their size
sets optimizer memory and time): multilingual-e5-small (12 layers, 384 wide, 250,037 tokens, 118M
parameters), XLM-R base (768 wide, 250,002 tokens, 278M) and LaBSE (768 wide, 501,153 tokens, 471M).
Texts are tokenized with the e5 / XLM-R tokenizer given (its ids fit every shape's vocabulary).
Speed depends on the shape, not on the weights, so no hub download is needed. MFU is the model
FLOPs per second (bench/flops.py: three forwards per training pair over its query and positive,
one per embedded text, real tokens only) against the GPU's bf16 peak (`--peak-tflops`, or looked
up by its name). Prints a Markdown table and writes JSON.

    python bench/gpu.py --tokenizer <model folder> --pairs pairs.parquet --candidates candidates.parquet --out gpu.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
import types
from pathlib import Path

import pandas as pd
import torch

if importlib.util.find_spec("faiss") is None:
    # Machines with a GPU image but no faiss: this benchmark never searches.
    sys.modules["faiss"] = types.ModuleType("faiss")


from flops import bf16_peak_flops, forward_flops, token_lengths

from hybridbatch.core.machine import claimed_gpus
from hybridbatch.models.base import sentence_transformer
from hybridbatch.models.encode import encode
from hybridbatch.models.folder import load_encoder, provenance, save_encoder
from hybridbatch.models.settings import EncodeSettings
from hybridbatch.training.loop import train
from hybridbatch.training.manifest import BatchPlan, build_manifest
from hybridbatch.training.settings import TrainSettings

BASE_768 = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072}
SHAPES = {
    "e5-small shape (118M)": {"hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 1536, "vocab_size": 250_037},
    "XLM-R base shape (278M)": {**BASE_768, "vocab_size": 250_002},
    "LaBSE shape (471M)": dict(BASE_768, vocab_size=501_153),
}


def build_encoder(shape: dict, tokenizer_folder: str, target: Path) -> None:
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)
    if len(tokenizer) > shape["vocab_size"]:
        raise SystemExit(f"{tokenizer_folder}: {len(tokenizer)} tokens do not fit a vocabulary of {shape['vocab_size']}")
    torch.manual_seed(0)
    model = BertModel(BertConfig(max_position_embeddings=512, **shape), add_pooling_layer=False)
    made_with = provenance("fp32", torch.device("cpu"))
    save_encoder(sentence_transformer(model, tokenizer, {"query": "query: ", "passage": "passage: "}), target, made_with)


def training_rate(model: Path, pairs: pd.DataFrame, precision: str, steps: int, warmup: int, work: Path) -> dict:
    manifest = work / "manifest.parquet"
    build_manifest({"pairs": pairs}, BatchPlan(0.5, 100, steps, 0)).to_parquet(manifest, index=False)
    settings = TrainSettings(
        learning_rate=3e-5, precision=precision, freeze_embeddings=False, query_max_length=64, passage_max_length=256, checkpoint_every=10**6
    )
    torch.cuda.reset_peak_memory_stats()
    log = train(model, manifest, {"pairs": pairs}, work / f"trained-{precision}", work / f"ckpt-{precision}", settings, device=torch.device("cuda"))
    seconds = log["seconds"].iloc[-1] - log["seconds"].iloc[warmup - 1]
    return {"pairs_per_s": 100 * (steps - warmup) / seconds, "peak_gib": torch.cuda.max_memory_allocated() / 2**30, "final_loss": float(log["loss"].iloc[-1])}


def model_facts(model: Path, pairs: pd.DataFrame, texts: list[str]) -> tuple[int, float, float]:
    """The encoder's parameter count, and the mean model FLOPs of one training pair (forward and
    backward over query and positive, at the benchmark's lengths) and of embedding one text."""
    encoder = load_encoder(str(model), torch.device("cpu"))
    config = encoder[0].auto_model.config
    queries = token_lengths(encoder, pairs["query"].tolist(), "query: ", 64)
    positives = token_lengths(encoder, pairs["positive"].tolist(), "passage: ", 256)
    per_pair = 3 * (forward_flops(config, queries) + forward_flops(config, positives)) / len(pairs)
    per_text = forward_flops(config, token_lengths(encoder, texts, "passage: ", 256)) / len(texts)
    return sum(p.numel() for p in encoder.parameters()), per_pair, per_text


def encoding_rate(model: Path, texts: list[str], precision: str, batch_tokens: int) -> float:
    encoder = load_encoder(model, torch.device("cuda"))
    settings = EncodeSettings(batch_size=512, batch_tokens=batch_tokens, precision=precision)
    encode(encoder, texts[:2000], "passage", settings)  # warm-up
    torch.cuda.synchronize()
    start = time.perf_counter()
    encode(encoder, texts, "passage", settings)
    torch.cuda.synchronize()
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", required=True, help="a model folder whose tokenizer to use")
    parser.add_argument("--pairs", required=True, help="a pairs.parquet to train on")
    parser.add_argument("--candidates", required=True, help="a candidates.parquet to embed")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--peak-tflops", type=float, help="the GPU's dense bf16 peak (default: looked up by name)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    with claimed_gpus(1) as gpus:
        if not torch.cuda.is_available():
            raise SystemExit("no GPU visible")
        device = torch.cuda.get_device_name(0)
        peak = args.peak_tflops * 1e12 if args.peak_tflops else bf16_peak_flops(device)
        print(f"claimed GPU(s) {gpus}; CUDA_VISIBLE_DEVICES={','.join(gpus)}; {device}; torch {torch.__version__}; bf16 peak {peak}")
        pairs = pd.read_parquet(args.pairs)
        texts = pd.read_parquet(args.candidates)["text"].tolist()
        results = []
        with tempfile.TemporaryDirectory() as scratch:
            for name, shape in SHAPES.items():
                model = Path(scratch) / name.split()[0]
                build_encoder(shape, args.tokenizer, model)
                parameters, per_pair, per_text = model_facts(model, pairs, texts)
                for precision in ("fp32", "bf16"):
                    work = Path(scratch) / f"{model.name}-{precision}"
                    work.mkdir()
                    row = {
                        "encoder": name,
                        "precision": precision,
                        "parameters_m": round(parameters / 1e6),
                        **training_rate(model, pairs, precision, args.steps, args.warmup, work),
                    }
                    row["train_mfu"] = per_pair * row["pairs_per_s"] / peak if peak else None
                    for batch_tokens in (16384, 65536):
                        row[f"texts_per_s_{batch_tokens}"] = encoding_rate(model, texts, precision, batch_tokens)
                        row[f"embed_mfu_{batch_tokens}"] = per_text * row[f"texts_per_s_{batch_tokens}"] / peak if peak else None
                    results.append(row)
                    print(json.dumps(row), flush=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    table = pd.DataFrame(results)
    print(table.to_markdown(index=False, floatfmt=".1f"))


if __name__ == "__main__":
    main()
