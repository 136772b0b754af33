import os
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

# The workflow runs the library of this checkout, also in job subprocesses (scripts, cluster jobs).
REPOSITORY = Path(workflow.main_snakefile).resolve().parent
_SRC = str(REPOSITORY / "src")
sys.path.insert(0, _SRC)
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [_SRC, os.environ.get("PYTHONPATH")])))

# Cluster jobs (which read this file again, not as the main process) never use the network: what
# needs it (downloads, hub sources, hub models) runs in local rules on the submitting host, before
# them. Set before anything imports huggingface_hub or datasets, which read it at import.
if not workflow.is_main_process:
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")

from hybridbatch import config as hbconfig
from hybridbatch.core.contract import TABLES
from hybridbatch.core.errors import ConfigError
from hybridbatch.core.runs import BASE, BASE_RUN
from hybridbatch.data.download import mirror_problem
from hybridbatch.results.figure_catalog import FIGURES, figure_caption, figure_names
from hybridbatch.fingerprint import code_fingerprint
from hybridbatch.data.registry import DATASETS
from hybridbatch.data.sources import local_files
from hybridbatch.training.manifest import PLAN_KEYS
from hybridbatch.training.settings import train_job_section

try:
    hbconfig.check(
        config, hbconfig.load_yaml(REPOSITORY / "workflow/schemas/config.schema.yaml")
    )
except ConfigError as error:
    raise WorkflowError(str(error)) from None

# Said once, by the main process (cluster jobs read this file again). A profile's resource naming
# an unset variable (profiles/slurm: the partitions, the account) would reach sbatch as the literal
# text "$NAME": refused before any job.
if workflow.is_main_process:
    for _warning in hbconfig.warnings(config):
        logger.warning(f"warning: {_warning}")
    _resources = {
        f"default-resources.{name}": resource.raw for name, resource in (workflow.resource_settings.default_resources or {}).items()
    } | {
        f"set-resources.{rule}.{name}": resource.raw
        for rule, resources in workflow.resource_settings.overwrite_resources.items()
        for name, resource in resources.items()
    }
    if _unset := hbconfig.unset_variables(_resources, os.environ):
        raise WorkflowError("\n".join(_unset))

MIRROR = hbconfig.resolve_mirror(config, REPOSITORY)
LANGUAGES = config["data"]["languages"]
EXPERIMENTS = {experiment.name: experiment for experiment in hbconfig.experiments(config)}
# base_model builds "base" from model.base and "{experiment}/base" from an experiment's own model.
BASE_MODELS = {experiment.base_dir: experiment.base_model for experiment in EXPERIMENTS.values()}
# The config key each base model comes from: "model.base" or the experiment's own `model`.
BASE_KEYS = {e.base_dir: "model.base" if e.base_dir == "base" else f"experiments.{e.name}.model" for e in EXPERIMENTS.values()}
# Trained models: each strategy at each seed (hybridbatch.core.runs names them).
RUNS = {run.name: run for run in hbconfig.training_runs(config)}
MODELS = [BASE, *RUNS]
# Experiments with train_sources train the runs of their strategies; the others evaluate their base model only.
TRAINING_EXPERIMENTS = [name for name, experiment in EXPERIMENTS.items() if experiment.trains]
# The paper's claims compare strategies: they are tested where every strategy is trained.
CLAIM_EXPERIMENTS = [name for name in TRAINING_EXPERIMENTS if set(EXPERIMENTS[name].strategies) == set(config["strategies"])]
# The domain study (config `domains:`), or None.
DOMAINS = hbconfig.domain_study(config)
# The domain study's outputs: results/tables/{DOMAIN_OUTPUTS}.*, results/figures/{DOMAIN_OUTPUTS}.png.
DOMAIN_OUTPUTS = DOMAINS.name if DOMAINS else "domains"
# The `experiment` wildcard of the rules that check, prepare and run training ("(?!)" matches nothing).
TRAINING_EXPERIMENT = "|".join(TRAINING_EXPERIMENTS) or "(?!)"


wildcard_constraints:
    dataset="|".join(DATASETS),
    # `sources:` entries, loaded with Hugging Face datasets ("(?!)" matches nothing)
    source="|".join(map(re.escape, config["sources"])) or "(?!)",
    experiment="|".join(EXPERIMENTS),
    model="|".join(map(re.escape, MODELS)),
    # "base", "{experiment}/base" (an experiment's own encoder) or "{experiment}/{run}"
    model_dir=r"base|[^/]+/[^/]+",
    base_dir="|".join(map(re.escape, BASE_MODELS)) or "(?!)",
    run="|".join(map(re.escape, RUNS)),
    figure="|".join(FIGURES),


