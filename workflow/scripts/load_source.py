from hybridbatch.core.io import write_parquet
from hybridbatch.core.logs import logged
from hybridbatch.data.sources import load_source_pairs

with logged(snakemake.log[0]) as log:
    pairs = load_source_pairs(snakemake.wildcards.source, snakemake.params.source)
    write_parquet(pairs, snakemake.output[0])
    log.info("%s: %d pairs in %d groups", snakemake.wildcards.source, pairs.num_rows, len(set(pairs["group_id"].to_pylist())))
