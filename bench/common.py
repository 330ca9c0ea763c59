"""Shared helpers for the benchmarks (not tests): machine description, timing, peak memory."""

from __future__ import annotations

import time
from contextlib import contextmanager


def machine() -> str:
    import torch

    from rlhf_trl import hardware

    return f"{hardware.machine()}, {torch.get_num_threads()} threads"


def bf16_native() -> bool:
    """Whether bf16 runs natively here (`bf16: auto`'s rule: a CUDA GPU from Ampere on, an x86 CPU with
    AVX-512 BF16 or AMX). Elsewhere autocast is emulated (a bf16 matmul ran ~130x slower than fp32 on an
    AVX2 EPYC): the bf16 rows would take hours and measure the emulation, so the benchmarks skip them."""
    import torch

    from rlhf_trl.hardware import native_bf16

    return native_bf16(on_cpu=not torch.cuda.is_available())[0]


BF16_SKIPPED = (
    "bf16 rows skipped: bf16 is not native here (no CUDA GPU with bf16, no AVX-512 BF16 or AMX); "
    "emulated autocast would measure the emulation."
)


@contextmanager
def timed(out: dict, key: str):
    start = time.perf_counter()
    yield
    out[key] = out.get(key, 0.0) + time.perf_counter() - start


STEP_TABLE_HEADER = (
    "| step | setting | generation s | scoring s | update s | total s | tokens sampled | peak RSS MiB |\n"
    "|---|---|---|---|---|---|---|---|"
)


def step_table_row(name: str, r: dict) -> str:
    """One row of the RL-step split table (PPO and GRPO share it)."""
    return (
        f"| {name} | {r['setting']} | {r['generation_s']:.2f} | {r['scoring_s']:.2f} | {r['update_s']:.2f} "
        f"| {r['total_s']:.2f} | {r['mean_response_tokens']} per response | {r['peak_rss_mb']:.0f} |"
    )


def print_step_result(name: str, result: dict, as_json: bool) -> None:
    """Print an RL-step benchmark result: raw JSON, or the markdown table with its one row."""
    import json

    if as_json:
        print(json.dumps(result, indent=2))
        return
    print(STEP_TABLE_HEADER)
    print(step_table_row(name, result))
