from hybridbatch.core.io import read_frame, write_frame_csv
from hybridbatch.core.logs import logged
from hybridbatch.training.manifest import manifest_stats

with logged(snakemake.log[0]) as log:
    others = {strategy: read_frame(path, "manifest") for strategy, path in zip(snakemake.params.strategies, snakemake.input.others, strict=True)}
    stats = manifest_stats(read_frame(snakemake.input.manifest, "manifest"), others)
    write_frame_csv(stats, snakemake.output[0], sep="\t")
    # The per-pair cross-lingual counts stay in the stats file: dozens of lines.
    log.info("\n%s", stats[stats["statistic"] != "cross_rows"].to_string(index=False))
