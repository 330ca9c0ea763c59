"""Checkpoints, resume and interruption, shared by every training recipe.

* **Atomic checkpoints.** A checkpoint is written into ``output_dir/tmp-checkpoint-N/`` and renamed to
  ``output_dir/checkpoint-N/`` (``os.replace``) once every file, and last a ``checkpoint_complete.json``
  marker, is on disk. A process killed mid-write leaves only a ``tmp-*`` folder, which resume ignores
  (and the next run deletes). transformers' ``Trainer._save_checkpoint`` writes straight into
  ``checkpoint-N`` and its ``get_last_checkpoint`` takes the highest number, complete or not:
  :class:`AtomicCheckpointMixin` stages the write, :func:`latest_checkpoint` only returns complete ones.
* **Resume.** ``--resume_from_checkpoint PATH`` or ``true`` (the latest complete checkpoint in
  ``output_dir``); :func:`prepare_output_dir` resolves it before any model loads.
* **Existing output.** A stage whose ``output_dir`` is not empty stops with one line (exit 2) unless it
  resumes or ``--overwrite_output_dir true`` is given.
* **Interruption.** :class:`StopOnSignal`: the first SIGINT (Ctrl-C) or SIGTERM lets the current step
  finish, saves a checkpoint, and the recipe exits 128 + signal number (130, 143) with the command that
  resumes; a second one stops at once without saving.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shlex
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from rlhf_trl.errors import UserError

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
STAGING_RE = re.compile(r"^tmp-(old-)?checkpoint-\d+$")
COMPLETE_MARKER = "checkpoint_complete.json"
# Counters TRL trainers keep outside TrainerState (the logged `num_tokens`); saved so a resumed run logs
# what an uninterrupted one would.
COUNTERS_FILE = "trl_counters.json"
# A checkpoint write that fails with less than this free on its disk is read as "disk full" (torch reports a
# full disk as RuntimeError("[enforce fail at inline_container.cc] unexpected pos ..."), not as ENOSPC).
LOW_DISK_BYTES = 64 * 2**20
# safetensors reports the OS error only in its message (SafetensorError: "... No space left on device (os error 28)")
DISK_FULL_TEXT = ("No space left on device", "Disk quota exceeded")
# What a stage's final save writes next to its checkpoint-N folders: the weights (sharded or not), PPO's critic and
# a LoRA policy's adapter. A save that fails for lack of space leaves them unusable, so they go.
FINAL_WEIGHTS = ("*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin", "value_model", "adapter")
TRL_COUNTERS = ("_total_train_tokens",)
HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Settings a resumed run must share with the run that wrote the checkpoint: changing one half-way makes a
# run that is neither (max_steps may change: training longer is a resume). `bf16: auto` makes precision
# depend on the host, so a stage checkpointed on one machine and resumed on another could switch silently.
RESUME_SETTINGS = (
    "bf16",
    "fp16",
    "learning_rate",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "seed",
    "critic_learning_rate",  # PPO: the critic's groups and the policy's schedule are rebuilt from these
    "critic_warmup_steps",
)


# ----------------------------------------------------------------------------------------- discovery


def is_complete(checkpoint: str | Path) -> bool:
    """A checkpoint folder whose writer finished (it holds the completion marker)."""
    return (Path(checkpoint) / COMPLETE_MARKER).is_file()


def complete_checkpoints(folder: str | Path) -> list[Path]:
    """``folder/checkpoint-N`` folders that are complete, oldest (lowest N) first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [
        (int(m.group(1)), p)
        for p in folder.iterdir()
        if (m := CHECKPOINT_RE.match(p.name)) and p.is_dir() and is_complete(p)
    ]
    return [p for _, p in sorted(found)]


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The complete checkpoint with the highest step in ``folder``, or None. Ignores ``tmp-*`` folders
    (writes that never finished) and ``checkpoint-N`` folders without the marker."""
    found = complete_checkpoints(folder)
    return found[-1] if found else None


def checkpoint_step(checkpoint: str | Path) -> int | None:
    m = CHECKPOINT_RE.match(Path(checkpoint).name)
    return int(m.group(1)) if m else None


# --------------------------------------------------------------------------------------- output dir


def _resume_value(value: Any) -> str | bool | None:
    """``resume_from_checkpoint`` as given: None/false -> None, true -> True, else a path."""
    if value is None or value is False:
        return None
    if value is True:
        return True
    text = str(value).strip()
    if text.lower() in ("", "false", "no", "none"):
        return None
    if text.lower() in ("true", "yes", "latest"):
        return True
    return text


def prepare_output_dir(args) -> str | None:
    """Check the stage's ``output_dir`` and resolve ``resume_from_checkpoint`` before any model loads.

    Returns the checkpoint folder to resume from (also written back to
    ``args.stage.resume_from_checkpoint``), or None for a fresh run. Raises :class:`UserError` for a
    non-empty ``output_dir`` without resume/overwrite, ``true`` with no complete checkpoint, or a path
    that is not a complete checkpoint. With ``overwrite_output_dir`` the previous run's checkpoints and
    ``metrics.json`` are deleted (the rest is overwritten as the new run writes it).
    """
    cfg, out = args.stage, Path(args.stage.output_dir)
    resume = _resume_value(cfg.resume_from_checkpoint)
    overwrite = bool(getattr(args.run, "overwrite_output_dir", False))
    if resume is not None and overwrite:
        raise UserError(
            "resume_from_checkpoint and overwrite_output_dir contradict each other: resume keeps the "
            "output folder, overwrite starts over; pass only one"
        )
    checkpoint: Path | None = None
    if resume is True:
        checkpoint = latest_checkpoint(out)
        if checkpoint is None:
            raise UserError(
                f"--resume_from_checkpoint true: no complete checkpoint (checkpoint-N/ with {COMPLETE_MARKER}) "
                f"in {out}; start without it (add --overwrite_output_dir true if {out} is not empty)"
            )
    elif resume is not None:
        checkpoint = Path(resume)
        if not checkpoint.is_dir():
            raise UserError(
                f"--resume_from_checkpoint {resume}: no such folder; give a checkpoint-N folder or true"
            )
        if not is_complete(checkpoint):
            newest = latest_checkpoint(checkpoint.parent)
            hint = f"; the latest complete one is {newest}" if newest else ""
            raise UserError(
                f"--resume_from_checkpoint {resume}: not a complete checkpoint (no {COMPLETE_MARKER}: its write "
                f"was interrupted, or it is not a checkpoint){hint}"
            )
    elif out.is_dir() and any(out.iterdir()):
        if not overwrite:
            newest = latest_checkpoint(out)
            how = (
                f"resume it with --resume_from_checkpoint true (latest: {newest.name}), or "
                if newest is not None
                else ""
            )
            raise UserError(
                f"output folder {out} is not empty (a previous run's output); {how}pass --overwrite_output_dir "
                "true to start over, or choose another run_dir"
            )
    if checkpoint is not None:
        _check_resume_settings(cfg, checkpoint)
    _clean_output_dir(cfg, out, remove_previous_run=overwrite and resume is None)
    cfg.resume_from_checkpoint = str(checkpoint) if checkpoint is not None else None
    return cfg.resume_from_checkpoint


def resume_settings(cfg) -> dict[str, Any]:
    """The :data:`RESUME_SETTINGS` of a stage config that has them (recorded in each checkpoint's marker)."""
    return {k: getattr(cfg, k) for k in RESUME_SETTINGS if hasattr(cfg, k)}


def _check_resume_settings(cfg, checkpoint: Path) -> None:
    """A UserError when ``checkpoint`` was written with other :data:`RESUME_SETTINGS` than ``cfg`` has;
    checkpoints from before the marker recorded them are not checked."""
    recorded = json.loads((checkpoint / COMPLETE_MARKER).read_text() or "{}").get("settings") or {}
    now = resume_settings(cfg)
    changed = [k for k in recorded if k in now and recorded[k] != now[k]]
    if changed:
        what = ", ".join(f"{k}={recorded[k]!r} (now {now[k]!r})" for k in changed)
        raise UserError(
            f"{checkpoint} was written with {what}: resume with the same settings (e.g. --{changed[0]} "
            f"{str(recorded[changed[0]]).lower()}), or start over with --overwrite_output_dir true"
        )


def _clean_output_dir(cfg, out: Path, remove_previous_run: bool) -> None:
    """Delete unfinished checkpoint writes (``tmp-*``) and, when starting over, the previous run's
    checkpoints and metrics.json. One process deletes; the others wait."""
    if not out.is_dir():
        return
    with cfg.main_process_first(desc="cleaning the output folder"):
        if not cfg.should_save:
            return
        for p in out.iterdir():
            previous = remove_previous_run and (CHECKPOINT_RE.match(p.name) or p.name == "metrics.json")
            if STAGING_RE.match(p.name) or previous:
                shutil.rmtree(p) if p.is_dir() else p.unlink()


# ------------------------------------------------------------------------------------------ writing


class AtomicCheckpointMixin:
    """Makes ``Trainer._save_checkpoint`` atomic: write into ``tmp-checkpoint-N/``, mark it complete,
    rename it to ``checkpoint-N/``. Put it first in the bases (``with_atomic_checkpoints(DPOTrainer)``).

    The parent's ``_save_checkpoint`` (transformers' and TRL's model-card override) runs unchanged with
    ``_get_output_dir`` pointing into the staging folder; checkpoint rotation (``save_total_limit``) runs
    on the real folder after the rename. Subclasses add their own state in :meth:`_save_checkpoint_extras`.
    """

    _checkpoint_staging: str | None = None

    def _get_output_dir(self, trial) -> str:
        return self._checkpoint_staging or super()._get_output_dir(trial)

    def _save_checkpoint_extras(self, checkpoint_dir: Path) -> None:
        """Hook: write more state into the (staging) checkpoint folder; called on every process."""

    def _load_optimizer_and_scheduler(self, checkpoint) -> None:
        # Trainer calls this exactly when it resumes: restore TRL's counters with it.
        super()._load_optimizer_and_scheduler(checkpoint)
        counters = Path(checkpoint or "") / COUNTERS_FILE
        if checkpoint and counters.is_file():
            for name, value in json.loads(counters.read_text()).items():
                setattr(self, name, value)

    def _save_checkpoint(self, model, trial) -> None:
        from transformers.trainer_utils import rotate_checkpoints

        run_dir = Path(super()._get_output_dir(trial))
        name = f"checkpoint-{self.state.global_step}"
        staging = run_dir / f"tmp-{name}"
        main = self.args.should_save
        if main:
            shutil.rmtree(staging, ignore_errors=True)  # a write that died before
            staging.mkdir(parents=True)
        self.accelerator.wait_for_everyone()
        self._checkpoint_staging = str(staging)

        def remove_staging():  # unusable, and its space is what is missing
            if main:
                shutil.rmtree(staging, ignore_errors=True)

        try:
            with disk_full_guard(run_dir, name, remove_staging):
                super()._save_checkpoint(model, trial)  # -> staging/checkpoint-N
                counters = {k: getattr(self, k) for k in TRL_COUNTERS if hasattr(self, k)}
                if counters and main:
                    (staging / name / COUNTERS_FILE).write_text(json.dumps(counters) + "\n")
                self._save_checkpoint_extras(staging / name)
        finally:
            self._checkpoint_staging = None
        final = run_dir / name
        best = self.state.best_model_checkpoint
        if best and Path(best) == staging / name:
            self.state.best_model_checkpoint = str(final)
            if main:
                self.state.save_to_json(str(staging / name / "trainer_state.json"))
        self.accelerator.wait_for_everyone()  # every process has written its files (RNG state, shards)
        if main:
            marker = {"global_step": self.state.global_step, "settings": resume_settings(self.args)}
            (staging / name / COMPLETE_MARKER).write_text(json.dumps(marker) + "\n")
            _publish(staging / name, final)
            staging.rmdir()
            rotate_checkpoints(
                output_dir=str(run_dir),
                save_total_limit=self.args.save_total_limit,
                best_model_checkpoint=self.state.best_model_checkpoint,
            )
        self.accelerator.wait_for_everyone()


def disk_full(path: Path, err: BaseException) -> int | None:
    """The free bytes under ``path`` if a write there failed for lack of space (ENOSPC or EDQUOT, their text in
    the error's message, or under ``LOW_DISK_BYTES`` left), else None: any other failure keeps its own error and
    traceback."""
    try:
        free = shutil.disk_usage(path).free
    except OSError:
        free = None
    quota = isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)
    quota = quota or any(text in str(err) for text in DISK_FULL_TEXT)
    if quota or (free is not None and free < LOW_DISK_BYTES):
        return free or 0
    return None


