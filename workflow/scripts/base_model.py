import torch

from hybridbatch.basemodel import build_base_model
from hybridbatch.encode import usable_threads
from hybridbatch.logs import logged

with logged(snakemake.log[0]):
    torch.set_num_threads(usable_threads(snakemake.threads))
    build_base_model(snakemake.params.source, snakemake.output[0], snakemake.params.prompts)
