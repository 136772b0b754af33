from hybridbatch.accelerator import use_threads
from hybridbatch.basemodel import build_base_model
from hybridbatch.core.logs import logged

with logged(snakemake.log[0]):
    use_threads(snakemake.threads)
    build_base_model(snakemake.params.source, snakemake.output[0], snakemake.params.prompts, snakemake.params.key)
