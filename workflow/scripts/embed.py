from hybridbatch.core.contract import read_table
from hybridbatch.core.logs import logged
from hybridbatch.core.machine import claimed_gpus
from hybridbatch.core.settings import settings_from
from hybridbatch.models.accelerator import job_device, use_threads
from hybridbatch.models.encode import embed_dataset
from hybridbatch.models.folder import load_encoder
from hybridbatch.models.settings import EncodeSettings

with logged(snakemake.log[0]), claimed_gpus(snakemake.resources.gpu):
    use_threads(snakemake.threads)
    embed_dataset(
        load_encoder(snakemake.input.model, job_device(snakemake.resources.gpu)),
        read_table(snakemake.input.queries, "queries").to_pandas(),
        read_table(snakemake.input.candidates, "candidates").to_pandas(),
        snakemake.params.languages,
        settings_from(EncodeSettings, snakemake.params.settings, "encode"),
        snakemake.output[0],
    )
