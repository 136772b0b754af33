from hybridbatch.figures import FigureOptions, draw
from hybridbatch.logs import logged

with logged(snakemake.log[0]) as log:
    draw(
        snakemake.wildcards.figure,
        snakemake.wildcards.experiment,
        dict(snakemake.input.items()),
        snakemake.params.runs,
        snakemake.params.alphas,
        FigureOptions(**snakemake.params.options),
        snakemake.output[0],
    )
    log.info("drew %s", snakemake.output[0])
