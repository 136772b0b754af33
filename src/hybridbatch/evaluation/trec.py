"""Runs and relevance judgements in TREC's text formats, readable by trec_eval, pytrec_eval, ranx
and pyserini: a run line is `qid Q0 docid rank score tag`, a qrels line `qid 0 docid relevance`.

Parallel queries share a qid across languages in the data tables; TREC tools key everything by qid,
so a query is `{lang}:{qid}` here. Runs and qrels are of the multilingual pool (for translation
benchmarks without the query's own language, as in the metrics).
"""

from __future__ import annotations

import pandas as pd


def trec_qid(lang: str, qid: str) -> str:
    return f"{lang}:{qid}"


def run_text(run: pd.DataFrame, tag: str) -> str:
    """`run` (qid, query_lang, rank, cid, score, as evaluate writes it) in TREC run format.
    Scores are written to float64 precision, so no two ranked items tie that did not tie."""
    lines = [
        f"{trec_qid(lang, qid)} Q0 {cid} {rank} {float(score)!r} {tag}"
        for qid, lang, rank, cid, score in zip(run["qid"], run["query_lang"], run["rank"], run["cid"], run["score"], strict=True)
    ]
    return "\n".join(lines) + "\n"


def qrels_text(queries: pd.DataFrame, candidates: pd.DataFrame, qrels: pd.DataFrame, translation: bool) -> str:
    """Every query's relevant candidates in the multilingual pool (all languages' candidates; for
    translation retrieval not the query's own language), relevance 1, in TREC qrels format."""
    language_of = dict(zip(candidates["cid"], candidates["lang"], strict=True))
    relevant = qrels.groupby("qid")["cid"].agg(list)
    lines = []
    for qid, lang in zip(queries["qid"], queries["lang"], strict=True):
        for cid in relevant.get(qid, []):
            if cid in language_of and not (translation and language_of[cid] == lang):
                lines.append(f"{trec_qid(lang, qid)} 0 {cid} 1")
    return "\n".join(lines) + "\n"
