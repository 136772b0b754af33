from hybridbatch.core.logs import logged
from hybridbatch.data.download import fetch
from hybridbatch.data.registry import dataset, expected_sha256

with logged(snakemake.log[0]):
    raw = dataset(snakemake.wildcards.dataset).file(snakemake.wildcards.filename)
    fetch(raw, snakemake.output[0], expected_sha256(raw), snakemake.params.mirror)
