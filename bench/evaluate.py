"""Evaluation speed: hybridbatch.evaluation.evaluate (rank counting, no sorting) vs a straightforward loop that
sorts every query's pool and calls scikit-learn's average_precision_score, on the same embeddings,
for every setting (mono, cross, multi). Both are run here, one after the other, and must agree.

    python bench/evaluate.py --data results/data/xquad_r --embeddings results/embeddings/xquad_r/base
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from hybridbatch.core.contract import macro_average
from hybridbatch.evaluation.evaluate import evaluate_files
from hybridbatch.models.accelerator import use_threads


def straightforward(queries, candidates, qrels, files) -> pd.DataFrame:
    """Per query and pool: score, argsort the whole pool, sklearn AP, top-10 metrics from the order."""
    loaded = {lang: np.load(path) for lang, path in files.items()}
    langs = sorted(files)
    ids = np.concatenate([loaded[lang]["candidate_ids"] for lang in langs])
    vectors = np.concatenate([loaded[lang]["candidates"] for lang in langs]).astype(np.float64)
    lang_of = np.concatenate([[lang] * len(loaded[lang]["candidate_ids"]) for lang in langs])
    relevant = qrels.groupby("qid")["cid"].apply(set).to_dict()
    discounts = 1 / np.log2(np.arange(2, 12))
    rows = []
    for query_lang in langs:
        for pool in [*langs, "multi"]:
            mask = np.ones(len(ids), bool) if pool == "multi" else lang_of == pool
            pool_ids, pool_vectors = ids[mask], vectors[mask]
            values = {"map": [], "recall@1": [], "recall@10": [], "mrr@10": [], "ndcg@10": []}
            for qid, query in zip(loaded[query_lang]["query_ids"], loaded[query_lang]["queries"], strict=True):
                is_relevant = np.isin(pool_ids, list(relevant[qid]))
                if not is_relevant.any():
                    continue
                scores = pool_vectors @ query.astype(np.float64)
                hits = is_relevant[np.argsort(-scores, kind="stable")]
                positions = np.flatnonzero(hits) + 1
                values["map"].append(average_precision_score(is_relevant, scores))
                values["recall@1"].append((positions <= 1).mean())
                values["recall@10"].append((positions <= 10).mean())
                values["mrr@10"].append(1 / positions[0] if positions[0] <= 10 else 0.0)
                values["ndcg@10"].append(hits[:10] @ discounts / discounts[: min(len(positions), 10)].sum())
            setting = "multi" if pool == "multi" else ("mono" if pool == query_lang else "cross")
            rows += [(setting, query_lang, pool, metric, float(np.mean(v))) for metric, v in values.items() if v]
    return pd.DataFrame(rows, columns=["setting", "query_lang", "pool_lang", "metric", "value"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--embeddings", required=True, help="folder of {lang}.npz files")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    use_threads(args.threads)
    queries, candidates, qrels = (pd.read_parquet(f"{args.data}/{name}.parquet") for name in ("queries", "candidates", "qrels"))
    files = {path.stem: str(path) for path in sorted(Path(args.embeddings).glob("*.npz"))}

    start = time.perf_counter()
    ours, _, _ = evaluate_files("benchmark", "model", queries, candidates, qrels, files)
    ours_seconds = time.perf_counter() - start
    start = time.perf_counter()
    reference = straightforward(queries, candidates, qrels, files)
    reference_seconds = time.perf_counter() - start

    merged = reference.merge(ours, on=["setting", "query_lang", "pool_lang", "metric"], suffixes=("_reference", ""))
    macro = macro_average(ours).pivot(index="metric", columns="setting", values="value")
    print(
        json.dumps(
            {
                "queries": len(queries),
                "candidates": len(candidates),
                "pairs_and_pools": int(merged[["query_lang", "pool_lang"]].drop_duplicates().shape[0]),
                "ours_seconds": round(ours_seconds, 2),
                "straightforward_seconds": round(reference_seconds, 2),
                "speed_ratio": round(reference_seconds / ours_seconds, 1),
                "max_abs_difference_map": float((merged.query("metric == 'map'")["value"] - merged.query("metric == 'map'")["value_reference"]).abs().max()),
                "max_abs_difference_any": float((merged["value"] - merged["value_reference"]).abs().max()),
                "macro_map": {s: round(float(macro.loc["map", s]), 4) for s in macro.columns if not math.isnan(macro.loc["map", s])},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
