from hybridbatch.core.logs import logged
from hybridbatch.core.machine import claimed_gpus
from hybridbatch.training.launch import TrainJob, run_job
from hybridbatch.training.settings import train_settings

with logged(snakemake.log[0]), claimed_gpus(snakemake.resources.gpu):
    settings, languages = train_settings(snakemake.params.training, seed=snakemake.params.seed)
    job = TrainJob(
        base_model=snakemake.input.base,
        manifest=snakemake.input.manifest,
        pairs=dict(zip(snakemake.params.sources, snakemake.input.pairs, strict=True)),
        languages=languages,
        target=snakemake.output[0],
        checkpoints=snakemake.params.checkpoints,
        validation=snakemake.input.validation,
        settings=settings,
        gpus=snakemake.resources.gpu,
    )
    run_job(job, snakemake.threads)
