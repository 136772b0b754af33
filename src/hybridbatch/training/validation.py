"""Validation during training: the held-out slice of the training sources as a small retrieval
benchmark, scored with the same evaluation code as the real benchmarks.

Each held-out pair gives a query (id shared by the group's languages, as in LAReQA) and a candidate
(its positive); a query's relevant candidates are its group's positives in every language. The score
is the mean of the macro Mono, Cross and Multi mAP: the three uses a hybrid model must serve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hybridbatch.core.contract import MAP, SETTINGS, macro_average
from hybridbatch.core.embeddings import LanguageEmbeddings
from hybridbatch.evaluation.evaluate import evaluate
from hybridbatch.models.encode import encode
from hybridbatch.models.settings import EncodeSettings


@dataclass(frozen=True)
class HeldOut:
    """The held-out slice as benchmark tables."""

    queries: pd.DataFrame  # qid, lang, text
    candidates: pd.DataFrame  # cid, lang, text
    qrels: pd.DataFrame  # qid, cid

    @classmethod
    def from_pairs(cls, validation: pd.DataFrame) -> HeldOut:
        qid = validation["source"].astype(str) + "/" + validation["group_id"].astype(str)
        # One candidate per distinct (source, language, text), as the benchmarks have one per
        # sentence: two groups with the same positive share it instead of tying with a copy.
        cid = validation["source"].astype(str) + "/" + validation["lang"].astype(str) + "/" + validation["positive"].astype(str)
        queries = pd.DataFrame({"qid": qid, "lang": validation["lang"], "text": validation["query"]})
        candidates = pd.DataFrame({"cid": cid, "lang": validation["lang"], "text": validation["positive"]}).drop_duplicates("cid")
        # The query id is shared by the group's languages, so it is relevant to all their positives.
        qrels = pd.DataFrame({"qid": qid, "cid": cid}).drop_duplicates()
        return cls(queries.sort_values(["lang", "qid"], ignore_index=True), candidates.sort_values(["lang", "cid"], ignore_index=True), qrels)


def validation_scores(encoder, held_out: HeldOut, settings: EncodeSettings) -> dict[str, float]:
    """Macro mAP per setting on the held-out slice, and their mean as `score`."""
    embeddings = {}
    for lang in sorted(held_out.queries["lang"].unique()):
        queries = held_out.queries[held_out.queries["lang"] == lang]
        candidates = held_out.candidates[held_out.candidates["lang"] == lang]
        embeddings[lang] = LanguageEmbeddings(
            queries["qid"].to_numpy(dtype=str),
            encode(encoder, queries["text"].tolist(), "query", settings, f"validate {lang} queries"),
            candidates["cid"].to_numpy(dtype=str),
            encode(encoder, candidates["text"].tolist(), "passage", settings, f"validate {lang} passages"),
        )
    metrics, _, _ = evaluate("validation", "training", held_out.qrels, embeddings)
    macro = macro_average(metrics[metrics["metric"] == MAP]).set_index("setting")["value"]
    scores = {setting: float(macro.get(setting, np.nan)) for setting in SETTINGS}
    scores["score"] = float(np.nanmean(list(scores.values())))
    return scores
