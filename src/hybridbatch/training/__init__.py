"""Contrastive fine-tuning that follows a manifest batch by batch, in five rooms:

- `loss`: InfoNCE with in-batch negatives, and only that.
- `batches`: the texts of each manifest batch, looked up in the sources' pairs tables.
- `checkpoints`: what a killed run resumes from, and the best weights kept for early stopping.
- `loop`: the optimiser, schedule, NaN guard, validation and early stopping around the loss.
- `launch`: a training job as plain data, run in this process or in one torchrun process per GPU.
"""
