"""What this machine can run: an accelerator or not, native bf16 or not, and a one-line description.

``bf16: auto`` (rlhf_trl.config) and the unset ``bf16`` default (rlhf_trl.stage_configs) ask
:func:`native_bf16` / :func:`gpu_has_native_bf16`; rlhf_trl.config also asks :func:`has_accelerator` (no
accelerator: train on the CPU, ``use_cpu``) and :func:`cpu_has_native_bf16` (a note when ``bf16: true``
would be emulated); the benchmarks and ``make seed`` ask :func:`machine` / :func:`machine_summary` to say
where a number was measured.

Why native matters: torch runs bf16 autocast everywhere, but without hardware support it emulates the
matmuls. Measured on a 2-core AVX2 AMD EPYC (torch 2.13): a 1024² matmul at 115 GFLOP/s in fp32 and
0.85 GFLOP/s in bf16, ~130x slower; on the AVX-512 BF16 EPYC the bf16 peak was ~2.4x the fp32 one.
"""

from __future__ import annotations

import os
import platform

__all__ = [
    "cpu_has_native_bf16",
    "cpu_model",
    "gpu_has_native_bf16",
    "has_accelerator",
    "machine",
    "machine_summary",
    "native_bf16",
]

X86 = ("x86_64", "amd64")


def has_accelerator() -> bool:
    """Any device transformers would train on instead of the CPU: what torch registers as an accelerator
    (CUDA/ROCm, MPS, XPU, plug-in backends) and the ones transformers detects itself (TPU through XLA,
    Ascend NPU, Gaudi HPU, MLU, MUSA, Neuron)."""
    import torch
    from transformers import utils

    if torch.accelerator.is_available():
        return True
    names = ("xla", "npu", "hpu", "mlu", "musa", "neuron")  # torch.accelerator already covers CUDA, MPS, XPU
    return any(getattr(utils, f"is_torch_{name}_available", lambda: False)() for name in names)


def gpu_has_native_bf16() -> bool:
    """A CUDA GPU that runs bf16 natively (Ampere and later). torch's ``is_bf16_supported()`` also says
    yes for GPUs that only emulate it (T4, V100): not counted."""
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False))


def cpu_has_native_bf16(unknown: bool = True) -> bool:
    """An x86 CPU with AVX-512 BF16 or AMX (bf16 matmuls in hardware). ``unknown`` where torch cannot
    tell (other architectures): True for the emulation note (none is printed on a guess), False for
    ``bf16: auto`` (fp32 is never wrong)."""
    import torch

    if platform.machine().lower() not in X86:
        return unknown
    caps = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
    return bool(caps.get("avx512_bf16") or caps.get("amx_bf16")) if caps else unknown


def native_bf16(on_cpu: bool) -> tuple[bool, str]:
    """What ``bf16: auto`` means, and why when it means fp32: a CUDA GPU with native bf16, or for training
    on the CPU an x86 CPU with AVX-512 BF16 or AMX."""
    if not on_cpu:
        return gpu_has_native_bf16(), "bf16 is native only on CUDA GPUs from Ampere on"
    if platform.machine().lower() not in X86:
        return False, f"torch cannot tell whether this {platform.machine()} CPU's bf16 is native"
    return cpu_has_native_bf16(unknown=False), "this CPU has no AVX-512 BF16 or AMX"


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def machine() -> str:
    """CPU model, cores, GPU, torch version: where a number was measured."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu_model()}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__}"


def machine_summary() -> str:
    """:func:`machine` with the date and what `bf16: auto` means here, for the records a seed leaves in
    docs/analysis/seeds/ (`make seed`)."""
    import datetime

    bf16, why = native_bf16(on_cpu=not has_accelerator())
    return f"{datetime.date.today()}: {machine()}; bf16: auto -> {'bf16' if bf16 else f'fp32 ({why})'}"
