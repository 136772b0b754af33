from hybridbatch.io import read_frame, write_frame, write_frame_csv
from hybridbatch.logs import logged
from hybridbatch.manifest import BatchPlan, build_manifest, manifest_stats, read_training_pairs, without_validation

with logged(snakemake.log[0]) as log:
    training = snakemake.params.training
    pairs = read_training_pairs(dict(zip(snakemake.params.sources, snakemake.input.pairs, strict=True)), training["languages"])
    pairs = without_validation(pairs, read_frame(snakemake.input.validation, "validation slice"))
    plan = BatchPlan(snakemake.params.alpha, training["batch_size"], training["steps"], snakemake.params.seed, training["kind_draw"])
    manifest = build_manifest(pairs, plan)
    write_frame(manifest, snakemake.output.manifest)
    stats = manifest_stats(manifest)
    write_frame_csv(stats, snakemake.output.stats, sep="\t")
    log.info("%d batches, mono share %.3f\n%s", plan.steps, stats["mono_share"].iloc[0], stats.to_string(index=False))
