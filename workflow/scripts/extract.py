import os

from hybridbatch.extract import extract, write
from hybridbatch.logs import logged
from hybridbatch.registry import dataset

with logged(snakemake.log[0]):
    extracted = extract(
        dataset(snakemake.wildcards.dataset),
        os.path.dirname(snakemake.input[0]),
        snakemake.params.languages,
        snakemake.params.max_questions,
    )
    write(extracted, snakemake.output)
