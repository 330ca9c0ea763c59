"""One PPO rollout as tensors: what the trainer sampled and scored, the per-token rewards and advantages
computed from it, and the update's log metrics.

The trainer samples and scores (it holds the models: :meth:`PPOTrainer._rollout`); everything after that is
math on tensors and lives here, on top of :mod:`rlhf_trl.ppo.core`:

- :func:`add_advantages` — KL-penalised per-token rewards, optional reward whitening, GAE, optional advantage
  whitening, and the truncated importance weights when ``rollout_is_cap`` is set;
- :func:`update_metrics` — the numbers one update logs (TRL's historic names; see docs/ppo.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rlhf_trl.ppo import core


@dataclass
class Rollout:
    """A batch of sampled responses with what the update needs, ``B`` responses of ``T`` tokens.

    ``batch`` is the sampler's :class:`rlhf_trl.generation.GenerationBatch` (ids, masks, lengths, EOS flags,
    texts); ``logprobs`` and ``values`` are ``[B, T]`` from the same forward code path as the update (so the
    ratio is 1 at the start), ``ref_logprobs`` the reference's (log-probs are 0 on padding); ``raw_scores``
    ``[B]`` are the reward model plus the reward functions, ``scores`` the same after the missing-EOS penalty.
    :func:`add_advantages` fills the rest.
    """

    batch: object
    logprobs: torch.Tensor
    values: torch.Tensor
    ref_logprobs: torch.Tensor
    raw_scores: torch.Tensor
    scores: torch.Tensor
    rewards: torch.Tensor | None = None
    non_score: torch.Tensor | None = None
    kl: torch.Tensor | None = None
    advantages: torch.Tensor | None = None
    returns: torch.Tensor | None = None
    is_weights: torch.Tensor | None = None

    @property
    def mask(self) -> torch.Tensor:
        """``[B, T]`` float: 1 on the real response tokens (up to and including EOS)."""
        return self.batch.response_mask.float()

    def __len__(self) -> int:
        return len(self.batch)


@torch.no_grad()
def add_advantages(rollout: Rollout, kl_coef: float, args) -> Rollout:
    """Fill ``rollout``'s rewards, advantages, returns (and importance weights) from its scores; ``args`` is
    the :class:`PPOConfig` (``kl_estimator``, ``whiten_rewards``, ``gamma``, ``lam``,
    ``whiten_advantages``, ``rollout_is_cap``). Returns ``rollout``."""
    r, m = rollout, rollout.mask
    r.rewards, r.non_score, r.kl = core.kl_penalized_rewards(
        r.scores, r.logprobs, r.ref_logprobs, m, kl_coef, args.kl_estimator
    )
    if args.whiten_rewards:
        r.rewards = core.masked_whiten(r.rewards, m, shift_mean=False)
    r.advantages, r.returns = core.compute_gae(r.rewards, r.values, m, args.gamma, args.lam)
    if args.whiten_advantages:
        r.advantages = core.masked_whiten(r.advantages, m)
    if args.rollout_is_cap is not None:  # sampler != training forward: reweight to the latter
        r.is_weights = core.truncated_is_weights(r.logprobs, r.batch.sampler_logprobs, m, args.rollout_is_cap)
    return r


@torch.no_grad()
def update_metrics(
    rollout: Rollout, stats: dict, kl_coef: float, timings: dict, is_cap: float | None
) -> dict:
    """One update's metrics as 0-d tensors on this process: the means of the update's ``stats`` (lists of
    per-micro-batch values), the rollout's objective/value/response numbers, ``timings`` (seconds, logged as
    ``time/<name>_s``) and, with importance weights (``is_cap`` set), how far the sampler was off."""
    r, m = rollout, rollout.mask
    non_score = r.non_score.sum(1).mean()
    out = {k: torch.stack(v).mean() for k, v in stats.items()}
    out.update(
        {
            "objective/kl": r.kl.sum(1).mean(),
            "objective/entropy": (-r.logprobs).sum(1).mean(),
            "objective/non_score_reward": non_score,
            "objective/rlhf_reward": r.scores.mean() + non_score,
            "objective/scores": r.scores.mean(),
            "objective/scores_raw": r.raw_scores.mean(),
            "objective/kl_coef": torch.tensor(kl_coef),
            "val/explained_variance": core.explained_variance(r.values, r.returns, m),
            "val/num_eos_tokens": r.batch.ended_with_eos.sum().float(),
            "response/eos_share": r.batch.ended_with_eos.float().mean(),
            "response/length_mean": r.batch.lengths.float().mean(),
            **{f"time/{name}_s": torch.tensor(seconds) for name, seconds in timings.items()},
        }
    )
    if r.is_weights is not None:
        real = m.bool()
        out["rollout/logprob_diff_max"] = (r.logprobs - r.batch.sampler_logprobs)[real].abs().max()
        out["rollout/is_weight_mean"] = r.is_weights[real].mean()
        out["rollout/is_capped_frac"] = (r.is_weights[real] >= is_cap).float().mean()
    return out
