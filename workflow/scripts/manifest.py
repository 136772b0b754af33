from hybridbatch.core.io import read_frame, write_frame
from hybridbatch.core.logs import logged
from hybridbatch.training.manifest import BatchPlan, build_manifest, read_training_pairs, without_validation

with logged(snakemake.log[0]) as log:
    training = snakemake.params.training
    pairs = read_training_pairs(dict(zip(snakemake.params.sources, snakemake.input.pairs, strict=True)), training["languages"])
    pairs = without_validation(pairs, read_frame(snakemake.input.validation, "validation slice"))
    plan = BatchPlan(
        snakemake.params.alpha, training["batch_size"], training["steps"], snakemake.params.seed, training["kind_draw"], training["source_weights"]
    )
    manifest = build_manifest(pairs, plan)
    write_frame(manifest, snakemake.output[0])
    log.info("%d batches of %d rows, %d monolingual", training["steps"], training["batch_size"], manifest.drop_duplicates("batch")["kind"].eq("mono").sum())
