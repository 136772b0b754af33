from hybridbatch.core.logs import logged
from hybridbatch.download import origin_of
from hybridbatch.extract import extract, write
from hybridbatch.registry import dataset

with logged(snakemake.log[0]):
    spec = dataset(snakemake.wildcards.dataset)
    extracted = extract(
        spec,
        snakemake.params.raw_dir,
        snakemake.params.languages,
        snakemake.params.max_questions,
        {raw.name: origin_of(raw, snakemake.params.mirror) for raw in spec.files},
    )
    write(extracted, snakemake.output)
