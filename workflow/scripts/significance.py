from hybridbatch.io import write_frame_csv
from hybridbatch.logs import logged
from hybridbatch.results import ModelRun, hybrid_comparisons, paired_bootstrap, read_per_query

with logged(snakemake.log[0]) as log:
    runs = {model: ModelRun(model, strategy, seed) for model, (strategy, seed) in snakemake.params.runs.items()}
    files = {tuple(key): path for key, path in zip(snakemake.params.model_keys, snakemake.input, strict=True)}
    bootstrap = snakemake.params.bootstrap
    table = paired_bootstrap(
        read_per_query(files, runs),
        hybrid_comparisons(snakemake.params.experiments, snakemake.params.alphas),
        bootstrap["samples"],
        bootstrap["seed"],
        bootstrap["confidence"],
    )
    write_frame_csv(table, snakemake.output[0])
    log.info("paired bootstrap, %d samples:\n%s", bootstrap["samples"], table.to_string(index=False))
