"""Statistics of the comparison: win rates with bootstrap CIs, KL estimator, diversity. Pure functions.

Conventions: a *judgement* of policy vs reference on one prompt is 1.0 (win), 0.5 (tie) or 0.0 (loss),
so the win rate ``(wins + ½ ties) / n`` is the mean judgement. CIs are percentile bootstrap intervals
over prompts (Efron & Tibshirani 1993, ch. 13).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

WIN, TIE, LOSS = 1.0, 0.5, 0.0


def outcome_from_scores(score_policy: float, score_reference: float, tie_margin: float = 0.0) -> float:
    """Judgement from two scalar scores: win if the policy's is higher by more than ``tie_margin``."""
    diff = score_policy - score_reference
    if abs(diff) <= tie_margin:
        return TIE
    return WIN if diff > 0 else LOSS


def combine_swapped(first: float | None, second: float | None) -> float:
    """A pairwise judge asked both orders: ``first`` = verdict with the policy shown first, ``second``
    with it shown second, both already mapped to the policy's point of view (1 win, 0 loss, 0.5 tie).
    Agreement keeps the verdict; disagreement (position bias) or a missing answer is a tie."""
    if first is None or second is None or first != second:
        return TIE
    return first


def win_rate(judgements: Sequence[float]) -> dict:
    """``{"win_rate", "wins", "ties", "losses", "n"}``; win_rate = (wins + ½ ties) / n."""
    n = len(judgements)
    if n == 0:
        raise ValueError("win_rate needs at least one judgement")
    bad = [j for j in judgements if j not in (WIN, TIE, LOSS)]
    if bad:
        raise ValueError(f"judgements must be 1.0, 0.5 or 0.0; got {bad[0]!r}")
    wins = sum(1 for j in judgements if j == WIN)
    ties = sum(1 for j in judgements if j == TIE)
    return {
        "win_rate": (wins + 0.5 * ties) / n,
        "wins": wins,
        "ties": ties,
        "losses": n - wins - ties,
        "n": n,
    }


def bootstrap_ci(
    values: Sequence[float], n_samples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``values`` (resampling items with replacement).

    Deterministic for a given ``seed``. One value gives a degenerate interval (lo == hi == value).
    """
    import numpy as np

    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_samples, x.size))
    means = x[idx].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def summarize(values: Sequence[float], n_samples: int = 2000, seed: int = 0) -> dict:
    """``{"mean", "std", "ci95": [lo, hi], "n"}`` of per-prompt values (std is the population std)."""
    import numpy as np

    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return {"mean": None, "std": None, "ci95": None, "n": 0}
    lo, hi = bootstrap_ci(x, n_samples=n_samples, seed=seed)
    return {"mean": float(x.mean()), "std": float(x.std()), "ci95": [lo, hi], "n": int(x.size)}


def win_rate_summary(judgements: Sequence[float], n_samples: int = 2000, seed: int = 0) -> dict:
    """:func:`win_rate` counts plus a bootstrap 95% CI of the win rate (resampling prompts)."""
    out = win_rate(judgements)
    out["ci95"] = list(bootstrap_ci(judgements, n_samples=n_samples, seed=seed))
    return out


def sequence_kl(policy_logprobs, ref_logprobs, mask):
    """Per-sequence Monte-Carlo KL(π‖π_ref) estimate on samples drawn from π.

    Args:
        policy_logprobs: ``[B, T]`` log π(y_t | x, y_<t) of the sampled tokens (at the sampling temperature).
        ref_logprobs: ``[B, T]`` log π_ref of the same tokens, same temperature.
        mask: ``[B, T]`` 1 for generated tokens (up to and including the first EOS), 0 for padding.
    Returns:
        ``[B]`` Σ_t mask·(log π − log π_ref). Its expectation over y ~ π is exactly KL(π‖π_ref) of the
        response distributions; a single sample can be negative.
    """
    return ((policy_logprobs - ref_logprobs) * mask).sum(dim=-1)


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct-n (Li et al. 2016): unique n-grams / total n-grams over all responses, whitespace tokens.

    0.0 when there is no n-gram at all (e.g. only empty responses)."""
    total, unique = 0, set()
    for text in texts:
        words = text.split()
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        total += len(grams)
        unique.update(grams)
    return len(unique) / total if total else 0.0


def is_finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
