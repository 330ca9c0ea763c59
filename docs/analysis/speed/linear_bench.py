"""fp32 vs bf16 ``F.linear`` at decode batch sizes (M = 1, 4, 16, 64) for SmolLM2-135M's shapes: MLP up/down
(576x1536, 1536x576) and the LM head (576x49152). One weight matrix, reused, so it stays in cache: an upper
bound on what a decode step's matmuls can reach, not the step itself. Exploration for issue #15.

    .venv/bin/python docs/analysis/speed/linear_bench.py
"""

import time

import torch

torch.manual_seed(0)
for m in (1, 4, 16, 64):
    for k, n in ((576, 1536), (1536, 576), (576, 49152)):
        row = []
        for dtype in (torch.float32, torch.bfloat16):
            a, w = torch.randn(m, k, dtype=dtype), torch.randn(n, k, dtype=dtype)
            for _ in range(5):
                torch.nn.functional.linear(a, w)
            best = float("inf")
            for _ in range(5):
                t = time.perf_counter()
                for _ in range(20):
                    torch.nn.functional.linear(a, w)
                best = min(best, (time.perf_counter() - t) / 20)
            row.append(f"{str(dtype)[6:]} {best * 1e3:.3f} ms ({2 * m * k * n / best / 1e9:.0f} GFLOP/s)")
        print(f"M={m:2d} {k}x{n}: " + ", ".join(row))
