from hybridbatch.core.io import write_frame_csv, write_text
from hybridbatch.core.logs import logged
from hybridbatch.documents import html_page, markdown
from hybridbatch.domains import DOMAIN_TITLE, Margins, domain_blocks, domain_table, evaluations_from, study_models, study_per_query, study_runs

with logged(snakemake.log[0]) as log:
    runs = study_runs(snakemake.params.runs)
    models, differences = study_models(snakemake.params.general, runs)
    bootstrap, claims = snakemake.params.bootstrap, snakemake.params.claims
    margins = Margins(claims["margin"], claims["relative_margin"])
    table = domain_table(
        study_per_query(evaluations_from(snakemake.params.evaluations)),
        models,
        differences,
        margins,
        samples=bootstrap["samples"],
        seed=bootstrap["seed"],
        confidence=bootstrap["confidence"],
    )
    blocks = domain_blocks(table, snakemake.params.benchmarks, margins)
    write_frame_csv(table, snakemake.output.csv)
    write_text(markdown(DOMAIN_TITLE, blocks), snakemake.output.md)
    write_text(html_page(DOMAIN_TITLE, blocks), snakemake.output.html)
    log.info("%s", markdown(DOMAIN_TITLE, blocks))
