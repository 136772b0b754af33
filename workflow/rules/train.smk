rule train:
    input:
        base="results/models/base",
        manifest="results/manifests/{experiment}/{strategy}.parquet",
        pairs=training_pairs,
    output:
        directory("results/models/{experiment}/{strategy}"),
    params:
        sources=lambda wildcards: EXPERIMENTS[wildcards.experiment].train_sources,
        training=config["training"],
        # Outside the output folder, which Snakemake deletes when a job fails.
        checkpoints="results/checkpoints/{experiment}/{strategy}",
    log:
        "logs/train/{experiment}/{strategy}.log",
    benchmark:
        "benchmarks/train/{experiment}/{strategy}.tsv"
    threads: workflow.cores
    conda:
        "../../environment.yml"
    script:
        "../scripts/train.py"
