"""Stop a run at the first NaN/inf, naming the step and the value, before it reaches the weights.

* :class:`NonFiniteGuard` — a ``TrainerCallback`` for the TRL trainers (reward, SFT, DPO, GRPO): checks
  the gradient norm before every optimizer step (so a NaN loss or gradient never updates the weights)
  and the logged loss, gradient norm and rewards.
* :class:`FiniteReward` — wraps a GRPO reward function: a NaN/inf reward is an error (``None`` stays
  TRL's way to skip a completion; TRL would otherwise drop NaN silently with ``nansum``).

PPO (rlhf_trl.ppo.trainer) checks its scores, losses and gradient norm in its own loop.
Each raises :class:`~rlhf_trl.errors.NonFiniteError`; the recipes save nothing after it (``run_cli``
prints one line and exits 3). Under several processes all ranks stop at the same step: gradients and
logged values are the same on every rank, and a reward check agrees across ranks before it raises.
"""

from __future__ import annotations

import math

from transformers import TrainerCallback

from rlhf_trl.errors import NonFiniteError

ADVICE = "training stopped before this reached the weights; nothing more is saved. Lower learning_rate, keep max_grad_norm on, and check the data and reward functions"


def _is_logged_guarded(key: str) -> bool:
    """Logged keys that must be finite: the loss, the gradient norm and rewards (not their spreads)."""
    return key in ("loss", "grad_norm", "reward") or (key.startswith("rewards/") and not key.endswith("std"))


class NonFiniteGuard(TrainerCallback):
    """Raise :class:`NonFiniteError` at the first non-finite gradient norm or logged loss/reward."""

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        if model is None or getattr(args, "deepspeed", None) or getattr(args, "fsdp", None):
            return  # sharded gradients: the logged loss and grad_norm are checked in on_log instead
        import torch

        grads = [p.grad for p in model.parameters() if p.grad is not None]
        if not grads:
            return
        norm = torch.nn.utils.get_total_norm(grads)
        if not torch.isfinite(norm):
            raise NonFiniteError(f"step {state.global_step + 1}: gradient norm is {norm.item()}; {ADVICE}")

    def on_log(self, args, state, control, logs=None, **kwargs):
        for key, value in (logs or {}).items():
            if _is_logged_guarded(key) and isinstance(value, (int, float)) and not math.isfinite(value):
                raise NonFiniteError(f"step {state.global_step}: logged {key} is {value}; {ADVICE}")


class FiniteReward:
    """A GRPO reward function that refuses NaN/inf (``None`` still means "no reward for this one")."""

    def __init__(self, func):
        self.func = func
        self.__name__ = getattr(func, "__name__", type(func).__name__)  # TRL logs rewards/<__name__>

    def __call__(self, prompts, completions, **kwargs):
        values = self.func(prompts=prompts, completions=completions, **kwargs)
        bad = next((i for i, v in enumerate(values) if v is not None and not math.isfinite(v)), None)
        if not _any_process(bad is not None):
            return values
        state = kwargs.get("trainer_state")
        step = state.global_step + 1 if state is not None else "?"
        if bad is None:
            raise NonFiniteError(
                f"step {step}: reward {self.__name__} was not finite on another process; see its error"
            )
        raise NonFiniteError(
            f"step {step}: reward {self.__name__} returned {values[bad]} for completion {bad} (return None to "
            f"skip a completion); {ADVICE}"
        )


def _any_process(flag: bool) -> bool:
    """True when ``flag`` is set on any process. Every process scores every generation batch, so all of
    them get here together: they stop together instead of one waiting for the others in a collective."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return flag
    import torch
    from accelerate import PartialState

    total = torch.tensor([float(flag)], device=PartialState().device)
    dist.all_reduce(total)
    return total.item() > 0
