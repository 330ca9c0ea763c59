"""recipes/reward.py on a tiny model: trains, params move, checkpoint loads, test report is sane."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch
from datasets import Dataset, DatasetDict

ROOT = Path(__file__).resolve().parents[1]


# The training section every tiny recipe test starts from.
TINY_TRAINING = """
max_steps: 2
per_device_train_batch_size: 4
per_device_eval_batch_size: 4
learning_rate: 1.0e-2
max_length: 64
logging_steps: 1
save_strategy: "no"
report_to: none
"""


def load_recipe(name: str):
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", ROOT / "recipes" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def preference_rows(n: int) -> list[dict]:
    """Chosen = short helpful answer, rejected = rambling one: learnable even by a tiny model."""
    rows = []
    for i in range(n):
        q = f"What is {i} plus {i}?"
        rows.append(
            {
                "prompt": [{"role": "user", "content": q}],
                "chosen": [{"role": "assistant", "content": f"It is {2 * i}."}],
                "rejected": [{"role": "assistant", "content": "well " * (3 + i % 5) + "I do not know."}],
            }
        )
    return rows


def tiny_splits(n_train=8, n_test=6) -> DatasetDict:
    rows = preference_rows(n_train + n_test)
    return DatasetDict(train=Dataset.from_list(rows[:n_train]), test=Dataset.from_list(rows[n_train:]))


def write_config(tmp_path, model_dir, section: str, body: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"run_dir: {tmp_path / 'run'}\nmodel_name_or_path: {model_dir}\nseed: 0\n{section}:\n"
        + "".join(f"  {line}\n" for line in body.strip().splitlines())
    )
    return str(path)


def test_reward_recipe_tiny(tiny_model_dir, tmp_path, monkeypatch):
    from rlhf_trl import data

    monkeypatch.setitem(vars(data), "load_preference_splits", lambda _args: tiny_splits())
    recipe = load_recipe("reward")
    captured = {}
    original = recipe.train_summary
    monkeypatch.setattr(
        recipe, "train_summary", lambda r, t: captured.setdefault("trainer", t) and original(r, t)
    )
    config = write_config(
        tmp_path,
        tiny_model_dir,
        "reward",
        """
max_steps: 3
per_device_train_batch_size: 4
per_device_eval_batch_size: 4
learning_rate: 1.0e-2
max_length: 64
logging_steps: 1
save_strategy: "no"
report_to: tensorboard
""",
    )
    metrics = recipe.main(["--config", config])

    out = tmp_path / "run" / "checkpoints" / "reward"
    saved = json.loads((out / "metrics.json").read_text())
    for key in (
        "stage",
        "train_runtime_s",
        "peak_rss_mb",
        "tokens_generated",
        "test/accuracy",
        "test/mean_margin",
        "test/reward_length_corr",
        "test/accuracy_by_length/chosen_shorter",
        "test/bag_of_words_accuracy",
    ):
        assert key in saved, key
    assert saved["test/bag_of_words_test_pairs"] == 6
    assert saved["stage"] == "reward" and saved["tokens_generated"] == 0
    assert math.isfinite(metrics["train_loss"])
    assert saved["test/num_pairs"] == 6
    assert (
        saved["test/count_by_length/similar"]
        + saved["test/count_by_length/chosen_longer"]
        + saved["test/count_by_length/chosen_shorter"]
        == 6
    )
    assert any((tmp_path / "run" / "logs" / "reward").rglob("events.out.tfevents*"))

    # every backbone parameter moved away from the starting LM; the new head is finite
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    start = AutoModelForCausalLM.from_pretrained(tiny_model_dir).model.state_dict()
    trained = AutoModelForSequenceClassification.from_pretrained(out)
    for name, value in trained.model.state_dict().items():
        assert not torch.equal(value, start[name]), f"{name} did not change"
    assert torch.isfinite(trained.score.weight).all()
    assert trained.config.num_labels == 1

    # the trained model, scored at the last real token, matches the recipe's own report
    from rlhf_trl.rewards import RewardModelScorer, preference_report

    again = preference_report(RewardModelScorer.from_pretrained(str(out)), tiny_splits()["test"])
    assert again["accuracy"] == pytest.approx(saved["test/accuracy"])
