from hybridbatch.core.contract import read_table
from hybridbatch.core.io import write_text
from hybridbatch.core.logs import logged
from hybridbatch.evaluation.trec import qrels_text

with logged(snakemake.log[0]) as log:
    tables = {name: read_table(snakemake.input[name], name).to_pandas() for name in ("queries", "candidates", "qrels")}
    write_text(qrels_text(tables["queries"], tables["candidates"], tables["qrels"], snakemake.params.translation), snakemake.output[0])
    log.info("wrote %s", snakemake.output[0])
