from hybridbatch.core.io import read_frame, write_frame, write_frame_csv
from hybridbatch.core.logs import logged
from hybridbatch.manifest import BatchPlan, build_manifest, manifest_stats, read_training_pairs, without_validation

with logged(snakemake.log[0]) as log:
    training = snakemake.params.training
    pairs = read_training_pairs(dict(zip(snakemake.params.sources, snakemake.input.pairs, strict=True)), training["languages"])
    pairs = without_validation(pairs, read_frame(snakemake.input.validation, "validation slice"))

    def plan(alpha: float) -> BatchPlan:
        return BatchPlan(
            alpha, training["batch_size"], training["steps"], snakemake.params.seed, training["kind_draw"], training["source_weights"]
        )

    manifest = build_manifest(pairs, plan(snakemake.params.alpha))
    write_frame(manifest, snakemake.output.manifest)
    # A manifest is a pure function of its inputs: the other strategies' manifests of this
    # experiment and seed are rebuilt here to measure what they share with this one.
    others = {
        strategy: build_manifest(pairs, plan(alpha))
        for strategy, alpha in snakemake.params.strategy_alphas.items()
        if strategy != snakemake.params.strategy
    }
    stats = manifest_stats(manifest, others)
    write_frame_csv(stats, snakemake.output.stats, sep="\t")
    # The per-pair cross-lingual counts stay in the stats file: dozens of lines.
    summary = stats[stats["statistic"] != "cross_rows"]
    log.info("%d batches\n%s", training["steps"], summary.to_string(index=False))
