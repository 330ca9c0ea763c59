"""One compact progress line per logging step, for every stage.

The Trainer's default progress callback prints each log as the raw metric dict (GRPO: 26 keys, PPO: 26 by default),
which buries what a user watches. :class:`CompactProgress` keeps the progress bar and prints instead::

    [grpo] step 10/30  reward 0.412  kl 0.031  entropy 1.21  length 38.5  loss 0.002  lr 2.1e-05

The full dicts still go to TensorBoard and ``trainer_state.json``; :func:`use_compact_progress` swaps the
callback on a built trainer (TRL's or our PPO trainer).
"""

from __future__ import annotations

from transformers.trainer_callback import PrinterCallback, ProgressCallback, TrainerCallback

# (log key, label) in display order; a line shows the ones a log has. One list for every stage: the keys
# of SFT/reward/DPO (TRL), GRPO (TRL) and PPO (rlhf_trl.ppo) hardly overlap.
SHOWN = (
    ("objective/scores", "score"),  # PPO
    ("objective/kl", "kl"),
    ("objective/entropy", "entropy"),
    ("policy/clipfrac_avg", "clipfrac"),
    ("val/explained_variance", "explained_var"),
    ("response/length_mean", "length"),
    ("reward", "reward"),  # GRPO
    ("kl", "kl"),
    ("completions/mean_length", "length"),
    ("rewards/accuracies", "acc"),  # DPO
    ("rewards/margins", "margin"),
    ("accuracy", "acc"),  # reward model
    ("margin", "margin"),
    ("mean_token_accuracy", "token_acc"),  # SFT
    ("entropy", "entropy"),
    ("loss", "loss"),
    ("lr", "lr"),
    ("learning_rate", "lr"),
)


def _number(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.2g}"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def format_log(stage: str, logs: dict, step: int, max_steps: int) -> str:
    """The compact line for one log of ``stage``: training metrics, evaluation (``eval_*``) or the
    end-of-training summary (``train_runtime``)."""
    if "train_runtime" in logs:
        runtime = float(logs["train_runtime"])
        loss = logs.get("train_loss")
        tail = f", mean training loss {_number(loss)}" if isinstance(loss, (int, float)) else ""
        return f"[{stage}] trained {step} steps in {runtime:.0f} s{tail}"
    evaluated = {k.split("_", 1)[1]: v for k, v in logs.items() if k.startswith(("eval_", "test_"))}
    source, kind = (evaluated, "eval") if evaluated else (logs, "step")
    parts, seen = [], set()
    for key, label in SHOWN:
        if key in source and label not in seen:
            seen.add(label)
            parts.append(f"{label} {_number(source[key])}")
    if not parts:  # a log of keys we do not know: show it as it is rather than nothing
        parts = [f"{k} {_number(v)}" for k, v in source.items() if k not in ("epoch", "step")]
    where = f"step {step}/{max_steps}" if kind == "step" else f"eval at step {step}"
    return f"[{stage}] {where}  " + "  ".join(parts)


class CompactProgress(ProgressCallback):
    """The Trainer's progress bar with one compact line per log instead of the raw metric dict."""

    def __init__(self, stage: str):
        super().__init__()
        self.stage = stage

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and self.training_bar is not None and logs:
            self.training_bar.write(format_log(self.stage, logs, state.global_step, state.max_steps))


class CompactPrinter(TrainerCallback):
    """Without a progress bar (``disable_tqdm``): the compact lines alone."""

    def __init__(self, stage: str):
        self.stage = stage

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            print(format_log(self.stage, logs, state.global_step, state.max_steps), flush=True)


def use_compact_progress(trainer, stage: str) -> None:
    """Replace ``trainer``'s default progress callback (the bar and raw dicts, or with ``disable_tqdm`` the
    raw dicts alone) by :class:`CompactProgress` or :class:`CompactPrinter`."""
    for callback in list(trainer.callback_handler.callbacks):
        compact = {ProgressCallback: CompactProgress, PrinterCallback: CompactPrinter}.get(type(callback))
        if compact is not None:
            trainer.remove_callback(callback)
            trainer.add_callback(compact(stage))
