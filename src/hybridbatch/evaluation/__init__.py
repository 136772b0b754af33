"""Evaluation stage: exact search over embeddings, the metrics per query and per (query language,
pool), and the TREC run and qrels files.

- `search`: top-k search with FAISS. - `metrics`: mAP, R@k, MRR@10, nDCG@10, rank distance.
- `evaluate`: a model's embeddings of one benchmark into its metric tables. - `trec`: TREC files.
"""
