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
