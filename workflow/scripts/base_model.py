from hybridbatch.core.logs import logged
from hybridbatch.models.accelerator import use_threads
from hybridbatch.models.base import build_base_model

with logged(snakemake.log[0]):
    use_threads(snakemake.threads)
    build_base_model(snakemake.params.source, snakemake.output[0], snakemake.params.prompts, snakemake.params.key)
