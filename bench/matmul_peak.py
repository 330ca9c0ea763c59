"""The machine's measured matmul peak (GFLOP/s), fp32 and bf16: the denominator of every MFU figure.

.venv/bin/python bench/matmul_peak.py
"""

from __future__ import annotations

import json
import sys
import time

import torch


def matmul_gflops(dtype: torch.dtype, n: int = 2048, repeats: int = 10) -> float:
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    for _ in range(2):  # warm-up
        a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def measure() -> dict[str, float]:
    return {"fp32": matmul_gflops(torch.float32), "bf16": matmul_gflops(torch.bfloat16)}


if __name__ == "__main__":
    result = measure()
    if "--json" in sys.argv:
        print(json.dumps(result))
    else:
        print("| dtype | matmul peak (2048², best of 10) |\n|---|---|")
        for k, v in result.items():
            print(f"| {k} | {v:.0f} GFLOP/s |")
