"""Evaluate one model on one benchmark: every (query language, pool) pair and the multilingual pool.

Settings: mono (pool language = query language), cross (another language's pool), multi (all
languages' candidates together). A query counts in a pool only if the pool holds one of its relevant
candidates. Macro averages (per pair first, then over the pairs of a setting) are left to the tables.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hybridbatch.core.contract import METRIC_COLUMNS, MULTI, PROVENANCE, RANK_DISTANCE, setting_of
from hybridbatch.core.embeddings import LanguageEmbeddings, load_embeddings
from hybridbatch.core.errors import DataError
from hybridbatch.evaluation.metrics import query_metrics, rank_distance
from hybridbatch.evaluation.search import relevant_ranks, top_k

log = logging.getLogger(__name__)

# The run files keep each query's top 100 of the multilingual pool (enough for any @k <= 100).
RUN_DEPTH = 100


def _check_alignment(path: str, lang: str, what: str, stored: np.ndarray, expected: pd.Series) -> None:
    if len(stored) != len(expected) or not np.array_equal(stored.astype(str), expected.to_numpy(dtype=str)):
        raise DataError(f"{path}: the {what} ids of {lang} differ from the extracted tables; re-run the embed rule")


def load_checked_embeddings(embedding_files: Mapping[str, str], queries: pd.DataFrame, candidates: pd.DataFrame) -> dict[str, LanguageEmbeddings]:
    """Each language's embeddings file (see `save_embeddings`), checked row by row against the tables."""
    embeddings = {}
    for lang, path in embedding_files.items():
        stored = load_embeddings(path)
        _check_alignment(path, lang, "query", stored.query_ids, queries.loc[queries["lang"] == lang, "qid"])
        _check_alignment(path, lang, "candidate", stored.candidate_ids, candidates.loc[candidates["lang"] == lang, "cid"])
        embeddings[lang] = stored
    return embeddings


@dataclass(frozen=True)
class _Pool:
    """Every language's candidates side by side: language pool i is columns bounds[i]."""

    vectors: np.ndarray
    ids: np.ndarray
    bounds: list[tuple[int, int]]
    language_of_column: np.ndarray
    relevant_of: dict[str, list[int]]  # qid -> the columns of its relevant candidates

    @classmethod
    def of(cls, languages: Sequence[str], embeddings: Mapping[str, LanguageEmbeddings], qrels: pd.DataFrame) -> _Pool:
        blocks, bounds, ids = [], [], []
        for lang in languages:
            start = sum(len(block) for block in blocks)
            bounds.append((start, start + len(embeddings[lang].candidates)))
            blocks.append(embeddings[lang].candidates)
            ids.append(embeddings[lang].candidate_ids.astype(str))
        all_ids = np.concatenate(ids)
        column_of = {cid: index for index, cid in enumerate(all_ids)}
        relevant_of: dict[str, list[int]] = {}
        for qid, cid in zip(qrels["qid"].to_numpy(dtype=str), qrels["cid"].to_numpy(dtype=str), strict=True):
            if cid in column_of:
                relevant_of.setdefault(qid, []).append(column_of[cid])
        language_of_column = np.repeat(np.arange(len(languages)), [high - low for low, high in bounds])
        return cls(np.concatenate(blocks), all_ids, bounds, language_of_column, relevant_of)

    def relevant_columns(self, qids: np.ndarray) -> np.ndarray:
        """(queries, R) columns of each query's relevant candidates, -1 padded."""
        width = max(len(self.relevant_of.get(qid, ())) for qid in qids)
        relevant = np.full((len(qids), width), -1, dtype=np.int64)
        for row, qid in enumerate(qids):
            columns = self.relevant_of.get(qid, [])
            relevant[row, : len(columns)] = columns
        return relevant


