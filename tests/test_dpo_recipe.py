"""recipes/dpo.py on a tiny model: built-in loss, R-DPO hook, LoRA; reference stays bit-identical."""

from __future__ import annotations

import json
import math

import pytest
import torch
from test_reward_recipe import TINY_TRAINING as BASE
from test_reward_recipe import load_recipe, tiny_splits, write_config


def run_dpo(tmp_path, model_dir, monkeypatch, extra="", cli=()):
    from rlhf_trl import data

    monkeypatch.setitem(vars(data), "load_preference_splits", lambda _args: tiny_splits())
    recipe = load_recipe("dpo")
    captured = {}
    original = recipe.train_summary

    def capture(result, trainer):
        captured["trainer"] = trainer
        return original(result, trainer)

    monkeypatch.setattr(recipe, "train_summary", capture)
    config = write_config(tmp_path, model_dir, "dpo", BASE + extra)
    metrics = recipe.main(["--config", config, *cli])
    return metrics, captured["trainer"], tmp_path / "run" / "checkpoints" / "dpo"


def assert_all_changed(model, start_state, names=None):
    for name, param in model.named_parameters():
        if param.requires_grad and (names is None or name in names):
            assert not torch.equal(param.detach().cpu(), start_state[name]), f"{name} did not change"


@pytest.mark.parametrize("loss", ["sigmoid", "rdpo"])
def test_dpo_full_finetune(tiny_model_dir, tmp_path, monkeypatch, loss):
    from transformers import AutoModelForCausalLM

    start = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    extra = "preference_loss: rdpo\npreference_loss_kwargs: {alpha: 0.05}\n" if loss == "rdpo" else ""
    metrics, trainer, out = run_dpo(tmp_path, tiny_model_dir, monkeypatch, extra)

    assert math.isfinite(metrics["train_loss"])
    assert_all_changed(trainer.model, start)
    for name, value in trainer.ref_model.state_dict().items():  # reference frozen, bit-identical
        assert torch.equal(value.cpu(), start[name]), name
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["preference_loss"] == ("rdpo" if loss == "rdpo" else "sigmoid")
    assert 0.0 <= saved["test/rewards/accuracies"] <= 1.0 and math.isfinite(saved["test/rewards/margins"])
    reloaded = AutoModelForCausalLM.from_pretrained(out)
    assert torch.equal(reloaded.lm_head.weight, trainer.model.lm_head.weight.detach().cpu())
    if loss == "rdpo":
        logged = [h for h in trainer.state.log_history if "length/chosen_minus_rejected" in h]
        assert logged, "the custom-loss path did not run"


def test_dpo_rdpo_hook_loss_matches_closed_form(tiny_model_dir, tmp_path, monkeypatch):
    """One step's logged loss equals R-DPO on the trainer's own log-probs (alpha makes a difference)."""
    metrics, trainer, _ = run_dpo(
        tmp_path,
        tiny_model_dir,
        monkeypatch,
        "preference_loss: rdpo\npreference_loss_kwargs: {alpha: 0.5}\n",
        cli=["--max_steps", "1", "--learning_rate", "1e-12", "--per_device_train_batch_size", "8"],
    )
    first = next(h for h in trainer.state.log_history if "loss" in h)
    # policy == reference at the first step, so the DPO margin is 0 and the loss is mean(-log σ(α Δlen))
    # over the one batch holding all 8 train pairs (Δlen in response tokens)
    from rlhf_trl.models import load_tokenizer

    tok = load_tokenizer(tiny_model_dir)
    rows = tiny_splits()["train"]
    tpl = lambda r, k: tok.apply_chat_template(r["prompt"] + r[k], tokenize=False)  # noqa: E731
    dlen = [len(tok(tpl(r, "chosen"))["input_ids"]) - len(tok(tpl(r, "rejected"))["input_ids"]) for r in rows]
    assert all(d != 0 for d in dlen)
    want = sum(math.log1p(math.exp(-0.5 * d)) for d in dlen) / len(dlen)
    assert first["loss"] == pytest.approx(want, rel=1e-3)
    assert abs(want - math.log(2)) > 0.5  # alpha matters: plain DPO would log ln 2


def test_dpo_lora_reference_is_adapter_disabled_base(tiny_model_dir, tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM

    start = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    metrics, trainer, out = run_dpo(
        tmp_path,
        tiny_model_dir,
        monkeypatch,
        cli=["--use_peft", "true", "--lora_r", "4", "--lora_target_modules", "q_proj", "v_proj"],
    )
    assert trainer.ref_model is None and math.isfinite(metrics["train_loss"])
    assert hasattr(trainer.model, "peft_config")  # trained as a PeftModel; saved merged (no adapter files)
    assert not (out / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(out).state_dict()  # only the adapted modules moved
    assert not torch.equal(
        merged["model.layers.0.self_attn.q_proj.weight"], start["model.layers.0.self_attn.q_proj.weight"]
    )
    assert torch.equal(
        merged["model.layers.0.mlp.up_proj.weight"], start["model.layers.0.mlp.up_proj.weight"]
    )


def test_dpo_turns_off_llama_attention_dropout(tiny_model_dir_attention_dropout, tmp_path, monkeypatch):
    """disable_dropout (TRL's default true) must also reach Llama-style attention dropout, which TRL's own
    pass leaves at its configured rate."""
    from conftest import attention_dropout_rates
    from transformers import AutoModelForCausalLM

    assert attention_dropout_rates(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir_attention_dropout)
    ) == {0.5}
    _, trainer, _ = run_dpo(tmp_path, tiny_model_dir_attention_dropout, monkeypatch)
    assert attention_dropout_rates(trainer.model) == {0.0}
