from hybridbatch.core.logs import logged
from hybridbatch.data.overlap import combine_tables

with logged(snakemake.log[0]):
    combine_tables(list(snakemake.input), snakemake.params.max_overlap, snakemake.output.csv, snakemake.output.html)
