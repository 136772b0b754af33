"""The artifact contract: what the stages' tables hold, and the names they share.

Data tables (one folder per data set, `results/data/{dataset}/{table}.parquet`):
- queries (qid, lang, text, cluster): qid is shared by parallel questions/sentences across
  languages; cluster is the unit an interval resamples (the article or document the text comes
  from, the same for every language of a qid; a text of its own where the data set has none).
- candidates (cid, lang, text, context_id): the retrieval pool, one row per sentence.
- qrels (qid, cid): every relevant candidate of a qid, in every language.
- pairs (group_id, conflict_key, lang, query, positive, hard_negatives): the training view. Rows of
  one conflict_key could share a positive, so a batch must never hold two of them.

Metrics tables (`results/metrics/{experiment}/{model}.parquet`): one row per (setting, query
language, pool, metric) with `METRIC_COLUMNS`. Settings: mono (pool language = query language),
cross (another language's pool), multi (all languages' candidates together).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hybridbatch.core.errors import DataError
from hybridbatch.core.io import reading

SCHEMAS: dict[str, pa.Schema] = {
    "queries": pa.schema([("qid", pa.string()), ("lang", pa.string()), ("text", pa.string()), ("cluster", pa.string())]),
    "candidates": pa.schema([("cid", pa.string()), ("lang", pa.string()), ("text", pa.string()), ("context_id", pa.string())]),
    "qrels": pa.schema([("qid", pa.string()), ("cid", pa.string())]),
    "pairs": pa.schema(
        [
            ("group_id", pa.string()),
            ("conflict_key", pa.string()),
            ("lang", pa.string()),
            ("query", pa.string()),
            ("positive", pa.string()),
            ("hard_negatives", pa.list_(pa.string())),
        ]
    ),
}
TABLES = tuple(SCHEMAS)

# Where a query's pool comes from: its own language, another one, or every language at once.
MONO, CROSS, MULTI = "mono", "cross", "multi"
SETTINGS = (MONO, CROSS, MULTI)
# The retrieval metrics (hybridbatch.evaluation.metrics; definitions in docs/evaluation.md).
MAP, RECALL_1, RECALL_10, MRR_10, NDCG_10 = "map", "recall@1", "recall@10", "mrr@10", "ndcg@10"
METRICS = (MAP, RECALL_1, RECALL_10, MRR_10, NDCG_10)
# Language bias, measured in the multilingual pool only; lower is better there alone.
RANK_DISTANCE = "rank_distance"
LOWER_IS_BETTER = {RANK_DISTANCE}
# What made a number: recorded with every embeddings file, metrics row and model folder.
PROVENANCE = ("precision", "device", "torch", "transformers")
METRIC_COLUMNS = ["benchmark", "model", "setting", "query_lang", "pool_lang", "metric", "value", "n_queries", *PROVENANCE]


def contract_table(name: str, rows: dict[str, list]) -> pa.Table:
    """Rows collected column by column (see empty_columns) as the artifact-contract table `name`."""
    return pa.Table.from_pydict(rows, schema=SCHEMAS[name])


def empty_columns(name: str) -> dict[str, list]:
    return {column: [] for column in SCHEMAS[name].names}


def read_table(path: str | os.PathLike[str], name: str) -> pa.Table:
    """Read one of the four data tables, checking it has the contract's columns and types."""
    with reading(path, f"{name} table"):
        table = pq.read_table(path)
    expected = SCHEMAS[name]
    missing = [f.name for f in expected if f.name not in table.schema.names]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} of the {name} table")
    table = table.select(expected.names)
    if not table.schema.equals(expected):
        raise DataError(f"{path}: columns of the {name} table have types {table.schema}, expected {expected}")
    return table


def setting_of(query_lang, pool_lang) -> np.ndarray:
    """The setting of (query language, pool) pairs, elementwise: multi for the multilingual pool,
    mono when the pool is the query's language, else cross."""
    return np.where(np.asarray(pool_lang) == MULTI, MULTI, np.where(np.asarray(pool_lang) == np.asarray(query_lang), "mono", "cross"))


def macro_average(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean over the (query language, pool) pairs of each setting, per metric."""
    return metrics.groupby(["benchmark", "model", "setting", "metric"], as_index=False)["value"].mean()
