"""A recipe under 2 processes on CPU (DDP over gloo) through accelerate_configs/cpu_2proc.yaml:
both ranks train, on disjoint data, and the run saves one loadable model."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_accelerate_configs import launch_cpu_2proc

ROOT = Path(__file__).resolve().parents[1]

# Runs in each process: record what every training micro-batch contains, then run the recipe as is.
WRAPPER = """
import hashlib, importlib.util, os, sys
import torch, trl

out = os.environ["RECORD_DIR"]
original = trl.RewardTrainer.compute_loss

def compute_loss(self, model, inputs, *args, **kwargs):
    if model.training:
        rank = self.accelerator.process_index
        ids = inputs["input_ids"]
        half = ids.shape[0] // 2  # RewardTrainer stacks chosen rows, then rejected rows
        with open(os.path.join(out, f"rank{rank}.txt"), "a") as f:
            for row, mask in zip(ids[:half], inputs["attention_mask"][:half]):
                # Hash the real tokens only: the same pair padded differently must hash the same.
                digest = hashlib.sha1(row[mask.bool()].numpy().tobytes()).hexdigest()
                f.write(f"{self.accelerator.num_processes} {digest}\\n")
    return original(self, model, inputs, *args, **kwargs)

trl.RewardTrainer.compute_loss = compute_loss
spec = importlib.util.spec_from_file_location("reward_recipe", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from rlhf_trl.errors import run_cli
run_cli(module.main, sys.argv[2:])
"""

CONFIG = """
run_dir: {run_dir}
model_name_or_path: {model}
dataset_name: bundled
max_train_samples: 16
max_test_samples: 4
seed: 0
reward: {{max_steps: 2, per_device_train_batch_size: 2, per_device_eval_batch_size: 4, max_length: 128, save_strategy: "no", report_to: none}}
"""


@pytest.mark.slow
def test_reward_recipe_under_two_processes_trains_on_disjoint_data(tmp_path, tiny_model_dir):
    import os

    wrapper = tmp_path / "wrapper.py"
    wrapper.write_text(WRAPPER)
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(run_dir=tmp_path / "run", model=tiny_model_dir))
    record = tmp_path / "record"
    record.mkdir()
    proc = launch_cpu_2proc(
        [str(wrapper), str(ROOT / "recipes" / "reward.py"), "--config", str(config)],
        timeout=600,
        env=dict(os.environ, RECORD_DIR=str(record), HF_HUB_OFFLINE="1"),
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    seen = {}
    for rank in (0, 1):
        lines = (record / f"rank{rank}.txt").read_text().split()
        assert set(lines[0::2]) == {"2"}  # each process knew it was one of two
        seen[rank] = lines[1::2]
    # 2 steps x 2 pairs on each rank, no pair on both ranks: the sampler sharded the data.
    assert len(seen[0]) == len(seen[1]) == 4
    assert not set(seen[0]) & set(seen[1])
    out = tmp_path / "run" / "checkpoints" / "reward"
    assert (out / "metrics.json").is_file() and (out / "config.json").is_file()