def disk_full_message(run_dir: Path, name: str, free: int, err: BaseException) -> str:
    """One line: what failed, what is kept, how to go on."""
    kept = latest_checkpoint(run_dir)
    then = (
        f"the last complete checkpoint, {kept.name}, is kept: free space, then rerun with "
        "--resume_from_checkpoint true (rlhf-trl demo does so itself)"
        if kept
        else "no complete checkpoint yet: free space, then rerun with --overwrite_output_dir true"
    )
    cause = " ".join(f"{type(err).__name__}: {err}".split())[:120]
    return (
        f"no space left (disk or quota) under {run_dir} while saving {name} ({free / 2**20:.0f} MiB free; {cause}); "
        f"the partial write was removed and {then}. Each checkpoint holds the model and its optimizer state; "
        "--save_total_limit 1 keeps one (two while the next is written)"
    )


@contextlib.contextmanager
def disk_full_guard(run_dir: Path, name: str, remove):
    """Around a write of ``name`` under ``run_dir``: if it fails for lack of space (:func:`disk_full`),
    ``remove()`` what it half-wrote and raise :func:`disk_full_message`'s one line; any other failure keeps its
    own error and traceback."""
    try:
        yield
    except Exception as err:  # safetensors' SafetensorError is not an OSError; disk_full decides
        free = disk_full(run_dir, err)
        if free is None:
            raise
        remove()
        raise UserError(disk_full_message(run_dir, name, free, err)) from err


