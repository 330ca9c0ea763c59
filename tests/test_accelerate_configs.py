"""Every launch config is a valid accelerate config, and the CPU one really starts 2 processes over gloo."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted((ROOT / "accelerate_configs").glob("*.yaml"))
EXPECTED = {"single_gpu", "multi_gpu", "deepspeed_zero2", "deepspeed_zero3", "fsdp", "cpu_2proc"}


def test_all_expected_configs_exist():
    assert {f.stem for f in FILES} == EXPECTED


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_is_valid_accelerate_config(path):
    from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file

    config = load_config_from_file(str(path))
    assert isinstance(config, ClusterConfig)
    assert config.num_processes >= 1
    assert config.compute_environment.value == "LOCAL_MACHINE"


PROBE = """
import os, torch
from rlhf_trl.config import parse_recipe_args
parse_recipe_args("evaluation", [])  # sets ACCELERATE_USE_CPU under a multi-process launch without CUDA
from accelerate import Accelerator
acc = Accelerator()
total = acc.reduce(torch.tensor([acc.process_index + 1.0]), "sum").item()
print(f"RANK {acc.process_index} OF {acc.num_processes} TOTAL {total}", flush=True)
"""


@pytest.mark.slow
def test_cpu_2proc_config_starts_two_ranks_over_gloo(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    accelerate = Path(sys.executable).with_name("accelerate")
    proc = subprocess.run(
        [
            str(accelerate),
            "launch",
            "--config_file",
            str(ROOT / "accelerate_configs" / "cpu_2proc.yaml"),
            "--main_process_port",
            "29531",
            str(script),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    # Both ranks print to the same pipe: their lines may interleave, so match records, not lines.
    records = sorted(re.findall(r"RANK \d+ OF \d+ TOTAL [\d.]+", proc.stdout))
    assert records == ["RANK 0 OF 2 TOTAL 3.0", "RANK 1 OF 2 TOTAL 3.0"]
