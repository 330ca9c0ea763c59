"""Statistics of the comparison: win rates with bootstrap CIs, KL estimator, diversity. Pure functions.

Conventions: a *judgement* of policy vs reference on one prompt is 1.0 (win), 0.5 (tie) or 0.0 (loss),
so the win rate ``(wins + ½ ties) / n`` is the mean judgement. CIs are percentile bootstrap intervals
over prompts (Efron & Tibshirani 1993, ch. 13); with ``clusters`` (several samples per prompt) whole
clusters are resampled, since samples of one prompt are not independent (Field & Welsh 2007).
Significance of a verdict is an exact sign test, Holm-corrected across the verdicts of a run.
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
    values: Sequence[float],
    n_samples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    clusters: Sequence | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``values`` (resampling items with replacement).

    ``clusters``: one cluster id per value (e.g. the prompt index when a prompt has several samples).
    Then whole clusters are resampled and each replicate is the mean over the items it drew (cluster
    bootstrap); ``None`` (default) resamples items. Deterministic for a given ``seed``. One value (or
    one cluster) gives a degenerate interval (lo == hi == the mean).
    """
    import numpy as np

    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    rng = np.random.default_rng(seed)
    if clusters is None:
        idx = rng.integers(0, x.size, size=(n_samples, x.size))
        means = x[idx].mean(axis=1)
    else:
        if len(clusters) != x.size:
            raise ValueError(f"clusters has {len(clusters)} ids for {x.size} values")
        _, cid = np.unique(np.asarray(clusters), return_inverse=True)
        sums = np.bincount(cid, weights=x)
        sizes = np.bincount(cid).astype(np.float64)
        idx = rng.integers(0, sums.size, size=(n_samples, sums.size))
        means = sums[idx].sum(axis=1) / sizes[idx].sum(axis=1)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def summarize(
    values: Sequence[float], n_samples: int = 2000, seed: int = 0, clusters: Sequence | None = None
) -> dict:
    """``{"mean", "std", "ci95": [lo, hi], "n"}`` of per-prompt values (std is the population std).

    ``clusters`` as in :func:`bootstrap_ci` (it changes only the CI)."""
    import numpy as np

    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return {"mean": None, "std": None, "ci95": None, "n": 0}
    lo, hi = bootstrap_ci(x, n_samples=n_samples, seed=seed, clusters=clusters)
    return {"mean": float(x.mean()), "std": float(x.std()), "ci95": [lo, hi], "n": int(x.size)}


def win_rate_summary(judgements: Sequence[float], n_samples: int = 2000, seed: int = 0) -> dict:
    """:func:`win_rate` counts plus a bootstrap 95% CI of the win rate (resampling prompts)."""
    out = win_rate(judgements)
    out["ci95"] = list(bootstrap_ci(judgements, n_samples=n_samples, seed=seed))
    return out


def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided sign test of "wins and losses are equally likely"; ties carry no sign and are
    dropped before the call.

    p = min(1, 2·P(X ≤ min(wins, losses))) with X ~ Binomial(wins + losses, ½); 1.0 when there is
    nothing to test (wins + losses = 0). Exact integer arithmetic, so large n does not lose precision
    before the final division.
    """
    if wins < 0 or losses < 0:
        raise ValueError(f"wins and losses must be >= 0, got {wins}, {losses}")
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(wins, losses) + 1))
    return min(1.0, 2 * tail / 2**n)


def holm(pvalues: dict[str, float]) -> dict[str, float]:
    """Holm–Bonferroni adjusted p-values (Holm 1979), same keys.

    The i-th smallest of m p-values becomes max_{j ≤ i} min(1, (m − j + 1)·p_(j)): rejecting where the
    adjusted p < α controls the family-wise error rate at α under any dependence between the tests
    (several judges of one policy are far from independent). Monotone in the raw p-values.
    """
    m = len(pvalues)
    adjusted, running = {}, 0.0
    for rank, key in enumerate(sorted(pvalues, key=pvalues.__getitem__)):
        running = max(running, min(1.0, (m - rank) * pvalues[key]))
        adjusted[key] = running
    return {k: adjusted[k] for k in pvalues}


def paired_difference(
    policy_scores: Sequence[float],
    reference_scores: Sequence[float],
    n_samples: int = 2000,
    seed: int = 0,
    clusters: Sequence | None = None,
) -> dict:
    """Paired comparison on the same prompts: d_i = policy_i − reference_i.

    Args:
        policy_scores, reference_scores: ``[n]`` scores of the two models on the same n prompts, in the
            same order (any unit; the result is in that unit).
        clusters: ``[n]`` cluster ids for a cluster bootstrap (see :func:`bootstrap_ci`).
    Returns:
        ``{"mean_diff", "ci95": [lo, hi], "std", "n", "effect_size"}``: mean of d with its bootstrap 95%
        CI, the sample std of d (ddof 1; None for n < 2), and Cohen's d_z = mean_diff / std (None when
        std is None or 0).
    """
    import numpy as np

    p = np.asarray(policy_scores, dtype=np.float64)
    r = np.asarray(reference_scores, dtype=np.float64)
    if p.shape != r.shape or p.ndim != 1:
        raise ValueError(f"paired_difference needs two equal-length lists, got {p.shape} and {r.shape}")
    if p.size == 0:
        raise ValueError("paired_difference needs at least one pair")
    d = p - r
    lo, hi = bootstrap_ci(d, n_samples=n_samples, seed=seed, clusters=clusters)
    std = float(d.std(ddof=1)) if d.size > 1 else None
    mean = float(d.mean())
    return {
        "mean_diff": mean,
        "ci95": [lo, hi],
        "std": std,
        "n": int(d.size),
        "effect_size": mean / std if std else None,
    }


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
