# One job per model and data set: a job's start-up (imports, loading the model) costs about as much
# as embedding one language on 2 CPU cores.
rule embed:
    input:
        model="results/models/{model_dir}",
        queries="results/data/{dataset}/queries.parquet",
        candidates="results/data/{dataset}/candidates.parquet",
    output:
        directory("results/embeddings/{dataset}/{model_dir}"),
    params:
        library=library_code("embed.py"),
        languages=lambda wildcards: dataset_languages(wildcards.dataset),
        settings=encode_settings(),
    log:
        "logs/embed/{dataset}/{model_dir}.log",
    benchmark:
        "benchmarks/embed/{dataset}/{model_dir}.tsv"
    # encode.threads, or every core snakemake has (the code caps it at the cores that exist).
    threads: config["encode"]["threads"] or workflow.cores
    resources:
        gpu=config["encode"]["gpus"],
    conda:
        "../../environment.yml"
    script:
        "../scripts/embed.py"


rule evaluate:
    input:
        unpack(evaluation_inputs),
    output:
        metrics="results/metrics/{experiment}/{model}.parquet",
        per_query="results/metrics/{experiment}/per_query/{model}.parquet",
        run="results/runs/{experiment}/{model}.parquet",
        trec="results/runs/{experiment}/{model}.trec",
    params:
        library=library_code("evaluate.py"),
        benchmark=lambda wildcards: EXPERIMENTS[wildcards.experiment].benchmark,
        languages=lambda wildcards: dataset_languages(EXPERIMENTS[wildcards.experiment].benchmark),
    log:
        "logs/evaluate/{experiment}/{model}.log",
    benchmark:
        "benchmarks/evaluate/{experiment}/{model}.tsv"
    threads: config["encode"]["threads"] or workflow.cores
    conda:
        "../../environment.yml"
    script:
        "../scripts/evaluate.py"


rule trec_qrels:
    input:
        unpack(benchmark_tables),
    output:
        "results/runs/{experiment}/qrels.trec",
    params:
        library=library_code("trec_qrels.py"),
        translation=lambda wildcards: DATASETS[EXPERIMENTS[wildcards.experiment].benchmark].translation,
    log:
        "logs/trec_qrels/{experiment}.log",
    benchmark:
        "benchmarks/trec_qrels/{experiment}.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/trec_qrels.py"
