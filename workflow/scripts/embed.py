from hybridbatch.devices import claimed_gpus
from hybridbatch.encode import EncodeSettings, embed_dataset, job_device, load_encoder, usable_threads
from hybridbatch.extract import read_table
from hybridbatch.logs import logged
from hybridbatch.search import set_threads

with logged(snakemake.log[0]), claimed_gpus(snakemake.resources.gpu):
    set_threads(usable_threads(snakemake.threads))
    embed_dataset(
        load_encoder(snakemake.input.model, job_device(snakemake.resources.gpu)),
        read_table(snakemake.input.queries, "queries").to_pandas(),
        read_table(snakemake.input.candidates, "candidates").to_pandas(),
        snakemake.params.languages,
        EncodeSettings(**snakemake.params.settings),
        snakemake.output[0],
    )
