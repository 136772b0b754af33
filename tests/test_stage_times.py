"""bench/stage_times.py: the study's cost estimated from a default run's benchmark files."""

import pytest

from hybridbatch.config import load_overlays

from conftest import REPOSITORY, bench_module


def write_job(folder, relative, seconds):
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"s\th:m:s\n{seconds}\t0:00:00\n")


def test_the_study_estimate_scales_each_stage_from_the_default_run(tmp_path):
    # The default run's jobs: xquad_r trains three runs (40 steps), mlqa_r evaluates its base model only.
    write_job(tmp_path, "download/xquad_r/en.json.tsv", 5)
    write_job(tmp_path, "embed/mlqa_r/base.tsv", 600)
    write_job(tmp_path, "evaluate/mlqa_r/base.tsv", 20)
    write_job(tmp_path, "embed/xquad_r/base.tsv", 500)
    write_job(tmp_path, "evaluate/xquad_r/base.tsv", 10)
    for run in ("x-x", "x-y", "hybrid"):
        write_job(tmp_path, f"train/xquad_r/{run}.tsv", 400)
        write_job(tmp_path, f"manifest/xquad_r/{run}.tsv", 6)
        write_job(tmp_path, f"embed/xquad_r/xquad_r/{run}.tsv", 500)
        write_job(tmp_path, f"evaluate/xquad_r/{run}.tsv", 10)
    stage_times = bench_module("stage_times")
    jobs = stage_times.job_times(tmp_path)
    measured = stage_times.stage_times(jobs)
    assert measured.loc["embed", "jobs"] == 5 and measured.loc["embed", "seconds"] == 2600
    default = load_overlays([REPOSITORY / "config" / "config.yaml"])
    study = load_overlays([REPOSITORY / "config" / "config.yaml", REPOSITORY / "config" / "study.yaml"])
    table = stage_times.estimate(jobs, default, study)
    # Both experiments x 3 strategies x 3 seeds, 240 steps against 40.
    runs, steps = 2 * 3 * 3, study["training"]["steps"] / default["training"]["steps"]
    assert table.loc["train", "jobs"] == runs and table.loc["train", "seconds"] == pytest.approx(runs * 400 * steps)
    assert table.loc["manifest", "jobs"] == runs and table.loc["manifest", "seconds"] == pytest.approx(runs * 6)
    # Per data set: the base model and nine runs, each at that data set's measured mean.
    assert table.loc["embed", "jobs"] == 20 and table.loc["embed", "seconds"] == pytest.approx(10 * 500 + 10 * 600)
    assert table.loc["evaluate", "seconds"] == pytest.approx(10 * 10 + 10 * 20)
    assert table.loc["download", "seconds"] == 5
