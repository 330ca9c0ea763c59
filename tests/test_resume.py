"""Checkpoints, resume and interruption (rlhf_trl.checkpoints) on the tiny model.

Recipes run as subprocesses, as a user launches them, and are killed for real: SIGKILL after a
checkpoint (or during its write), SIGTERM/SIGINT mid-run. A resumed run must end with the same weights
(torch.equal on every tensor) and the same logged losses as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from conftest import tiny_ppo_config

from rlhf_trl.checkpoints import (
    COMPLETE_MARKER,
    latest_checkpoint,
    prepare_output_dir,
    quiet_tied_keys_warning,
    tied_parameter_groups,
)
from rlhf_trl.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(
    os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false"
)

# Both stages: log every step, checkpoint every 2.
EVERY_STEP = dict(
    learning_rate=1.0e-3,
    logging_steps=1,
    save_strategy="steps",
    save_steps=2,
    report_to="none",
    disable_tqdm=True,
)
# 8 pairs, 2 per step: 6 steps cross an epoch boundary (the data order after resume is checked too).
DPO = dict(
    max_steps=6,
    per_device_train_batch_size=2,
    per_device_eval_batch_size=4,
    max_length=96,
    **EVERY_STEP,
)
# Adaptive KL (its β is part of the state), 2 minibatches x 2 epochs per update, sampled rollouts.
PPO = dict(
    reward_funcs=["gold"],
    max_steps=5,
    per_device_train_batch_size=2,
    num_mini_batches=2,
    ppo_epochs=2,
    response_length=6,
    max_prompt_length=64,
    kl_target=0.5,
    kl_horizon=100,
    **EVERY_STEP,
)
SECTIONS = {"dpo": DPO, "ppo": PPO}
WEIGHTS = {"dpo": ["model.safetensors"], "ppo": ["model.safetensors", "value_model/model.safetensors"]}


def write_config(folder: Path, model_dir: str, stage: str, **overrides) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "run_dir": str(folder / "run"),
        "model_name_or_path": model_dir,
        "dataset_name": "bundled",
        "max_train_samples": 8 if stage == "dpo" else 16,
        "max_test_samples": 4,
        "seed": 0,
        stage: {**SECTIONS[stage], **overrides},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def output_dir(config: Path, stage: str) -> Path:
    return config.parent / "run" / "checkpoints" / stage


class Run:
    """A recipe subprocess with stdout/stderr in files (no pipe to fill up while we poll).
    ``stage="demo"`` runs ``rlhf-trl demo`` instead (``flags`` then pick its stages)."""

    def __init__(self, stage: str, config: Path, *flags: str, tag: str = "run"):
        self.log_out = config.parent / f"{tag}.stdout"
        self.log_err = config.parent / f"{tag}.stderr"
        script = ["-m", "rlhf_trl.cli", "demo"] if stage == "demo" else [f"recipes/{stage}.py"]
        with open(self.log_out, "w") as out, open(self.log_err, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, *script, "--config", str(config), *flags],
                cwd=ROOT,
                env=ENV,
                stdout=out,
                stderr=err,
            )

    def wait(self, timeout: float = 300) -> int:
        return self.proc.wait(timeout=timeout)

    @property
    def stdout(self) -> str:
        return self.log_out.read_text()

    @property
    def stderr(self) -> str:
        return self.log_err.read_text()

    def wait_for(self, *paths: Path, timeout: float = 240) -> None:
        """Poll until one of ``paths`` exists; the run must still be going."""
        end = time.monotonic() + timeout
        while not any(p.exists() for p in paths):
            assert self.proc.poll() is None, f"exited ({self.proc.returncode}) early:\n{self.stderr[-3000:]}"
            assert time.monotonic() < end, f"none of {paths} appeared"
            time.sleep(0.01)

    def signal_now(self, signum: int) -> None:
        """Freeze the process first so the signal lands within a few ms of what we observed."""
        self.proc.send_signal(signal.SIGSTOP)
        self.proc.send_signal(signum)
        self.proc.send_signal(signal.SIGCONT)


def run_to_end(stage: str, config: Path, *flags: str, tag: str = "run") -> Run:
    run = Run(stage, config, *flags, tag=tag)
    assert run.wait() == 0, run.stderr[-4000:]
    return run


def resumed_from(run: Run) -> Path:
    m = re.search(r"resuming from (\S+)", run.stdout)
    assert m, run.stdout[-2000:]
    return Path(m.group(1))


def logged(out: Path, stage: str) -> list[dict]:
    """Every logged training step (trainer_state.json of the final checkpoint), timings left out."""
    final = out / f"checkpoint-{SECTIONS[stage]['max_steps']}"
    history = json.loads((final / "trainer_state.json").read_text())["log_history"]
    return [{k: v for k, v in h.items() if k != "eps" and not k.startswith("time/")} for h in history]


def assert_same_training(straight: Path, resumed: Path, stage: str) -> None:
    from safetensors.torch import load_file

    for name in WEIGHTS[stage]:
        a, b = load_file(straight / name), load_file(resumed / name)
        assert a.keys() == b.keys()
        differ = [k for k in a if not torch.equal(a[k], b[k])]
        assert not differ, f"{name}: {len(differ)} tensors differ after resume, e.g. {differ[:3]}"
    steps = logged(straight, stage)
    assert len(steps) == SECTIONS[stage]["max_steps"]
    assert logged(resumed, stage) == steps
    final = json.loads((resumed / "metrics.json").read_text())
    assert final["stage"] == stage
    # The time per step counts the steps this (resumed) process ran.
    first = final["resumed_at_step"]
    assert 0 < first < SECTIONS[stage]["max_steps"] == final["global_step"]
    runtime, steps = final["trainer_runtime_s"], SECTIONS[stage]["max_steps"] - first
    assert final["seconds_per_step"] == pytest.approx(runtime / steps, abs=1e-3)
    assert "resumed_at_step" not in json.loads((straight / "metrics.json").read_text())


@pytest.fixture(scope="module")
def straight(tmp_path_factory, tiny_model_dir):
    """Uninterrupted runs, one per stage, to compare the resumed ones with."""
    done = {}

    def get(stage: str) -> Path:
        if stage not in done:
            config = write_config(tmp_path_factory.mktemp(f"straight_{stage}"), tiny_model_dir, stage)
            run_to_end(stage, config)
            out = output_dir(config, stage)
            start = json.loads(
                (out / f"checkpoint-{SECTIONS[stage]['max_steps']}" / "trainer_state.json").read_text()
            )
            assert start["global_step"] == SECTIONS[stage]["max_steps"]
            done[stage] = out
        return done[stage]

    return get


# ------------------------------------------------------------------------------- killed, resumed


@pytest.mark.slow
def test_dpo_killed_during_a_checkpoint_write_resumes_exactly(straight, tiny_model_dir, tmp_path):
    config = write_config(tmp_path, tiny_model_dir, "dpo")
    out = output_dir(config, "dpo")
    run = Run("dpo", config)
    # The second checkpoint's weights are written; its optimizer, RNG and trainer state (~100 ms more) not yet.
    staged = out / "tmp-checkpoint-4" / "checkpoint-4"
    run.wait_for(staged / "model.safetensors", out / "checkpoint-4")
    run.proc.kill()
    run.wait()
    assert not (out / "metrics.json").exists()
    assert not (out / "checkpoint-4").exists(), "the kill came after the write finished: nothing tested"
    assert not (staged / "trainer_state.json").exists()
    assert latest_checkpoint(out) == out / "checkpoint-2"

    resumed = run_to_end("dpo", config, "--resume_from_checkpoint", "true", tag="resume")
    assert resumed_from(resumed) == out / "checkpoint-2"
    assert not list(out.glob("tmp-*"))
    assert_same_training(straight("dpo"), out, "dpo")


@pytest.mark.slow
def test_ppo_sigkill_then_resume_is_exact_and_skips_partial_checkpoints(straight, tiny_model_dir, tmp_path):
    config = write_config(tmp_path, tiny_model_dir, "ppo")
    out = output_dir(config, "ppo")
    run = Run("ppo", config)
    run.wait_for(out / "checkpoint-2")
    run.proc.kill()
    run.wait()
    assert not (out / "metrics.json").exists()
    good = latest_checkpoint(out)
    step = int(good.name.split("-")[1])
    assert step < PPO["max_steps"]
    # What a writer killed mid-way leaves: a newer checkpoint without its marker (truncated weights) and
    # a staging folder. Resume must take the complete one.
    partial = out / f"checkpoint-{step + 1}"
    subprocess.run(["cp", "-r", str(good), str(partial)], check=True)
    (partial / COMPLETE_MARKER).unlink()
    weights = partial / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    (out / f"tmp-checkpoint-{step + 2}").mkdir()
    assert latest_checkpoint(out) == good

    resumed = run_to_end("ppo", config, "--resume_from_checkpoint", "true", tag="resume")
    assert resumed_from(resumed) == good
    assert not list(out.glob("tmp-*"))
    assert_same_training(straight("ppo"), out, "ppo")


# ------------------------------------------------------------------------------- SIGTERM / SIGINT


def _stop_and_resume(stage: str, signum: int, straight_out: Path, config: Path) -> None:
    out = output_dir(config, stage)
    run = Run(stage, config)
    run.wait_for(out / "checkpoint-2")
    run.signal_now(signum)
    assert run.wait() == 128 + signum, run.stderr[-3000:]
    name = signal.Signals(signum).name
    lines = [line for line in run.stderr.splitlines() if "resume with:" in line]
    assert len(lines) == 1, run.stderr[-3000:]
    m = re.fullmatch(
        rf"{stage}: stopped by {name} after step (\d+), checkpoint (\S+); resume with: (.+)", lines[0]
    )
    assert m, lines[0]
    step, checkpoint, command = int(m.group(1)), Path(m.group(2)), shlex.split(m.group(3))
    assert 2 <= step < SECTIONS[stage]["max_steps"]  # stopped mid-run, after the step it was in
    assert checkpoint == out / f"checkpoint-{step}" and (checkpoint / COMPLETE_MARKER).is_file()
    assert latest_checkpoint(out) == checkpoint
    assert not (out / "metrics.json").exists()  # no final model pretending the run finished
    assert command[:2] == ["python", f"recipes/{stage}.py"] and command[-2:] == [
        "--resume_from_checkpoint",
        "true",
    ]

    # The printed command, as given (with this interpreter), finishes the run.
    proc = subprocess.run([sys.executable, *command[1:]], cwd=ROOT, env=ENV, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"resuming from {checkpoint}" in proc.stdout
    # The tiny model ties lm_head to the embeddings: its checkpoint stores the tensor once, which is no
    # "missing key" (transformers warns about it; rlhf_trl.checkpoints drops the tied name from the load result).
    assert "missing keys" not in proc.stderr, proc.stderr[-3000:]
    assert_same_training(straight_out, out, stage)


@pytest.mark.slow
def test_ppo_sigterm_saves_a_checkpoint_exits_143_and_resumes(straight, tiny_model_dir, tmp_path):
    _stop_and_resume("ppo", signal.SIGTERM, straight("ppo"), write_config(tmp_path, tiny_model_dir, "ppo"))


@pytest.mark.slow
def test_dpo_ctrl_c_saves_a_checkpoint_exits_130_and_resumes(straight, tiny_model_dir, tmp_path):
    _stop_and_resume("dpo", signal.SIGINT, straight("dpo"), write_config(tmp_path, tiny_model_dir, "dpo"))


@pytest.mark.slow
def test_demo_forwards_sigterm_to_its_stage_and_a_rerun_resumes_it(straight, tiny_model_dir, tmp_path):
    """`rlhf-trl demo` runs the stage in a forked process: SIGTERM to the demo reaches the stage, which
    checkpoints and exits 143; the same demo command then resumes it to the uninterrupted weights."""
    config = write_config(tmp_path, tiny_model_dir, "ppo")
    out = output_dir(config, "ppo")
    run = Run("demo", config, "--stages", "ppo")
    run.wait_for(out / "checkpoint-2")
    run.signal_now(signal.SIGTERM)
    assert run.wait() == 128 + signal.SIGTERM, run.stderr[-3000:]
    assert "[1/1] ppo stopped (exit 143)" in run.stderr
    assert "ppo: stopped by SIGTERM after step" in run.stderr  # the stage's own line
    assert latest_checkpoint(out) is not None and not (out / "metrics.json").exists()

    again = Run("demo", config, "--stages", "ppo", tag="again")
    assert again.wait() == 0, again.stderr[-3000:]
    assert "--resume_from_checkpoint true" in again.stdout
    assert_same_training(straight("ppo"), out, "ppo")


# ------------------------------------------------------------------------------- existing output


@pytest.mark.slow
def test_non_empty_output_dir_is_refused_and_overwrite_starts_over(tiny_model_dir, tmp_path):
    config = write_config(tmp_path, tiny_model_dir, "dpo", max_steps=1, save_strategy="no")
    out = output_dir(config, "dpo")
    (out / "checkpoint-7").mkdir(parents=True)
    (out / "checkpoint-7" / COMPLETE_MARKER).write_text("{}\n")
    (out / "metrics.json").write_text('{"stage": "dpo", "old": true}\n')
    (out / "notes.txt").write_text("mine\n")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    refused = Run("dpo", config, tag="refused")
    assert refused.wait() == 2
    assert refused.stderr.count("\n") == 1, refused.stderr  # one line, no traceback
    assert refused.stderr.startswith(f"error: output folder {out} is not empty")
    assert "--resume_from_checkpoint true (latest: checkpoint-7)" in refused.stderr
    assert "--overwrite_output_dir true" in refused.stderr
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before

    run_to_end("dpo", config, "--overwrite_output_dir", "true", tag="overwrite")
    assert not (out / "checkpoint-7").exists()  # the previous run's checkpoints cannot be resumed by mistake
    assert "old" not in json.loads((out / "metrics.json").read_text())
    assert (out / "notes.txt").read_text() == "mine\n"  # files that are not a run's output stay


# ------------------------------------------------------------------------------- units (no training)


def _args(out: Path, resume=None, overwrite=False):
    stage = SimpleNamespace(
        output_dir=str(out),
        resume_from_checkpoint=resume,
        should_save=True,
        main_process_first=lambda desc="": contextlib.nullcontext(),
    )
    return SimpleNamespace(stage=stage, run=SimpleNamespace(overwrite_output_dir=overwrite))


def _checkpoint(out: Path, step: int, complete: bool = True) -> Path:
    folder = out / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"x")
    if complete:
        (folder / COMPLETE_MARKER).write_text("{}")
    return folder


def test_latest_checkpoint_is_the_highest_complete_one(tmp_path):
    assert latest_checkpoint(tmp_path / "missing") is None
    _checkpoint(tmp_path, 9)
    ten = _checkpoint(tmp_path, 10)  # numeric order, not lexicographic
    _checkpoint(tmp_path, 12, complete=False)  # a writer without the staging folder died here
    (tmp_path / "tmp-checkpoint-14").mkdir()
    (tmp_path / "checkpoint-15").write_text("a file, not a checkpoint")
    assert latest_checkpoint(tmp_path) == ten


def test_prepare_output_dir_resume_and_refusals(tmp_path):
    out = tmp_path / "out"
    assert prepare_output_dir(_args(out)) is None  # fresh: fine
    with pytest.raises(UserError, match="no complete checkpoint"):
        prepare_output_dir(_args(out, resume="true"))
    _checkpoint(out, 2)
    _checkpoint(out, 4, complete=False)
    (out / "tmp-checkpoint-6").mkdir()
    with pytest.raises(UserError, match=r"not empty.*latest: checkpoint-2"):
        prepare_output_dir(_args(out))
    with pytest.raises(UserError, match=r"not a complete checkpoint.*latest complete one is .*checkpoint-2"):
        prepare_output_dir(_args(out, resume=str(out / "checkpoint-4")))
    with pytest.raises(UserError, match="contradict"):
        prepare_output_dir(_args(out, resume="true", overwrite=True))
    assert (out / "tmp-checkpoint-6").is_dir()  # refusals delete nothing

    args = _args(out, resume=True)  # YAML `true`
    assert prepare_output_dir(args) == str(out / "checkpoint-2") == args.stage.resume_from_checkpoint
    assert not (out / "tmp-checkpoint-6").exists()  # unfinished writes are cleaned on resume
    assert prepare_output_dir(_args(out, resume=str(out / "checkpoint-2"))) == str(out / "checkpoint-2")

    (out / "metrics.json").write_text("{}")
    (out / "config.json").write_text("{}")
    assert prepare_output_dir(_args(out, overwrite=True)) is None
    assert sorted(p.name for p in out.iterdir()) == ["config.json"]


def test_resume_refuses_a_checkpoint_written_with_other_settings(tmp_path):
    """`bf16: auto` differs by host: a stage checkpointed in fp32 on one machine must not resume in bf16 on
    another without being told; other training settings the same. Training longer (max_steps) is fine."""
    out = tmp_path / "out"
    folder = _checkpoint(out, 3)
    written = {"bf16": False, "fp16": False, "learning_rate": 5e-5, "seed": 43}
    (folder / COMPLETE_MARKER).write_text(json.dumps({"global_step": 3, "settings": written}))

    def args(**changes):
        a = _args(out, resume="true")
        for key, value in {**written, "max_steps": 250, **changes}.items():
            setattr(a.stage, key, value)
        return a

    assert prepare_output_dir(args(max_steps=500)) == str(folder)
    with pytest.raises(UserError) as err:
        prepare_output_dir(args(bf16=True))
    assert str(err.value) == (
        f"{folder} was written with bf16=False (now True): resume with the same settings (e.g. --bf16 false), "
        "or start over with --overwrite_output_dir true"
    )
    with pytest.raises(UserError, match=r"learning_rate=5e-05 \(now 0.0001\), seed=43 \(now 44\)"):
        prepare_output_dir(args(learning_rate=1e-4, seed=44))
    (folder / COMPLETE_MARKER).write_text("{}")  # a checkpoint from before the marker recorded settings
    assert prepare_output_dir(args(bf16=True)) == str(folder)


def _ppo_saving_every_step(tiny_model_dir: Path, tmp_path: Path):
    """A tiny PPO trainer (2 updates) that checkpoints after each; returns it and its config."""
    from datasets import Dataset

    from rlhf_trl.models import load_causal_lm, load_tokenizer
    from rlhf_trl.ppo.trainer import PPOTrainer

    tok = load_tokenizer(tiny_model_dir)
    prompts = Dataset.from_dict({"prompt": [[{"role": "user", "content": f"Say {w}."}] for w in "abcdefgh"]})
    args = tiny_ppo_config(
        tmp_path, max_steps=2, response_length=4, ppo_epochs=1, save_strategy="steps", save_steps=1
    )
    trainer = PPOTrainer(
        args,
        tok,
        load_causal_lm(tiny_model_dir, tok),
        prompts,
        reward_funcs=[lambda prompts, completions, **_: [1.0] * len(completions)],
    )
    return trainer, args


def test_an_error_during_a_checkpoint_write_leaves_the_previous_one_loadable(
    tiny_model_dir, tmp_path, one_thread
):
    """Trainer-level: the write dies half-way (here an exception; a kill leaves the same files)."""
    trainer, args = _ppo_saving_every_step(tiny_model_dir, tmp_path)
    calls = []
    original = trainer._save_rng_state

    def dies_the_second_time(output_dir):
        calls.append(output_dir)
        if len(calls) == 2:
            raise OSError("disk full")
        original(output_dir)

    trainer._save_rng_state = dies_the_second_time
    with pytest.raises(OSError, match="disk full"):
        trainer.train()
    out = Path(args.output_dir)
    assert "tmp-checkpoint-2" in calls[1]  # it was writing into the staging folder
    assert (out / "tmp-checkpoint-2" / "checkpoint-2" / "model.safetensors").is_file()  # half-written
    assert not (out / "checkpoint-2").exists()
    assert latest_checkpoint(out) == out / "checkpoint-1"
    assert json.loads((out / "checkpoint-1" / "trainer_state.json").read_text())["global_step"] == 1
    assert (out / "checkpoint-1" / "optimizer.pt").is_file() and (
        out / "checkpoint-1" / "ppo_state.json"
    ).is_file()


def test_demo_resumes_a_stage_with_checkpoints_and_restarts_one_without(tmp_path):
    from rlhf_trl.demo import stage_flags

    run = tmp_path / "run"
    assert stage_flags(run, "dpo", restart=False) == []
    _checkpoint(run / "checkpoints" / "dpo", 2)
    assert stage_flags(run, "dpo", restart=False) == ["--resume_from_checkpoint", "true"]
    assert stage_flags(run, "dpo", restart=True) == ["--overwrite_output_dir", "true"]
    (run / "checkpoints" / "ppo").mkdir(parents=True)
    (run / "checkpoints" / "ppo" / "config.json").write_text("{}")  # died during the final save
    assert stage_flags(run, "ppo", restart=False) == ["--overwrite_output_dir", "true"]
    assert stage_flags(run, "evaluation", restart=False) == []


def test_keys_lists_the_new_fields(capsys):
    from rlhf_trl.cli import keys_main

    keys_main(["shared"])
    assert "overwrite_output_dir = False" in capsys.readouterr().out
    keys_main(["dpo"])
    assert (
        "resume_from_checkpoint = None  Resume training from a checkpoint-N folder, or `true`"
        in capsys.readouterr().out
    )


# ------------------------------------------------------------------------------- tied weights on resume


def test_resume_warns_about_missing_keys_only_when_they_are_not_tied(tiny_model_dir, tmp_path):
    """transformers' Trainer warns "missing keys: ['lm_head.weight']" when it resumes a model whose
    lm_head is tied to the embeddings (the checkpoint holds the shared tensor once). That name is
    dropped; a missing key that is not tied, or a tied tensor missing under every name, still warns.
    Drives the real Trainer's check, so a transformers that renames it fails here."""
    import logging

    from torch.nn.modules.module import _IncompatibleKeys
    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments

    class Keep(logging.Handler):  # our own handler: transformers' loggers do not propagate to pytest's
        def __init__(self):
            super().__init__(logging.WARNING)
            self.messages: list[str] = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert tied_parameter_groups(model) == [{"model.embed_tokens.weight", "lm_head.weight"}]
    trainer = Trainer(model=model, args=TrainingArguments(output_dir=str(tmp_path), report_to=[]))
    log = logging.getLogger("transformers.trainer")
    keep, level = Keep(), log.level
    log.addHandler(keep)
    log.setLevel(logging.WARNING)  # whatever verbosity an earlier test left transformers at

    def load(*missing, unexpected=()):
        trainer._issue_warnings_after_load(_IncompatibleKeys(list(missing), list(unexpected)))

    try:
        with quiet_tied_keys_warning(trainer):
            load("lm_head.weight")  # nothing said
            load("lm_head.weight", "model.norm.weight")  # norm is not tied: only it is named
            load("model.embed_tokens.weight", "lm_head.weight")  # no name loaded the tied tensor
            load(unexpected=["lm_head.weight"])
        load("lm_head.weight")  # the Trainer's own check after the block
    finally:
        log.removeHandler(keep)
        log.setLevel(level)
    missing = "There were missing keys in the checkpoint model loaded: "
    assert keep.messages == [
        missing + "['model.norm.weight'].",
        missing + "['model.embed_tokens.weight', 'lm_head.weight'].",
        "There were unexpected keys in the checkpoint model loaded: ['lm_head.weight'].",
        missing + "['lm_head.weight'].",
    ]
    assert "_issue_warnings_after_load" not in vars(trainer)

    calls = []
    trainer._issue_warnings_after_load = calls.append  # an instance's own patch survives the block
    other_result = SimpleNamespace(missing_keys=["lm_head.weight"], unexpected_keys=[])  # no _replace: as is
    with quiet_tied_keys_warning(trainer):
        load("lm_head.weight")
        trainer._issue_warnings_after_load(other_result)
    assert calls == [_IncompatibleKeys([], []), other_result]
    assert trainer._issue_warnings_after_load == calls.append

    untied = AutoModelForCausalLM.from_pretrained(tiny_model_dir, tie_word_embeddings=False)
    assert tied_parameter_groups(untied) == []


