# The domain study (config `domains:`, config/domains.yaml): every compared model is scored on each
# domain's benchmarks with the evaluate rule's code; one table and one figure answer the question.


use rule evaluate as evaluate_domain with:
    output:
        metrics="results/domains/metrics/{dataset}/{experiment}/{model}.parquet",
        per_query="results/domains/per_query/{dataset}/{experiment}/{model}.parquet",
        run="results/domains/runs/{dataset}/{experiment}/{model}.parquet",
        trec="results/domains/runs/{dataset}/{experiment}/{model}.trec",
    params:
        library=library_code("evaluate.py"),
        benchmark="{dataset}",
        languages=lambda wildcards: dataset_languages(wildcards.dataset),
    log:
        "logs/evaluate_domain/{dataset}/{experiment}/{model}.log",
    benchmark:
        "benchmarks/evaluate_domain/{dataset}/{experiment}/{model}.tsv"


rule domain_table:
    input:
        [evaluation["path"] for evaluation in domain_evaluations()],
    output:
        csv=f"results/tables/{DOMAIN_OUTPUTS}.csv",
        md=f"results/tables/{DOMAIN_OUTPUTS}.md",
        html=report(f"results/tables/{DOMAIN_OUTPUTS}.html", caption="../report/domains.rst", category="Tables"),
    params:
        library=library_code("domains.py"),
        evaluations=domain_evaluations(),
        runs=domain_runs(),
        general=DOMAINS.general if DOMAINS else None,
        benchmarks={domain: list(names) for domain, names in DOMAINS.benchmarks.items()} if DOMAINS else {},
        protocol=config["report"]["protocol"],
        task=DOMAINS.task if DOMAINS else None,
    log:
        f"logs/domain_table/{DOMAIN_OUTPUTS}.log",
    benchmark:
        f"benchmarks/domain_table/{DOMAIN_OUTPUTS}.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/domains.py"


rule domain_figure:
    input:
        f"results/tables/{DOMAIN_OUTPUTS}.csv",
    output:
        report(f"results/figures/{DOMAIN_OUTPUTS}.png", caption="../report/domains_figure.rst", category="Figures"),
    params:
        library=library_code("domain_figure.py"),
        runs=domain_runs(),
        general=DOMAINS.general if DOMAINS else None,
        options=config["report"]["figures"],
    log:
        f"logs/domain_figure/{DOMAIN_OUTPUTS}.log",
    benchmark:
        f"benchmarks/domain_figure/{DOMAIN_OUTPUTS}.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/domain_figure.py"


# snakemake --cores 8 --configfile config/domains.yaml domains
rule domains:
    input:
        domain_study_outputs,
    localrule: True
