import pandas as pd

from hybridbatch.core.io import read_frame_csv, write_frame_csv, write_text
from hybridbatch.core.logs import logged
from hybridbatch.core.runs import encoder_label, runs_by_name, strategy_alphas
from hybridbatch.results.documents import build_documents, html_page, markdown
from hybridbatch.results.tables import check_complete, load_metrics

with logged(snakemake.log[0]) as log:
    runs = runs_by_name(snakemake.params.runs)
    files = {tuple(key): path for key, path in zip(snakemake.params.model_keys, snakemake.input.metrics, strict=True)}
    check_complete(files, snakemake.params.models)
    documents = build_documents(
        load_metrics(files, runs),
        read_frame_csv(snakemake.input.significance, "significance table"),
        pd.read_csv(snakemake.input.reference, comment="#"),
        strategy_alphas(runs.values()),
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
