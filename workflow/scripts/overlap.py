from hybridbatch.core.logs import logged
from hybridbatch.data.overlap import checks_from, leak_check

with logged(snakemake.log[0]):
    leak_check(checks_from(snakemake.params.checks), snakemake.params.max_overlap, snakemake.output[0])
