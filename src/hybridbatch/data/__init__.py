"""Data stage: the public data sets and the user's training sources as the artifact contract's tables.

- `registry`: every built-in data set (files, checksums in `sha256sums.txt`, languages, origin).
- `download`: raw files copied from the mirror folder or fetched, checked by sha256.
- `extract`: raw files into the queries, candidates, qrels and pairs tables (`formats/` reads each layout).
- `splits`: seeded document splits of a parallel corpus (the domain study's train and test sides).
- `sources`: `sources:` entries read with Hugging Face `datasets` or from id triples.
- `overlap`: the leak check between training sources and benchmarks.
"""
