rule base_model:
    output:
        directory("results/models/base"),
    params:
        source=config["model"]["base"],
        prompts=config["model"]["prompts"],
    log:
        "logs/base_model.log",
    benchmark:
        "benchmarks/base_model.tsv"
    threads: 2
    conda:
        "../../environment.yml"
    script:
        "../scripts/base_model.py"
