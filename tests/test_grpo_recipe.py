"""recipes/grpo.py on a tiny model: weighted reward funcs (RM folder + length), knob aliases, frozen RM/ref."""

from __future__ import annotations

import json
import math

import torch
from datasets import Dataset
from test_reward_recipe import load_recipe, write_config


def run_grpo(tmp_path, model_dir, monkeypatch, section: str, n_prompts: int = 8):
    """recipes/grpo.py's main on ``n_prompts`` short prompts with the grpo ``section`` (YAML); returns its
    metrics and the trainer."""
    from rlhf_trl import data

    prompts = Dataset.from_list(
        [{"prompt": [{"role": "user", "content": f"Say {i}."}]} for i in range(n_prompts)]
    )
    monkeypatch.setitem(vars(data), "load_prompts", lambda _args, split: prompts)
    recipe = load_recipe("grpo")
    captured = {}
    original = recipe.train_summary
    monkeypatch.setattr(recipe, "train_summary", lambda r, t: captured.update(trainer=t) or original(r, t))
    metrics = recipe.main(["--config", write_config(tmp_path, model_dir, "grpo", section)])
    return metrics, captured["trainer"]


def test_grpo_recipe_tiny(tiny_model_dir, tmp_path, monkeypatch, capsys):
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    rm_dir = tmp_path / "rm"
    torch.manual_seed(1)
    AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1).save_pretrained(rm_dir)
    rm_start = AutoModelForSequenceClassification.from_pretrained(rm_dir).state_dict()
    start = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(rm_dir)
    metrics, trainer = run_grpo(
        tmp_path,
        tiny_model_dir,
        monkeypatch,
        f"""
reward_funcs: [{rm_dir}, length]
reward_weights: [1.0, 0.5]
group_size: 2
kl_coef: 0.1
clip_ratio: 0.3
ppo_epochs: 1
max_steps: 2
per_device_train_batch_size: 4
max_completion_length: 8
learning_rate: 1.0e-2
logging_steps: 1
save_strategy: "no"
report_to: none
""",
    )
    cfg = trainer.args
    assert (cfg.num_generations, cfg.beta, cfg.epsilon, cfg.num_iterations) == (2, 0.1, 0.3, 1)
    assert math.isfinite(metrics["train_loss"]) and math.isfinite(metrics["reward_mean"])

    for name, param in trainer.model.named_parameters():
        assert not torch.equal(param.detach().cpu(), start[name]), f"{name} did not change"
    for name, value in trainer.ref_model.state_dict().items():
        assert torch.equal(value.cpu(), start[name]), f"reference {name} changed"
    scorer = trainer.reward_funcs[0].func.func  # TokenCountingReward(FiniteReward(scorer))
    for name, value in scorer.model.state_dict().items():
        assert torch.equal(value.cpu(), rm_start[name]), f"reward model {name} changed"

    out = tmp_path / "run" / "checkpoints" / "grpo"
    saved = json.loads((out / "metrics.json").read_text())
    # 2 steps x 4 completions x <= 8 tokens each
    assert 0 < saved["tokens_generated"] <= 2 * 4 * 8
    assert saved["reward_weights"] == [1.0, 0.5]
    AutoModelForCausalLM.from_pretrained(out)
    # one compact line per logging step (rlhf_trl.progress), not TRL's raw metric dict
    printed = capsys.readouterr()
    assert "[grpo] step 1/2  reward " in printed.out and "[grpo] step 2/2  reward " in printed.out
    assert "{'loss'" not in printed.out + printed.err and "'clip_ratio" not in printed.out + printed.err


def test_grpo_turns_off_llama_attention_dropout(tiny_model_dir_attention_dropout, tmp_path, monkeypatch):
    """With disable_dropout (TRL's GRPO default: false) the policy trains without the attention dropout that
    TRL's own pass misses, as in tests/test_dpo_recipe.py."""
    from conftest import attention_dropout_rates

    _, trainer = run_grpo(
        tmp_path,
        tiny_model_dir_attention_dropout,
        monkeypatch,
        """
reward_funcs: [length]
disable_dropout: true
group_size: 2
max_steps: 1
per_device_train_batch_size: 2
max_completion_length: 4
save_strategy: "no"
report_to: none
""",
        n_prompts=4,
    )
    assert attention_dropout_rates(trainer.model) == {0.0}
