"""Not a benchmark: whether a run's TREC files give trec_eval the pipeline's multilingual metrics.

    python bench/trec_eval_check.py WORKDIR

For every results/runs/{experiment}/{model}.trec of WORKDIR, with the experiment's qrels.trec,
trec_eval (pytrec_eval, from the `test` extra) computes R@10 and MRR@10 per query language (query
ids are `{lang}:{qid}`); they are compared with the multilingual pool's values in
results/metrics/{experiment}/{model}.parquet. Prints one JSON record per experiment, model,
language and metric; exits 1 when a value differs by more than 1e-9 or a language's query count
differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import pytrec_eval

TOLERANCE = 1e-9


def read_trec(path: Path, columns: list[str]) -> pd.DataFrame:
    """A TREC file as a frame (whitespace-separated, no header)."""
    return pd.read_csv(path, sep=" ", header=None, names=columns, dtype=str)


def _scores(run: pd.DataFrame) -> dict[str, dict[str, float]]:
    return {qid: dict(zip(group["docid"], group["score"].astype(float), strict=True)) for qid, group in run.groupby("qid")}


def trec_eval_by_language(run_path: Path, qrels_path: Path) -> pd.DataFrame:
    """Per query language: trec_eval's mean recall@10 and MRR@10, and the number of judged queries."""
    qrels = read_trec(qrels_path, ["qid", "iteration", "docid", "relevance"])
    run = read_trec(run_path, ["qid", "q0", "docid", "rank", "score", "tag"])
    judged = {qid: dict.fromkeys(group["docid"], 1) for qid, group in qrels.groupby("qid")}
    recall = pytrec_eval.RelevanceEvaluator(judged, {"recall.10"}).evaluate(_scores(run))
    # trec_eval's recip_rank has no cut-off: MRR@10 is recip_rank over each query's top 10.
    reciprocal = pytrec_eval.RelevanceEvaluator(judged, {"recip_rank"}).evaluate(_scores(run[run["rank"].astype(int) <= 10]))
    rows = []
    for lang in sorted({qid.split(":", 1)[0] for qid in judged}):
        ids = [qid for qid in judged if qid.startswith(f"{lang}:")]
        # A judged query missing from the run retrieved nothing relevant: 0.
        for metric, values, key in (("recall@10", recall, "recall_10"), ("mrr@10", reciprocal, "recip_rank")):
            value = sum(values.get(qid, {}).get(key, 0.0) for qid in ids) / len(ids)
            rows.append({"query_lang": lang, "metric": metric, "trec_eval": value, "n_queries": len(ids)})
    return pd.DataFrame(rows)


def compared(workdir: Path) -> pd.DataFrame:
    """Every TREC run of `workdir` against the pipeline's multilingual metrics."""
    frames = []
    for run_path in sorted((workdir / "results" / "runs").glob("*/*.trec")):
        if run_path.name == "qrels.trec":
            continue
        experiment, model = run_path.parent.name, run_path.stem
        found = trec_eval_by_language(run_path, run_path.parent / "qrels.trec")
        metrics = pd.read_parquet(workdir / "results" / "metrics" / experiment / f"{model}.parquet")
        multi = metrics[metrics["pool_lang"] == "multi"].rename(columns={"value": "pipeline", "n_queries": "n_pipeline"})
        joined = found.merge(multi[["query_lang", "metric", "pipeline", "n_pipeline"]], on=["query_lang", "metric"], how="left")
        frames.append(joined.assign(experiment=experiment, model=model))
    if not frames:
        raise SystemExit(f"{workdir}: no TREC run files under results/runs")
    table = pd.concat(frames, ignore_index=True)
    return table.assign(difference=(table["trec_eval"] - table["pipeline"]).abs())


def failures(table: pd.DataFrame) -> pd.DataFrame:
    """The rows where trec_eval and the pipeline disagree, or the pipeline has no value or other queries."""
    return table[(table["difference"] > TOLERANCE) | table["difference"].isna() | (table["n_queries"] != table["n_pipeline"])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workdir", type=Path)
    table = compared(parser.parse_args().workdir)
    for record in table.to_dict("records"):
        print(json.dumps(record))
    failed = failures(table)
    print(json.dumps({"compared": len(table), "max_difference": float(table["difference"].max()), "failed": len(failed)}))
    sys.exit(1 if len(failed) else 0)


if __name__ == "__main__":
    main()
