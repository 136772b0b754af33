rule train:
    wildcard_constraints:
        experiment=TRAINING_EXPERIMENT,
    input:
        base=lambda wildcards: f"results/models/{EXPERIMENTS[wildcards.experiment].base_dir}",
        manifest="results/manifests/{experiment}/{run}.parquet",
        validation="results/manifests/{experiment}/validation.parquet",
        pairs=training_pairs,
    output:
        directory("results/models/{experiment}/{run}"),
    params:
        library=library_code("train.py"),
        sources=lambda wildcards: EXPERIMENTS[wildcards.experiment].train_sources,
        seed=lambda wildcards: RUNS[wildcards.run].seed,
        training=train_job_section(config["training"]),
        # Outside the output folder, which Snakemake deletes when a job fails.
        checkpoints="results/checkpoints/{experiment}/{run}",
    log:
        "logs/train/{experiment}/{run}.log",
    benchmark:
        "benchmarks/train/{experiment}/{run}.tsv"
    threads: config["training"]["threads"] or workflow.cores
    resources:
        gpu=config["training"]["gpus"],
    conda:
        "../../environment.yml"
    script:
        "../scripts/train.py"
