"""rlhf_trl.hardware: what `bf16: auto` means on each kind of machine, and the line `make seed` keeps."""

from __future__ import annotations

import os

import pytest
import torch

from rlhf_trl import hardware


@pytest.mark.parametrize(
    ("machine", "caps", "expected", "note_says_emulated"),
    [
        ("x86_64", {"avx2": True, "avx512_bf16": False, "amx_bf16": False}, False, True),  # emulated: fp32
        ("x86_64", {"avx2": True, "avx512_bf16": True, "amx_bf16": False}, True, False),
        ("AMD64", {"avx2": True, "avx512_bf16": False, "amx_bf16": True}, True, False),
        ("x86_64", {}, False, False),  # torch cannot list the capabilities: fp32, and no note on a guess
        ("aarch64", {}, False, False),  # torch cannot tell: never a guess either way
    ],
)
def test_native_bf16_on_the_cpu(monkeypatch, machine, caps, expected, note_says_emulated):
    monkeypatch.setattr("platform.machine", lambda: machine)
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: caps)
    value, why = hardware.native_bf16(on_cpu=True)
    assert value is expected
    assert why == (
        "this CPU has no AVX-512 BF16 or AMX"
        if machine != "aarch64"
        else "torch cannot tell whether this aarch64 CPU's bf16 is native"
    )
    # The emulation note (bf16 asked for explicitly) is said only where bf16 is known to be emulated.
    assert (not hardware.cpu_has_native_bf16()) is note_says_emulated


def test_native_bf16_on_a_gpu_asks_for_native_support_only(monkeypatch):
    calls = []

    def is_bf16_supported(including_emulation=True):
        calls.append(including_emulation)
        return including_emulation  # a T4: emulated only

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    assert hardware.native_bf16(on_cpu=False) == (False, "bf16 is native only on CUDA GPUs from Ampere on")
    assert calls == [False]
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)  # an A100
    assert hardware.native_bf16(on_cpu=False)[0] is True
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert hardware.gpu_has_native_bf16() is False


def test_machine_summary_says_what_bf16_auto_means_here(monkeypatch):
    """`make seed` keeps this line beside each seed's results (docs/analysis/seeds/seedN/machine.txt)."""
    asked = []

    def native(on_cpu):
        asked.append(on_cpu)
        return (False, "this CPU has no AVX-512 BF16 or AMX") if on_cpu else (True, "")

    monkeypatch.setattr(hardware, "native_bf16", native)
    monkeypatch.setattr(hardware, "has_accelerator", lambda: False)
    line = hardware.machine_summary()
    assert f"{os.cpu_count()} cores" in line and hardware.cpu_model() in line
    assert line.endswith("bf16: auto -> fp32 (this CPU has no AVX-512 BF16 or AMX)")
    monkeypatch.setattr(hardware, "has_accelerator", lambda: True)  # a GPU machine asks about the GPU
    assert hardware.machine_summary().endswith("bf16: auto -> bf16")
    assert asked == [True, False]
