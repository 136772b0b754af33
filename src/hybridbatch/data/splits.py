"""Train / test splits by whole documents: no document's sentences on both sides, so that a model
fine-tuned on a domain's training split never sees the text, or the neighbours, of a test sentence."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence


def _order_key(document: str, seed: int) -> str:
    # A stable shuffle: the same documents and seed give the same split on every machine and Python.
    return hashlib.sha256(f"{seed}\0{document}".encode()).hexdigest()


def split_documents(sizes: Mapping[str, int], test_share: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, test) documents: documents in a seeded order go to the test split until it holds at
    least `test_share` of the sentences (`sizes`: sentences per document); the rest train. Both
    lists come sorted; with one document, or a share of 1, everything is test."""
    if not 0 < test_share <= 1:
        raise ValueError(f"test_share must be in (0, 1], not {test_share}")
    total = sum(sizes.values())
    test, held = [], 0
    for document in sorted(sizes, key=lambda name: _order_key(name, seed)):
        if held >= test_share * total:
            break
        test.append(document)
        held += sizes[document]
    return sorted(set(sizes) - set(test)), sorted(test)


def positions(documents: Sequence[str]) -> list[int]:
    """Each sentence's position in its document (`documents[i]`: sentence i's document, contiguous)."""
    counted: list[int] = []
    for index, document in enumerate(documents):
        counted.append(counted[-1] + 1 if index and documents[index - 1] == document else 0)
    return counted


def blocks(documents: Sequence[str], size: int) -> list[str]:
    """Each sentence's block: "{document}#{n}", n counting blocks of `size` consecutive sentences
    from the start of its document (`documents[i]`: sentence i's document, contiguous)."""
    return [f"{document}#{position // size}" for document, position in zip(documents, positions(documents), strict=True)]
