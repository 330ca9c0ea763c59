"""recipes/ppo.py end to end on the tiny model (gold reward), and PPOConfig validation."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("gamma", 1.5, "gamma"),
        ("lam", -0.1, "lam"),
        ("ppo_epochs", 0, "ppo_epochs"),
        ("temperature", 0.0, "temperature"),
        ("kl_estimator", "k2", "kl_estimator"),
        ("clip_ratio", 0.0, "clip_ratio"),
        ("num_mini_batches", 0, "num_mini_batches"),
    ],
)
def test_config_rejects_bad_values(field, value, message, tmp_path):
    from rlhf_trl.ppo import PPOConfig

    with pytest.raises(ValueError, match=message):
        PPOConfig(output_dir=str(tmp_path), **{field: value})


def test_batch_arithmetic(tmp_path):
    from rlhf_trl.ppo import PPOConfig

    cfg = PPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=2,
        gradient_accumulation_steps=3,
        num_mini_batches=2,
    )
    assert (cfg.mini_batch_size, cfg.rollout_batch_size) == (6, 12)


def test_recipe_runs_and_saves_policy_and_critic(tiny_model_dir, tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "recipes"))
    try:
        import ppo as recipe
    finally:
        sys.path.pop(0)
    run = tmp_path / "run"
    metrics = recipe.main(
        [
            "--config",
            str(ROOT / "recipes/configs/demo.yaml"),
            "--run_dir",
            str(run),
            "--model_name_or_path",
            tiny_model_dir,
            "--reward_funcs",
            "gold",
            "--max_steps",
            "2",
            "--response_length",
            "4",
            "--max_prompt_length",
            "64",
            "--disable_tqdm",
            "true",
        ]
    )
    out = run / "checkpoints" / "ppo"
    saved = json.loads((out / "metrics.json").read_text())
    for key in (
        "stage",
        "train_runtime_s",
        "peak_rss_mb",
        "tokens_generated",
        "objective/kl",
        "objective/scores",
    ):
        assert key in saved, key
    assert saved["stage"] == "ppo" and saved["tokens_generated"] == metrics["tokens_generated"] > 0
    assert saved["updates"] == saved["global_step"] == 2 and "resumed_at_step" not in saved
    assert saved["seconds_per_step"] == pytest.approx(saved["trainer_runtime_s"] / 2, abs=1e-3)
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    AutoModelForCausalLM.from_pretrained(out)
    AutoModelForSequenceClassification.from_pretrained(out / "value_model")
    assert list((run / "logs" / "ppo").glob("events.out.tfevents*"))
    # --disable_tqdm: one compact line per update (rlhf_trl.progress), not the raw metric dict
    printed = capsys.readouterr().out
    assert "[ppo] step 1/2  score " in printed and "[ppo] step 2/2  score " in printed
    assert "objective/" not in printed
