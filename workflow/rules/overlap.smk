# The text-overlap leak check (hybridbatch.data.overlap): every training source of an experiment against
# the queries and candidates of its benchmark. A leak stops the run before training (holdout reads
# the experiment's table); one check per experiment, so a new experiment retrains nothing else.


rule overlap:
    wildcard_constraints:
        experiment=TRAINING_EXPERIMENT,
    input:
        overlap_inputs,
    output:
        "results/tables/overlap/{experiment}.csv",
    params:
        library=library_code("overlap.py"),
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
        expand("results/tables/overlap/{experiment}.csv", experiment=TRAINING_EXPERIMENTS),
    output:
        csv="results/tables/overlap.csv",
        html=report("results/tables/overlap.html", caption="../report/overlap.rst", category="Tables"),
    params:
        library=library_code("overlap_table.py"),
        max_overlap=config["data"]["max_overlap"],
    log:
        "logs/overlap_table.log",
    benchmark:
        "benchmarks/overlap_table.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/overlap_table.py"