def final_save_guard(out_dir: str | Path):
    """:func:`disk_full_guard` around a stage's final save (main process): the half-written weights
    (``FINAL_WEIGHTS`` at ``out_dir``'s top level) are removed so nothing loads them; the checkpoints stay, and a
    rerun with ``--resume_from_checkpoint true`` goes on from the last one (only saving again when it is the
    last step)."""
    out_dir = Path(out_dir)

    def remove_final_weights():
        for pattern in FINAL_WEIGHTS:
            for path in out_dir.glob(pattern):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)

    return disk_full_guard(out_dir, "the final model", remove_final_weights)


def _publish(src: Path, final: Path) -> None:
    """Rename ``src`` to ``final``; an existing ``final`` (the same step saved again) is moved aside first,
    so at every moment either the old or the new folder is the complete ``checkpoint-N`` (or neither,
    briefly, and resume falls back to the previous step)."""
    if not final.exists():
        os.replace(src, final)
        return
    old = final.with_name(f"tmp-old-{final.name}")
    shutil.rmtree(old, ignore_errors=True)
    os.replace(final, old)
    os.replace(src, final)
    shutil.rmtree(old, ignore_errors=True)


_ATOMIC_CLASSES: dict[type, type] = {}


def with_atomic_checkpoints(trainer_cls: type) -> type:
    """``trainer_cls`` with :class:`AtomicCheckpointMixin` in front (cached; same name)."""
    if issubclass(trainer_cls, AtomicCheckpointMixin):
        return trainer_cls
    if trainer_cls not in _ATOMIC_CLASSES:
        _ATOMIC_CLASSES[trainer_cls] = type(
            trainer_cls.__name__,
            (AtomicCheckpointMixin, trainer_cls),
            {"__doc__": trainer_cls.__doc__, "__module__": trainer_cls.__module__},
        )
    return _ATOMIC_CLASSES[trainer_cls]


