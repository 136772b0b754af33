"""Readers of the raw file layouts: LAReQA (XQuAD-R, MLQA-R), NTREX-128, TICO-19, Tatoeba, and
MS MARCO-style id triples."""
