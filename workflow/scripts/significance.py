from hybridbatch.io import write_frame_csv
from hybridbatch.logs import logged
from hybridbatch.results import hybrid_comparisons, model_runs, paired_bootstrap, read_per_query

with logged(snakemake.log[0]) as log:
    runs = model_runs(snakemake.params.runs)
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
