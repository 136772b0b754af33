rule manifest:
    input:
        training_pairs,
    output:
        manifest="results/manifests/{experiment}/{strategy}.parquet",
        stats="results/manifests/{experiment}/{strategy}.stats.tsv",
    params:
        sources=lambda wildcards: EXPERIMENTS[wildcards.experiment].train_sources,
        alpha=lambda wildcards: config["strategies"][wildcards.strategy]["alpha"],
        training=config["training"],
    log:
        "logs/manifest/{experiment}/{strategy}.log",
    benchmark:
        "benchmarks/manifest/{experiment}/{strategy}.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/manifest.py"
