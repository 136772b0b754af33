from hybridbatch.devices import claimed_gpus
from hybridbatch.encode import EncodeSettings, embed_language, job_device, load_encoder, save_embeddings, usable_threads
from hybridbatch.extract import read_table
from hybridbatch.logs import logged
from hybridbatch.search import set_threads

with logged(snakemake.log[0]) as log, claimed_gpus(snakemake.resources.gpu):
    set_threads(usable_threads(snakemake.threads))
    encoder = load_encoder(snakemake.input.model, job_device(snakemake.resources.gpu))
    embeddings = embed_language(
        encoder,
        read_table(snakemake.input.queries, "queries").to_pandas(),
        read_table(snakemake.input.candidates, "candidates").to_pandas(),
        snakemake.wildcards.lang,
        EncodeSettings(**snakemake.params.settings),
    )
    save_embeddings(snakemake.output[0], embeddings)
    log.info("%s: %d queries, %d candidates embedded", snakemake.wildcards.lang, len(embeddings.queries), len(embeddings.candidates))
