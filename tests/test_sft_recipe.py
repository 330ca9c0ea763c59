"""recipes/sft.py on a tiny model, and one recipe end to end on the embedded model (slow)."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch
from test_reward_recipe import TINY_TRAINING, load_recipe, tiny_splits, write_config


def test_sft_recipe_tiny(tiny_model_dir, tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM

    from rlhf_trl import data

    monkeypatch.setitem(vars(data), "load_preference_splits", lambda _args: tiny_splits())
    start = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    recipe = load_recipe("sft")
    config = write_config(tmp_path, tiny_model_dir, "sft", TINY_TRAINING)
    metrics = recipe.main(["--config", config])
    assert math.isfinite(metrics["train_loss"]) and math.isfinite(metrics["test/loss"])
    out = tmp_path / "run" / "checkpoints" / "sft"
    trained = AutoModelForCausalLM.from_pretrained(out).state_dict()
    for name, value in trained.items():
        assert not torch.equal(value, start[name]), f"{name} did not change"
    assert json.loads((out / "metrics.json").read_text())["stage"] == "sft"


@pytest.mark.slow
def test_dpo_end_to_end_on_embedded_model(tmp_path):
    """recipes/dpo.py through main() on the embedded SmolLM2 and the bundled data (a few minutes)."""
    pytest.importorskip("rlhf_trl.data.loaders")
    recipe = load_recipe("dpo")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    metrics = recipe.main(
        [
            "--config",
            "recipes/configs/demo.yaml",
            "--run_dir",
            str(tmp_path / "run"),
            "--max_steps",
            "2",
            "--max_train_samples",
            "8",
            "--max_test_samples",
            "8",
        ]
    )
    assert math.isfinite(metrics["train_loss"])
    saved = json.loads((tmp_path / "run" / "checkpoints" / "dpo" / "metrics.json").read_text())
    assert 0.0 <= saved["test/rewards/accuracies"] <= 1.0
    from rlhf_trl.hardware import native_bf16

    assert saved["bf16"] is native_bf16(on_cpu=True)[0]  # demo.yaml's `bf16: auto` on this CPU, as recorded
