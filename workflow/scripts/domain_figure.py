from hybridbatch.core.io import read_frame_csv
from hybridbatch.core.logs import logged
from hybridbatch.core.settings import settings_from
from hybridbatch.results.domains import study_runs
from hybridbatch.results.figure_catalog import FigureOptions
from hybridbatch.results.figures import domain_mrr, study_colours

with logged(snakemake.log[0]) as log:
    runs = study_runs(snakemake.params.runs)
    domain_mrr(
        read_frame_csv(snakemake.input[0], "domain table"),
        study_colours(snakemake.params.general, runs),
        snakemake.output[0],
        settings_from(FigureOptions, snakemake.params.options, "report.figures"),
    )
    log.info("drew %s", snakemake.output[0])