def evaluate(
    benchmark: str,
    model: str,
    qrels: pd.DataFrame,
    embeddings: Mapping[str, LanguageEmbeddings],
    translation: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Metrics (long table), per-query metrics and the top of each multilingual ranking.

    `embeddings` maps each language to its queries' and candidates' vectors and ids. `translation`:
    a query's own text is a candidate of its language (translation retrieval), so the monolingual
    pair is not scored and the multilingual pool holds every other language's candidates.
    """
    languages = sorted(embeddings)
    without_candidates = [lang for lang in languages if len(embeddings[lang].queries) and not len(embeddings[lang].candidates)]
    if without_candidates:
        raise DataError(f"{benchmark}: query language(s) {', '.join(without_candidates)} have no candidates")
    pool = _Pool.of(languages, embeddings, qrels)
    # Every metrics row says how its vectors were made (languages embedded differently are listed).
    made_with = tuple(" + ".join(sorted({embeddings[lang].made_with.get(key, "unknown") for lang in languages})) for key in PROVENANCE)
    metric_rows, query_rows, run_rows = [], [], []
    for lang in languages:
        qids, vectors = embeddings[lang].query_ids.astype(str), embeddings[lang].queries
        for pool_lang, values, answered in _pair_metrics(benchmark, lang, languages, vectors, qids, pool, translation):
            setting = str(setting_of(lang, pool_lang))
            for metric, per_query in values.items():
                metric_rows.append((benchmark, model, setting, lang, pool_lang, metric, float(per_query.mean()), int(answered.sum()), *made_with))
                query_rows.append(pd.DataFrame({"qid": qids[answered], "query_lang": lang, "pool_lang": pool_lang, "metric": metric, "value": per_query}))
        run_rows.append(_run(lang, qids, vectors, pool, languages.index(lang) if translation else None))
        log.info("%s %s: %d queries ranked against %d candidates", benchmark, lang, len(qids), len(pool.vectors))
    metrics = pd.DataFrame(metric_rows, columns=METRIC_COLUMNS)
    return metrics, pd.concat(query_rows, ignore_index=True), pd.concat(run_rows, ignore_index=True)


def _pair_metrics(
    benchmark: str, lang: str, languages: Sequence[str], vectors: np.ndarray, qids: np.ndarray, pool: _Pool, translation: bool
) -> Iterator[tuple[str, dict[str, np.ndarray], np.ndarray]]:
    """For each pool (every language's, then the multilingual one): its name, the per-query metrics
    of the queries of `lang` answered there, and which queries those are."""
    relevant = pool.relevant_columns(qids)
    higher, at_least = relevant_ranks(vectors, pool.vectors, pool.bounds, relevant)
    is_relevant = relevant >= 0
    item_pool = np.where(is_relevant, pool.language_of_column[relevant.clip(min=0)], -1)
    own = languages.index(lang)
    pools = [(pool_lang, item_pool == index) for index, pool_lang in enumerate(languages) if not (translation and index == own)]
    pools.append((MULTI, is_relevant & (item_pool != own) if translation else is_relevant))
    # The multilingual pool's counts are the sums over its language pools.
    multi_pools = [index for index in range(len(languages)) if not (translation and index == own)]
    for pool_lang, in_pool in pools:
        pools_counted = multi_pools if pool_lang == MULTI else [languages.index(pool_lang)]
        rank = np.where(in_pool, 1 + higher[:, :, pools_counted].sum(axis=2), np.inf)
        rank_ge = np.where(in_pool, at_least[:, :, pools_counted].sum(axis=2), np.inf)
        answered = in_pool.any(axis=1)
        if not answered.any():
            log.warning("%s: no %s query has a relevant candidate in the %s pool; pair skipped", benchmark, lang, pool_lang)
            continue
        values = query_metrics(rank[answered], rank_ge[answered])
        if pool_lang == MULTI:
            values[RANK_DISTANCE] = rank_distance(rank[answered], rank_ge[answered])
        yield pool_lang, values, answered


def _run(lang: str, qids: np.ndarray, vectors: np.ndarray, pool: _Pool, left_out: int | None) -> pd.DataFrame:
    """The top RUN_DEPTH candidates of the multilingual pool for each query of `lang`; the pool
    without language pool `left_out` (translation retrieval: the query's own language)."""
    columns = np.flatnonzero(pool.language_of_column != left_out) if left_out is not None else np.arange(len(pool.ids))
    scores, indices = top_k(vectors, pool.vectors[columns], RUN_DEPTH)
    return pd.DataFrame(
        {
            "qid": np.repeat(qids, scores.shape[1]),
            "query_lang": lang,
            "rank": np.tile(np.arange(1, scores.shape[1] + 1), len(qids)),
            "cid": pool.ids[columns[indices.ravel()]],
            "score": scores.ravel(),
        }
    )


def evaluate_files(
    benchmark: str,
    model: str,
    queries: pd.DataFrame,
    candidates: pd.DataFrame,
    qrels: pd.DataFrame,
    embedding_files: Mapping[str, str],
    translation: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """`evaluate` on the embeddings files of each language, checked against the tables; each
    per-query row carries its question's cluster (the queries table's), which intervals resample."""
    metrics, per_query, run = evaluate(benchmark, model, qrels, load_checked_embeddings(embedding_files, queries, candidates), translation)
    cluster_of = queries.drop_duplicates("qid").set_index("qid")["cluster"]
    return metrics, per_query.assign(cluster=per_query["qid"].map(cluster_of).to_numpy()), run
