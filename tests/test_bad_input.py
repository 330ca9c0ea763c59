"""Bad input, as a user meets it: each mistake stops the recipe CLI with one `error:` line that says what,
where (file:line or flag) and what would be right, exit code 2, no traceback, and nothing written to run_dir.

Most cases call the recipe's `main` through `run_cli` in this process (what `python recipes/X.py` does);
a few run the real script in a subprocess to prove the same holds end to end.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_reward_recipe import load_recipe

from rlhf_trl.config import parse_recipe_args
from rlhf_trl.errors import EXIT_USER_ERROR, UserError, run_cli

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
        r"cfg\.yaml:\d+: sft\.learning_rate: learning_rate=0\.0 is invalid; allowed: > 0",
    ),
    (
        "learning_rate_negative",
        "ppo",
        "learning_rate: -1.0e-5\n",
        "",
        None,
        r"cfg\.yaml:\d+: learning_rate: learning_rate=-1e-05 is invalid; allowed: > 0",
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

# Values TRL, transformers or torch would reject only once training starts, or quietly misuse: one row per
# field. (stage, where the error must point, YAML, message after it); the YAML goes into the stage's section
# when the error points there (`stage.key`), else to the top level.
# fmt: off
VALUE_CASES = [
    # every training stage (transformers' TrainingArguments)
    ("reward", "reward.per_device_train_batch_size", "per_device_train_batch_size: 0", "per_device_train_batch_size=0 is invalid; allowed: >= 1"),
    ("dpo", "dpo.per_device_eval_batch_size", "per_device_eval_batch_size: 0", "per_device_eval_batch_size=0 is invalid; allowed: >= 1"),
    ("ppo", "ppo.gradient_accumulation_steps", "gradient_accumulation_steps: 0", "gradient_accumulation_steps=0 is invalid; allowed: >= 1"),
    ("sft", "sft.max_steps", "max_steps: 0", "max_steps=0 is invalid; allowed: -1 (train num_train_epochs) or >= 1"),
    ("grpo", "grpo.num_train_epochs", "num_train_epochs: 0", "num_train_epochs=0.0 is invalid; allowed: > 0"),
    ("reward", "reward.weight_decay", "weight_decay: -0.1", "weight_decay=-0.1 is invalid; allowed: >= 0"),
    ("ppo", "ppo.max_grad_norm", "max_grad_norm: -1.0", "max_grad_norm=-1.0 is invalid; allowed: >= 0 (0 disables clipping) or unset"),
    ("dpo", "dpo.adam_beta1", "adam_beta1: 1.5", "adam_beta1=1.5 is invalid; allowed: [0, 1)"),
    ("sft", "sft.adam_beta2", "adam_beta2: -0.1", "adam_beta2=-0.1 is invalid; allowed: [0, 1)"),
    ("reward", "reward.adam_epsilon", "adam_epsilon: -1.0e-8", "adam_epsilon=-1e-08 is invalid; allowed: >= 0"),
    ("sft", "sft.optim_args", "optim_args: momentum", "optim_args='momentum' is invalid; allowed: key=value,key=value or unset"),
    ("dpo", "seed", "seed: -1", "seed=-1 is invalid; allowed: [0, 2**32 - 1]"),
    ("reward", "reward.data_seed", "data_seed: 4294967296", "data_seed=4294967296 is invalid; allowed: [0, 2**32 - 1] or unset"),
    ("sft", "sft.dataloader_num_workers", "dataloader_num_workers: -1", "dataloader_num_workers=-1 is invalid; allowed: >= 0"),
    ("grpo", "grpo.save_total_limit", "save_total_limit: 0", "save_total_limit=0 is invalid; allowed: >= 1 or unset"),
    ("reward", "reward.logging_steps", "logging_steps: -1", "logging_steps=-1.0 is invalid; allowed: > 0 with logging_strategy=steps"),
    ("ppo", "ppo.save_steps", "save_strategy: steps\nsave_steps: 0", "save_steps=0.0 is invalid; allowed: > 0 with save_strategy=steps"),
    ("reward", "reward.eval_steps", "eval_strategy: steps\neval_steps: 0", "eval_steps=0.0 is invalid; allowed: > 0 with eval_strategy=steps"),
    ("reward", "reward.warmup_steps", "warmup_steps: -1", "Got warmup_steps = -1.0, Expected value warmup_steps >= 0"),
    ("dpo", "dpo.lr_scheduler_type", "lr_scheduler_type: nonsense", "'nonsense' is not allowed; choose one of: linear, cosine"),
    ("reward", "reward.lr_scheduler_type", "lr_scheduler_type: cosine_with_min_lr", "lr_scheduler_type='cosine_with_min_lr' with lr_scheduler_kwargs=None is invalid: One of min_lr or min_lr_rate"),
    ("ppo", "ppo.lr_scheduler_kwargs", "lr_scheduler_kwargs: {bogus: 1}", "lr_scheduler_type='linear' with lr_scheduler_kwargs={'bogus': 1} is invalid: get_linear_schedule_with_warmup() got an unexpected keyword argument 'bogus'"),
    ("sft", "sft.optim", "optim: nonsense", "'nonsense' is not allowed; choose one of: adamw_torch"),
    # stage-specific fields
    ("sft", "sft.max_length", "max_length: 0", "max_length=0 is invalid; allowed: >= 1 or unset"),
    ("sft", "sft.loss_type", "loss_type: nonsense", "'nonsense' is not allowed; choose one of: nll, dft, chunked_nll"),
    ("reward", "reward.max_length", "max_length: 0", "max_length=0 is invalid; allowed: >= 1 or unset"),
    ("reward", "reward.center_rewards_coefficient", "center_rewards_coefficient: -0.01", "center_rewards_coefficient=-0.01 is invalid; allowed: >= 0 or unset"),
    ("reward", "reward.similar_length_tokens", "similar_length_tokens: -1", "similar_length_tokens=-1 is invalid; allowed: >= 0"),
    ("dpo", "dpo.max_length", "max_length: 0", "max_length=0 is invalid; allowed: >= 1 or unset"),
    ("dpo", "dpo.loss_type", "loss_type: [sigmoid, nonsense_loss]", "loss_type=['sigmoid', 'nonsense_loss'] is invalid; allowed: a list of sigmoid, hinge, ipo,"),
    ("dpo", "dpo.f_divergence_type", "f_divergence_type: nonsense", "f_divergence_type='nonsense' is invalid; allowed: reverse_kl, forward_kl, js_divergence, alpha_divergence"),
    ("dpo", "dpo.loss_type", "f_divergence_type: forward_kl\nloss_type: [bco_pair]", "loss_type=['bco_pair'] is invalid; allowed: a list of sigmoid, sigmoid_norm, hinge, ipo, exo_pair, robust, discopop, sft with f_divergence_type=forward_kl"),
    ("dpo", "dpo.label_smoothing", "label_smoothing: 1.0", "label_smoothing=1.0 is invalid; allowed: [0, 1)"),
    ("dpo", "dpo.loss_type", "loss_type: exo_pair", "label_smoothing=0.0 is invalid; allowed: (0, 1) with loss_type exo_pair"),
    ("dpo", "dpo.label_smoothing", "loss_type: robust\nlabel_smoothing: 0.5", "label_smoothing=0.5 is invalid; allowed: [0, 0.5) with loss_type robust"),
    ("dpo", "dpo.use_weighting", "loss_type: aot\nuse_weighting: true", "use_weighting=True is invalid; allowed: false with loss_type aot or aot_unpaired"),
    ("dpo", "dpo.ld_alpha", "ld_alpha: 1.5", "ld_alpha=1.5 is invalid; allowed: [0, 1] or unset"),
    ("dpo", "dpo.discopop_tau", "discopop_tau: 0", "discopop_tau=0.0 is invalid; allowed: > 0"),
    ("dpo", "dpo.ref_model_sync_steps", "ref_model_sync_steps: 0", "ref_model_sync_steps=0 is invalid; allowed: >= 1"),
    ("grpo", "grpo.ref_model_mixup_alpha", "ref_model_mixup_alpha: 2", "ref_model_mixup_alpha=2.0 is invalid; allowed: [0, 1]"),
    ("grpo", "grpo.loss_type", "loss_type: nonsense", "loss_type='nonsense' is invalid; allowed: grpo, dr_grpo, dapo, bnpo, cispo, sapo, luspo, vespo"),
    ("grpo", "grpo.importance_sampling_level", "importance_sampling_level: tokens", "importance_sampling_level='tokens' is invalid; allowed: token, sequence"),
    ("grpo", "grpo.scale_rewards", "scale_rewards: std", "scale_rewards='std' is invalid; allowed: group, batch, none"),
    ("grpo", "grpo.multi_objective_aggregation", "multi_objective_aggregation: mean", "multi_objective_aggregation='mean' is invalid; allowed: sum_then_normalize, normalize_then_sum"),
    ("grpo", "grpo.max_completion_length", "max_completion_length: 0", "max_completion_length=0 is invalid; allowed: >= 1 or unset"),
    ("grpo", "grpo.top_p", "top_p: 0", "top_p=0.0 is invalid; allowed: (0, 1]"),
    ("grpo", "grpo.top_k", "top_k: -1", "top_k=-1 is invalid; allowed: >= 0 (0 disables)"),
    ("grpo", "grpo.min_p", "min_p: 1.5", "min_p=1.5 is invalid; allowed: [0, 1] or unset"),
    ("grpo", "grpo.repetition_penalty", "repetition_penalty: 0", "repetition_penalty=0.0 is invalid; allowed: > 0"),
    ("grpo", "grpo.epsilon_high", "epsilon_high: -0.1", "epsilon_high=-0.1 is invalid; allowed: > 0 or unset"),
    ("grpo", "grpo.delta", "delta: 0.5", "delta=0.5 is invalid; allowed: > 1 (TRL recommends > 1 + epsilon) or unset"),
    ("grpo", "grpo.top_entropy_quantile", "top_entropy_quantile: 1.5", "top_entropy_quantile=1.5 is invalid; allowed: [0, 1]"),
    ("grpo", "grpo.generation_batch_size", "generation_batch_size: 0", "generation_batch_size=0 is invalid; allowed: >= 1 or unset"),
    ("grpo", "grpo.steps_per_generation", "steps_per_generation: 0", "steps_per_generation=0 is invalid; allowed: >= 1 or unset"),
    ("grpo", "grpo.kl_coef", "kl_coef: -0.1", "beta (kl_coef) must be >= 0"),
    ("grpo", "grpo.clip_ratio", "clip_ratio: 0", "epsilon (clip_ratio) must be > 0"),
    ("grpo", "grpo.ppo_epochs", "ppo_epochs: 0", "num_iterations (ppo_epochs) must be >= 1"),
    ("grpo", "grpo.reward_weights", "reward_weights: [1.0, 2.0]", "reward_weights has 2 entries, reward_funcs has 1"),
    ("ppo", "ppo.response_length", "response_length: 0", "response_length=0 is invalid; allowed: >= 1"),
    ("ppo", "ppo.max_prompt_length", "max_prompt_length: 0", "max_prompt_length=0 is invalid; allowed: >= 1 or unset"),
    ("ppo", "ppo.top_p", "top_p: 1.5", "top_p=1.5 is invalid; allowed: 0 and 1.0: PPO's ratio and KL are of the untruncated"),
    ("ppo", "ppo.top_k", "top_k: -1", "top_k=-1 is invalid"),
    ("ppo", "ppo.rollout_forward_batch_size", "rollout_forward_batch_size: 0", "rollout_forward_batch_size=0 is invalid"),
    ("ppo", "ppo.kl_coef", "kl_coef: -0.1", "kl_coef=-0.1 is invalid"),
    ("ppo", "ppo.kl_target", "kl_target: 0", "kl_target=0.0 is invalid"),
    ("ppo", "ppo.kl_horizon", "kl_horizon: 0", "kl_horizon=0 is invalid"),
    ("ppo", "ppo.clip_ratio", "clip_ratio: 0", "clip_ratio=0.0 is invalid"),
    ("ppo", "ppo.cliprange_value", "cliprange_value: 0", "cliprange_value=0.0 is invalid"),
    ("ppo", "ppo.vf_coef", "vf_coef: -1", "vf_coef=-1.0 is invalid"),
    ("ppo", "ppo.entropy_coef", "entropy_coef: -0.01", "entropy_coef=-0.01 is invalid"),
    ("ppo", "ppo.reward_weights", "reward_weights: [1.0, 2.0]", "reward_weights has 2 values"),
    # shared model and data keys (top level)
    ("dpo", "lora_r", "lora_r: 0", "lora_r must be >= 1"),
    ("reward", "lora_dropout", "lora_dropout: 1.0", "lora_dropout must be in [0, 1)"),
    ("sft", "min_keep_fraction", "min_keep_fraction: 1.5", "min_keep_fraction must be in [0, 1]"),
    ("ppo", "max_eval_prompts", "max_eval_prompts: 0", "max_eval_prompts must be >= 1"),
]
# fmt: on


def _value_case(stage, blamed, yaml, message):
    in_section = blamed.startswith(f"{stage}.")
    text = yaml.replace("{", "{{").replace("}", "}}") + "\n"  # write_case formats the YAML
    return (
        re.sub(r"\W+", "_", f"{stage}_{yaml.splitlines()[-1]}").strip("_"),
        stage,
        "" if in_section else text,
        text if in_section else "",
        None,
        rf"cfg\.yaml:\d+: {re.escape(blamed)}: {re.escape(message)}",
    )


CASES += [_value_case(*case) for case in VALUE_CASES]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize(
    ("stage", "top", "section", "rows", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_one_line_exit_2_nothing_written(
    tmp_path, models, capsys, stage, top, section, rows, expected
):
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

    config, _ = write_case(tmp_path, models, "ppo", section="reward_funcs: [{rm}, length]\n")
    check_recipe_inputs(parse_recipe_args("ppo", ["--config", config]))
    config, _ = write_case(tmp_path, models, "grpo", section="reward_funcs: [{rm_other_tokenizer}]\n")
    check_recipe_inputs(parse_recipe_args("grpo", ["--config", config]))  # GRPO re-tokenises text: fine


@pytest.mark.parametrize(
    ("stage", "flags", "expected"),
    [
        ("ppo", ["--gamma", "2"], r"command line: --gamma: gamma=2\.0 is invalid; allowed: \[0, 1\]$"),
        # truncated sampling would make PPO's ratio and KL (of the untruncated policy) silently wrong
        (
            "ppo",
            ["--top_k", "50"],
            r"command line: --top_k: top_k=50 is invalid; allowed: 0 and 1\.0: PPO's ratio",
        ),
        (
            "ppo",
            ["--top_p", "0.9"],
            r"command line: --top_p: top_p=0\.9 is invalid; allowed: 0 and 1\.0: PPO's",
        ),
        # argparse's own errors: one line, not the usage of every flag before it
        (
            "reward",
            ["--lr_scheduler_type", "nonsense"],
            r"command line: --lr_scheduler_type: invalid choice: 'nonsense' \(choose from 'linear', 'cosine', ",
        ),
        ("dpo", ["--max_length", "long"], r"command line: --max_length: invalid int value: 'long'$"),
    ],
)
def test_command_line_value_is_blamed_on_the_flag(tmp_path, models, capsys, stage, flags, expected):
    config, run_dir = write_case(tmp_path, models, stage)
    with pytest.raises(SystemExit) as exit_:
        run_cli(load_recipe(stage).main, ["--config", config, *flags])
    stderr = capsys.readouterr().err
    assert exit_.value.code == EXIT_USER_ERROR
    lines = error_lines(stderr)
    assert len(lines) == 1 and re.match(rf"error: {expected}", lines[0]), stderr
    assert "usage:" not in stderr
    assert not run_dir.exists()


@pytest.mark.skipif(importlib.util.find_spec("galore_torch") is not None, reason="galore_torch is installed")
def test_an_optimizer_whose_package_is_missing(tmp_path, models):
    config, _ = write_case(tmp_path, models, "reward", section="optim: galore_adamw\n")
    with pytest.raises(
        UserError, match=r"reward\.optim: optim='galore_adamw' needs a package that is not installed"
    ):
        parse_recipe_args("reward", ["--config", config])


def test_loss_names_are_the_ones_trl_implements():
    """The loss names the configs accept are the branches of TRL's trainers: a TRL upgrade that adds or drops
    one fails here, not in a user's first training step."""
    import inspect

    from trl.trainer import dpo_trainer, grpo_trainer

    from rlhf_trl.stage_configs import DPO_LOSS_TYPES, F_DIVERGENCE_LOSS_TYPES, GRPO_LOSS_TYPES

    def branches(module) -> set[str]:
        tests = re.findall(r'loss_type (?:==|in) (\[[^\]]*\]|"\w+")', inspect.getsource(module))
        return {name for test in tests for name in re.findall(r'"(\w+)"', test)}

    assert branches(dpo_trainer) == set(DPO_LOSS_TYPES)
    assert branches(grpo_trainer) == set(GRPO_LOSS_TYPES)
    f_divergence = re.search(r"f_divergence_loss_types = \{([^}]*)\}", inspect.getsource(dpo_trainer))
    assert set(re.findall(r'"(\w+)"', f_divergence.group(1))) == set(F_DIVERGENCE_LOSS_TYPES)