# ------------------------------------------------------------------------------------- interruption


class StopOnSignal(TrainerCallback):
    """First SIGINT/SIGTERM: finish the step, save a checkpoint, stop training. Second: stop at once.

    The flag is checked at ``on_step_end`` (after the optimizer step); under several processes it is
    reduced over them, so every process stops after the same step whoever got the signal.
    """

    def __init__(self, accelerator):
        self.accelerator = accelerator
        self.signum: int | None = None  # received by this process
        self.stopped_at: int | None = None  # global step after which training stopped

    @contextlib.contextmanager
    def installed(self):
        """Handle SIGINT/SIGTERM inside the block (the main thread only; elsewhere: default handling)."""
        previous = {}
        try:
            for sig in HANDLED_SIGNALS:
                previous[sig] = signal.signal(sig, self._handle)
        except ValueError:  # not the main thread: signals cannot be caught here
            pass
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _handle(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        if self.signum is not None:  # asked twice: stop now, no checkpoint
            signal.signal(signum, signal.SIG_DFL)
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            os.kill(os.getpid(), signum)
            return
        self.signum = signum
        print(
            f"\nreceived {name}: finishing the current step, then saving a checkpoint ({name} again stops "
            "at once, without one)",
            file=sys.stderr,
            flush=True,
        )

    def requested(self) -> int:
        """The signal number any process received (0: none). A collective call under several processes."""
        local = self.signum or 0
        if self.accelerator.num_processes == 1:
            return local
        import torch

        flags = self.accelerator.gather(torch.tensor([local], device=self.accelerator.device))
        return int(flags.max().item())

    def on_step_end(self, args, state, control, **kwargs):
        signum = self.requested()
        if signum:
            self.signum = self.signum or signum
            self.stopped_at = state.global_step
            control.should_save = True
            control.should_training_stop = True
        return control


def resume_command(args) -> str:
    """The command that resumes this recipe run: same flags, ``--resume_from_checkpoint true``."""
    drop = {"--resume_from_checkpoint", "--overwrite_output_dir"}
    kept, skip = [], False
    for a in args.argv:
        if skip:
            skip = False
            continue
        if a in drop:
            skip = True
            continue
        if a.split("=")[0] in drop:
            continue
        kept.append(a)
    script = sys.argv[0] if sys.argv and sys.argv[0].endswith(f"{args.stage_name}.py") else ""
    if script:
        with contextlib.suppress(ValueError):
            script = os.path.relpath(script)
    else:
        script = f"recipes/{args.stage_name}.py"
    launcher = "python" if int(os.environ.get("WORLD_SIZE", "1")) == 1 else "accelerate launch [same options]"
    return " ".join(
        [launcher, shlex.quote(script), *map(shlex.quote, kept), "--resume_from_checkpoint", "true"]
    )


def tied_parameter_groups(model) -> list[set[str]]:
    """The names of each tensor that several parameter names share (tied embeddings: the input
    embedding and ``lm_head``), one set per tensor."""
    names: dict[int, set[str]] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(param), set()).add(name)
    return [group for group in names.values() if len(group) > 1]


