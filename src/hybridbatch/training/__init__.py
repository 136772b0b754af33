"""Training stage: the manifest of batches, then contrastive fine-tuning that follows it batch by batch:

- `manifest`: the held-out slice and each strategy's batches (which languages, which groups), seeded.
- `validation`: the held-out slice scored as a small benchmark during training.
- `distributed`: data-parallel processes (torchrun) and their gathered in-batch negatives.
- `settings`: what a run is configured with, and which config keys a train job reads (no torch:
  the workflow reads it while it parses the Snakefile).
- `loss`: InfoNCE with in-batch negatives, and only that.
- `batches`: the texts of each manifest batch, looked up in the sources' pairs tables.
- `checkpoints`: what a killed run resumes from, and the best weights kept for early stopping.
- `loop`: the optimiser, schedule, NaN guard, validation and early stopping around the loss.
- `launch`: a training job as plain data, run in this process or in one torchrun process per GPU.
"""
