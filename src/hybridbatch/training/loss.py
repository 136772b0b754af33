"""InfoNCE with in-batch negatives: each query's positive is its row's passage, every other passage
of the batch (and any hard negatives) is a negative; similarities are dot products of normalised
vectors (cosines) divided by the temperature."""

from __future__ import annotations

import torch


def info_nce(queries: torch.Tensor, passages: torch.Tensor, temperature: float, offset: int = 0) -> torch.Tensor:
    """Row i of `queries` matches row `offset` + i of `passages`; all other passages are its negatives."""
    scores = queries @ passages.T / temperature
    labels = torch.arange(offset, offset + len(queries), device=queries.device)
    return torch.nn.functional.cross_entropy(scores, labels)
