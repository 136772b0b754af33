"""The shared vocabulary every stage imports, and nothing in it imports a stage, torch or FAISS.

- `contract`: the artifact contract: the tables' schemas, the metrics table, settings and metric names.
- `runs`: `Run`, one model of an experiment (a strategy at a seed, or the base model) and its role.
- `embeddings`: the embeddings file of one language of one data set.
- `io`: atomic writers and readers that name a damaged artifact.
- `errors`, `logs`: the errors that stop a run in one line, and the scripts' logging.
- `machine`: the threads and GPUs a job may use.
- `settings`: config sections into settings objects, refusing keys nobody reads.
"""
