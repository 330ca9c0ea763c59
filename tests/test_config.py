"""The recipe config layer: precedence, unknown keys, types, invalid values — all before any model loads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rlhf_trl import hardware
from rlhf_trl.config import STAGE_CONFIGS, parse_recipe_args
from rlhf_trl.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "recipes" / "configs").glob("*.yaml"))


def write(tmp_path, text: str) -> str:
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return str(path)


def test_precedence_defaults_yaml_section_cli(tmp_path):
    cfg = write(
        tmp_path,
        "run_dir: outputs/x\nlearning_rate: 1e-4\nseed: 7\ndpo:\n  learning_rate: 2e-5\n  beta: 0.2\n",
    )
    args = parse_recipe_args("dpo", ["--config", cfg, "--beta", "0.3"])
    assert args.stage.learning_rate == pytest.approx(2e-5)  # section beats top level; "2e-5" is a float
    assert args.stage.beta == pytest.approx(0.3)  # CLI beats section
    assert args.stage.seed == 7  # top level applies where the stage has the field
    assert args.stage.max_length == 1024  # dataclass default survives
    assert args.stage.output_dir == "outputs/x/checkpoints/dpo"
    assert args.data.dataset_name == "bundled"


def test_run_dir_on_cli_moves_derived_paths(tmp_path):
    cfg = write(tmp_path, "run_dir: outputs/x\n")
    args = parse_recipe_args("reward", ["--config", cfg, "--run_dir", "outputs/y"])
    assert args.stage.output_dir == "outputs/y/checkpoints/reward"
    assert os.environ["TENSORBOARD_LOGGING_DIR"] == str(Path("outputs/y/logs/reward"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("model_nme: x\n", "cfg.yaml:1: unknown key 'model_nme' (did you mean 'model_name_or_path'?)"),
        ("dpo:\n  betta: 0.1\n", "cfg.yaml:2: unknown key dpo.betta (did you mean 'beta'?)"),
        ("reward:\n  foo: 1\n", "cfg.yaml:2: unknown key reward.foo"),
        ("dpo:\n  beta: high\n", "cfg.yaml:2: dpo.beta: 'high' is not a valid float"),
        ("seed: [1, 2]\n", "cfg.yaml:1: seed: expected a single value"),
        ("dtype: float64\n", "cfg.yaml:1: dtype: 'float64' is not allowed; choose one of"),
        ("dpo: 3\n", "cfg.yaml:1: section 'dpo' must be a mapping"),
        ("- a\n- b\n", "must be a YAML mapping"),
        ("dpo:\n  beta: [\n", "invalid YAML"),
        ("lora_r: 0\n", "lora_r must be >= 1"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path, text, expected):
    cfg = write(tmp_path, text)
    with pytest.raises(UserError) as err:
        parse_recipe_args("dpo", ["--config", cfg])
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_typo_in_another_stage_section_fails_fast(tmp_path):
    cfg = write(tmp_path, "grpo:\n  num_generationz: 4\n")
    with pytest.raises(UserError, match="grpo.num_generationz"):
        parse_recipe_args("reward", ["--config", cfg])


def test_unknown_cli_flag(tmp_path):
    with pytest.raises(UserError, match="unknown flag '--betaa'.*did you mean 'beta'"):
        parse_recipe_args("dpo", ["--betaa", "0.3"])


def test_a_flag_is_its_whole_name_never_a_prefix(tmp_path):
    """argparse's default would read `--kl_coe 0.3` as kl_coef: a typo must not set a knob silently."""
    with pytest.raises(UserError, match=r"unknown flag '--kl_coe'.*did you mean 'kl_coef'"):
        parse_recipe_args("ppo", ["--kl_coe", "0.3"])
    with pytest.raises(UserError, match=r"unknown flag '--bet' for stage dpo \(did you mean 'beta'\?\)"):
        parse_recipe_args("dpo", ["--bet", "0.2"])
    assert parse_recipe_args("ppo", ["--kl_coef", "0.3"]).stage.kl_coef == 0.3


def test_missing_config_file():
    with pytest.raises(UserError, match="does not exist"):
        parse_recipe_args("dpo", ["--config", "nope.yaml"])


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
@pytest.mark.parametrize("stage", sorted(STAGE_CONFIGS))
def test_shipped_configs_parse_for_every_stage(config, stage):
    args = parse_recipe_args(stage, ["--config", str(config)])
    assert args.stage_name == stage


