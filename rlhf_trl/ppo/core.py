"""PPO math for RLHF as small pure functions (no models, no state), each unit-tested by hand.

Shapes: ``B`` responses in a batch, ``T`` response tokens (right-padded). ``mask`` is ``[B, T]``
with 1 on real response tokens (the EOS included) and 0 on padding. Every per-token tensor is 0 on
padding on the way out, so padding never leaks into a sum.

References: Schulman et al. 2017 (PPO), Schulman et al. 2016 (GAE), Ziegler et al. 2019 (KL penalty,
adaptive controller), Huang et al. 2022/2024 ("The N (+) Implementation Details of RLHF with PPO"),
Schulman 2020 "Approximating KL divergence" (k1/k3 estimators).
"""

from __future__ import annotations

import math

import torch

# -------------------------------------------------------------------------------- masked statistics


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of ``x`` over positions where ``mask`` is 1. ``x, mask: [B, T]`` -> scalar, or ``[B]``
    with ``dim=1``. An all-zero mask gives 0 (not NaN)."""
    mask = mask.to(x.dtype)
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp(min=1)
    return (x * mask).sum(dim) / mask.sum(dim).clamp(min=1)


def masked_var(x: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """Variance of the masked entries of ``x`` (scalar); Bessel-corrected when ``unbiased``."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    if unbiased:
        n = mask.sum()
        if n < 2:
            return torch.zeros((), dtype=x.dtype, device=x.device)
        var = var * n / (n - 1)
    return var


