from hybridbatch.core.contract import macro_average, read_table
from hybridbatch.core.embeddings import embedding_files
from hybridbatch.core.io import write_frame, write_text
from hybridbatch.core.logs import logged
from hybridbatch.data.registry import dataset
from hybridbatch.evaluation.evaluate import evaluate_files
from hybridbatch.evaluation.trec import run_text
from hybridbatch.models.accelerator import use_threads

with logged(snakemake.log[0]) as log:
    use_threads(snakemake.threads)
    files = embedding_files(snakemake.input.embeddings, snakemake.params.languages)
    metrics, per_query, run = evaluate_files(
        snakemake.params.benchmark,
        snakemake.wildcards.model,
        read_table(snakemake.input.queries, "queries").to_pandas(),
        read_table(snakemake.input.candidates, "candidates").to_pandas(),
        read_table(snakemake.input.qrels, "qrels").to_pandas(),
        files,
        dataset(snakemake.params.benchmark).translation,
    )
    write_frame(metrics, snakemake.output.metrics)
    write_frame(per_query, snakemake.output.per_query)
    write_frame(run, snakemake.output.run)
    write_text(run_text(run, f"{snakemake.wildcards.experiment}/{snakemake.wildcards.model}"), snakemake.output.trec)
    log.info("macro averages:\n%s", macro_average(metrics).pivot(index="metric", columns="setting", values="value"))