def test_misspelled_key_exits_nonzero_with_one_line(tmp_path):
    """As a user sees it: the recipe CLI path, a non-zero exit and one line on stderr, no traceback."""
    cfg = write(tmp_path, "dataset_nam: bundled\n")
    code = "from rlhf_trl.errors import run_cli; from rlhf_trl.config import parse_recipe_args; import sys; run_cli(parse_recipe_args, 'dpo', sys.argv[1:])"
    proc = subprocess.run([sys.executable, "-c", code, "--config", cfg], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [f"error: {cfg}:1: unknown key 'dataset_nam' (did you mean 'dataset_name'?)"]


def test_list_value_for_a_str_or_list_field(tmp_path):
    cfg = write(tmp_path, "dpo:\n  report_to: [tensorboard]\n")
    assert parse_recipe_args("dpo", ["--config", cfg]).stage.report_to == ["tensorboard"]


def test_a_list_that_may_be_empty_is_emptied_by_its_flag_alone(tmp_path):
    """`--best_of_n` / `--baselines` with no value mean none, as `[]` does in YAML; other list flags
    still need a value."""
    cfg = write(tmp_path, "evaluation:\n  best_of_n: [4]\n")
    args = parse_recipe_args("evaluation", ["--config", cfg, "--best_of_n", "--baselines"])
    assert args.stage.best_of_n == [] and args.stage.baselines == []
    assert parse_recipe_args("evaluation", ["--config", cfg]).stage.best_of_n == [4]
    assert parse_recipe_args("evaluation", ["--best_of_n", "4", "16"]).stage.best_of_n == [4, 16]
    with pytest.raises(UserError, match="--policies: expected at least one argument"):
        parse_recipe_args("evaluation", ["--policies"])


def test_cpu_defaults_need_no_gpu_flags(monkeypatch):
    monkeypatch.setattr(hardware, "gpu_has_native_bf16", lambda: False)  # as on a CPU-only machine
    args = parse_recipe_args("dpo", [])
    assert args.stage.bf16 is False and args.stage.dataloader_pin_memory is False
    assert args.stage.activation_checkpointing is False


@pytest.mark.parametrize("stage", ["sft", "reward", "dpo", "grpo", "ppo"])
def test_bf16_on_a_machine_without_accelerator_trains_on_the_cpu(tmp_path, stage, monkeypatch):
    """transformers refuses bf16 without a bf16 GPU unless use_cpu is set: with no accelerator at all the
    CPU is where training runs anyway, so `bf16: true` alone must work (autocast on the CPU)."""

    monkeypatch.setattr(hardware, "has_accelerator", lambda: False)
    args = parse_recipe_args(stage, ["--bf16", "true"])
    assert args.stage.bf16 is True and args.stage.use_cpu is True
    import torch

    if not (torch.cuda.is_available() and torch.cuda.is_bf16_supported()):  # a bf16 GPU accepts it
        cfg = write(tmp_path, f"{stage}:\n  use_cpu: false\n  bf16: true\n")
        with pytest.raises(UserError, match="use_cpu"):  # the user's own setting is kept, refused clearly
            parse_recipe_args(stage, ["--config", cfg])
    monkeypatch.setattr(hardware, "has_accelerator", lambda: True)  # a GPU machine: nothing is derived
    assert parse_recipe_args(stage, []).stage.use_cpu is False


def test_bf16_on_a_cpu_without_native_bf16_says_it_may_be_slow(monkeypatch, capsys):
    """Autocast is emulated on an x86 CPU without AVX-512 BF16/AMX: one note, and bf16 stays as asked."""
    import torch

    monkeypatch.setattr(hardware, "has_accelerator", lambda: False)
    monkeypatch.setattr(hardware, "gpu_has_native_bf16", lambda: False)  # bf16 unset stays off
    caps = {**torch.cpu.get_capabilities(), "avx512_bf16": False, "amx_bf16": False}
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: caps)
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    assert parse_recipe_args("dpo", ["--bf16", "true"]).stage.bf16 is True
    err = capsys.readouterr().err
    assert "note: dpo: bf16 is on, but this CPU has no native bf16" in err and err.count("\n") == 1
    parse_recipe_args("dpo", [])  # fp32: nothing to say
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {**caps, "avx512_bf16": True})
    parse_recipe_args("dpo", ["--bf16", "true"])  # native bf16: nothing to say
    assert capsys.readouterr().err == ""


