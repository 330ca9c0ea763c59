"""Hand-checked statistics: win rate, bootstrap CI, distinct-n, and the KL estimator vs exact KL."""

from __future__ import annotations

import math

import pytest

from rlhf_trl.evaluation.stats import (
    LOSS,
    TIE,
    WIN,
    bootstrap_ci,
    combine_swapped,
    distinct_n,
    outcome_from_scores,
    win_rate,
    win_rate_summary,
)


def test_win_rate_counts_ties_as_half():
    judgements = [WIN, WIN, WIN, TIE, LOSS, TIE, LOSS, WIN]  # 4 wins, 2 ties, 2 losses
    out = win_rate(judgements)
    assert out == {"win_rate": (4 + 1) / 8, "wins": 4, "ties": 2, "losses": 2, "n": 8}
    with pytest.raises(ValueError):
        win_rate([1.0, 0.7])
    with pytest.raises(ValueError):
        win_rate([])


def test_bootstrap_ci_brackets_the_win_rate_and_shrinks_with_n():
    small = [WIN] * 6 + [LOSS] * 4
    large = small * 40
    lo_s, hi_s = bootstrap_ci(small, n_samples=4000, seed=1)
    lo_l, hi_l = bootstrap_ci(large, n_samples=4000, seed=1)
    assert lo_s < 0.6 < hi_s and lo_l < 0.6 < hi_l
    # binomial standard error sqrt(p(1-p)/n): the 95% interval is about ±1.96 se
    se_l = math.sqrt(0.6 * 0.4 / len(large))
    assert hi_l - lo_l == pytest.approx(2 * 1.96 * se_l, rel=0.1)
    assert (hi_l - lo_l) < (hi_s - lo_s) / 4
    assert bootstrap_ci(small, seed=3) == bootstrap_ci(small, seed=3)  # deterministic
    assert bootstrap_ci([TIE] * 20) == (0.5, 0.5)
    summary = win_rate_summary([WIN, TIE, LOSS, WIN], n_samples=500)
    assert summary["win_rate"] == 0.625 and summary["ci95"][0] <= 0.625 <= summary["ci95"][1]


def test_outcomes_and_position_swap():
    assert outcome_from_scores(1.0, 0.5) == WIN
    assert outcome_from_scores(0.5, 1.0) == LOSS
    assert outcome_from_scores(1.0, 0.95, tie_margin=0.1) == TIE
    assert combine_swapped(WIN, WIN) == WIN
    assert combine_swapped(LOSS, LOSS) == LOSS
    assert combine_swapped(WIN, LOSS) == TIE  # the judge always picked the same position
    assert combine_swapped(None, WIN) == TIE


def test_distinct_n_by_hand():
    texts = ["the cat sat", "the cat ran", ""]
    assert distinct_n(texts, 1) == 4 / 6  # the, cat, sat, ran over 6 unigrams
    assert distinct_n(texts, 2) == 3 / 4  # (the cat) twice, (cat sat), (cat ran)
    assert distinct_n([""], 2) == 0.0


def test_distinct_jackknife_matches_brute_force_leave_one_out():
    from rlhf_trl.evaluation.outputs import _distinct_summary

    texts = ["a b c a", "b c d", "x y", "a a a a", "q r s t u"]
    for n in (1, 2):
        loo = [distinct_n(texts[:i] + texts[i + 1 :], n) for i in range(len(texts))]
        mean = sum(loo) / len(loo)
        se = math.sqrt((len(texts) - 1) / len(texts) * sum((x - mean) ** 2 for x in loo))
        out = _distinct_summary(texts, n)
        assert out["mean"] == pytest.approx(distinct_n(texts, n))
        assert out["std"] == pytest.approx(se)


# ------------------------------------------------------------------------------------- KL estimator

VOCAB, EOS, PAD, MAX_NEW, TEMP = 4, 3, 0, 3, 0.8


def _tiny_lm(seed: int):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=8,
        intermediate_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        initializer_range=1.0,
        pad_token_id=PAD,
        eos_token_id=EOS,
        bos_token_id=1,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval()


def _exact_kl(policy, ref, query):
    """KL(π‖π_ref) over every response (stop at EOS or after MAX_NEW tokens), by enumeration."""
    import torch

    def step_logprobs(model, prefix):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([query + prefix])).logits[0, -1]
        return torch.log_softmax(logits / TEMP, -1)

    total = 0.0

    def walk(prefix, lp_pol, lp_ref):
        nonlocal total
        if len(prefix) == MAX_NEW or (prefix and prefix[-1] == EOS):
            total += math.exp(lp_pol) * (lp_pol - lp_ref)
            return
        a, b = step_logprobs(policy, prefix), step_logprobs(ref, prefix)
        for tok in range(VOCAB):
            walk(prefix + [tok], lp_pol + a[tok].item(), lp_ref + b[tok].item())

    walk([], 0.0, 0.0)
    return total


def test_kl_estimator_matches_exact_kl_by_enumeration():
    import torch

    from rlhf_trl.evaluation.stats import sequence_kl
    from rlhf_trl.generation import response_logprobs, sequence_mask, truncate_after_eos

    policy, ref = _tiny_lm(0), _tiny_lm(1)
    query = [1, 2]
    exact = _exact_kl(policy, ref, query)
    assert exact > 0.05  # the two models really differ

    # ancestral sampling from π at temperature TEMP, N independent responses
    n = 20000
    gen = torch.Generator().manual_seed(0)
    ids = torch.tensor([query] * n)
    with torch.no_grad():
        for _ in range(MAX_NEW):
            probs = torch.softmax(policy(input_ids=ids).logits[:, -1] / TEMP, -1)
            ids = torch.cat([ids, torch.multinomial(probs, 1, generator=gen)], dim=1)
    response, lengths, _ = truncate_after_eos(ids[:, len(query) :], EOS, PAD)
    mask = sequence_mask(lengths, response.shape[1])
    q = torch.tensor([query] * n)
    qmask = torch.ones_like(q)
    with torch.no_grad():
        lp = response_logprobs(policy, q, response, PAD, TEMP, query_mask=qmask, response_mask=mask)
        lp_ref = response_logprobs(ref, q, response, PAD, TEMP, query_mask=qmask, response_mask=mask)
    kl = sequence_kl(lp, lp_ref, mask.float())
    estimate, stderr = kl.mean().item(), kl.std().item() / math.sqrt(n)
    assert abs(estimate - exact) < 4 * stderr + 1e-3, (estimate, exact, stderr)
    # identical models: every per-sequence estimate is exactly 0
    with torch.no_grad():
        same = response_logprobs(
            policy, q[:64], response[:64], PAD, TEMP, query_mask=qmask[:64], response_mask=mask[:64]
        )
    assert sequence_kl(lp[:64], same, mask[:64].float()).abs().max() < 1e-5


def test_kl_mask_ignores_padding():
    import torch

    from rlhf_trl.evaluation.stats import sequence_kl

    lp = torch.tensor([[-1.0, -2.0, -9.0]])
    ref = torch.tensor([[-1.5, -1.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    assert sequence_kl(lp, ref, mask).item() == pytest.approx(0.5 - 1.0)