def test_a_full_disk_during_a_checkpoint_write_is_one_clear_error(
    tiny_model_dir, tmp_path, one_thread, monkeypatch
):
    """torch reports a full disk as a RuntimeError about zip positions: with (almost) no space left the write's
    failure becomes a UserError that says so and what to do; the partial folder goes, checkpoint-1 stays."""
    from collections import namedtuple

    import rlhf_trl.checkpoints as ckpt
    from rlhf_trl.errors import UserError

    trainer, args = _ppo_saving_every_step(tiny_model_dir, tmp_path)
    original = trainer._save_rng_state
    calls = []

    def disk_fills(output_dir):
        calls.append(output_dir)
        if len(calls) == 2:
            usage = namedtuple("usage", "total used free")
            monkeypatch.setattr(ckpt.shutil, "disk_usage", lambda _: usage(10**9, 10**9, 80 * 1024))
            raise RuntimeError(
                "[enforce fail at inline_container.cc:672] . unexpected pos 996859648 vs 996859536"
            )
        original(output_dir)

    trainer._save_rng_state = disk_fills
    with pytest.raises(
        UserError, match=r"^no space left \(disk or quota\) under .* while saving checkpoint-2 "
    ) as err:
        trainer.train()
    assert "(0 MiB free; RuntimeError: [enforce fail" in str(err.value)
    assert "checkpoint-1, is kept: free space, then rerun with --resume_from_checkpoint true" in str(
        err.value
    )
    out = Path(args.output_dir)
    assert not (out / "tmp-checkpoint-2").exists() and not (out / "checkpoint-2").exists()
    assert latest_checkpoint(out) == out / "checkpoint-1"
    monkeypatch.undo()  # the real disk: only ENOSPC / EDQUOT say "full"; other errors keep their own
    assert ckpt.disk_full(out, OSError(errno.ENOSPC, "No space left on device")) is not None
    assert ckpt.disk_full(out, OSError(errno.EACCES, "Permission denied")) is None
    assert ckpt.disk_full(out, RuntimeError("unexpected pos")) is None
    assert "no complete checkpoint yet" in ckpt.disk_full_message(
        tmp_path / "none", "checkpoint-1", 0, OSError()
    )
    # safetensors' SafetensorError is no OSError: its message carries the OS error (seen on a full disk)
    safetensors_error = Exception("Error while serializing: I/O error: No space left on device (os error 28)")
    assert ckpt.disk_full(out, safetensors_error) is not None