def test_a_cli_flag_beats_a_yaml_alias_and_both_names_at_one_level_is_an_error(tmp_path):
    cfg = write(tmp_path, "grpo:\n  group_size: 4\n  kl_coef: 0.2\n")
    args = parse_recipe_args(
        "grpo", ["--config", cfg, "--num_generations", "2", "--per_device_train_batch_size", "4"]
    )
    assert args.stage.num_generations == 2  # the YAML alias used to win over the canonical flag
    assert args.stage.beta == pytest.approx(0.2)  # the alias still sets its field
    args = parse_recipe_args(
        "grpo", ["--config", cfg, "--group_size=2", "--per_device_train_batch_size", "4"]
    )
    assert args.stage.num_generations == 2
    top = write(tmp_path, "kl_coef: 0.3\ngrpo:\n  beta: 0.1\n")
    assert parse_recipe_args("grpo", ["--config", top]).stage.beta == pytest.approx(0.1)  # section beats top
    both = write(tmp_path, "grpo:\n  group_size: 4\n  num_generations: 2\n")
    with pytest.raises(
        UserError,
        match=r"cfg\.yaml:2: grpo\.group_size: an alias of num_generations, which is also set at .*cfg\.yaml:3",
    ):
        parse_recipe_args("grpo", ["--config", both])
    with pytest.raises(
        UserError, match="command line: --num_generations and --group_size set the same field"
    ):
        parse_recipe_args("grpo", ["--num_generations", "2", "--group_size", "2"])
    with pytest.raises(
        UserError, match=r"command line: --group_size: num_generations \(group_size\) must be >= 2"
    ):
        parse_recipe_args("grpo", ["--group_size", "1"])


@pytest.mark.parametrize(
    ("stage", "text"),
    [
        ("dpo", "loss_type: [sigmoid, ipo]\nloss_weights: [0.5, 0.5]\n"),
        ("dpo", "loss_type: robust\nlabel_smoothing: 0.1\n"),
        ("dpo", "loss_type: exo_pair\nlabel_smoothing: 1.0e-3\n"),
        ("dpo", "f_divergence_type: js_divergence\nloss_type: hinge\nld_alpha: 0.5\n"),
        ("reward", "max_steps: -1\nnum_train_epochs: 0.5\nmax_grad_norm: 0\nsave_total_limit: 1\n"),
        ("reward", "lr_scheduler_type: cosine_with_min_lr\nlr_scheduler_kwargs: {min_lr_rate: 0.1}\n"),
        ("sft", "optim: sgd\noptim_args: momentum=0.9\nwarmup_steps: 0.1\nseed: 0\nmax_length: null\n"),
        (
            "grpo",
            "loss_type: grpo\nimportance_sampling_level: sequence\ntop_p: 1.0\ndelta: 1.5\nepsilon_high: 0.28\n",
        ),
        ("ppo", "save_strategy: steps\nsave_steps: 0.5\nmax_grad_norm: null\n"),
    ],
)
def test_valid_edge_values_pass_the_value_checks(tmp_path, stage, text):
    """The checks that stop a late failure are not trigger-happy: TRL's documented values get through."""
    grpo = (
        "reward_funcs: [length]\ngroup_size: 2\nper_device_train_batch_size: 4\n" if stage == "grpo" else ""
    )
    cfg = write(tmp_path, f"{stage}:\n" + "".join(f"  {line}\n" for line in (grpo + text).splitlines()))
    parse_recipe_args(stage, ["--config", cfg])


@pytest.mark.parametrize(("value", "expected"), [("false", "none"), ("true", "group"), ("batch", "batch")])
def test_grpo_scale_rewards_true_false_mean_group_none(tmp_path, value, expected):
    """TRL maps scale_rewards True/False to group/none, but YAML and the CLI hand it the strings."""
    cfg = write(tmp_path, f"grpo:\n  reward_funcs: [length]\n  scale_rewards: {value}\n")
    args = parse_recipe_args(
        "grpo", ["--config", cfg, "--group_size", "2", "--per_device_train_batch_size", "4"]
    )
    assert args.stage.scale_rewards == expected
    assert parse_recipe_args("grpo", ["--scale_rewards", value]).stage.scale_rewards == expected


