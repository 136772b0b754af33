"""The bf16 opt-in on a CPU: embedding speed and the metrics it moves, against fp32, in one run.

    python bench/precision.py --model results/models/base --data results/data/xquad_r --languages en de zh --questions 300

Embeds the chosen languages' queries and candidates of one benchmark with `hybridbatch.models.encode` in
fp32 and in bf16 (autocast), times both, evaluates both with `hybridbatch.evaluation.evaluate` on the same
pools, and prints JSON: texts/s of each, the speed-up, and per metric the macro difference
(bf16 - fp32) per setting and the largest difference over the (query language, pool) pairs.
Whether bf16 is faster depends on the CPU (native AVX512-BF16 / AMX); without it torch emulates
bf16, many times slower: `--questions N` keeps the first N question ids and the candidates of
their paragraphs, so that the bf16 pass ends in minutes there.
"""

from __future__ import annotations

import argparse
import json
import time

import pandas as pd
import torch

from hybridbatch.core.contract import macro_average
from hybridbatch.evaluation.evaluate import evaluate
from hybridbatch.models.accelerator import use_threads
from hybridbatch.models.encode import embed_language
from hybridbatch.models.folder import load_encoder
from hybridbatch.models.settings import EncodeSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, help="a results/data/{dataset} folder")
    parser.add_argument("--languages", nargs="+", required=True)
    parser.add_argument("--questions", type=int, help="keep the first N question ids and their paragraphs' candidates")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    use_threads(args.threads)
    queries = pd.read_parquet(f"{args.data}/queries.parquet")
    candidates = pd.read_parquet(f"{args.data}/candidates.parquet")
    qrels = pd.read_parquet(f"{args.data}/qrels.parquet")
    if args.questions:
        kept = sorted(queries["qid"].unique())[: args.questions]
        qrels = qrels[qrels["qid"].isin(kept)]
        paragraphs = candidates.loc[candidates["cid"].isin(qrels["cid"]), "context_id"]
        queries = queries[queries["qid"].isin(kept)]
        candidates = candidates[candidates["context_id"].isin(paragraphs)]
        qrels = qrels[qrels["cid"].isin(candidates["cid"])]
    encoder = load_encoder(args.model, torch.device("cpu"))
    texts = int(queries["lang"].isin(args.languages).sum() + candidates["lang"].isin(args.languages).sum())
    report: dict = {"texts": texts, "threads": torch.get_num_threads(), "languages": args.languages, "questions": args.questions}
    metrics = {}
    for precision in ("fp32", "bf16"):
        settings = EncodeSettings(precision=precision)
        start = time.perf_counter()
        embeddings = {lang: embed_language(encoder, queries, candidates, lang, settings) for lang in args.languages}
        report[f"{precision}_texts_per_s"] = round(texts / (time.perf_counter() - start), 1)
        metrics[precision] = evaluate("bench", precision, qrels, embeddings)[0]
    report["bf16_speedup"] = round(report["bf16_texts_per_s"] / report["fp32_texts_per_s"], 2)
    keys = ["setting", "query_lang", "pool_lang", "metric"]
    paired = metrics["fp32"].merge(metrics["bf16"], on=keys, suffixes=("_fp32", "_bf16"))
    paired["shift"] = paired["value_bf16"] - paired["value_fp32"]
    macro = {p: macro_average(m).set_index(["setting", "metric"])["value"] for p, m in metrics.items()}
    report["macro_shift"] = {f"{m} {s}": round(macro["bf16"][(s, m)] - macro["fp32"][(s, m)], 5) for s, m in macro["fp32"].index}
    report["largest_pair_shift"] = paired.groupby("metric")["shift"].apply(lambda v: round(float(v.abs().max()), 5)).to_dict()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
