"""The leak check in the workflow, on the tiny test config: tables written, or the run stopped."""

import ast
import re

import pandas as pd
import pyarrow.parquet as pq
import pytest
from test_workflow import parquet_source_overlay, snakemake

from hybridbatch.data.overlap import COLUMNS

pytestmark = pytest.mark.workflow


def test_the_overlap_tables_cover_every_source_and_language(tmp_path, mirror):
    # Both experiments train here (as in config/study.yaml); by default mlqa_r trains nothing and has no check.
    planned = snakemake(tmp_path / "default", "results/tables/overlap.csv", "--dry-run")
    plan = planned.stdout + planned.stderr
    assert "results/tables/overlap/xquad_r.csv" in plan and "overlap/mlqa_r" not in plan
    overlay = tmp_path / "both.yaml"
    overlay.write_text("experiments:\n  mlqa_r:\n    train_sources: [xquad_r, ntrex]\n")
    workdir = tmp_path / "run"
    snakemake(workdir, "results/tables/overlap.csv", overlay=overlay)
    table = pd.read_csv(workdir / "results" / "tables" / "overlap.csv")
    assert list(table.columns) == COLUMNS
    pairs = set(zip(table["experiment"], table["train_source"], table["lang"], strict=True))
    expected = {("xquad_r", "mlqa_r"), ("xquad_r", "ntrex"), ("mlqa_r", "xquad_r"), ("mlqa_r", "ntrex")}
    assert pairs == {(e, s, lang) for e, s in expected for lang in ("de", "en", "es")}
    assert (table["texts_sharing_an_ngram"] <= table["benchmark_texts"]).all()
    assert "<table" in (workdir / "results" / "tables" / "overlap.html").read_text()
    assert (workdir / "benchmarks" / "overlap" / "xquad_r.tsv").is_file()


def test_a_planted_overlap_stops_the_run_before_training(tmp_path, mirror):
    """A `sources:` entry whose English passages are XQuAD-R candidates: the leak check refuses it."""
    workdir = tmp_path / "run"
    snakemake(workdir, "results/data/xquad_r/candidates.parquet")
    candidates = pq.read_table(workdir / "results" / "data" / "xquad_r" / "candidates.parquet").to_pandas()
    english = candidates.loc[candidates["lang"] == "en", "text"]
    planted = english[english.str.split().str.len().between(10, 40)].head(12).tolist()
    assert len(planted) >= 4  # of about a hundred English texts: well over data.max_overlap
    languages = ("en", "de", "es")
    fillers = {lang: [f"{lang}: ein Satz Nummer {i}." for i in range(12)] for lang in languages}
    passages = {lang: (planted + fillers[lang])[:12] if lang == "en" else fillers[lang] for lang in languages}
    overlay = parquet_source_overlay(tmp_path, {lang: [f"question {i}?" for i in range(12)] for lang in languages}, passages, ["toy"])
    result = snakemake(workdir, "results/manifests/xquad_r/validation.parquet", overlay=overlay, check=False)
    assert result.returncode != 0
    log = (workdir / "logs" / "overlap" / "xquad_r.log").read_text()
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1, log
    error = errors[0]
    for part in ("experiment 'xquad_r'", "training source 'toy'", "benchmark 'xquad_r'", "language en", "word 8-gram"):
        assert part in error, error
    example = ast.literal_eval(re.search(r"e\.g\. the benchmark text ('.*?'|\".*?\") shares", error)[1])
    assert example in set(english) or example in set(pq.read_table(workdir / "results" / "data" / "xquad_r" / "queries.parquet")["text"].to_pylist())
    assert "Traceback" not in log
    assert not (workdir / "results" / "tables" / "overlap" / "xquad_r.csv").exists()
    assert not (workdir / "results" / "tables" / "overlap.csv").exists()
    assert not (workdir / "results" / "manifests" / "xquad_r" / "validation.parquet").exists()
