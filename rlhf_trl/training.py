"""Plumbing shared by the training recipes: models from ModelArguments, timing, peak memory,
the final save and the stage's ``metrics.json``.

Every stage writes ``run_dir/checkpoints/<stage>/metrics.json`` with at least::

    {"stage": "dpo", "train_runtime_s": 61.2, "peak_rss_mb": 2210.4, "tokens_generated": 0, ...}

``tokens_generated`` counts sampled response tokens (GRPO, PPO); 0 for offline methods. The
evaluation report reads these keys for its cost table.
"""

from __future__ import annotations

import json
import math
import resource
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.json"
REQUIRED_KEYS = ("stage", "train_runtime_s", "peak_rss_mb", "tokens_generated")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def peak_gpu_mb() -> float | None:
    """Peak CUDA memory allocated by this process in MiB, or None without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.max_memory_allocated() / (1024 * 1024)


@contextmanager
def stopwatch(into: dict, key: str = "train_runtime_s"):
    """Record the wall-clock seconds of the ``with`` block in ``into[key]``."""
    start = time.perf_counter()
    try:
        yield into
    finally:
        into[key] = round(time.perf_counter() - start, 3)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _jsonable(value.item())
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``path`` through ``<name>.tmp`` and a rename: a reader (or a re-run deciding whether a stage
    finished) sees the old file or the whole new one, never half of it."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def write_stage_metrics(out_dir: str | Path, stage: str, metrics: dict[str, Any]) -> Path:
    """Write ``out_dir/metrics.json`` for ``stage``; fills the required keys that ``metrics`` lacks.

    Missing ``peak_rss_mb`` is measured now; missing ``tokens_generated`` is 0; a missing
    ``train_runtime_s`` is an error (every stage times its training). Non-finite floats become null.
    """
    record = {"stage": stage, "tokens_generated": 0, "peak_rss_mb": round(peak_rss_mb(), 1)}
    gpu = peak_gpu_mb()
    if gpu is not None:
        record["peak_gpu_mb"] = round(gpu, 1)
    record.update(metrics)
    record["stage"] = stage
    if "train_runtime_s" not in record:
        raise ValueError("write_stage_metrics: metrics must contain train_runtime_s")
    path = Path(out_dir) / METRICS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(_jsonable(record), indent=2, sort_keys=True) + "\n")
    return path


def trained_in_bf16(trainer) -> bool:
    """Whether ``trainer`` ran under bf16 mixed precision: ``bf16: auto`` differs by host, and an accelerate
    config (``mixed_precision: bf16``, DeepSpeed, FSDP) can turn it on with ``args.bf16`` false."""
    precision = getattr(getattr(trainer, "accelerator", None), "mixed_precision", None)
    return precision == "bf16" or bool(getattr(trainer.args, "bf16", False))


def train_summary(train_output, trainer) -> dict[str, Any]:
    """The usual numbers of a finished ``trainer.train()``, named for metrics.json."""
    metrics = dict(train_output.metrics)
    history = [h for h in trainer.state.log_history if "loss" in h]
    out = {
        "global_step": trainer.state.global_step,
        "train_loss": metrics.get("train_loss"),
        "final_logged_loss": history[-1]["loss"] if history else None,
        "trainer_runtime_s": metrics.get("train_runtime"),
        "bf16": trained_in_bf16(trainer),
    }
    out.update(step_timing(trainer, metrics.get("train_runtime", 0.0)))
    return out


def step_timing(trainer, runtime: float) -> dict[str, Any]:
    """``seconds_per_step`` and, after a resume, ``resumed_at_step``: a resumed run's runtime covers this
    process only, so per step means per step run here."""
    out: dict[str, Any] = {}
    first = int(getattr(trainer, "_initial_global_step", 0) or 0)
    if first:
        out["resumed_at_step"] = first
    if trainer.state.global_step > first:
        out["seconds_per_step"] = round(runtime / (trainer.state.global_step - first), 3)
    return out


# ----------------------------------------------------------------------------------------- models


def setup_tokenizer(model_args):
    """The tokenizer of ``model_args.model_name_or_path`` with the project's policy (pad != EOS, left pad)."""
    from rlhf_trl.models import load_tokenizer

    return load_tokenizer(model_args.model_name_or_path)


def seed_model_init(seed: int) -> None:
    """Seed python, numpy and torch right before models are built. A new score head (reward model,
    critic) and LoRA's initial weights are drawn from the global RNG; without this their values would
    depend on what ran earlier in the process (the Trainer seeds only after the model exists)."""
    from transformers import set_seed

    set_seed(seed)


def setup_policy(model_args, tokenizer):
    """The causal LM to train (full weights; LoRA is applied by the TRL trainer from ``peft_config``)."""
    from rlhf_trl.models import load_causal_lm

    return load_causal_lm(model_args.model_name_or_path, tokenizer, dtype=model_args.dtype)


def setup_reference(model_args, tokenizer):
    """A frozen copy of the starting policy (eval mode, no gradients), or None with LoRA.

    With LoRA the reference is the policy with its adapters disabled: no second copy in memory.
    """
    if model_args.use_peft:
        return None
    ref = setup_policy(model_args, tokenizer).eval()
    ref.requires_grad_(False)
    return ref