def library_code(script):
    """The fingerprint of the library code workflow/scripts/{script} runs (hybridbatch.fingerprint).
    Every scripted rule passes it as `params.library`, so an edit to that code reruns the rule."""
    return code_fingerprint(REPOSITORY / "workflow" / "scripts" / script, REPOSITORY / "src" / "hybridbatch")


def dataset_languages(name):
    """The languages of a data set that this run extracts."""
    spec = DATASETS[name]
    return [lang for lang in spec.languages if LANGUAGES is None or lang in LANGUAGES]


def dataset_raw_files(name):
    """The raw files the extraction of a data set reads: shared files and those of its languages."""
    chosen = dataset_languages(name)
    return [raw for raw in DATASETS[name].files if raw.lang is None or raw.lang in chosen]


def raw_files(wildcards):
    return [f"resources/raw/{wildcards.dataset}/{raw.name}" for raw in dataset_raw_files(wildcards.dataset)]


# A mirror that lacks what this run still has to copy is said once, before any job runs (by the
# main process: cluster jobs read the Snakefile again, after the downloads).
if MIRROR is not None and workflow.is_main_process:
    _problem = mirror_problem(
        MIRROR,
        [
            (name, raw)
            for name in hbconfig.datasets_in_use(config)
            for raw in dataset_raw_files(name)
            if not Path(f"resources/raw/{name}/{raw.name}").exists()
        ],
    )
    if _problem:
        raise WorkflowError(_problem)


def data_tables():
    return expand(
        "results/data/{dataset}/{table}.parquet",
        dataset=hbconfig.datasets_in_use(config),
        table=TABLES,
    ) + expand("results/data/{source}/pairs.parquet", source=hbconfig.loaded_sources_in_use(config))


def model_dir(experiment, model):
    """The folder under results/models/ of a model evaluated in an experiment."""
    return EXPERIMENTS[experiment].base_dir if model == BASE else f"{experiment}/{model}"


def require_training(experiment, asked):
    """Refuse, in words, an output that only exists where the experiment trains."""
    if not EXPERIMENTS[experiment].trains:
        raise WorkflowError(f"{asked}: experiment {experiment} has no train_sources, so only its base model is evaluated")


def evaluation_benchmark(wildcards):
    """The benchmark an evaluation scores: the domain rule's {dataset}, else the experiment's own."""
    return wildcards.get("dataset", EXPERIMENTS[wildcards.experiment].benchmark)


def benchmark_tables(wildcards):
    """The queries, candidates and qrels of the benchmark an evaluation scores."""
    data = f"results/data/{evaluation_benchmark(wildcards)}"
    return {table: f"{data}/{table}.parquet" for table in ("queries", "candidates", "qrels")}


def evaluation_inputs(wildcards):
    if wildcards.model != BASE:
        require_training(wildcards.experiment, f"model {wildcards.model}")
    embeddings = f"results/embeddings/{evaluation_benchmark(wildcards)}/{model_dir(wildcards.experiment, wildcards.model)}"
    return {**benchmark_tables(wildcards), "embeddings": embeddings}


# Every job gets only the settings it reads (a train job: train_job_section), so that changing
# another one (adding a seed, a thread or GPU count) reruns no existing job through a params change.
def training_settings(*keys):
    """The training settings named."""
    return {key: config["training"][key] for key in keys}


def encode_settings():
    """The encode section less its rule-level keys (threads, gpus: the jobs' resources)."""
    return {key: value for key, value in config["encode"].items() if key not in ("threads", "gpus")}


def experiment_runs(experiment):
    """The trained models of an experiment: each of its strategies at each seed."""
    if not EXPERIMENTS[experiment].trains:
        return []
    return [name for name, run in RUNS.items() if run.strategy in EXPERIMENTS[experiment].strategies]


def experiment_models(experiment):
    """The models evaluated in an experiment: "base", and its runs where it trains."""
    return [BASE, *experiment_runs(experiment)]


def model_keys():
    """(experiment, model) of every evaluated model, in table order."""
    return [(experiment, model) for experiment in EXPERIMENTS for model in experiment_models(experiment)]


def metric_tables(experiment=None):
    return [
        f"results/metrics/{e}/{model}.parquet" for e, model in model_keys() if experiment in (None, e)
    ]


def trec_qrels_files():
    """Each experiment's relevance judgements in TREC format, beside its run files."""
    return [f"results/runs/{experiment}/qrels.trec" for experiment in EXPERIMENTS]


def per_query_tables():
    return [f"results/metrics/{e}/per_query/{model}.parquet" for e, model in model_keys()]


def run_records():
    """Every model's Run (hybridbatch.core.runs), the base model first, as plain data for the scripts."""
    return [BASE_RUN.plain(), *(run.plain() for run in RUNS.values())]


