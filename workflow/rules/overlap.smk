# The text-overlap leak check (hybridbatch.overlap): every training source of an experiment against
# the queries and candidates of its benchmark. A leak stops the run before training (holdout reads
# the experiment's table); one check per experiment, so a new experiment retrains nothing else.


def overlap_checks(experiment):
    """The experiment's training sources against its benchmark, as plain data for the script."""
    benchmark = EXPERIMENTS[experiment].benchmark
    return [
        {
            "experiment": experiment,
            "benchmark": benchmark,
            "queries": f"results/data/{benchmark}/queries.parquet",
            "candidates": f"results/data/{benchmark}/candidates.parquet",
            "train_source": source,
            "pairs": f"results/data/{source}/pairs.parquet",
        }
        for source in EXPERIMENTS[experiment].train_sources
    ]


def overlap_inputs(wildcards):
    checks = overlap_checks(wildcards.experiment)
    return list(dict.fromkeys(check[key] for check in checks for key in ("queries", "candidates", "pairs")))


def overlap_tables():
    return ["results/tables/overlap.csv", "results/tables/overlap.html"]


rule overlap:
    input:
        overlap_inputs,
    output:
        "results/tables/overlap/{experiment}.csv",
    params:
        checks=lambda wildcards: overlap_checks(wildcards.experiment),
        max_overlap=config["data"]["max_overlap"],
    log:
        "logs/overlap/{experiment}.log",
    benchmark:
        "benchmarks/overlap/{experiment}.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/overlap.py"


rule overlap_table:
    input:
        expand("results/tables/overlap/{experiment}.csv", experiment=EXPERIMENTS),
    output:
        csv="results/tables/overlap.csv",
        html=report("results/tables/overlap.html", caption="../report/overlap.rst", category="Tables"),
    params:
        max_overlap=config["data"]["max_overlap"],
    log:
        "logs/overlap_table.log",
    benchmark:
        "benchmarks/overlap_table.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/overlap_table.py"