def fit_prompts(
    prompts: list[list[dict]], tokenizer, max_tokens: int
) -> tuple[list[list[dict]], dict[str, int]]:
    """Prompts (chat messages) whose templated text, generation prompt included, has at most ``max_tokens``.

    A model with a fixed context (GPT-2: 1024 positions) cannot read a longer prompt plus its response
    (an IndexError in the position table), and real HH-RLHF has conversations of up to 35 turns. A long
    prompt loses its oldest exchanges (a user and an assistant message; a leading system message stays)
    until it fits, so it still ends with the latest user turn; one that does not fit even as its last
    turn is dropped. Returns ``(prompts, {"shortened": n, "dropped": n})``.
    """

    def length(messages) -> int:
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    out, counts = [], {"shortened": 0, "dropped": 0}
    for prompt in prompts:
        messages = list(prompt)
        keep = 1 if messages and messages[0].get("role") == "system" else 0
        fits = length(messages) <= max_tokens
        while not fits and len(messages) - keep > 1:
            messages = messages[:keep] + messages[keep + 2 :]
            fits = length(messages) <= max_tokens
        if not fits:
            counts["dropped"] += 1
            continue
        counts["shortened"] += len(messages) < len(prompt)
        out.append(messages)
    return out, counts


def prompts_within_context(prompts, tokenizer, model_name_or_path: str, new_tokens: int):
    """:func:`fit_prompts` for a model: room is left for ``new_tokens`` generated tokens within its
    context; a model without a known limit gets its prompts back unchanged. Nothing left is a UserError."""
    from rlhf_trl.errors import UserError
    from rlhf_trl.models import context_length

    limit = context_length(model_name_or_path)
    prompts = [list(p) for p in prompts]
    if limit is None:
        return prompts, {"shortened": 0, "dropped": 0}
    fitted, counts = fit_prompts(prompts, tokenizer, limit - new_tokens)
    if not fitted:
        raise UserError(
            f"no prompt fits in {model_name_or_path}'s {limit} positions with {new_tokens} new tokens; "
            "generate fewer tokens or use a model with a longer context"
        )
    return fitted, counts


@contextmanager
def reference_loaded_like_policy(tokenizer):
    """While TRL's GRPOTrainer is built, give the reference model it loads itself what ours get.

    GRPOTrainer reloads its reference from the policy's path (``create_model_from_path``), past
    :func:`rlhf_trl.models.load_causal_lm`: for a model whose tokenizer gained a ``<|pad|>`` (GPT-2)
    the reference keeps the old vocabulary (IndexError on the pad id), and a model with learned
    positions scores left-padded prompts at shifted positions. Here its vocabulary is grown and its
    positions counted from the mask exactly as for the policy.
    """
    import trl.trainer.grpo_trainer as grpo_module

    from rlhf_trl.models import _fit_vocab, count_positions_from_mask

    original = grpo_module.create_model_from_path

    def load(*args, **kwargs):
        model = original(*args, **kwargs)
        _fit_vocab(model, tokenizer)
        return count_positions_from_mask(model)

    grpo_module.create_model_from_path = load
    try:
        yield
    finally:
        grpo_module.create_model_from_path = original


def save_final(trainer, tokenizer, out_dir: str | Path) -> Path:
    """Save the trained model + tokenizer so ``from_pretrained(out_dir)`` loads the final model.

    A LoRA model is merged into its base first, so every later stage (PPO, evaluation) loads a plain
    checkpoint. Only the main process writes; a full disk is one line (:func:`final_save_guard`).
    """
    from rlhf_trl.checkpoints import final_save_guard

    out_dir = Path(out_dir)
    model = trainer.accelerator.unwrap_model(trainer.model)
    if trainer.accelerator.is_main_process:
        out_dir.mkdir(parents=True, exist_ok=True)
        with final_save_guard(out_dir):
            if hasattr(model, "merge_and_unload"):  # peft
                model = model.merge_and_unload()
                model.save_pretrained(out_dir, safe_serialization=True)
            else:
                trainer.save_model(str(out_dir))
            tokenizer.save_pretrained(out_dir)
    trainer.accelerator.wait_for_everyone()
    return out_dir


class TokenCountingReward:
    """Wraps a GRPO reward function to count the response tokens TRL sampled (``completion_ids``).

    TRL calls every reward function once per generation batch with the token ids of every completion,
    so wrapping the first one counts each sampled token exactly once (per process).
    """

    def __init__(self, func):
        self.func = func
        self.tokens = 0
        self.__name__ = getattr(func, "__name__", type(func).__name__)

    def __call__(self, prompts, completions, completion_ids=None, **kwargs):
        if completion_ids is not None:
            self.tokens += sum(len(ids) for ids in completion_ids)
        return self.func(prompts=prompts, completions=completions, completion_ids=completion_ids, **kwargs)

    def total(self, accelerator) -> int:
        """Tokens counted on all processes."""
        import torch

        count = torch.tensor(self.tokens, device=accelerator.device)
        return int(accelerator.reduce(count, reduction="sum").item())