def figure_inputs(wildcards):
    """What a figure reads (hybridbatch.results.figure_catalog.FIGURES): the experiment's metrics, its trained
    models (for their logs) or its manifests."""
    experiment, figure = wildcards.experiment, FIGURES[wildcards.figure]
    if figure.needs_training:
        require_training(experiment, f"figure {wildcards.figure}")
    if figure.reads == "models":
        return [f"results/models/{experiment}/{run}" for run in experiment_runs(experiment)]
    if figure.reads == "manifests":
        # The first seed's manifest of each strategy (named after the strategy).
        return [f"results/manifests/{experiment}/{s}.parquet" for s in EXPERIMENTS[experiment].strategies]
    return metric_tables(experiment)


def result_tables():
    return expand(
        "results/tables/{table}.{ext}",
        table=["summary", "per_language", "paper_comparison"],
        ext=["csv", "md", "html"],
    ) + ["results/tables/significance.csv"]


def figures():
    return [
        f"results/figures/{name}/{figure}.png"
        for name, experiment in EXPERIMENTS.items()
        for figure in figure_names(experiment.trains)
    ]


def training_pairs(wildcards):
    return expand(
        "results/data/{source}/pairs.parquet",
        source=EXPERIMENTS[wildcards.experiment].train_sources,
    )


def manifests():
    """Every trained run's manifest and its stats."""
    return [
        f"results/manifests/{experiment}/{run}.{ext}"
        for experiment in TRAINING_EXPERIMENTS
        for run in experiment_runs(experiment)
        for ext in ("parquet", "stats.tsv")
    ]


def same_seed_manifests(experiment, run):
    """The manifests of the experiment's other strategies at the run's seed, by strategy."""
    seed = RUNS[run].seed
    return {
        RUNS[other].strategy: f"results/manifests/{experiment}/{other}.parquet"
        for other in experiment_runs(experiment)
        if other != run and RUNS[other].seed == seed
    }


def overlap_checks(experiment):
    """The experiment's training sources against its benchmark, and against every domain benchmark
    where the domain study compares its models, as plain data for the script."""
    benchmarks = [EXPERIMENTS[experiment].benchmark]
    if DOMAINS and experiment in DOMAINS.models:
        benchmarks += [name for name in DOMAINS.all_benchmarks if name not in benchmarks]
    return [
        {
            "experiment": experiment,
            "benchmark": benchmark,
            "queries": f"results/data/{benchmark}/queries.parquet",
            "candidates": f"results/data/{benchmark}/candidates.parquet",
            "train_source": source,
            "pairs": f"results/data/{source}/pairs.parquet",
        }
        for benchmark in benchmarks
        for source in EXPERIMENTS[experiment].train_sources
    ]


def overlap_inputs(wildcards):
    checks = overlap_checks(wildcards.experiment)
    return list(dict.fromkeys(check[key] for check in checks for key in ("queries", "candidates", "pairs")))


def overlap_tables():
    return ["results/tables/overlap.csv", "results/tables/overlap.html"]


def domain_evaluations():
    """Every (domain, benchmark, experiment, model) the domain study compares, with its per-query
    file, as plain data for the scripts (hybridbatch.results.domains.Evaluation): the general experiment's
    base model once, then each compared experiment's runs."""
    if DOMAINS is None:
        return []
    models = [(DOMAINS.general, BASE_RUN)] + [(e, RUNS[run]) for e in DOMAINS.models for run in experiment_runs(e)]
    return [
        {
            "domain": domain,
            "benchmark": benchmark,
            "experiment": experiment,
            "run": run.plain(),
            "path": f"results/domains/per_query/{benchmark}/{experiment}/{run.name}.parquet",
        }
        for domain, benchmarks in DOMAINS.benchmarks.items()
        for benchmark in benchmarks
        for experiment, run in models
    ]


def domain_runs():
    """Each compared experiment's runs, as plain data (the order of the table's and figure's models)."""
    return {e: [RUNS[run].plain() for run in experiment_runs(e)] for e in (DOMAINS.models if DOMAINS else [])}


def domain_outputs():
    """The domain study's table and figure; none where `domains:` is not configured."""
    if DOMAINS is None:
        return []
    return [*expand("results/tables/{name}.{ext}", name=DOMAIN_OUTPUTS, ext=["csv", "md", "html"]), f"results/figures/{DOMAIN_OUTPUTS}.png"]


def domain_study_outputs(wildcards):
    """The `domains` target's inputs; it refuses, in words, a run without a domain study."""
    if DOMAINS is None:
        raise WorkflowError("target domains: no domain study is configured; add --configfile config/domains.yaml")
    return domain_outputs()
