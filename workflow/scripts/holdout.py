from hybridbatch.core.io import write_frame
from hybridbatch.core.logs import logged
from hybridbatch.training.manifest import read_training_pairs, validation_split

with logged(snakemake.log[0]) as log:
    pairs = read_training_pairs(dict(zip(snakemake.params.sources, snakemake.input.pairs, strict=True)), snakemake.params.languages)
    validation = validation_split(pairs, snakemake.params.groups)
    write_frame(validation, snakemake.output[0])
    log.info("held out for validation:\n%s", validation.groupby(["source", "lang"]).size().to_string())