def run_recipe_script(stage: str, config: str, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "recipes" / f"{stage}.py"), "--config", config, *flags],
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_one_error_line(proc: subprocess.CompletedProcess, expected: str, run_dir: Path) -> None:
    assert proc.returncode == EXIT_USER_ERROR, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and re.search(expected, lines[0]), proc.stderr[-3000:]
    assert not run_dir.exists()


SUBPROCESS_CASES = ["malformed_jsonl", "grpo_group_not_dividing_batch", "ppo_critic_other_tokenizer"]


@pytest.mark.parametrize("case", SUBPROCESS_CASES)
def test_recipe_script_in_a_subprocess(tmp_path, models, case):
    _, stage, top, section, rows, expected = next(c for c in CASES if c[0] == case)
    config, run_dir = write_case(tmp_path, models, stage, top, section, rows)
    assert_one_error_line(run_recipe_script(stage, config), expected, run_dir)


@pytest.mark.parametrize(
    ("stage", "flags", "expected"),
    [
        # issue #14: TRL's "Unknown loss type" at the first step, torch's sampler error, both after the models loaded
        (
            "dpo",
            ["--loss_type", "nonsense_loss"],
            r"^error: command line: --loss_type: loss_type=\['nonsense_loss'\] is invalid; allowed: a list of "
            r"sigmoid, hinge, ipo, ",
        ),
        (
            "reward",
            ["--per_device_train_batch_size", "0"],
            r"^error: command line: --per_device_train_batch_size: per_device_train_batch_size=0 is invalid; "
            r"allowed: >= 1$",
        ),
    ],
)
def test_a_value_trl_checks_late_stops_the_script_before_any_model(tmp_path, models, stage, flags, expected):
    config, run_dir = write_case(tmp_path, models, stage)
    assert_one_error_line(run_recipe_script(stage, config, *flags), expected, run_dir)