def masked_whiten(
    x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True, eps: float = 1e-8
) -> torch.Tensor:
    """``(x - mean) / sqrt(var + eps)`` over the masked entries; ``shift_mean=False`` adds the mean
    back (used for rewards: rescale without moving their sign). ``[B, T]`` -> ``[B, T]``, 0 on padding."""
    mean, var = masked_mean(x, mask), masked_var(x, mask)
    out = (x - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        out = out + mean
    return out * mask


# ------------------------------------------------------------------------------------- KL & rewards


def kl_estimate(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, kind: str = "k1") -> torch.Tensor:
    """Per-token estimate of KL(π‖π_ref) from samples of π. ``[B, T]`` -> ``[B, T]``.

    ``k1 = log π − log π_ref`` (unbiased, can be negative; what the N-details papers use);
    ``k3 = (r − 1) − log r`` with ``r = π_ref / π`` (unbiased, always ≥ 0, lower variance).
    """
    log_ratio = logprobs - ref_logprobs
    if kind == "k1":
        return log_ratio
    if kind == "k3":
        return torch.expm1(-log_ratio) + log_ratio
    raise ValueError(f"kl estimator must be 'k1' or 'k3', got {kind!r}")


def kl_penalized_rewards(
    scores: torch.Tensor,
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    mask: torch.Tensor,
    kl_coef: float,
    kl_estimator: str = "k1",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-token rewards: ``−kl_coef · KL_t`` at every token, plus the sequence score at the last
    real token (the EOS, or the last token of a truncated response).

    Args:
        scores: ``[B]`` one scalar per response (reward model / reward functions, after penalties).
        logprobs, ref_logprobs: ``[B, T]`` rollout log-probs under the policy and the reference.
        mask: ``[B, T]``; each row must have at least one real token.
    Returns:
        ``(rewards [B, T], non_score_reward [B, T], kl [B, T])``, all 0 on padding.
    """
    kl = kl_estimate(logprobs, ref_logprobs, kl_estimator) * mask
    non_score = -kl_coef * kl
    last = (mask.sum(dim=1).long() - 1).clamp(min=0)
    rewards = non_score.clone()
    rewards[torch.arange(rewards.shape[0], device=rewards.device), last] += scores.to(rewards.dtype)
    return rewards * mask, non_score, kl


def apply_missing_eos_penalty(
    scores: torch.Tensor, ended_with_eos: torch.Tensor, penalty: float | None
) -> torch.Tensor:
    """Subtract ``penalty`` from the score of every response without EOS (``[B]`` -> ``[B]``).
    ``None`` leaves scores unchanged."""
    if penalty is None:
        return scores
    return torch.where(ended_with_eos, scores, scores - penalty)


# --------------------------------------------------------------------------------------------- GAE


def compute_gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over response tokens (Schulman et al. 2016).

    ``δ_t = r_t + γ V_{t+1} − V_t``, ``A_t = δ_t + γλ A_{t+1}``, with ``V`` and ``A`` zero after the
    last real token (the episode ends there). Returns ``R_t = A_t + V_t`` as value targets.

    Args:
        rewards, values, mask: ``[B, T]``.
    Returns:
        ``(advantages [B, T], returns [B, T])``, 0 on padding.
    """
    rewards, values = rewards * mask, values * mask
    steps = rewards.shape[1]
    last_gae = torch.zeros_like(rewards[:, 0])
    advantages = torch.zeros_like(rewards)
    for t in reversed(range(steps)):
        next_value = values[:, t + 1] if t + 1 < steps else torch.zeros_like(last_gae)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last_gae = (delta + gamma * lam * last_gae) * mask[:, t]
        advantages[:, t] = last_gae
    returns = (advantages + values) * mask
    return advantages, returns


# ------------------------------------------------------------------------------------------- losses


def _token_mean(x: torch.Tensor, mask: torch.Tensor, normalizer: float | torch.Tensor | None) -> torch.Tensor:
    """Masked sum divided by ``normalizer`` (default: the number of real tokens in ``mask``).

    Passing the token count of the whole minibatch makes gradient accumulation exact: the sum of
    the micro-batch losses equals the loss of the minibatch in one piece.
    """
    if normalizer is None:
        return masked_mean(x, mask)
    return (x * mask).sum() / normalizer


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_ratio: float,
    normalizer: float | torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped surrogate objective (PPO-clip), as a loss to minimise.

    ``ρ_t = exp(log π_θ − log π_old)``; loss ``= mean_t w_t max(−A_t ρ_t, −A_t clip(ρ_t, 1−ε, 1+ε))``.

    Args:
        logprobs: ``[B, T]`` current policy (with grad); old_logprobs, advantages: ``[B, T]`` rollout.
        weights: ``[B, T]`` per-token weights ``w_t`` (detached), e.g. :func:`truncated_is_weights`;
            None: all 1.
    Returns:
        ``(loss scalar, stats)`` with ``clipfrac`` (share of tokens where the clipped branch is
        active), ``approxkl`` (``½ mean (log ρ)²``) and ``ratio`` (mean ρ), detached.
    """
    log_ratio = (logprobs - old_logprobs) * mask
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_ratio, 1.0 + clip_ratio)
    per_token = torch.maximum(unclipped, clipped)
    loss = _token_mean(per_token if weights is None else per_token * weights, mask, normalizer)
    with torch.no_grad():
        stats = {
            "clipfrac": masked_mean((clipped > unclipped).float(), mask),
            "approxkl": 0.5 * masked_mean(log_ratio**2, mask),
            "ratio": masked_mean(ratio, mask),
        }
    return loss, stats


def truncated_is_weights(
    train_logprobs: torch.Tensor, sampler_logprobs: torch.Tensor, mask: torch.Tensor, cap: float
) -> torch.Tensor:
    """Truncated importance-sampling weights ``min(π_train(y_t) / π_sampler(y_t), cap)`` ``[B, T]``, 0 on
    padding (Yao et al. 2025, "Your Efficient RL Framework Secretly Brings You Off-Policy RL Training").

    ``π_sampler`` is what the tokens were drawn from (generate, KV-cache decode, maybe another precision
    or engine); ``π_train`` the training forward's rollout log-probs (``old_logprobs``). Weighting the
    policy loss by it corrects for the gap between the two; the cap bounds the variance.
    """
    log_w = (train_logprobs - sampler_logprobs) * mask
    return torch.exp(log_w).clamp(max=cap) * mask


def value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    clip_range_value: float | None,
    normalizer: float | torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped value loss: ``½ mean_t max((V − R)², (clip(V, V_old ± ε_v) − R)²)``.

    ``clip_range_value=None`` gives the plain ``½ mean (V − R)²``.

    Args:
        values: ``[B, T]`` current critic (with grad); old_values, returns: ``[B, T]`` rollout.
    Returns:
        ``(loss scalar, stats)`` with ``clipfrac`` (share of tokens where the clipped term is larger).
    """
    unclipped = (values - returns) ** 2
    if clip_range_value is None:
        loss = 0.5 * _token_mean(unclipped, mask, normalizer)
        return loss, {"clipfrac": torch.zeros((), device=values.device)}
    v_clipped = old_values + torch.clamp(values - old_values, -clip_range_value, clip_range_value)
    clipped = (v_clipped - returns) ** 2
    loss = 0.5 * _token_mean(torch.maximum(unclipped, clipped), mask, normalizer)
    with torch.no_grad():
        stats = {"clipfrac": masked_mean((clipped > unclipped).float(), mask)}
    return loss, stats


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (nats) of ``softmax(logits)`` along the last axis: ``[..., V]`` -> ``[...]``.

    ``H = logsumexp(z) − Σ softmax(z)·z``. (The trainer uses TRL's chunked version of the same
    formula for memory; this one is the reference the tests check it against.)
    """
    probs = torch.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - (probs * logits).sum(-1)


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``1 − Var(R − V) / Var(R)`` over the masked tokens: 1 is a perfect critic, 0 is no better than
    a constant, negative is worse than one."""
    var_returns = masked_var(returns, mask)
    return 1.0 - masked_var(returns - values, mask) / var_returns.clamp(min=1e-8)


# ------------------------------------------------------------------------------------ KL controllers


class FixedKLController:
    """A constant KL coefficient."""

    def __init__(self, kl_coef: float):
        self.value = kl_coef

    def update(self, current_kl: float, n_steps: int) -> None:
        pass


class AdaptiveKLController:
    """Ziegler et al. 2019: move ``β`` so the observed KL tracks ``target``.

    ``e = clip(KL / target − 1, −0.2, 0.2)``; ``β ← β · (1 + e · n_steps / horizon)``.
    """

    def __init__(self, init_kl_coef: float, target: float, horizon: int):
        self.value, self.target, self.horizon = init_kl_coef, target, horizon

    def update(self, current_kl: float, n_steps: int) -> None:
        if not math.isfinite(current_kl):
            return
        error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_steps / self.horizon
