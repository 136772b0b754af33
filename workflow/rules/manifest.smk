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


# A manifest depends on its own strategy's alpha only, so that changing or adding a strategy
# rebuilds (and retrains) that strategy alone; the pairing of strategies comes from their shared
# seeded draws (hybridbatch.training.manifest), not from building them together.
rule manifest:
    wildcard_constraints:
        experiment=TRAINING_EXPERIMENT,
    input:
        pairs=training_pairs,
        validation="results/manifests/{experiment}/validation.parquet",
    output:
        "results/manifests/{experiment}/{run}.parquet",
    params:
        library=library_code("manifest.py"),
        sources=lambda wildcards: EXPERIMENTS[wildcards.experiment].train_sources,
        alpha=lambda wildcards: RUNS[wildcards.run].alpha,
        seed=lambda wildcards: RUNS[wildcards.run].seed,
        languages=config["training"]["languages"],
        plan=training_settings(*PLAN_KEYS),
    log:
        "logs/manifest/{experiment}/{run}.log",
    benchmark:
        "benchmarks/manifest/{experiment}/{run}.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/manifest.py"


rule manifest_stats:
    wildcard_constraints:
        experiment=TRAINING_EXPERIMENT,
    input:
        manifest="results/manifests/{experiment}/{run}.parquet",
        # The other strategies' manifests of this seed: what the stats say this one shares with them.
        others=lambda wildcards: list(same_seed_manifests(wildcards.experiment, wildcards.run).values()),
    output:
        "results/manifests/{experiment}/{run}.stats.tsv",
    params:
        library=library_code("manifest_stats.py"),
        strategies=lambda wildcards: list(same_seed_manifests(wildcards.experiment, wildcards.run)),
    log:
        "logs/manifest_stats/{experiment}/{run}.log",
    benchmark:
        "benchmarks/manifest_stats/{experiment}/{run}.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/manifest_stats.py"
