rule significance:
    input:
        per_query_tables(),
    output:
        "results/tables/significance.csv",
    params:
        library=library_code("significance.py"),
        model_keys=model_keys(),
        runs=run_records(),
        experiments=CLAIM_EXPERIMENTS,
        protocol=config["report"]["protocol"],
    log:
        "logs/significance.log",
    benchmark:
        "benchmarks/significance.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/significance.py"


rule aggregate:
    input:
        metrics=metric_tables(),
        significance="results/tables/significance.csv",
        # Reference numbers kept in the repository (absolute: runs may use --directory).
        reference=str(REPOSITORY / "workflow/resources/paper_reference.csv"),
    output:
        summary_csv="results/tables/summary.csv",
        summary_md="results/tables/summary.md",
        summary_html=report(
            "results/tables/summary.html", caption="../report/summary.rst", category="Tables"
        ),
        per_language_csv="results/tables/per_language.csv",
        per_language_md="results/tables/per_language.md",
        per_language_html=report(
            "results/tables/per_language.html", caption="../report/per_language.rst", category="Tables"
        ),
        paper_csv="results/tables/paper_comparison.csv",
        paper_md="results/tables/paper_comparison.md",
        paper_html=report(
            "results/tables/paper_comparison.html",
            caption="../report/paper_comparison.rst",
            category="Tables",
        ),
    params:
        library=library_code("aggregate.py"),
        model_keys=model_keys(),
        models={experiment: experiment_models(experiment) for experiment in EXPERIMENTS},
        runs=run_records(),
        benchmarks={name: experiment.benchmark for name, experiment in EXPERIMENTS.items()},
        base_models={name: experiment.base_model for name, experiment in EXPERIMENTS.items()},
        steps=config["training"]["steps"],
    log:
        "logs/aggregate.log",
    benchmark:
        "benchmarks/aggregate.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/aggregate.py"


rule figure:
    input:
        figure_inputs,
    output:
        report(
            "results/figures/{experiment}/{figure}.png",
            caption="../report/figure.rst",
            category="Figures",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "figure": "{figure}"},
        ),
    params:
        library=library_code("figure.py"),
        runs=run_records(),
        caption=lambda wildcards: figure_caption(wildcards.figure, wildcards.experiment),
        options=config["report"]["figures"],
    log:
        "logs/figure/{experiment}/{figure}.log",
    benchmark:
        "benchmarks/figure/{experiment}/{figure}.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/figure.py"
