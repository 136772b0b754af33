import pandas as pd
import torch

from hybridbatch.encode import usable_threads
from hybridbatch.logs import logged
from hybridbatch.manifest import read_training_pairs
from hybridbatch.train import TrainSettings, train

with logged(snakemake.log[0]):
    torch.set_num_threads(usable_threads(snakemake.threads))
    training = snakemake.params.training
    settings = TrainSettings(
        **{key: training[key] for key in TrainSettings.__dataclass_fields__ if key in training},
        seed=snakemake.params.seed,
        validation_every=training["validation"]["every"],
        patience=training["validation"]["patience"],
    )
    pairs = read_training_pairs(dict(zip(snakemake.params.sources, snakemake.input.pairs, strict=True)), training["languages"])
    validation = pd.read_parquet(snakemake.input.validation)
    train(snakemake.input.base, snakemake.input.manifest, pairs, snakemake.output[0], snakemake.params.checkpoints, settings, validation)
