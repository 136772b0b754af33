"""The Snakemake DAG end to end on the tiny test config, in a scratch working directory."""

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from hybridbatch.core.contract import TABLES
from hybridbatch.results.verdicts import BETTER, EQUIVALENT, INCONCLUSIVE, WORSE

from conftest import MIRROR, REPOSITORY, bench_module, workflow_command

pytestmark = pytest.mark.workflow

DATASETS = ("mlqa_r", "ntrex", "xquad_r")


def snakemake_command(workdir, *targets, overlay=None, mirror=MIRROR):
    configfiles = [REPOSITORY / "config" / "config.yaml", REPOSITORY / "config" / "test.yaml"]
    return workflow_command(
        workdir, *targets, "--cores", "2", "--configfile", *map(str, configfiles + ([overlay] if overlay else [])), "--config", f"mirror={mirror}"
    )


def snakemake(workdir, *targets, overlay=None, mirror=MIRROR, check=True):
    """Run the workflow on the tiny config (plus an optional overlay file) in `workdir`."""
    command = snakemake_command(workdir, *targets, overlay=overlay, mirror=mirror)
    # A shared project folder's usual umask: outputs must come out readable by the group and others.
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=lambda: os.umask(0o022))
    if check and result.returncode != 0:
        pytest.fail(f"snakemake {' '.join(targets)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, mirror):
    workdir = tmp_path_factory.mktemp("workflow")
    snakemake(workdir, "all")
    return workdir


def test_data_stages_build_every_table(workdir):
    for dataset in DATASETS:
        for table in TABLES:
            path = workdir / "results" / "data" / dataset / f"{table}.parquet"
            assert path.is_file(), path
        queries = pq.read_table(workdir / "results" / "data" / dataset / "queries.parquet")
        assert set(queries["lang"].to_pylist()) == {"de", "en", "es"}
        assert 40 <= len(set(queries["qid"].to_pylist())) < 100
    # Only the configured languages' raw files are fetched.
    assert sorted(p.name for p in (workdir / "resources" / "raw" / "xquad_r").iterdir()) == ["de.json", "en.json", "es.json"]
    assert (workdir / "logs" / "extract" / "ntrex.log").read_text().count("subset (max_questions=40)") == 1
    assert (workdir / "benchmarks" / "extract" / "ntrex.tsv").is_file()


@pytest.mark.parametrize("model", ["base", "x-x", "x-y", "hybrid", "hybrid.seed1"])
def test_every_model_is_evaluated_in_its_experiments(workdir, model):
    """The base model on both benchmarks; the trained models in xquad_r (mlqa_r trains nothing by default)."""
    import pandas as pd

    experiments = ("xquad_r", "mlqa_r") if model == "base" else ("xquad_r",)
    assert (workdir / "results" / "metrics" / "mlqa_r" / f"{model}.parquet").is_file() == (model == "base")
    for experiment in experiments:
        metrics = pd.read_parquet(workdir / "results" / "metrics" / experiment / f"{model}.parquet")
        assert list(metrics.columns) == [
            "benchmark",
            "model",
            "setting",
            "query_lang",
            "pool_lang",
            "metric",
            "value",
            "n_queries",
            "precision",
            "device",
            "torch",
            "transformers",
        ]
        assert set(metrics["precision"]) == {"fp32"} and set(metrics["device"]) == {"cpu"}
        assert set(metrics["benchmark"]) == {experiment} and set(metrics["model"]) == {model}
        pairs = metrics.drop_duplicates(["query_lang", "pool_lang"]).groupby("setting").size().to_dict()
        assert pairs == {"mono": 3, "cross": 6, "multi": 3}, experiment
        distance = metrics["metric"] == "rank_distance"
        assert metrics.loc[~distance, "value"].between(0, 1).all() and metrics.loc[distance, "value"].ge(0).all()
        assert set(metrics["metric"]) == {"map", "recall@1", "recall@10", "mrr@10", "ndcg@10", "rank_distance"}
    assert (workdir / "results" / "runs" / "xquad_r" / f"{model}.parquet").is_file()


def test_trained_models_follow_their_manifests(workdir):
    import pandas as pd

    # An experiment without train_sources gets no leak check, validation slice, manifest or model.
    for folder in ("manifests", "models", "checkpoints", "embeddings/mlqa_r"):
        assert not (workdir / "results" / folder / "mlqa_r").exists(), folder
    assert not (workdir / "results" / "tables" / "overlap" / "mlqa_r.csv").exists()
    for experiment in ("xquad_r",):
        validation = pd.read_parquet(workdir / "results" / "manifests" / experiment / "validation.parquet")
        assert validation.groupby("source")["group_id"].nunique().ge(4).all()
        held_out = set(zip(validation["source"], validation["group_id"], strict=True))
        for run, mono_share in (("x-x", 1.0), ("x-y", 0.0), ("hybrid", 0.5), ("hybrid.seed1", 0.5)):
            manifest = pd.read_parquet(workdir / "results" / "manifests" / experiment / f"{run}.parquet")
            batches = manifest.drop_duplicates("batch")
            assert len(batches) == 6 and (batches["kind"] == "mono").mean() == mono_share
            assert not set(manifest["source"]) & {experiment}  # the leak guard held
            assert not held_out & set(zip(manifest["source"], manifest["group_id"], strict=True))
            log = pd.read_csv(workdir / "results" / "models" / experiment / run / "train_log.csv")
            assert log["step"].tolist() == [1, 2, 3, 4, 5, 6]
            assert log.dropna(subset=["val_score"])["step"].tolist() == [3, 6]
        seeds = [pd.read_parquet(workdir / "results" / "manifests" / experiment / f"{run}.parquet") for run in ("hybrid", "hybrid.seed1")]
        assert not seeds[0].equals(seeds[1])


def test_tables_figures_and_report(workdir):
    import pandas as pd

    summary = pd.read_csv(workdir / "results" / "tables" / "summary.csv")
    assert list(summary["strategy"]) == ["base", "x-x", "x-y", "hybrid", "base"]
    assert list(summary["seeds"]) == [1, 2, 2, 2, 1]
    assert list(summary["experiment"]) == ["xquad_r"] * 4 + ["mlqa_r"]
    significance = pd.read_csv(workdir / "results" / "tables" / "significance.csv")
    assert set(zip(significance["baseline"], significance["setting"], strict=True)) >= {("x-x", "mono"), ("x-y", "cross"), ("x-y", "multi")}
    # Two seeds per strategy: every interval covers training randomness too.
    assert set(significance["metric"]) == {"map", "mrr@10", "rank_distance"} and (significance["seeds"] == 2).all()
    assert {verdict.split(":")[0] for verdict in significance["verdict"]} <= {"better", "equivalent", "worse", "inconclusive", "not testable here"}
    # Intervals resample the articles of the tiny subset, and every row records the protocol.
    assert (significance["clusters"] < significance["questions"]).all() and set(significance["protocol_version"]) == {2}
    comparison = (workdir / "results" / "tables" / "paper_comparison.md").read_text()
    assert "Hybrid matches X-X on monolingual retrieval" in comparison and "Embedded in fp32 on cpu" in comparison
    assert "mlqa_r: the paper's claims, tested" in comparison and "only the base model is evaluated" in comparison
    assert len(list((workdir / "results" / "figures" / "xquad_r").glob("*.png"))) == 6
    assert sorted(path.stem for path in (workdir / "results" / "figures" / "mlqa_r").glob("*.png")) == ["map_heatmaps", "rank_distance", "settings_bars"]
    result = snakemake(workdir, "--report", "results/report.html")
    report = (workdir / "results" / "report.html").read_text()
    assert "map_heatmaps.png" in report and "paper_comparison.html" in report, result.stderr[-2000:]


def test_a_plotting_option_reruns_only_the_figures(workdir, tmp_path):
    overlay = tmp_path / "plotting.yaml"
    overlay.write_text("report:\n  figures:\n    dpi: 72\n")
    result = snakemake(workdir, "all", "--dry-run", overlay=overlay)
    stats = (result.stdout + result.stderr).split("Job stats:")[1].split("total")[0]
    jobs = {line.split()[0] for line in stats.splitlines()[3:] if line.strip()}
    assert jobs == {"all", "figure"}, stats


def test_a_new_seed_or_thread_count_reruns_only_the_new_runs(workdir, tmp_path):
    overlay = tmp_path / "seeds.yaml"
    overlay.write_text("training:\n  seeds: [0, 1, 2]\n  threads: 2\nencode:\n  threads: 2\n")
    result = snakemake(workdir, "all", "--dry-run", overlay=overlay)
    stats = (result.stdout + result.stderr).split("Job stats:")[1].split("total")[0]
    jobs = dict(line.split() for line in stats.splitlines()[3:] if line.strip())
    # The three seed-2 runs of xquad_r (mlqa_r trains nothing), their embeddings and evaluations, then the tables.
    assert jobs["train"] == "3" and jobs["manifest"] == "3" and "holdout" not in jobs, stats
    assert jobs["evaluate"] == "3" and jobs["embed"] == "3", stats


def planned_jobs(result):
    """Job name -> count from a dry run's job stats."""
    stats = (result.stdout + result.stderr).split("Job stats:")[1].split("total")[0]
    return dict(line.split() for line in stats.splitlines()[3:] if line.strip())


@pytest.mark.parametrize(
    "overlay_text, stats",
    [
        # Every run of both seeds compares itself with the changed hybrid manifest.
        ("strategies:\n  hybrid:\n    alpha: 0.25\n", "6"),
        # The new strategy's two runs, and the three others of each seed with it.
        ("strategies:\n  mostly-mono:\n    alpha: 0.75\n", "8"),
    ],
    ids=["one alpha changed", "a strategy added"],
)
def test_a_changed_or_added_strategy_retrains_that_strategy_only(workdir, tmp_path, overlay_text, stats):
    overlay = tmp_path / "strategy.yaml"
    overlay.write_text(overlay_text)
    jobs = planned_jobs(snakemake(workdir, "all", "--dry-run", overlay=overlay))
    # Its two seeds of xquad_r (mlqa_r trains nothing).
    assert jobs["manifest"] == jobs["train"] == jobs["embed"] == jobs["evaluate"] == "2" and "holdout" not in jobs, jobs
    assert jobs["manifest_stats"] == stats, jobs


def repository_copy(folder):
    """The repository's workflow and library (no tests, outputs or virtual environment) in `folder`."""
    ignored = {".git", ".venv", ".snakemake", ".hypothesis", ".ruff_cache", "tests", "results", "resources", "logs", "benchmarks"}
    shutil.copytree(REPOSITORY, folder, ignore=lambda where, names: ignored & set(names) if Path(where) == REPOSITORY else set())
    return folder


@pytest.mark.parametrize(
    "module, rules",
    [
        ("results/figures.py", {"figure"}),
        # The manifest code runs in holdout and manifest; training and everything after read their outputs.
        ("training/manifest.py", {"holdout", "manifest", "manifest_stats", "train", "embed", "evaluate", "significance", "aggregate", "figure"}),
    ],
)
def test_a_library_edit_reruns_the_rules_that_run_it_and_their_descendants(workdir, tmp_path, module, rules):
    copy = repository_copy(tmp_path / "repository")
    with open(copy / "src" / "hybridbatch" / module, "a", encoding="utf-8") as handle:
        handle.write("\n# an edit\n")
    # The fingerprint acts through the params trigger; the input trigger would also see the copy's
    # new absolute path of the reference table that aggregate reads.
    command = snakemake_command(workdir, "all", "--dry-run", "--rerun-triggers", "params", "code")
    command[command.index("--snakefile") + 1] = str(copy / "Snakefile")
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    stats = (result.stdout + result.stderr).split("Job stats:")[1].split("total")[0]
    assert {line.split()[0] for line in stats.splitlines()[3:] if line.strip()} == rules | {"all"}, stats


def test_rerun_gives_identical_metrics(workdir):
    target = workdir / "results" / "metrics" / "mlqa_r" / "base.parquet"
    before = target.read_bytes()
    snakemake(workdir, "results/metrics/mlqa_r/base.parquet", "--forcerun", "embed", "evaluate")
    assert target.read_bytes() == before


def test_second_run_does_nothing(workdir):
    result = snakemake(workdir, "all")
    assert "Nothing to be done" in result.stdout + result.stderr


def test_single_rule_reruns_on_its_own(workdir):
    target = workdir / "results" / "data" / "ntrex" / "qrels.parquet"
    before = target.read_bytes()
    target.unlink()
    result = snakemake(workdir, "results/data/ntrex/qrels.parquet")
    log = result.stdout + result.stderr
    assert "extract" in log and "download" not in log.split("Job stats:")[1].split("Reasons")[0]
    assert target.read_bytes() == before


def test_lint_is_clean(tmp_path):
    result = subprocess.run(
        workflow_command(tmp_path, "--lint"),
        capture_output=True,
        text=True,
        cwd=REPOSITORY,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


def test_outputs_are_readable_by_the_group_and_others(workdir):
    unreadable = [
        path
        for folder in ("resources", "results", "logs", "benchmarks")
        for path in [workdir / folder, *(workdir / folder).rglob("*")]
        if path.stat().st_mode & 0o044 != 0o044 or (path.is_dir() and path.stat().st_mode & 0o011 != 0o011)
    ]
    assert unreadable == []


def temporaries(workdir):
    """Temporary files and staging folders (hybridbatch.core.io) anywhere under `workdir`."""
    return [path for path in workdir.rglob(".*") if path.name.endswith((".tmp", ".staging"))]


def test_no_temporary_file_is_left(workdir):
    assert temporaries(workdir) == []


def test_missing_mirror_files_are_said_once_before_any_job(tmp_path, mirror):
    broken = tmp_path / "mirror"
    shutil.copytree(mirror, broken)
    (broken / "lareqa" / "mlqa-r" / "es.json").unlink()
    workdir = tmp_path / "run"
    result = snakemake(workdir, "results/data/mlqa_r/pairs.parquet", mirror=broken, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert output.count(f"mirror: {broken} lacks 1 file(s) this run needs: lareqa/mlqa-r/es.json (mlqa_r, language es)") == 1
    assert not (workdir / "resources").exists() and not (workdir / "results").exists()


def test_a_mirror_folder_that_does_not_exist_is_said_once_before_any_job(tmp_path):
    result = snakemake(tmp_path / "run", "all", mirror=tmp_path / "nowhere", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert output.count(f"mirror: the folder {tmp_path / 'nowhere'} does not exist, and 10 raw file(s)") == 1, output
    assert not (tmp_path / "run" / "resources").exists()


def test_a_language_selection_that_empties_a_benchmark_stops_before_any_job(tmp_path):
    overlay = tmp_path / "greek.yaml"
    overlay.write_text("data:\n  languages: [el]\n")
    result = snakemake(tmp_path / "run", "all", overlay=overlay, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "data.languages: ['el'] leaves the benchmark 'mlqa_r' of experiment mlqa_r without any of its languages" in output
    assert not (tmp_path / "run" / "resources").exists()


def test_a_data_error_in_a_job_is_reported_once_and_leaves_no_output(tmp_path):
    source = tmp_path / "toy.parquet"
    pd.DataFrame({"q": ["where is the river?", " "], "p": ["the river is here.", "the castle is here."]}).to_parquet(source)
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(
        f"sources:\n  toy:\n    path: parquet\n    origin: toy\n    languages:\n      en: {{data_files: {source}}}\n    columns: {{query: q, positive: p}}\n"
    )
    workdir = tmp_path / "run"
    result = snakemake(workdir, "results/data/toy/pairs.parquet", overlay=overlay, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    message = "source 'toy', language en, row 1, column 'q': expected a non-empty text"
    assert output.count(message) == 1 and "Traceback" not in output, output
    assert (workdir / "logs" / "load_source" / "toy.log").read_text().count(message) == 1
    assert not (workdir / "results" / "data" / "toy").exists() or not any((workdir / "results" / "data" / "toy").iterdir())


def test_a_killed_run_resumes_after_unlock(tmp_path):
    """SIGKILL to snakemake and its jobs mid-training: the README's recovery (--unlock, then
    --rerun-incomplete) resumes the training from its checkpoint and leaves no litter."""
    overlay = tmp_path / "long.yaml"
    overlay.write_text("training:\n  steps: 60\n  checkpoint_every: 2\n  validation: {every: 30, patience: 0}\n")
    workdir = tmp_path / "run"
    target = "results/models/xquad_r/hybrid"
    checkpoint = workdir / "results" / "checkpoints" / "xquad_r" / "hybrid" / "checkpoint.pt"
    running = subprocess.Popen(
        snakemake_command(workdir, target, overlay=overlay),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 600
    while not checkpoint.exists() and running.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(running.pid, signal.SIGKILL)
    running.wait()
    assert checkpoint.exists() and not (workdir / target).exists(), "the run ended before it could be killed"

    locked = snakemake(workdir, target, overlay=overlay, check=False)
    assert locked.returncode != 0 and "cannot be locked" in locked.stdout + locked.stderr
    snakemake(workdir, "--unlock", overlay=overlay)
    snakemake(workdir, target, "--rerun-incomplete", overlay=overlay)
    log = (workdir / "logs" / "train" / "xquad_r" / "hybrid.log").read_text()
    assert "resuming from" in log
    assert pd.read_csv(workdir / target / "train_log.csv")["step"].tolist() == list(range(1, 61))
    assert temporaries(workdir) == []


@pytest.mark.parametrize("target", ["results/metrics/mlqa_r/hybrid.parquet", "results/figures/mlqa_r/training_curves.png"])
def test_a_trained_output_of_an_experiment_that_trains_nothing_is_refused_in_words(tmp_path, target):
    result = snakemake(tmp_path, target, "--dry-run", check=False)
    assert result.returncode != 0
    assert "experiment mlqa_r has no train_sources, so only its base model is evaluated" in result.stdout + result.stderr


def test_invalid_config_stops_before_any_job(tmp_path):
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("strategies:\n  hybrid:\n    alpha: 1.5\n")
    result = snakemake(tmp_path, "all", overlay=overlay, check=False)
    assert result.returncode != 0
    assert "strategies.hybrid.alpha: 1.5 is outside [0, 1]" in result.stdout + result.stderr
    assert not (tmp_path / "resources").exists()


def test_paper_config_plans_the_paper_run(tmp_path):
    """config/paper.yaml cannot run offline (hub models and data), but its whole DAG must plan."""
    result = subprocess.run(
        workflow_command(
            tmp_path,
            "-n",
            "--configfile",
            str(REPOSITORY / "config" / "paper.yaml"),
        ),
        capture_output=True,
        text=True,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    counts = dict(line.split() for line in output.splitlines() if len(line.split()) == 2 and line.split()[1].isdigit())
    # 4 experiments (2 benchmarks x LaBSE, XLM-R) x 3 strategies x 3 seeds; LaBSE is shared, XLM-R per experiment.
    assert (counts["train"], counts["base_model"], counts["load_source"], counts["evaluate"], counts["embed"]) == ("36", "3", "1", "40", "40")
    assert "results/models/xquad_r_xlmr/base" in output and "results/data/mmarco/pairs.parquet" in output


def parquet_source_overlay(folder, questions, passages, train_sources):
    """An overlay declaring a `sources:` entry `toy` read from one local parquet file per language
    (columns q, p: the given texts, row-aligned across languages) and training the xquad_r
    experiment on `train_sources`."""
    files = {}
    for lang in questions:
        files[lang] = folder / f"{lang}.parquet"
        pd.DataFrame({"q": questions[lang], "p": passages[lang]}).to_parquet(files[lang])
    overlay = folder / "overlay.yaml"
    overlay.write_text(
        "sources:\n  toy:\n    path: parquet\n    origin: toy\n    languages:\n"
        + "".join(f"      {lang}: {{data_files: {path}}}\n" for lang, path in files.items())
        + "    columns: {query: q, positive: p}\n"
        f"experiments:\n  xquad_r:\n    train_sources: [{', '.join(train_sources)}]\n"
    )
    return overlay


def test_a_loaded_source_feeds_the_manifests(tmp_path):
    """A `sources:` entry read through Hugging Face datasets from local parquet, trained on by an experiment."""
    words = ["river", "castle", "engine", "violin", "desert", "harbor", "comet", "forest", "garden", "tunnel", "glacier", "market"]
    asking = (("en", "where is the {}?"), ("de", "wo ist {}?"), ("es", "¿dónde está {}?"))
    questions = {lang: [ask.format(w) for w in words] for lang, ask in asking}
    passages = {lang: [f"{lang}: the {w} is here." for w in words] for lang in questions}
    overlay = parquet_source_overlay(tmp_path, questions, passages, ["mlqa_r", "toy"])
    workdir = tmp_path / "run"
    snakemake(workdir, "results/manifests/xquad_r/hybrid.parquet", overlay=overlay)
    pairs = pq.read_table(workdir / "results" / "data" / "toy" / "pairs.parquet").to_pandas()
    assert len(pairs) == 36 and set(pairs["lang"]) == {"en", "de", "es"}
    manifest = pq.read_table(workdir / "results" / "manifests" / "xquad_r" / "hybrid.parquet").to_pandas()
    assert set(manifest["source"]) <= {"mlqa_r", "toy"} and "toy" in set(manifest["source"])
    held_out = pq.read_table(workdir / "results" / "manifests" / "xquad_r" / "validation.parquet").to_pandas()
    assert not set(manifest.loc[manifest["source"] == "toy", "group_id"]) & set(held_out.loc[held_out["source"] == "toy", "group_id"])
    # The local files are the load's inputs: an edit reloads them and rebuilds what trains on them.
    pd.DataFrame({"q": questions["de"], "p": [p.upper() for p in passages["de"]]}).to_parquet(tmp_path / "de.parquet")
    jobs = planned_jobs(snakemake(workdir, "results/manifests/xquad_r/hybrid.parquet", "--dry-run", overlay=overlay))
    assert jobs["load_source"] == "1" and jobs["manifest"] == "1", jobs


def test_gpu_jobs_declare_their_gpus_for_local_caps_and_clusters(tmp_path):
    """train and embed carry a `gpu` resource (from training.gpus / encode.gpus) that
    `--resources gpu=N` caps locally and the SLURM profile requests; other rules carry none."""
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("training:\n  gpus: 3\nencode:\n  gpus: 1\n")
    result = snakemake(tmp_path, "results/metrics/xquad_r/hybrid.parquet", "-n", overlay=overlay)
    resources, rule = set(), None
    for line in result.stdout.splitlines():
        if match := re.match(r"(?:local)?rule (\w+):$", line):
            rule = match[1]
        elif line.strip().startswith("resources:"):
            resources.add((rule, line.strip()))
    assert {rule for rule, _ in resources} >= {"extract", "base_model", "train", "embed", "evaluate"}
    assert {rule for rule, line in resources if "gpu=3" in line} == {"train"}
    assert {rule for rule, line in resources if "gpu=1" in line} == {"embed"}
    assert not any("gpu=" in line for rule, line in resources if rule not in ("train", "embed"))


def test_a_two_process_training_job_runs_through_torchrun(tmp_path):
    """training.gpus: 2 on a machine without GPUs: the train rule launches two gloo processes."""
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("training:\n  gpus: 2\n")
    workdir = tmp_path / "run"
    snakemake(workdir, "results/models/xquad_r/hybrid", overlay=overlay)
    log = (workdir / "logs" / "train" / "xquad_r" / "hybrid.log").read_text()
    assert "launching 2 training processes" in log
    assert "[rank 1]" in log  # the processes' own output is in the rule's log too
    model = workdir / "results" / "models" / "xquad_r" / "hybrid"
    assert (model / "model.safetensors").is_file()
    assert pd.read_csv(model / "train_log.csv")["step"].tolist() == [1, 2, 3, 4, 5, 6]


DOMAIN_OVERLAY = """
data: {languages: [en, es], max_questions: 300}
experiments:
  general: {benchmark: xquad_r, train_sources: [mlqa_r], strategies: [x-x, hybrid]}
  scientific: {benchmark: tico19_scientific, train_sources: [tico19_scientific_train], strategies: [hybrid]}
domains:
  benchmarks: {scientific: [tico19_scientific]}
  models: [general, scientific]
  general: general
training: {seeds: [0], validation: {groups: 0}}
"""


def run_domain_study(tmp_path, overlay_text, name="domains"):
    """The `domains` target on the tiny config and `overlay_text`: the working folder and the study's table."""
    overlay = tmp_path / f"{name}.yaml"
    overlay.write_text(overlay_text)
    workdir = tmp_path / "run"
    snakemake(workdir, "domains", overlay=overlay)
    return workdir, pd.read_csv(workdir / f"results/tables/{name}.csv")


def test_the_domain_study_scores_every_model_on_every_domain(tmp_path):
    workdir, table = run_domain_study(tmp_path, DOMAIN_OVERLAY)
    assert set(table["domain"]) == {"scientific"}
    assert list(dict.fromkeys(table["name"])) == [
        "base",
        "general/x-x",
        "general/hybrid",
        "scientific/hybrid",
        "general/hybrid − scientific/hybrid",
        "general/hybrid − general/x-x",
    ]
    assert (table["ci_low"] <= table["value"]).all() and (table["value"] <= table["ci_high"]).all()
    assert set(table["setting"]) == {"cross", "multi"}  # translation retrieval: no monolingual setting
    # The four verdict words of protocol version 2 (the tiny models' verdicts depend on their training).
    assert set(table.loc[table["kind"] == "difference", "verdict"]) <= {BETTER, EQUIVALENT, WORSE, INCONCLUSIVE}
    assert "## scientific" in (workdir / "results/tables/domains.md").read_text()
    assert (workdir / "results/figures/domains.png").stat().st_size > 10_000
    # The leak check of each compared experiment covers the domain benchmark, the general one's too.
    overlap = pd.read_csv(workdir / "results/tables/overlap/general.csv")
    assert set(overlap["benchmark"]) == {"xquad_r", "tico19_scientific"}
    # Only the domain study's models were trained: the general experiment's own benchmark is not needed.
    assert sorted(path.name for path in (workdir / "results/models/general").iterdir()) == ["hybrid", "x-x"]
    assert not (workdir / "results/metrics").exists()


CONTEXT_OVERLAY = """
data: {languages: [en, es], max_questions: 300}
experiments:
  general_neighbours: {benchmark: mlqa_r, train_sources: [xquad_r_neighbours], strategies: [hybrid]}
  scientific: {benchmark: tico19_scientific, train_sources: [tico19_scientific_train], strategies: [hybrid]}
domains:
  name: domains_context
  task: context retrieval
  benchmarks: {scientific: [tico19_scientific_context], scientific_in_both_pools: [tico19_scientific_context_union]}
  models: [general_neighbours, scientific]
  general: general_neighbours
training: {seeds: [0], validation: {groups: 0}}
report: {protocol: {version: 3, domain_ceiling: 0.9}}
"""


def test_the_context_view_of_the_domain_study_has_its_own_outputs_and_a_mono_setting(tmp_path):
    workdir, table = run_domain_study(tmp_path, CONTEXT_OVERLAY, "domains_context")
    assert set(table["domain"]) == {"scientific", "scientific_in_both_pools"}
    # Context retrieval scores the monolingual pool too (translation retrieval cannot).
    assert set(table["setting"]) == {"mono", "cross", "multi"} and set(table["protocol_version"]) == {3}
    primary = table[table["family"] == "primary"]
    assert list(primary["name"]) == ["general_neighbours/hybrid − scientific/hybrid"] and list(primary["domain"]) == ["scientific"]
    assert (workdir / "results/tables/domains_context.md").read_text().startswith("# Does it transfer across domains?")
    assert "(context retrieval)" in (workdir / "results/tables/domains_context.md").read_text().splitlines()[0]
    assert (workdir / "results/figures/domains_context.png").stat().st_size > 10_000
    assert not (workdir / "results/tables/domains.csv").exists()
    overlap = pd.read_csv(workdir / "results/tables/overlap/general_neighbours.csv")
    assert {"tico19_scientific_context", "tico19_scientific_context_union"} <= set(overlap["benchmark"])


def test_the_domains_target_without_a_domain_study_is_refused_in_words(tmp_path):
    result = snakemake(tmp_path, "domains", "--dry-run", check=False)
    assert result.returncode != 0
    assert "no domain study is configured; add --configfile config/domains.yaml" in result.stdout + result.stderr


def test_a_domain_the_data_does_not_have_stops_before_any_job(tmp_path):
    overlay = tmp_path / "domains.yaml"
    overlay.write_text(DOMAIN_OVERLAY.replace("scientific: [tico19_scientific]}", "scientific: [tico19_scientific], legal: [tico19_legal]}"))
    result = snakemake(tmp_path / "run", "domains", overlay=overlay, check=False)
    assert result.returncode != 0
    assert "domains.benchmarks.legal[0]: unknown data set 'tico19_legal'" in result.stdout + result.stderr
    assert not (tmp_path / "run" / "resources").exists() and not (tmp_path / "run" / "results").exists()


def test_the_slurm_profile_sends_gpu_jobs_to_the_gpu_partition_and_retries(tmp_path):
    """`snakemake -n --workflow-profile profiles/slurm --configfile config/paper.yaml`: each job's
    partition comes from its kind (two variables), and failed jobs are submitted again."""
    env = {**os.environ, "HYBRIDBATCH_SLURM_CPU_PARTITION": "cpu-part", "HYBRIDBATCH_SLURM_GPU_PARTITION": "gpu-part", "HYBRIDBATCH_SLURM_ACCOUNT": "acct"}
    result = subprocess.run(
        workflow_command(
            tmp_path,
            "-n",
            "--workflow-profile",
            str(REPOSITORY / "profiles" / "slurm"),
            "--configfile",
            str(REPOSITORY / "config" / "paper.yaml"),
        ),
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    partitions = {}
    for block in re.split(r"\n(?=\s*(?:local)?rule \w+:)", result.stdout):  # grouped jobs are indented
        rule = re.match(r"\s*(?:local)?rule (\w+):", block)
        partition = re.search(r"slurm_partition=([\w-]+)", block)
        if rule and partition:
            partitions.setdefault(rule.group(1), set()).add(partition.group(1))
    assert {partitions[rule] == {"gpu-part"} for rule in ("train", "embed", "evaluate")} == {True}
    assert {partitions[rule] == {"cpu-part"} for rule in ("extract", "overlap", "manifest", "base_model", "aggregate", "figure")} == {True}
    profile = yaml.safe_load((REPOSITORY / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["retries"] >= 1 and profile["set-resources"]["train"]["runtime"] <= 120


def test_a_missing_model_folder_is_named_by_the_key_that_set_it(tmp_path):
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(f"experiments:\n  xquad_r:\n    train_sources: [mlqa_r]\n    model: {tmp_path / 'absent'}\n")
    result = snakemake(tmp_path / "run", "results/models/xquad_r/base", overlay=overlay, check=False)
    assert result.returncode != 0
    assert f"experiments.xquad_r.model: local model folder {tmp_path / 'absent'} does not exist" in result.stdout + result.stderr


def test_the_slurm_profile_without_its_variables_stops_naming_them(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("HYBRIDBATCH_SLURM_")}
    result = subprocess.run(
        workflow_command(
            tmp_path,
            "-n",
            "--workflow-profile",
            str(REPOSITORY / "profiles" / "slurm"),
        ),
        capture_output=True,
        text=True,
        env={**env, "HYBRIDBATCH_SLURM_CPU_PARTITION": "cpu-part"},
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "environment variable HYBRIDBATCH_SLURM_ACCOUNT is not set (used by default-resources.slurm_account)" in output
    assert "environment variable HYBRIDBATCH_SLURM_GPU_PARTITION is not set (used by set-resources.train.slurm_partition" in output
    assert "HYBRIDBATCH_SLURM_CPU_PARTITION is not set" not in output and not (tmp_path / "results").exists()


@pytest.mark.parametrize("model", ["base", "hybrid"])
def test_trec_files_give_trec_eval_the_pipeline_s_multilingual_metrics(workdir, model):
    check = bench_module("trec_eval_check")
    runs = workdir / "results" / "runs" / "xquad_r"
    run = check.read_trec(runs / f"{model}.trec", ["qid", "q0", "docid", "rank", "score", "tag"])
    pool = len(pd.read_parquet(workdir / "results" / "data" / "xquad_r" / "candidates.parquet"))
    assert set(run["tag"]) == {f"xquad_r/{model}"} and set(run.groupby("qid").size()) == {min(100, pool)}
    table = check.compared(workdir)
    found = table[(table["experiment"] == "xquad_r") & (table["model"] == model)]
    # Queries are `{lang}:{qid}`; every query of a language is in the run and the qrels, and
    # trec_eval's R@10 and MRR@10 equal the pipeline's to 1e-9.
    assert sorted(zip(found["query_lang"], found["metric"])) == [(lang, m) for lang in ("de", "en", "es") for m in ("mrr@10", "recall@10")]
    assert check.failures(found).empty, check.failures(found)
