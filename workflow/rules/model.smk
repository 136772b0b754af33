rule base_model:
    output:
        directory("results/models/{base_dir}"),
    params:
        library=library_code("base_model.py"),
        source=lambda wildcards: BASE_MODELS[wildcards.base_dir],
        prompts=config["model"]["prompts"],
        # The key that set the source, for its errors.
        key=lambda wildcards: BASE_KEYS[wildcards.base_dir],
    log:
        "logs/base_model/{base_dir}.log",
    benchmark:
        "benchmarks/base_model/{base_dir}.tsv"
    threads: 2
    # A hub model is downloaded here, on the submitting host: compute nodes may have no internet,
    # and cluster jobs run offline (common.smk).
    localrule: True
    conda:
        "../../environment.yml"
    script:
        "../scripts/base_model.py"
