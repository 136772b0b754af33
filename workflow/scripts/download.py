from hybridbatch.core.logs import logged
from hybridbatch.download import fetch
from hybridbatch.registry import dataset, expected_sha256

with logged(snakemake.log[0]):
    raw = dataset(snakemake.wildcards.dataset).file(snakemake.wildcards.filename)
    fetch(raw, snakemake.output[0], expected_sha256(raw), snakemake.params.mirror)
