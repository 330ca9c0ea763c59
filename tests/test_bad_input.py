"""Bad input, as a user meets it: each mistake stops the recipe CLI with one `error:` line that says what,
where (file:line or flag) and what would be right, exit code 2, no traceback, and nothing written to run_dir.

Most cases call the recipe's `main` through `run_cli` in this process (what `python recipes/X.py` does);
a few run the real script in a subprocess to prove the same holds end to end.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_reward_recipe import load_recipe

from rlhf_trl.errors import EXIT_USER_ERROR, run_cli

ROOT = Path(__file__).resolve().parents[1]

# The smallest valid section of each recipe; a case adds or overrides keys.
SECTIONS = {
    "reward": "max_steps: 1\nper_device_train_batch_size: 2\nmax_length: 64\nreport_to: none\n",
    "sft": "max_steps: 1\nper_device_train_batch_size: 2\nmax_length: 64\nreport_to: none\n",
    "dpo": "max_steps: 1\nper_device_train_batch_size: 2\nmax_length: 64\nreport_to: none\n",
    "grpo": "reward_funcs: [length]\ngroup_size: 2\nper_device_train_batch_size: 4\nmax_steps: 1\n"
    "max_completion_length: 4\nreport_to: none\n",
    "ppo": "reward_funcs: [length]\nper_device_train_batch_size: 2\nmax_steps: 1\nresponse_length: 4\n"
    "report_to: none\n",
}


def pair(i: int, same: bool = False) -> dict:
    good, bad = f"Answer {i}.", f"Answer {i}." if same else f"No idea {i}."
    return {
        "chosen": f"\n\nHuman: Q{i}?\n\nAssistant: {good}",
        "rejected": f"\n\nHuman: Q{i}?\n\nAssistant: {bad}",
    }


def jsonl(rows) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_model_dir):
    """Reward/value-model folders of the right and the wrong shape, all from the tiny Llama."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    root = tmp_path_factory.mktemp("models")
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    torch.manual_seed(0)

    def classifier(name, num_labels=1, tokenizer=tok, extra_vocab=0):
        model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=num_labels)
        if extra_vocab:
            model.resize_token_embeddings(len(tok) + extra_vocab)
        model.save_pretrained(root / name)
        if tokenizer is not None:
            tokenizer.save_pretrained(root / name)
        return str(root / name)

    other_tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    other_tok.add_tokens([f"<extra_{i}>" for i in range(8)])
    (root / "empty").mkdir()
    return {
        "policy": tiny_model_dir,
        "rm": classifier("rm"),
        "rm_two_labels": classifier("rm_two_labels", num_labels=2),
        "rm_other_tokenizer": classifier("rm_other_tokenizer", tokenizer=other_tok, extra_vocab=8),
        "rm_no_tokenizer_other_vocab": classifier(
            "rm_no_tokenizer_other_vocab", tokenizer=None, extra_vocab=8
        ),
        "empty": str(root / "empty"),
    }


def write_case(tmp_path, models, stage, top="", section="", data_rows=None) -> tuple[str, Path]:
    """Config (and data file) for one case; returns (config path, run_dir)."""
    run_dir = tmp_path / "run"
    data = "dataset_name: bundled\nmax_train_samples: 8\nmax_test_samples: 4\n"
    if data_rows is not None:
        (tmp_path / "pairs.jsonl").write_text(jsonl(data_rows))
        data = f"dataset_name: {tmp_path / 'pairs.jsonl'}\n"
    text = (
        f"run_dir: {run_dir}\nmodel_name_or_path: {models['policy']}\n{data}seed: 0\n{top.format(**models)}"
    )
    text += f"{stage}:\n" + "".join(
        f"  {line}\n" for line in (SECTIONS[stage] + section.format(**models)).splitlines()
    )
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return str(path), run_dir


GOOD = [pair(i) for i in range(40)]