def test_a_full_disk_during_the_final_save_is_one_clear_error(
    tiny_model_dir, tmp_path, one_thread, monkeypatch
):
    """The stage's last write (the model beside its checkpoints): a full disk is one line naming the final
    model, the half-written weights and critic go, the checkpoints stay, and a rerun that resumes saves again.
    Seen on dev run 25 (docs/analysis/tuning/prototype_v5_seed54_dev_trained/): PPO ended, then its save died."""
    from rlhf_trl.ppo.policy_and_value import PolicyAndValue

    trainer, args = _ppo_saving_every_step(tiny_model_dir, tmp_path)
    trainer.train()
    out = Path(args.output_dir)
    original = PolicyAndValue.save

    def disk_fills(self, output_dir, *a, **k):
        (output_dir / "model.safetensors").write_bytes(b"half")
        (output_dir / "value_model").mkdir(exist_ok=True)
        raise Exception("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(PolicyAndValue, "save", disk_fills)
    with pytest.raises(
        UserError, match=r"^no space left \(disk or quota\) under .* while saving the final model "
    ):
        trainer.save_model(str(out))
    assert not (out / "model.safetensors").exists() and not (out / "value_model").exists()
    assert latest_checkpoint(out) == out / "checkpoint-2"
    monkeypatch.setattr(PolicyAndValue, "save", original)
    trainer.save_model(str(out))  # space again: the save goes through
    assert (out / "model.safetensors").is_file() and (out / "value_model" / "config.json").is_file()

    # any other failure keeps its own error and traceback, and the files are left as they are
    def breaks(self, output_dir, *a, **k):
        raise ValueError("a bug")

    monkeypatch.setattr(PolicyAndValue, "save", breaks)
    with pytest.raises(ValueError, match="a bug"):
        trainer.save_model(str(out))
    assert (out / "model.safetensors").is_file()


def test_save_final_turns_a_full_disk_into_one_line(tmp_path):
    """save_final (SFT, reward, DPO, GRPO): the same guard around the model and tokenizer writes."""
    from rlhf_trl.training import save_final

    class Trainer:
        accelerator = SimpleNamespace(
            unwrap_model=lambda m: m, is_main_process=True, wait_for_everyone=lambda: None
        )
        model = object()

        def save_model(self, out):
            (Path(out) / "model-00001-of-00002.safetensors").write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")

    (tmp_path / "checkpoint-3").mkdir()
    (tmp_path / "checkpoint-3" / "model.safetensors").write_bytes(b"kept")
    with pytest.raises(UserError, match="while saving the final model") as err:
        save_final(Trainer(), tokenizer=None, out_dir=tmp_path)
    assert "under " + str(tmp_path) in str(err.value)
    assert not list(tmp_path.glob("*.safetensors"))
    assert (tmp_path / "checkpoint-3" / "model.safetensors").read_bytes() == b"kept"
