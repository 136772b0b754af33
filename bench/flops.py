"""Model FLOPs of a BERT-shaped encoder, the machine's fp32 matmul rate and GPUs' bf16 peaks, shared by
bench/encode.py, bench/train.py and bench/gpu.py.

Forward FLOPs count the real (unpadded) tokens: per layer 2·n·(4H² + 2H·FFN) for the linear layers
plus 4·n²·H for attention's two matmuls. A training step costs three forwards (backward: two).
"""

from __future__ import annotations

import time

import torch

# Dense bf16 tensor-core peaks (TFLOP/s, no sparsity), from the vendors' data sheets, matched by name.
BF16_PEAK_TFLOPS = {"H200": 989.4, "H100 PCIe": 756.0, "H100": 989.4, "A100": 312.0, "L40S": 362.1, "A10G": 70.0, "L4": 121.0}


def token_lengths(encoder, texts: list[str], prefix: str, max_length: int) -> list[int]:
    return [len(ids) for ids in encoder.tokenizer([prefix + t for t in texts], truncation=True, max_length=max_length)["input_ids"]]


def forward_flops(config, lengths: list[int]) -> float:
    """Forward FLOPs of a BERT-shaped encoder (`config`: hidden_size, intermediate_size, num_hidden_layers) over texts of `lengths` tokens."""
    hidden, ffn, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    return layers * sum(2 * n * (4 * hidden * hidden + 2 * hidden * ffn) + 4 * n * n * hidden for n in lengths)


def bf16_peak_flops(device_name: str) -> float | None:
    """The bf16 peak of a GPU named like torch.cuda.get_device_name(), in FLOP/s; None if unknown."""
    for name, tflops in BF16_PEAK_TFLOPS.items():  # "H100 PCIe" before "H100"
        if name in device_name:
            return tflops * 1e12
    return None


def gemm_gflops(size: int = 2048, repeats: int = 5) -> float:
    """The best fp32 rate of a square matmul on the CPU, in GFLOP/s (the rate a share is taken of)."""
    left, right = torch.randn(size, size), torch.randn(size, size)
    left @ right
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        left @ right
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9
