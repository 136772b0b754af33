from hybridbatch.core.logs import logged
from hybridbatch.core.settings import settings_from
from hybridbatch.results.figure_catalog import FigureOptions
from hybridbatch.results.figures import draw

with logged(snakemake.log[0]) as log:
    draw(
        snakemake.wildcards.figure,
        snakemake.wildcards.experiment,
        list(snakemake.input),
        snakemake.params.runs,
        settings_from(FigureOptions, snakemake.params.options, "report.figures"),
        snakemake.output[0],
    )
    log.info("drew %s", snakemake.output[0])
