rule download:
    output:
        "resources/raw/{dataset}/{filename}",
    params:
        library=library_code("download.py"),
        # A mirror folder when configured, else the public URL; the bytes are checked either way.
        mirror=str(MIRROR) if MIRROR else None,
    log:
        "logs/download/{dataset}/{filename}.log",
    benchmark:
        "benchmarks/download/{dataset}/{filename}.tsv"
    # Cluster compute nodes often have no internet: fetch on the submitting host.
    localrule: True
    conda:
        "../../environment.yml"
    script:
        "../scripts/download.py"


rule extract:
    input:
        raw_files,
    output:
        queries="results/data/{dataset}/queries.parquet",
        candidates="results/data/{dataset}/candidates.parquet",
        qrels="results/data/{dataset}/qrels.parquet",
        pairs="results/data/{dataset}/pairs.parquet",
    params:
        library=library_code("extract.py"),
        raw_dir="resources/raw/{dataset}",
        languages=lambda wildcards: dataset_languages(wildcards.dataset),
        max_questions=config["data"]["max_questions"],
        # Errors name the mirror file (or URL) the local copy came from: the one a user can fix.
        mirror=str(MIRROR) if MIRROR else None,
    log:
        "logs/extract/{dataset}.log",
    benchmark:
        "benchmarks/extract/{dataset}.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/extract.py"


rule load_source:
    input:
        # Local files are inputs: editing one reruns the load and what trains on it.
        lambda wildcards: local_files(config["sources"][wildcards.source]),
    output:
        "results/data/{source}/pairs.parquet",
    params:
        library=library_code("load_source.py"),
        source=lambda wildcards: config["sources"][wildcards.source],
    log:
        "logs/load_source/{source}.log",
    benchmark:
        "benchmarks/load_source/{source}.tsv"
    # Reads the Hugging Face hub (or its cache): on the submitting host, like download.
    localrule: True
    conda:
        "../../environment.yml"
    script:
        "../scripts/load_source.py"
