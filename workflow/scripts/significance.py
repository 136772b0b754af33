from hybridbatch.core.io import write_frame_csv
from hybridbatch.core.logs import logged
from hybridbatch.core.runs import runs_by_name, strategy_alphas
from hybridbatch.results.claims import claim_tests
from hybridbatch.results.protocol import Protocol
from hybridbatch.results.tables import read_per_query

with logged(snakemake.log[0]) as log:
    runs = runs_by_name(snakemake.params.runs)
    files = {tuple(key): path for key, path in zip(snakemake.params.model_keys, snakemake.input, strict=True)}
    protocol = Protocol.from_config(snakemake.params.protocol)
    table = claim_tests(read_per_query(files, runs), snakemake.params.experiments, strategy_alphas(runs.values()), protocol)
    write_frame_csv(table, snakemake.output[0])
    log.info("claim tests, protocol version %d (%s):\n%s", protocol.version, protocol.digest(), table.to_string(index=False))
