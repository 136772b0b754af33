from hybridbatch.core.logs import logged
from hybridbatch.data.download import origin_of
from hybridbatch.data.extract import extract, write
from hybridbatch.data.registry import dataset

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
