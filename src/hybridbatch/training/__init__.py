"""Contrastive fine-tuning that follows a manifest batch by batch, in six rooms:

- `settings`: what a run is configured with, and which config keys a train job reads (no torch:
  the workflow reads it while it parses the Snakefile).
- `loss`: InfoNCE with in-batch negatives, and only that.
- `batches`: the texts of each manifest batch, looked up in the sources' pairs tables.
- `checkpoints`: what a killed run resumes from, and the best weights kept for early stopping.
- `loop`: the optimiser, schedule, NaN guard, validation and early stopping around the loss.
- `launch`: a training job as plain data, run in this process or in one torchrun process per GPU.
"""
