"""The evaluation harness end to end on tiny random policies in a fake run folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

PROMPTS = [
    [{"role": "user", "content": "How do I boil an egg?"}],
    [{"role": "user", "content": "Name a colour."}],
    [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Tell me a fact."},
    ],
    [{"role": "user", "content": "What is 2 + 2?"}],
    [{"role": "user", "content": "Write one word."}],
]


def toy_gold(prompt_messages, response) -> float:
    """A stand-in rubric: prefers responses of about 20 characters."""
    return -abs(len(response) - 20) / 20.0


@pytest.fixture
def fake_gold(monkeypatch):
    import rlhf_trl.data as data

    monkeypatch.setattr(data, "gold_score", toy_gold, raising=False)
    monkeypatch.setattr(data, "has_gold", lambda data_args: True, raising=False)


def make_perturbed_copy(src: str, dst: Path, scale: float = 0.5) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(src)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn_like(p))
    model.save_pretrained(dst)
    AutoTokenizer.from_pretrained(src).save_pretrained(dst)


def make_reward_model(src: str, dst: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoTokenizer, LlamaForSequenceClassification

    config = AutoConfig.from_pretrained(src)
    config.num_labels = 1
    torch.manual_seed(2)
    LlamaForSequenceClassification(config).save_pretrained(dst)
    AutoTokenizer.from_pretrained(src).save_pretrained(dst)


def write_config(tmp_path: Path, model: str, extra: str = "") -> Path:
    cfg = tmp_path / "eval.yaml"
    cfg.write_text(
        f"run_dir: {tmp_path / 'run'}\nmodel_name_or_path: {model}\nseed: 7\n"
        "evaluation:\n  max_new_tokens: 8\n  batch_size: 2\n  bootstrap_samples: 200\n"
        "  judges: [reward_model, gold]\n" + extra
    )
    return cfg


@pytest.mark.slow
def test_harness_end_to_end(tiny_model_dir, tmp_path, fake_gold):
    from rlhf_trl.config import parse_recipe_args
    from rlhf_trl.evaluation.harness import evaluate

    ckpt = tmp_path / "run" / "checkpoints"
    shutil.copytree(tiny_model_dir, ckpt / "ppo")  # identical to the reference
    make_perturbed_copy(tiny_model_dir, ckpt / "dpo")
    make_reward_model(tiny_model_dir, ckpt / "reward")
    cfg = write_config(tmp_path, tiny_model_dir)

    metrics = evaluate(parse_recipe_args("evaluation", ["--config", str(cfg)]), prompts=PROMPTS)

    out = tmp_path / "run" / "evaluation"
    assert set(metrics["models"]) == {"reference", "ppo", "dpo"}
    ppo, dpo = metrics["models"]["ppo"], metrics["models"]["dpo"]
    # identical policy: identical samples (same seeds), KL 0, every judgement a tie
    assert abs(ppo["metrics"]["kl"]["mean"]) < 1e-4
    for judge in ("reward_model", "gold"):
        assert ppo["win_rate"][judge]["win_rate"] == 0.5
        assert ppo["win_rate"][judge]["ties"] == len(PROMPTS)
    # a different policy: positive mean KL on its own samples
    assert dpo["metrics"]["kl"]["mean"] > 0.01
    assert set(dpo["metrics"]) >= {
        "proxy_reward",
        "gold_score",
        "kl",
        "length_tokens",
        "eos_rate",
        "distinct_1",
        "distinct_2",
    }
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk["models"]["dpo"]["win_rate"]["gold"]["n"] == len(PROMPTS)
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(records) == 3 * len(PROMPTS)
    ref = {r["prompt_id"]: r["response"] for r in records if r["model"] == "reference"}
    assert all(r["response"] == ref[r["prompt_id"]] for r in records if r["model"] == "ppo")
    assert "## Prompt 0" in (out / "side_by_side.md").read_text()
    assert "| dpo |" in (out / "report.md").read_text()
    for png in ("reward_vs_kl.png", "reward_distributions.png", "win_rates.png"):
        assert (out / png).stat().st_size > 1000


@pytest.mark.slow
def test_harness_uses_cache_unless_recompute(tiny_model_dir, tmp_path, fake_gold, monkeypatch):
    from rlhf_trl.config import parse_recipe_args
    from rlhf_trl.evaluation import harness

    shutil.copytree(tiny_model_dir, tmp_path / "run" / "checkpoints" / "grpo")
    cfg = write_config(tmp_path, tiny_model_dir)
    harness.evaluate(parse_recipe_args("evaluation", ["--config", str(cfg)]), prompts=PROMPTS[:2])

    calls = []
    real = harness.sample_model
    monkeypatch.setattr(harness, "sample_model", lambda *a, **k: calls.append(k["desc"]) or real(*a, **k))
    metrics = harness.evaluate(parse_recipe_args("evaluation", ["--config", str(cfg)]), prompts=PROMPTS[:2])
    assert calls == []
    assert "reward_model judge skipped" in " ".join(metrics["notes"])
    harness.evaluate(
        parse_recipe_args("evaluation", ["--config", str(cfg), "--recompute"]), prompts=PROMPTS[:2]
    )
    assert calls == ["sample reference", "sample grpo"]


@pytest.mark.slow
def test_harness_http_judge_flags_reuse_cached_samples(tiny_model_dir, tmp_path, fake_gold, monkeypatch):
    from test_judges import JudgeServer

    from rlhf_trl.config import parse_recipe_args
    from rlhf_trl.evaluation import harness

    shutil.copytree(tiny_model_dir, tmp_path / "run" / "checkpoints" / "dpo")
    cfg = write_config(tmp_path, tiny_model_dir)
    harness.evaluate(parse_recipe_args("evaluation", ["--config", str(cfg)]), prompts=PROMPTS[:3])
    monkeypatch.setattr(harness, "sample_model", lambda *a, **k: pytest.fail("samples should be cached"))
    with JudgeServer() as server:
        argv = ["--config", str(cfg), "--judges", "gold", "http", "--judge-base-url", server.url]
        metrics = harness.evaluate(parse_recipe_args("evaluation", argv), prompts=PROMPTS[:3])
    http = metrics["models"]["dpo"]["win_rate"]["http"]
    assert http["n"] == 3 and http["ties"] == 3  # identical answers: the server says A both times -> tie
    assert len(server.requests) == 6
