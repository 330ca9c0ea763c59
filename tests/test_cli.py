"""The `rlhf-trl` command as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BIN = str(Path(sys.executable).with_name("rlhf-trl"))


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=120)


def test_help_lists_subcommands():
    proc = run("--help")
    assert proc.returncode == 0
    for name in ("explore-data", "demo", "evaluate", "report", "keys"):
        assert name in proc.stdout


def test_unknown_subcommand_fails():
    proc = run("trian")
    assert proc.returncode == 2
    assert "invalid choice: 'trian'" in proc.stderr


def test_import_is_light():
    code = "import sys, rlhf_trl, rlhf_trl.cli; print(sorted(m for m in ('torch', 'transformers', 'trl') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_keys_lists_a_stage_fields():
    proc = run("keys", "dpo")
    assert proc.returncode == 0
    assert "beta = " in proc.stdout and "learning_rate = " in proc.stdout
    # a list's default is shown, not how it is built
    proc = run("keys", "evaluation")
    assert "judges = ['reward_model', 'gold']" in proc.stdout and "factory" not in proc.stdout


def test_subcommand_flags_are_never_abbreviated(tmp_path):
    proc = run("report", "--run", str(tmp_path), "--outp", str(tmp_path / "A.md"))
    assert proc.returncode == 2 and "unrecognized arguments: --outp" in proc.stderr


def test_explore_data_names_itself_and_its_own_flags_in_a_typo(tmp_path):
    config = str(Path(__file__).resolve().parents[1] / "recipes" / "configs" / "demo.yaml")
    proc = run("explore-data", "--config", config, "--max_len", "600")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: command line: unknown flag '--max_len' for explore-data (did you mean 'max_length'?)"
    ]


def test_recipe_help_lists_the_stage_keys():
    """`python recipes/<stage>.py --help` says how to call it and lists every key, shared and the stage's."""
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "recipes/dpo.py", "--help"], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("usage: python recipes/dpo.py --config FILE")
    for key in ("run_dir = ", "model_name_or_path = ", "dataset_name = ", "beta = ", "learning_rate = "):
        assert key in proc.stdout, key


def test_evaluate_help_after_other_flags_names_its_recipe():
    proc = run("evaluate", "--config", "recipes/configs/demo.yaml", "--help")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("usage: python recipes/evaluate.py --config FILE")
    assert "max_new_tokens = " in proc.stdout


def test_explore_data_help_names_config():
    proc = run("explore-data", "--help")
    assert proc.returncode == 0 and "--config FILE" in proc.stdout