@pytest.mark.parametrize("stage", ["sft", "dpo", "evaluation"])
def test_bf16_auto_is_on_only_where_bf16_is_native(tmp_path, monkeypatch, capsys, stage):
    """`bf16: auto` (file or flag) means bf16 on a CPU with AVX-512 BF16/AMX and fp32 on one without (emulated
    bf16 matmuls ran ~130x slower there), with one note; an explicit flag beats the file's auto."""
    import torch

    monkeypatch.setattr(hardware, "has_accelerator", lambda: False)
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    caps = {**torch.cpu.get_capabilities(), "avx512_bf16": False, "amx_bf16": False}
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: caps)
    note = f"note: {stage}: bf16: auto -> fp32 (this CPU has no AVX-512 BF16 or AMX)\n"
    cfg = write(tmp_path, "bf16: auto\n")
    assert parse_recipe_args(stage, ["--config", cfg]).stage.bf16 is False
    assert capsys.readouterr().err == note
    assert parse_recipe_args(stage, ["--config", cfg, "--bf16", "auto"]).stage.bf16 is False
    assert capsys.readouterr().err == note  # once, though the file and the flag both say auto
    assert parse_recipe_args(stage, ["--config", cfg, "--bf16", "true"]).stage.bf16 is True  # the flag wins
    assert "auto -> fp32" not in capsys.readouterr().err  # the emulation note instead
    (tmp_path / "section").mkdir()
    section = write(
        tmp_path / "section", f"bf16: auto\n{stage}:\n  bf16: false\n"
    )  # a section beats the top level
    assert parse_recipe_args(stage, ["--config", section]).stage.bf16 is False
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("RANK", "1")  # another process of a distributed run: the same value, no second note
    assert parse_recipe_args(stage, ["--config", cfg]).stage.bf16 is False
    assert capsys.readouterr().err == ""
    monkeypatch.delenv("RANK")
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {**caps, "amx_bf16": True})
    assert parse_recipe_args(stage, ["--config", cfg]).stage.bf16 is True
    assert parse_recipe_args(stage, ["--bf16=auto"]).stage.bf16 is True
    assert parse_recipe_args(stage, ["--config", cfg, "--bf16", "false"]).stage.bf16 is False
    assert capsys.readouterr().err == ""
    monkeypatch.setattr("platform.machine", lambda: "aarch64")  # torch cannot tell: fp32, never a guess
    assert parse_recipe_args(stage, ["--bf16", "Auto"]).stage.bf16 is False
    assert "torch cannot tell whether this aarch64 CPU's bf16 is native" in capsys.readouterr().err


def test_bf16_auto_on_a_gpu_machine(monkeypatch, capsys):
    """With an accelerator, auto follows the GPU (native bf16 only), yields to fp16 without a note, and
    follows the CPU rules when training is sent to the CPU (use_cpu)."""

    import rlhf_trl.config as config

    monkeypatch.setattr(hardware, "has_accelerator", lambda: True)
    monkeypatch.setattr(hardware, "gpu_has_native_bf16", lambda: False)  # a T4: bf16 only emulated
    assert config._resolve_auto_bf16("dpo", {"bf16": "auto"}, []) == ({"bf16": False}, [])
    assert "bf16 is native only on CUDA GPUs from Ampere on" in capsys.readouterr().err
    monkeypatch.setattr(hardware, "gpu_has_native_bf16", lambda: True)
    assert config._resolve_auto_bf16("dpo", {}, ["--bf16", "auto"]) == ({}, ["--bf16", "true"])
    flat, args = config._resolve_auto_bf16("dpo", {"bf16": "auto", "fp16": True}, [])
    assert flat["bf16"] is False and capsys.readouterr().err == ""
    flat, args = config._resolve_auto_bf16("dpo", {"bf16": "auto"}, ["--fp16"])
    assert flat["bf16"] is False
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda unknown=True: False)
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    flat, args = config._resolve_auto_bf16("dpo", {"bf16": "auto", "use_cpu": True}, [])
    assert flat["bf16"] is False and "this CPU has no AVX-512 BF16" in capsys.readouterr().err


def test_an_optional_number_is_unset_by_null_on_the_command_line_as_in_yaml(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("ppo:\n  cliprange_value: 0.5\n")
    assert parse_recipe_args("ppo", ["--config", str(cfg)]).stage.cliprange_value == 0.5
    for text in ("null", "None"):
        args = parse_recipe_args("ppo", ["--config", str(cfg), "--cliprange_value", text])
        assert args.stage.cliprange_value is None
    cfg.write_text("ppo:\n  cliprange_value: null\n")
    assert parse_recipe_args("ppo", ["--config", str(cfg)]).stage.cliprange_value is None
    # a number that cannot be unset still says what it wants
    with pytest.raises(UserError, match=r"--kl_coef: invalid float value: 'null'"):
        parse_recipe_args("ppo", ["--config", str(cfg), "--kl_coef", "null"])
    with pytest.raises(UserError, match=r"--cliprange_value: invalid float value: 'x'"):
        parse_recipe_args("ppo", ["--config", str(cfg), "--cliprange_value", "x"])


def test_a_null_inside_a_list_of_numbers_is_still_refused(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("ppo:\n  reward_funcs: [reward_model, length]\n  reward_weights: [1, null]\n")
    with pytest.raises(UserError, match="is not a valid float"):
        parse_recipe_args("ppo", ["--config", str(cfg)])
    cfg.write_text("ppo:\n  reward_funcs: [reward_model, length]\n")
    with pytest.raises(UserError, match="invalid float value: 'null'"):
        parse_recipe_args("ppo", ["--config", str(cfg), "--reward_weights", "1", "null"])
