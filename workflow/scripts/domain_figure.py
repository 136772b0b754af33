from hybridbatch.core.io import read_frame_csv
from hybridbatch.core.logs import logged
from hybridbatch.core.runs import runs_by_name
from hybridbatch.core.settings import settings_from
from hybridbatch.figures import FigureOptions, domain_mrr, study_colours

with logged(snakemake.log[0]) as log:
    runs = {experiment: list(runs_by_name(plain).values()) for experiment, plain in snakemake.params.runs.items()}
    domain_mrr(
        read_frame_csv(snakemake.input[0], "domain table"),
        study_colours(snakemake.params.general, runs),
        snakemake.output[0],
        settings_from(FigureOptions, snakemake.params.options, "report.figures"),
    )
    log.info("drew %s", snakemake.output[0])
