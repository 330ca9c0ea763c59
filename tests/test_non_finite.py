"""A NaN/inf loss, reward or gradient stops a recipe with one line naming the step and the value (exit 3),
before the value reaches the weights, and nothing is saved after it (no final model, no metrics.json,
no checkpoint of the bad step)."""

from __future__ import annotations

import math

import pytest
import torch
from test_reward_recipe import TINY_TRAINING, load_recipe, tiny_splits, write_config

from rlhf_trl.errors import EXIT_NON_FINITE, run_cli

CALLS = {"n": 0}


def nan_on_second_call(prompts, completions, **kwargs):
    """A reward (dotted path test_non_finite:nan_on_second_call): finite, then NaN for the 2nd completion."""
    CALLS["n"] += 1
    values = [float(len(str(c))) / 100 for c in completions]
    if CALLS["n"] == 2:
        values[1] = float("nan")
    return values


@pytest.fixture(autouse=True)
def reset_calls():
    CALLS["n"] = 0


def run_failing(recipe, argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        run_cli(recipe.main, argv)
    stderr = capsys.readouterr().err
    assert exit_.value.code == EXIT_NON_FINITE
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    return lines[0]


def assert_nothing_saved(out, bad_step: int):
    assert not (out / "metrics.json").exists()
    assert not (out / "config.json").exists() and not (out / "model.safetensors").exists()
    assert not (out / f"checkpoint-{bad_step}").exists()


def all_finite(model) -> bool:
    return all(torch.isfinite(p).all() for p in model.parameters())


def capture_trainer(monkeypatch, cls, method: str, into: dict):
    original = getattr(cls, method)

    def wrapper(self, *args, **kwargs):
        into["trainer"] = self
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, method, wrapper)


@pytest.mark.parametrize("where", ["loss_and_gradient", "logged_loss_only"])
def test_dpo_nan_loss_stops_at_the_step(tiny_model_dir, tmp_path, monkeypatch, capsys, where):
    from rlhf_trl import data
    from rlhf_trl.losses import PreferenceLossDPOTrainer

    monkeypatch.setitem(vars(data), "load_preference_splits", lambda _args: tiny_splits())
    seen = {}
    original = PreferenceLossDPOTrainer.compute_loss

    def compute_loss(self, model, inputs, *args, **kwargs):
        seen["trainer"] = self
        loss = original(self, model, inputs, *args, **kwargs)
        if model.training and self.state.global_step == 1:  # the 2nd optimizer step
            # NaN through the graph (NaN gradients) or a NaN constant (finite gradients, NaN logged loss)
            loss = loss * float("nan") if where == "loss_and_gradient" else loss + float("nan")
        return loss

    monkeypatch.setattr(PreferenceLossDPOTrainer, "compute_loss", compute_loss)
    body = TINY_TRAINING.replace('save_strategy: "no"', "save_strategy: steps\nsave_steps: 1").replace(
        "max_steps: 2", "max_steps: 3"
    )
    config = write_config(tmp_path, tiny_model_dir, "dpo", body + "per_device_train_batch_size: 2\n")
    line = run_failing(load_recipe("dpo"), ["--config", config], capsys)

    expected = (
        "step 2: gradient norm is nan" if where == "loss_and_gradient" else "step 2: logged loss is nan"
    )
    assert line.startswith(f"error: {expected}; training stopped"), line
    out = tmp_path / "run" / "checkpoints" / "dpo"
    assert (out / "checkpoint-1").is_dir()  # the good step before it is kept
    assert_nothing_saved(out, bad_step=2)
    assert all_finite(seen["trainer"].model)  # the NaN never reached the weights


def test_grpo_nan_reward_stops_at_the_step(tiny_model_dir, tmp_path, monkeypatch, capsys):
    from datasets import Dataset

    from rlhf_trl import data

    prompts = Dataset.from_list([{"prompt": [{"role": "user", "content": f"Say {i}."}]} for i in range(8)])
    monkeypatch.setitem(vars(data), "load_prompts", lambda _args, split: prompts)
    config = write_config(
        tmp_path,
        tiny_model_dir,
        "grpo",
        "reward_funcs: [test_non_finite:nan_on_second_call]\ngroup_size: 2\nmax_steps: 3\n"
        'per_device_train_batch_size: 4\nmax_completion_length: 4\nlogging_steps: 1\nsave_strategy: "no"\n'
        "report_to: none\n",
    )
    line = run_failing(load_recipe("grpo"), ["--config", config], capsys)
    assert line.startswith("error: step 2: reward nan_on_second_call returned nan for completion 1"), line
    assert_nothing_saved(tmp_path / "run" / "checkpoints" / "grpo", bad_step=2)


PPO_SECTION = """
max_steps: 3
per_device_train_batch_size: 2
response_length: 4
max_prompt_length: 64
ppo_epochs: 1
save_strategy: steps
save_steps: 1
report_to: none
disable_tqdm: true
"""


def run_ppo(tmp_path, tiny_model_dir, monkeypatch, capsys, reward: str) -> tuple[str, dict]:
    from rlhf_trl.ppo.trainer import PPOTrainer

    seen: dict = {}
    capture_trainer(monkeypatch, PPOTrainer, "train", seen)
    config = write_config(tmp_path, tiny_model_dir, "ppo", f"reward_funcs: [{reward}]\n" + PPO_SECTION)
    argv = ["--config", config, "--dataset_name", "bundled", "--max_train_samples", "8"]
    return run_failing(load_recipe("ppo"), argv, capsys), seen


def test_ppo_nan_reward_stops_at_the_step(tiny_model_dir, tmp_path, monkeypatch, capsys):
    line, seen = run_ppo(tmp_path, tiny_model_dir, monkeypatch, capsys, "test_non_finite:nan_on_second_call")
    assert line.startswith("error: step 2: reward is nan (response 1 of 2); training stopped"), line
    out = tmp_path / "run" / "checkpoints" / "ppo"
    assert (out / "checkpoint-1").is_dir()
    assert_nothing_saved(out, bad_step=2)
    assert all_finite(seen["trainer"].model)


def test_ppo_nan_loss_stops_before_the_optimizer_step(tiny_model_dir, tmp_path, monkeypatch, capsys):
    from rlhf_trl.ppo import core

    original = core.value_loss
    calls = {"n": 0}

    def value_loss(*args, **kwargs):  # NaN in the 2nd update's loss (one minibatch, one epoch per update)
        calls["n"] += 1
        loss, stats = original(*args, **kwargs)
        return (loss * math.nan if calls["n"] == 2 else loss), stats

    monkeypatch.setattr(core, "value_loss", value_loss)
    line, seen = run_ppo(tmp_path, tiny_model_dir, monkeypatch, capsys, "length")
    assert line.startswith("error: step 2: loss is nan; training stopped"), line
    assert_nothing_saved(tmp_path / "run" / "checkpoints" / "ppo", bad_step=2)
    assert all_finite(seen["trainer"].model)
