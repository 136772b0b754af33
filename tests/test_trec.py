"""TREC run and qrels text: query ids unique across languages, the multilingual pool's judgements."""

import pandas as pd

from hybridbatch.evaluation.trec import qrels_text, run_text

QUERIES = pd.DataFrame({"qid": ["7", "7"], "lang": ["de", "en"]})
CANDIDATES = pd.DataFrame({"cid": ["de:7", "en:7", "en:8"], "lang": ["de", "en", "en"]})
QRELS = pd.DataFrame({"qid": ["7", "7"], "cid": ["de:7", "en:7"]})


def test_a_parallel_query_is_one_trec_query_per_language():
    assert qrels_text(QUERIES, CANDIDATES, QRELS, translation=False) == "de:7 0 de:7 1\nde:7 0 en:7 1\nen:7 0 de:7 1\nen:7 0 en:7 1\n"


def test_translation_retrieval_judges_only_the_other_languages():
    assert qrels_text(QUERIES, CANDIDATES, QRELS, translation=True) == "de:7 0 en:7 1\nen:7 0 de:7 1\n"


def test_run_lines_keep_rank_and_the_exact_score():
    run = pd.DataFrame({"qid": ["7", "7"], "query_lang": "de", "rank": [1, 2], "cid": ["en:7", "en:8"], "score": [0.8125, 0.1 + 0.2]})
    assert run_text(run, "xquad_r/hybrid") == "de:7 Q0 en:7 1 0.8125 xquad_r/hybrid\nde:7 Q0 en:8 2 0.30000000000000004 xquad_r/hybrid\n"
