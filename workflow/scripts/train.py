from hybridbatch.devices import claimed_gpus
from hybridbatch.encode import usable_threads
from hybridbatch.logs import logged
from hybridbatch.train import TrainJob, TrainSettings, run_job

with logged(snakemake.log[0]), claimed_gpus(snakemake.resources.gpu):
    training = snakemake.params.training
    settings = TrainSettings(
        **{key: training[key] for key in TrainSettings.__dataclass_fields__ if key in training},
        seed=snakemake.params.seed,
        validation_every=training["validation"]["every"],
        patience=training["validation"]["patience"],
    )
    job = TrainJob(
        base_model=snakemake.input.base,
        manifest=snakemake.input.manifest,
        pairs=dict(zip(snakemake.params.sources, snakemake.input.pairs, strict=True)),
        languages=training["languages"],
        target=snakemake.output[0],
        checkpoints=snakemake.params.checkpoints,
        validation=snakemake.input.validation,
        settings=settings,
        gpus=snakemake.resources.gpu,
    )
    run_job(job, usable_threads(snakemake.threads))
