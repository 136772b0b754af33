import pandas as pd

from hybridbatch.basemodel import encoder_label
from hybridbatch.io import read_frame_csv, write_frame_csv, write_text
from hybridbatch.logs import logged
from hybridbatch.results import check_complete, load_metrics, model_runs
from hybridbatch.tables import build_documents, html_page, markdown

with logged(snakemake.log[0]) as log:
    runs = model_runs(snakemake.params.runs)
    files = {tuple(key): path for key, path in zip(snakemake.params.model_keys, snakemake.input.metrics, strict=True)}
    check_complete(files, snakemake.params.models)
    documents = build_documents(
        load_metrics(files, runs),
        read_frame_csv(snakemake.input.significance, "significance table"),
        pd.read_csv(snakemake.input.reference, comment="#"),
        snakemake.params.alphas,
        snakemake.params.benchmarks,
        {experiment: encoder_label(source) for experiment, source in snakemake.params.base_models.items()},
        snakemake.params.steps,
    )
    outputs = {"summary": "summary", "per_language": "per_language", "paper_comparison": "paper"}
    for name, document in documents.items():
        prefix = outputs[name]
        write_frame_csv(document.data, snakemake.output[f"{prefix}_csv"])
        write_text(markdown(document.title, document.blocks), snakemake.output[f"{prefix}_md"])
        write_text(html_page(document.title, document.blocks), snakemake.output[f"{prefix}_html"])
    log.info("%s", markdown(documents["summary"].title, documents["summary"].blocks))
