rule holdout:
    wildcard_constraints:
        experiment=TRAINING_EXPERIMENT,
    input:
        pairs=training_pairs,
        # The leak check passed: training never starts on a source that shares the benchmark's text.
        overlap="results/tables/overlap/{experiment}.csv",
    output:
        "results/manifests/{experiment}/validation.parquet",
    params:
        library=library_code("holdout.py"),
        sources=lambda wildcards: EXPERIMENTS[wildcards.experiment].train_sources,
        languages=config["training"]["languages"],
        groups=config["training"]["validation"]["groups"],
    log:
        "logs/holdout/{experiment}.log",
    benchmark:
        "benchmarks/holdout/{experiment}.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/holdout.py"


rule manifest:
    wildcard_constraints:
        experiment=TRAINING_EXPERIMENT,
    input:
        pairs=training_pairs,
        validation="results/manifests/{experiment}/validation.parquet",
    output:
        manifest="results/manifests/{experiment}/{run}.parquet",
        stats="results/manifests/{experiment}/{run}.stats.tsv",
    params:
        library=library_code("manifest.py"),
        sources=lambda wildcards: EXPERIMENTS[wildcards.experiment].train_sources,
        alpha=lambda wildcards: RUNS[wildcards.run].alpha,
        seed=lambda wildcards: RUNS[wildcards.run].seed,
        strategy=lambda wildcards: RUNS[wildcards.run].strategy,
        # Every strategy's alpha: the stats compare this manifest with the others of its seed.
        strategy_alphas=strategy_alphas(RUNS.values()),
        training=training_settings("languages", "batch_size", "steps", "kind_draw", "source_weights"),
    log:
        "logs/manifest/{experiment}/{run}.log",
    benchmark:
        "benchmarks/manifest/{experiment}/{run}.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/manifest.py"
