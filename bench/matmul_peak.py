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
    """fp32 and bf16 peaks; where bf16 is only emulated (bench/common.py) a 256² matmul, best of 3, which
    is enough to show it (0.85 GFLOP/s against 115 for fp32 on an AVX2 EPYC) and takes seconds, not minutes."""
    from common import bf16_native

    native = bf16_native()
    bf16 = matmul_gflops(torch.bfloat16) if native else matmul_gflops(torch.bfloat16, n=256, repeats=3)
    return {"fp32": matmul_gflops(torch.float32), "bf16": bf16}


if __name__ == "__main__":
    result = measure()
    if "--json" in sys.argv:
        print(json.dumps(result))
    else:
        from common import bf16_native

        print("| dtype | matmul peak (2048², best of 10) |\n|---|---|")
        for k, v in result.items():
            emulated = k == "bf16" and not bf16_native()
            print(
                f"| {k} | {v:.{2 if emulated else 0}f} GFLOP/s{' (emulated: 256², best of 3)' if emulated else ''} |"
            )