def loaded_under_another_name(missing_keys, tied: list[set[str]]) -> set[str]:
    """The missing keys whose tensor the checkpoint did load, under another name of the same tied tensor
    (safetensors stores a shared tensor once: ``lm_head.weight`` is "missing", the embedding filled it)."""
    missing = set(missing_keys)
    return {name for group in tied if group - missing for name in group & missing}


@contextlib.contextmanager
def quiet_tied_keys_warning(trainer):
    """While resuming, transformers' Trainer warns "There were missing keys in the checkpoint model
    loaded: ['lm_head.weight']" for a model with tied embeddings, though nothing is missing. This drops
    such names from the load result before the Trainer's check: a key that is not tied, or a tied tensor
    missing under every name, still warns (and only those are named)."""
    tied = tied_parameter_groups(trainer.model)
    issue = getattr(trainer, "_issue_warnings_after_load", None)
    if not tied or issue is None:
        yield
        return

    def issue_for_keys_really_missing(load_result):
        if not hasattr(load_result, "_replace"):  # not torch's _IncompatibleKeys: the Trainer's check as is
            return issue(load_result)
        drop = loaded_under_another_name(load_result.missing_keys, tied)
        kept = [key for key in load_result.missing_keys if key not in drop]
        return issue(load_result._replace(missing_keys=kept))

    patched_before = vars(trainer).get("_issue_warnings_after_load")  # an instance's own patch, if any
    trainer._issue_warnings_after_load = issue_for_keys_really_missing
    try:
        yield
    finally:
        if patched_before is None:
            del trainer._issue_warnings_after_load  # the class's method again
        else:
            trainer._issue_warnings_after_load = patched_before


def train_resumable(trainer, args):
    """``trainer.train()`` resuming from ``args.stage.resume_from_checkpoint`` (see :func:`prepare_output_dir`),
    with SIGINT/SIGTERM handled: on a signal a checkpoint is saved, one line on stderr says how to resume,
    and the process exits 128 + the signal number. Returns what ``train`` returns."""
    from rlhf_trl.progress import use_compact_progress

    use_compact_progress(trainer, args.stage_name)  # one short line per log, not the raw metric dict
    resume = args.stage.resume_from_checkpoint
    main = trainer.accelerator.is_main_process
    if resume and main:
        print(f"{args.stage_name}: resuming from {resume}", flush=True)
    stop = StopOnSignal(trainer.accelerator)
    trainer.add_callback(stop)
    with stop.installed(), quiet_tied_keys_warning(trainer):
        result = trainer.train(resume_from_checkpoint=resume)
        # A signal after the last step's check (during the final log/save) still stops before the final save.
        signum = stop.signum if stop.stopped_at is not None else stop.requested()
    trainer.remove_callback(stop)
    if not signum:
        return result
    checkpoint = Path(trainer.args.output_dir) / f"checkpoint-{trainer.state.global_step}"
    if not is_complete(checkpoint):
        trainer._save_checkpoint(getattr(trainer, "model_wrapped", trainer.model), trial=None)
    if main:
        print(
            f"{args.stage_name}: stopped by {signal.Signals(signum).name} after step {trainer.state.global_step}, "
            f"checkpoint {checkpoint}; resume with: {resume_command(args)}",
            file=sys.stderr,
            flush=True,
        )
    sys.exit(128 + signum)
