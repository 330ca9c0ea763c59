"""Preference-loss hooks: R-DPO against its closed form on hand-made log-probs; registry and dotted paths."""

from __future__ import annotations

import math

import pytest
import torch

from rlhf_trl.errors import UserError
from rlhf_trl.losses import LOSS_REGISTRY, dpo_loss, rdpo_loss, resolve_loss

# two pairs, hand-made: (policy chosen, policy rejected, ref chosen, ref rejected, |y_w|, |y_l|)
PAIRS = [(-10.0, -14.0, -11.0, -13.0, 20, 5), (-30.0, -8.0, -29.0, -9.0, 4, 12)]


def closed_form(beta, alpha, pc, pr, rc, rr, lc, lr):
    z = beta * ((pc - rc) - (pr - rr)) + alpha * (lc - lr)
    return math.log(1.0 + math.exp(-z))  # -log sigmoid(z)


def tensors():
    cols = list(zip(*PAIRS))
    f = [torch.tensor(c, dtype=torch.float64) for c in cols[:4]]
    lengths = [torch.tensor(c) for c in cols[4:]]
    return dict(
        policy_chosen_logps=f[0],
        policy_rejected_logps=f[1],
        ref_chosen_logps=f[2],
        ref_rejected_logps=f[3],
        chosen_lengths=lengths[0],
        rejected_lengths=lengths[1],
    )


@pytest.mark.parametrize("beta,alpha", [(0.1, 0.01), (0.5, 0.2), (1.0, 0.0)])
def test_rdpo_matches_closed_form(beta, alpha):
    got = rdpo_loss(**tensors(), beta=beta, alpha=alpha)
    want = [closed_form(beta, alpha, *p) for p in PAIRS]
    assert got.shape == (2,)
    assert got.tolist() == pytest.approx(want, rel=1e-12)
    # pair 1: logit = 0.1*((1)-(-1)) + 0.01*15 = 0.35 -> -log σ(0.35)
    if (beta, alpha) == (0.1, 0.01):
        assert got[0].item() == pytest.approx(math.log1p(math.exp(-0.35)), rel=1e-12)


def test_rdpo_with_zero_alpha_is_dpo_and_length_term_has_the_right_sign():
    t = tensors()
    assert rdpo_loss(**t, beta=0.3, alpha=0.0).tolist() == pytest.approx(dpo_loss(**t, beta=0.3).tolist())
    # chosen longer (pair 0): the length term explains part of the preference -> smaller loss than DPO
    # chosen shorter (pair 1): larger loss than DPO
    r, d = rdpo_loss(**t, beta=0.3, alpha=0.05), dpo_loss(**t, beta=0.3)
    assert r[0] < d[0] and r[1] > d[1]


def test_rdpo_gradient_is_autograd_friendly():
    t = tensors()
    t["policy_chosen_logps"] = t["policy_chosen_logps"].clone().requires_grad_(True)
    rdpo_loss(**t, beta=0.1, alpha=0.01).sum().backward()
    # d/dpc [-log σ(z)] = -β σ(-z)
    z0 = 0.1 * 2 + 0.01 * 15
    assert t["policy_chosen_logps"].grad[0].item() == pytest.approx(-0.1 / (1 + math.exp(z0)), rel=1e-9)


def test_resolve_loss_by_name_and_dotted_path():
    assert resolve_loss("rdpo") is rdpo_loss
    assert resolve_loss("rlhf_trl.losses:rdpo_loss") is rdpo_loss
    assert resolve_loss("rlhf_trl.losses.dpo_loss") is dpo_loss
    assert {"dpo", "rdpo"} <= set(LOSS_REGISTRY)
    with pytest.raises(UserError, match="unknown preference_loss"):
        resolve_loss("ordpo")


def test_dpo_config_validates_preference_loss_fields(tmp_path):
    from rlhf_trl.stage_configs import DPOConfig

    cfg = DPOConfig(
        output_dir=str(tmp_path), preference_loss="rdpo", preference_loss_kwargs='{"alpha": 0.02}'
    )
    assert cfg.preference_loss_kwargs == {"alpha": 0.02}
    with pytest.raises(ValueError, match="beta must be > 0"):
        DPOConfig(output_dir=str(tmp_path), beta=0.0)
    with pytest.raises(ValueError, match="replaces loss_type"):
        DPOConfig(output_dir=str(tmp_path), preference_loss="rdpo", loss_type=["ipo"])
