"""rlhf_trl.ppo.rollout against hand computations: one rollout's rewards, advantages and logged metrics."""

from __future__ import annotations

import statistics
from types import SimpleNamespace

import pytest
import torch

from rlhf_trl.ppo import core
from rlhf_trl.ppo.rollout import Rollout, add_advantages, update_metrics

ARGS = dict(
    kl_estimator="k1", whiten_rewards=False, gamma=1.0, lam=1.0, whiten_advantages=False, rollout_is_cap=None
)
# the second response's second token: the sampler gave it e times less probability than the training forward
SAMPLER = torch.tensor([[-1.0, -2.0, -0.5], [-1.0, -2.0, 0.0]])


def _rollout(**batch_kw):
    """Two responses: 3 real tokens, and 2 real tokens + padding (log-probs 0 there, as the trainer's; the
    critic's 9 must not leak in)."""
    batch = SimpleNamespace(
        response_mask=torch.tensor([[1, 1, 1], [1, 1, 0]]),
        ended_with_eos=torch.tensor([True, False]),
        lengths=torch.tensor([3, 2]),
        **batch_kw,
    )
    return Rollout(
        batch=batch,
        logprobs=torch.tensor([[-1.0, -2.0, -0.5], [-1.0, -1.0, 0.0]]),
        values=torch.tensor([[0.5, 0.2, 0.4], [1.0, 1.0, 9.0]]),
        ref_logprobs=torch.tensor([[-1.5, -2.0, -1.0], [-0.5, -1.0, 0.0]]),
        raw_scores=torch.tensor([3.0, 1.0]),
        scores=torch.tensor([3.0, -1.0]),  # the second lost 2 to the missing-EOS penalty
    )


@pytest.mark.parametrize(
    ("lam", "advantages", "returns"),
    [
        # λ = 1: the advantage is the reward-to-go minus the value, the return the reward-to-go
        (1.0, [2.4, 2.75, 2.55, -1.95, -2.0, 0.0], [2.9, 2.95, 2.95, -0.95, -1.0, 0.0]),
        # λ = 0.5 (γ = 1): δ = [−0.35, 0.2, 2.55] and [0.05, −2.0]; A_t = δ_t + 0.5 A_{t+1}; R = A + V
        (0.5, [0.3875, 1.475, 2.55, -0.95, -2.0, 0.0], [0.8875, 1.675, 2.95, 0.05, -1.0, 0.0]),
    ],
)
def test_rewards_and_advantages_by_hand(lam, advantages, returns):
    r = add_advantages(_rollout(), kl_coef=0.1, args=SimpleNamespace(**{**ARGS, "lam": lam}))
    # per-token KL (k1) = logπ − logπ_ref on real tokens; reward = −β·KL, plus the score on the last real token
    assert r.kl.flatten().tolist() == pytest.approx([0.5, 0.0, 0.5, -0.5, 0.0, 0.0])
    assert r.rewards.flatten().tolist() == pytest.approx([-0.05, 0.0, 2.95, 0.05, -1.0, 0.0])
    assert r.advantages.flatten().tolist() == pytest.approx(advantages)
    assert r.returns.flatten().tolist() == pytest.approx(returns)
    assert r.is_weights is None


def test_whitening_and_importance_weights_follow_the_config():
    args = {**ARGS, "whiten_rewards": True, "whiten_advantages": True, "rollout_is_cap": 2.0}
    r = add_advantages(_rollout(sampler_logprobs=SAMPLER), kl_coef=0.1, args=SimpleNamespace(**args))
    m = r.mask
    # rewards: unit variance, mean kept (shift_mean=False); advantages: mean 0, unit variance; padding stays 0
    assert core.masked_mean(r.rewards, m).item() == pytest.approx((-0.05 + 2.95 + 0.05 - 1.0) / 5, abs=1e-6)
    assert core.masked_var(r.rewards, m).item() == pytest.approx(1.0, abs=1e-5)
    assert core.masked_mean(r.advantages, m).item() == pytest.approx(0.0, abs=1e-6)
    assert core.masked_var(r.advantages, m).item() == pytest.approx(1.0, abs=1e-5)
    assert r.rewards[1, 2].item() == 0.0 and r.advantages[1, 2].item() == 0.0
    assert r.is_weights[m.bool()].tolist() == pytest.approx([1.0, 1.0, 1.0, 1.0, 2.0])  # e capped at 2


def test_update_metrics_by_hand():
    r = add_advantages(_rollout(), kl_coef=0.1, args=SimpleNamespace(**ARGS))
    stats = {"loss/policy_avg": [torch.tensor(1.0), torch.tensor(3.0)]}
    timings = {"generation": 1.5, "scoring": 0.5, "update": 2.0}
    m = update_metrics(r, stats, kl_coef=0.1, timings=timings, is_cap=None)
    assert m["loss/policy_avg"].item() == 2.0
    assert m["objective/kl"].item() == pytest.approx(
        (1.0 - 0.5) / 2
    )  # summed per response, mean over responses
    assert m["objective/non_score_reward"].item() == pytest.approx((-0.1 + 0.05) / 2)
    assert m["objective/scores"].item() == 1.0 and m["objective/scores_raw"].item() == 2.0
    assert m["objective/rlhf_reward"].item() == pytest.approx(1.0 - 0.025)
    assert m["objective/entropy"].item() == pytest.approx((3.5 + 2.0) / 2)  # −Σ log π per response, mean
    assert m["objective/kl_coef"].item() == pytest.approx(0.1)
    # over the 5 real tokens only (the critic's 9 on padding would change it)
    returns, values = [2.9, 2.95, 2.95, -0.95, -1.0], [0.5, 0.2, 0.4, 1.0, 1.0]
    residual = [g - v for g, v in zip(returns, values)]
    expected = 1 - statistics.variance(residual) / statistics.variance(returns)
    assert m["val/explained_variance"].item() == pytest.approx(expected, abs=1e-6)
    assert m["val/num_eos_tokens"].item() == 1.0
    assert m["response/eos_share"].item() == 0.5 and m["response/length_mean"].item() == 2.5
    assert [m[f"time/{k}_s"].item() for k in timings] == [1.5, 0.5, 2.0]
    assert not any(k.startswith("rollout/") for k in m)


def test_update_metrics_report_the_sampler_gap():
    args = SimpleNamespace(**{**ARGS, "rollout_is_cap": 2.0})
    r = add_advantages(_rollout(sampler_logprobs=SAMPLER), kl_coef=0.1, args=args)
    m = update_metrics(r, {}, kl_coef=0.1, timings={}, is_cap=2.0)
    assert m["rollout/logprob_diff_max"].item() == pytest.approx(1.0)
    assert m["rollout/is_weight_mean"].item() == pytest.approx(6.0 / 5)  # real tokens only
    assert m["rollout/is_capped_frac"].item() == pytest.approx(1 / 5)
