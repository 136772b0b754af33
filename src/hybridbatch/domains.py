"""The domain study's table: per domain, each model's retrieval quality with a bootstrap interval
over sentences (and seeds), and the pre-stated differences between models with paired intervals.

Input: per-query values with `experiment` = the domain and `strategy` = the model's name (a model
is a strategy of a training experiment, e.g. "general/hybrid"), as `results.read_per_query` gives
them once relabelled. A domain made of several benchmarks has its sentences' ids made unique per
benchmark by the caller. Settings: Cross and Multi only (translation retrieval has no Mono).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from hybridbatch.core.contract import MULTI, RANK_DISTANCE
from hybridbatch.results import Bootstrap, Difference, bootstrap_difference, bootstrap_value, interval

DOMAIN_SETTINGS = ("cross", MULTI)
DOMAIN_METRICS = ("mrr@10", "map", "recall@1")
# (setting, metric) of every row group; rank distance is measured in the multilingual pool only.
CASES = [(setting, metric) for setting in DOMAIN_SETTINGS for metric in DOMAIN_METRICS] + [(MULTI, RANK_DISTANCE)]
COLUMNS = ["domain", "kind", "name", "setting", "metric", "value", "ci_low", "ci_high", "confidence", "seeds", "questions"]


def _row(domain: str, kind: str, name: str, setting: str, metric: str, result: Bootstrap, confidence: float) -> dict:
    low, high = interval(result.replicates, (1 - confidence) / 2)
    return dict(zip(COLUMNS, (domain, kind, name, setting, metric, result.observed, low, high, confidence, result.seeds, result.questions),
                    strict=True))  # fmt: skip


def domain_table(per_query: pd.DataFrame, models: Sequence[str], differences: Sequence[tuple[str, str]], *, samples: int, seed: int,
                 confidence: float) -> pd.DataFrame:  # fmt: skip
    """Rows of kind "model" (each of `models` present in a domain) and "difference" (each (a, b)
    of `differences` with both present: a minus b, paired), for every domain, setting and metric.
    Each row has its own random stream, fixed by the row alone."""
    rows = []
    for domain, frame in per_query.groupby("experiment", sort=False):
        present = set(frame["strategy"])
        for setting, metric in CASES:
            for model in (m for m in models if m in present):
                generator = np.random.default_rng([seed, zlib.crc32(f"{domain}\t{model}\t{setting}\t{metric}".encode())])
                rows.append(_row(domain, "model", model, setting, metric, bootstrap_value(frame, domain, model, setting, metric, samples, generator), confidence))
            for a, b in ((a, b) for a, b in differences if {a, b} <= present):
                difference = Difference(domain, a, b, setting, metric)
                generator = np.random.default_rng([seed, difference.stream()])
                rows.append(_row(domain, "difference", f"{a} − {b}", setting, metric, bootstrap_difference(frame, difference, samples, generator), confidence))
    return pd.DataFrame(rows, columns=COLUMNS)
