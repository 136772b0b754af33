"""How a job embeds texts, as settings (no torch: training settings derive theirs from it, and
the workflow reads both while it parses the Snakefile)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EncodeSettings:
    batch_size: int = 256
    # At most this many (padded) tokens per batch: batches whose activations stay in a CPU's cache
    # ran fastest (measured by bench/encode.py: bench/README.md); raise it on a GPU.
    batch_tokens: int = 1024
    query_max_length: int = 128
    passage_max_length: int = 256
    precision: str = "auto"  # auto: bf16 on a GPU, fp32 on a CPU

    def max_length(self, kind: str) -> int:
        return self.query_max_length if kind == "query" else self.passage_max_length
