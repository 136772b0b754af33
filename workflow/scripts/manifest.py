from hybridbatch.core.io import read_frame, write_frame
from hybridbatch.core.logs import logged
from hybridbatch.training.manifest import batch_plan, build_manifest, read_training_pairs, without_validation

with logged(snakemake.log[0]) as log:
    pairs = read_training_pairs(dict(zip(snakemake.params.sources, snakemake.input.pairs, strict=True)), snakemake.params.languages)
    pairs = without_validation(pairs, read_frame(snakemake.input.validation, "validation slice"))
    plan = batch_plan(snakemake.params.plan, snakemake.params.alpha, snakemake.params.seed)
    manifest = build_manifest(pairs, plan)
    write_frame(manifest, snakemake.output[0])
    log.info("%d batches of %d rows, %d monolingual", plan.steps, plan.batch_size, manifest.drop_duplicates("batch")["kind"].eq("mono").sum())