# (id, stage, top-level YAML, section YAML (overrides), data rows or None for bundled, expected regex)
CASES = [
    # data
    (
        "malformed_jsonl",
        "dpo",
        "",
        "",
        [pair(0), '{"chosen": "x", "rejected": '],
        r"pairs\.jsonl:2: malformed JSON",
    ),
    (
        "missing_field",
        "reward",
        "",
        "",
        [pair(0), {"chosen": pair(1)["chosen"]}],
        r"pairs\.jsonl:2: missing field 'rejected'",
    ),
    (
        "non_string_field",
        "sft",
        "",
        "",
        [{"chosen": 3, "rejected": "x"}],
        r"pairs\.jsonl:1: field 'chosen' must be a string",
    ),
    (
        "empty_after_filtering",
        "dpo",
        "",
        "",
        [pair(i, same=True) for i in range(40)],
        r"only 0 of \d+ rows survived.*identical_final_replies",
    ),
    (
        "ppo_fewer_prompts_than_a_batch",
        "ppo",
        "max_train_samples: 3\n",
        "per_device_train_batch_size: 4\n",
        None,
        r"3 unique train prompts, but one PPO update needs 4",
    ),
    # config keys and types
    (
        "unknown_key",
        "dpo",
        "",
        "betta: 0.1\n",
        GOOD,
        r"cfg\.yaml:\d+: unknown key dpo\.betta \(did you mean 'beta'\?\)",
    ),
    (
        "unknown_top_key",
        "reward",
        "learning_rat: 0.1\n",
        "",
        GOOD,
        r"cfg\.yaml:\d+: unknown key 'learning_rat'",
    ),
    (
        "wrong_type",
        "reward",
        "",
        "learning_rate: fast\n",
        GOOD,
        r"cfg\.yaml:\d+: reward\.learning_rate: 'fast' is not a valid float",
    ),
    # invalid values, reported at the YAML line they came from
    (
        "learning_rate_zero",
        "sft",
        "",
        "learning_rate: 0\n",
        GOOD,
        r"cfg\.yaml:\d+: sft\.learning_rate: learning_rate must be > 0",
    ),
    (
        "learning_rate_negative",
        "ppo",
        "learning_rate: -1.0e-5\n",
        "",
        None,
        r"cfg\.yaml:\d+: learning_rate: learning_rate must be > 0",
    ),
    ("dpo_beta_zero", "dpo", "", "beta: 0\n", GOOD, r"cfg\.yaml:\d+: dpo\.beta: beta must be > 0"),
    (
        "grpo_temperature_zero",
        "grpo",
        "",
        "temperature: 0\n",
        None,
        r"cfg\.yaml:\d+: grpo\.temperature: temperature must be > 0",
    ),
    (
        "ppo_temperature_negative",
        "ppo",
        "",
        "temperature: -0.5\n",
        None,
        r"cfg\.yaml:\d+: ppo\.temperature: temperature=-0\.5 is invalid; allowed: > 0",
    ),
    (
        "ppo_gamma_above_one",
        "ppo",
        "",
        "gamma: 1.5\n",
        None,
        r"cfg\.yaml:\d+: ppo\.gamma: gamma=1\.5 is invalid; allowed: \[0, 1\]",
    ),
    (
        "ppo_lam_negative",
        "ppo",
        "",
        "lam: -0.1\n",
        None,
        r"cfg\.yaml:\d+: ppo\.lam: lam=-0\.1 is invalid; allowed: \[0, 1\]",
    ),
    (
        "ppo_epochs_zero",
        "ppo",
        "",
        "ppo_epochs: 0\n",
        None,
        r"cfg\.yaml:\d+: ppo\.ppo_epochs: ppo_epochs=0 is invalid; allowed: >= 1",
    ),
    (
        "ppo_mini_batches_zero",
        "ppo",
        "",
        "num_mini_batches: 0\n",
        None,
        r"cfg\.yaml:\d+: ppo\.num_mini_batches: num_mini_batches=0 is invalid",
    ),
    (
        "grpo_one_generation",
        "grpo",
        "",
        "group_size: 1\n",
        None,
        r"cfg\.yaml:\d+: grpo\.group_size: num_generations \(group_size\) must be >= 2",
    ),
    (
        "grpo_group_not_dividing_batch",
        "grpo",
        "",
        "group_size: 3\n",
        None,
        r"cfg\.yaml:\d+: grpo\.group_size: num_generations \(group_size\)=3 must divide the generation batch .* = 4 x 1 x 1 = 4",
    ),
    (
        "data_limit_zero",
        "dpo",
        "max_train_samples: 0\n",
        "",
        None,
        r"cfg\.yaml:\d+: max_train_samples: max_train_samples must be >= 1",
    ),
    # models
    (
        "missing_model_path",
        "reward",
        "model_name_or_path: /nonexistent/tiny-model\n",
        "",
        GOOD,
        r"cfg\.yaml:\d+: model_name_or_path: model path /nonexistent/tiny-model does not exist",
    ),
    (
        "model_folder_without_config",
        "dpo",
        "model_name_or_path: {empty}\n",
        "",
        GOOD,
        r"cfg\.yaml:\d+: model_name_or_path: .*empty is not a model folder \(no config\.json\)",
    ),
    (
        "reward_model_two_labels",
        "reward",
        "model_name_or_path: {rm_two_labels}\n",
        "",
        GOOD,
        r"num_labels=2; a reward/value model needs num_labels=1",
    ),
    (
        "grpo_reward_model_two_labels",
        "grpo",
        "",
        "reward_funcs: [{rm_two_labels}]\n",
        None,
        r"cfg\.yaml:\d+: grpo\.reward_funcs: .*rm_two_labels is a classifier with num_labels=2",
    ),
    (
        "ppo_reward_is_not_a_classifier",
        "ppo",
        "",
        "reward_funcs: [{policy}]\n",
        None,
        r"ppo\.reward_funcs: .* is not a reward model \(a LlamaForCausalLM, no score head\)",
    ),
    (
        "ppo_reward_model_not_trained_yet",
        "ppo",
        "",
        "reward_funcs: [reward_model]\n",
        None,
        r"ppo\.reward_funcs: reward 'reward_model' reads .*checkpoints/reward, which holds no model",
    ),
    (
        "ppo_value_model_two_labels",
        "ppo",
        "",
        "value_model_path: {rm_two_labels}\n",
        None,
        r"ppo\.value_model_path: .*num_labels=2",
    ),
    (
        "ppo_critic_other_tokenizer",
        "ppo",
        "",
        "reward_funcs: [{rm_other_tokenizer}]\n",
        None,
        r"ppo\.reward_funcs: PPO's critic starts from .*rm_other_tokenizer, whose tokenizer differs from the policy's",
    ),
    (
        "ppo_value_model_other_tokenizer",
        "ppo",
        "",
        "value_model_path: {rm_other_tokenizer}\n",
        None,
        r"ppo\.value_model_path: PPO's critic starts from .*tokenizer differs",
    ),
    (
        "grpo_reward_model_without_tokenizer",
        "grpo",
        "",
        "reward_funcs: [{rm_no_tokenizer_other_vocab}]\n",
        None,
        r"grpo\.reward_funcs: reward model .* has no tokenizer of its own and its vocabulary \(\d+ tokens\) differs from the policy's",
    ),
]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize(
    ("stage", "top", "section", "rows", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_one_line_exit_2_nothing_written(
    tmp_path, models, capsys, stage, top, section, rows, expected
):
    import re

    config, run_dir = write_case(tmp_path, models, stage, top, section, rows)
    recipe = load_recipe(stage)
    with pytest.raises(SystemExit) as exit_:
        run_cli(recipe.main, ["--config", config])
    stderr = capsys.readouterr().err
    assert exit_.value.code == EXIT_USER_ERROR
    assert "Traceback" not in stderr
    lines = error_lines(stderr)
    assert len(lines) == 1, stderr
    assert re.search(expected, lines[0]), lines[0]
    assert not run_dir.exists(), sorted(str(p) for p in run_dir.rglob("*"))


def test_a_good_config_passes_the_same_checks(tmp_path, models):
    """The checks are not trigger-happy: a PPO config with a matching reward model gets past them."""
    from rlhf_trl.checks import check_recipe_inputs
    from rlhf_trl.config import parse_recipe_args

    config, _ = write_case(tmp_path, models, "ppo", section="reward_funcs: [{rm}, length]\n")
    check_recipe_inputs(parse_recipe_args("ppo", ["--config", config]))
    config, _ = write_case(tmp_path, models, "grpo", section="reward_funcs: [{rm_other_tokenizer}]\n")
    check_recipe_inputs(parse_recipe_args("grpo", ["--config", config]))  # GRPO re-tokenises text: fine


def test_command_line_value_is_blamed_on_the_flag(tmp_path, models, capsys):
    config, run_dir = write_case(tmp_path, models, "ppo")
    with pytest.raises(SystemExit):
        run_cli(load_recipe("ppo").main, ["--config", config, "--gamma", "2"])
    assert error_lines(capsys.readouterr().err) == [
        "error: command line: --gamma: gamma=2.0 is invalid; allowed: [0, 1]"
    ]


SUBPROCESS_CASES = ["malformed_jsonl", "grpo_group_not_dividing_batch", "ppo_critic_other_tokenizer"]


@pytest.mark.parametrize("case", SUBPROCESS_CASES)
def test_recipe_script_in_a_subprocess(tmp_path, models, case):
    import re

    _, stage, top, section, rows, expected = next(c for c in CASES if c[0] == case)
    config, run_dir = write_case(tmp_path, models, stage, top, section, rows)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "recipes" / f"{stage}.py"), "--config", config],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == EXIT_USER_ERROR, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and re.search(expected, lines[0]), proc.stderr[-3000:]
    assert not run_dir.exists()
