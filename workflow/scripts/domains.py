from hybridbatch.core.io import write_frame_csv, write_text
from hybridbatch.core.logs import logged
from hybridbatch.results.documents import html_page, markdown
from hybridbatch.results.domains import domain_blocks, domain_table, domain_title, evaluations_from, own_models, study_models, study_per_query, study_runs
from hybridbatch.results.protocol import Protocol

with logged(snakemake.log[0]) as log:
    runs = study_runs(snakemake.params.runs)
    models, differences = study_models(snakemake.params.general, runs)
    protocol = Protocol.from_config(snakemake.params.protocol)
    table = domain_table(
        study_per_query(evaluations_from(snakemake.params.evaluations)),
        models,
        differences,
        own_models(list(snakemake.params.benchmarks), runs),
        protocol,
    )
    blocks = domain_blocks(table, snakemake.params.benchmarks, protocol)
    title = domain_title(snakemake.params.task)
    write_frame_csv(table, snakemake.output.csv)
    write_text(markdown(title, blocks), snakemake.output.md)
    write_text(html_page(title, blocks), snakemake.output.html)
    log.info("%s", markdown(title, blocks))
