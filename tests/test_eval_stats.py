"""Hand-checked statistics: win rate, bootstrap CI (item and cluster), sign test, Holm, paired
differences, distinct-n, the verdicts of build_metrics, and both KL estimators vs exact KL."""

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
    holm,
    outcome_from_scores,
    paired_difference,
    sign_test,
    summarize,
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
    from rlhf_trl.evaluation.metrics import _distinct_summary

    texts = ["a b c a", "b c d", "x y", "a a a a", "q r s t u"]
    for n in (1, 2):
        loo = [distinct_n(texts[:i] + texts[i + 1 :], n) for i in range(len(texts))]
        mean = sum(loo) / len(loo)
        se = math.sqrt((len(texts) - 1) / len(texts) * sum((x - mean) ** 2 for x in loo))
        out = _distinct_summary(texts, n)
        assert out["mean"] == pytest.approx(distinct_n(texts, n))
        assert out["std"] == pytest.approx(se)


def test_cluster_bootstrap_resamples_whole_clusters():
    import numpy as np

    rng = np.random.default_rng(0)
    centres = rng.normal(size=20)
    values = np.repeat(centres, 5)  # 20 prompts, 5 identical samples each
    clusters = np.repeat(np.arange(20), 5)
    lo_i, hi_i = bootstrap_ci(values, n_samples=4000, seed=1)
    lo_c, hi_c = bootstrap_ci(values, n_samples=4000, seed=1, clusters=clusters)
    # identical blocks carry the information of 20 values, not 100: the interval is about sqrt(5) wider
    assert (hi_c - lo_c) / (hi_i - lo_i) == pytest.approx(math.sqrt(5), rel=0.2)
    cluster_means = bootstrap_ci(centres, n_samples=4000, seed=1)
    assert (lo_c, hi_c) == pytest.approx(cluster_means, rel=1e-9)  # same draws, same cluster means
    # one cluster per item is the item bootstrap
    assert bootstrap_ci(values, seed=2, clusters=list(range(100))) == pytest.approx(
        bootstrap_ci(values, seed=2)
    )
    # unequal cluster sizes: a replicate is the mean of the items it drew, so constants stay constant
    assert bootstrap_ci([1.0, 1.0, 1.0, 1.0], clusters=["a", "a", "a", "b"]) == (1.0, 1.0)
    with pytest.raises(ValueError, match="clusters"):
        bootstrap_ci([1.0, 2.0], clusters=[0])
    s = summarize(values, n_samples=4000, seed=1, clusters=clusters)
    assert s["ci95"] == [lo_c, hi_c] and s["mean"] == pytest.approx(centres.mean()) and s["n"] == 100


def test_sign_test_by_hand():
    assert sign_test(9, 1) == 22 / 1024 == 0.021484375  # 2 (C(10,0) + C(10,1)) / 2^10
    assert sign_test(1, 9) == sign_test(9, 1)
    assert sign_test(3, 0) == 2 / 8
    assert sign_test(5, 5) == 1.0 and sign_test(1, 1) == 1.0  # 2 P(X <= min) capped at 1
    assert sign_test(0, 0) == 1.0
    assert sign_test(10, 0) == 2 / 1024
    # large n stays exact (no float overflow in 2^n); normal approximation as a sanity check
    z = (600 - 500) / math.sqrt(1000 / 4)
    assert sign_test(600, 400) == pytest.approx(math.erfc(z / math.sqrt(2)), rel=0.1)
    with pytest.raises(ValueError):
        sign_test(-1, 3)


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 -> 3*0.01, 2*0.03, max(0.06, 1*0.04): the running max keeps it monotone
    adjusted = holm({"a": 0.01, "b": 0.04, "c": 0.03})
    assert adjusted == pytest.approx({"a": 0.03, "b": 0.06, "c": 0.06})
    assert list(adjusted) == ["a", "b", "c"]
    assert holm({"x": 0.6, "y": 0.5}) == {"x": 1.0, "y": 1.0}  # 2*0.5 = 1; capped
    assert holm({("ppo", "gold"): 0.02}) == {("ppo", "gold"): 0.02}  # a family of one: unadjusted
    assert holm({}) == {}


def test_paired_difference_by_hand():
    out = paired_difference([3.0, 5.0, 4.0, 6.0], [1.0, 4.0, 4.0, 3.0], n_samples=2000, seed=0)
    # d = [2, 1, 0, 3]: mean 1.5, sample std sqrt(5/3)
    assert out["mean_diff"] == 1.5 and out["n"] == 4
    assert out["std"] == pytest.approx(math.sqrt(5 / 3))
    assert out["effect_size"] == pytest.approx(1.5 / math.sqrt(5 / 3))
    assert 0.0 <= out["ci95"][0] <= 1.5 <= out["ci95"][1] <= 3.0
    same = paired_difference([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])
    assert same["std"] == 0.0 and same["effect_size"] is None and same["ci95"] == [1.0, 1.0]
    assert paired_difference([1.0], [0.0])["std"] is None
    with pytest.raises(ValueError):
        paired_difference([1.0, 2.0], [1.0])


# --------------------------------------------------------------------------- verdicts in build_metrics


def _metrics_for(samples, scores, judgements, **cfg_overrides):
    from rlhf_trl.evaluation.config import EvaluationConfig
    from rlhf_trl.evaluation.harness import ModelSpec
    from rlhf_trl.evaluation.metrics import build_metrics

    cfg = EvaluationConfig(bootstrap_samples=200, judges=["gold", "local_lm"], **cfg_overrides)
    specs = [
        ModelSpec("reference", "ref"),
        ModelSpec("ppo", "run/checkpoints/ppo"),
        ModelSpec("echo", "baseline:echo"),
    ]
    return build_metrics(
        specs,
        samples,
        scores,
        judgements,
        cfg,
        settings={},
        reference="ref",
        run_dir="run",
        notes=[],
        dataset="bundled",
    )


def test_build_metrics_paired_verdicts_by_hand():
    n = 30
    row = {"response": "a b", "length": 2, "ended_with_eos": True}
    samples = {
        "reference": [{**row, "kl": 0.0, "kl_analytic": 0.0}] * n,
        "ppo": [{**row, "kl": 0.5, "kl_analytic": 0.25}] * n,
        "echo": [{**row, "kl": None, "kl_analytic": None}] * n,  # a fixed rule has no KL
    }
    ref_gold = [0.0] * n
    ppo_gold = [1.0] * 9 + [-2.0] + [0.0] * 20  # 9 wins, 1 loss, 20 ties
    scores = {
        "reference": {"gold": ref_gold},
        "ppo": {"gold": ppo_gold},
        "echo": {"gold": [-1.0] * n},
    }
    judgements = {
        "ppo": {
            "gold": [outcome_from_scores(a, b) for a, b in zip(ppo_gold, ref_gold)],
            "local_lm": [WIN] * 3 + [LOSS] * 4 + [TIE] * 23,
        },
        "echo": {"gold": [LOSS] * n, "local_lm": [TIE] * n},
    }
    metrics = _metrics_for(samples, scores, judgements)
    ppo, echo = metrics["models"]["ppo"], metrics["models"]["echo"]
    assert (ppo["role"], echo["role"], metrics["models"]["reference"]["role"]) == (
        "policy",
        "baseline",
        "reference",
    )
    gold = ppo["win_rate"]["gold"]
    assert gold["win_rate"] == (9 + 10) / 30  # the existing keys stay
    paired = gold["paired"]
    # ties dropped: counting the 20 ties as half wins would give Binomial(30) and a much larger p
    assert paired["p_sign"] == 22 / 1024
    assert paired["mean_diff"] == pytest.approx((9 - 2) / 30)  # paired difference of the gold scores
    assert paired["ci95"][0] <= paired["mean_diff"] <= paired["ci95"][1]
    lm = ppo["win_rate"]["local_lm"]["paired"]
    assert lm["mean_diff"] == pytest.approx((3 - 4) / 30)  # +1 win, 0 tie, -1 loss
    assert lm["p_sign"] == 1.0  # 2 P(X <= 3), X ~ Bin(7, 1/2) = 2 * 64/128
    assert echo["win_rate"]["gold"]["paired"]["p_sign"] == 2 / 2**30
    assert echo["win_rate"]["local_lm"]["paired"]["p_sign"] == 1.0
    # Holm over the 4 verdicts: 2^-29, 22/1024, 1, 1 -> x4, x3, then capped at 1
    assert echo["win_rate"]["gold"]["paired"]["p_holm"] == pytest.approx(4 * 2 / 2**30)
    assert paired["p_holm"] == pytest.approx(3 * 22 / 1024)
    assert lm["p_holm"] == 1.0
    assert paired["verdict"] == "no significant difference"  # p_sign 0.021 < 0.05 but 0.064 after Holm
    assert echo["win_rate"]["gold"]["paired"]["verdict"] == "worse"
    assert echo["win_rate"]["gold"]["paired"]["effect_size"] is None  # every difference is -1: std 0
    assert metrics["settings"]["alpha"] == 0.05
    # KL: a baseline without one is summarised as missing, not as 0
    assert echo["metrics"]["kl"] == {"mean": None, "std": None, "ci95": None, "n": 0}
    assert ppo["metrics"]["kl"]["mean"] == 0.5 and ppo["metrics"]["kl"]["ci95"] == [0.5, 0.5]
    assert ppo["metrics"]["kl_analytic"]["mean"] == 0.25

    from rlhf_trl.evaluation.outputs import metrics_table, win_rate_table
    from rlhf_trl.evaluation.report import verdict

    table = win_rate_table(metrics)
    assert "| echo (baseline) | gold rubric | 0.000 [0.000, 0.000] | 0 / 0 / 30 |" in table
    assert "| <0.001 | <0.001 | worse |" in table
    assert "| 0.021 | 0.064 | no significant difference |" in table
    assert "KL analytic" in metrics_table(metrics)
    assert verdict(echo["win_rate"]["gold"]).startswith("worse than the reference")
    assert verdict(gold) == (
        "not distinguishable from the reference (sign test, Holm-adjusted p = 0.064 ≥ 0.05)"
    )
    assert verdict({"win_rate": 0.9, "ci95": [0.8, 1.0]}).startswith("no sign test recorded")

    truncated = _metrics_for(samples, scores, judgements, top_k=5)
    assert any("kl_analytic not computed" in note for note in truncated["notes"])


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


def _ancestral_samples(policy, query: list[int], n: int, seed: int = 0):
    """n independent responses from π at temperature TEMP: ``(q, qmask, response, mask)``."""
    import torch

    from rlhf_trl.generation import sequence_mask, truncate_after_eos

    gen = torch.Generator().manual_seed(seed)
    ids = torch.tensor([query] * n)
    with torch.no_grad():
        for _ in range(MAX_NEW):
            probs = torch.softmax(policy(input_ids=ids).logits[:, -1] / TEMP, -1)
            ids = torch.cat([ids, torch.multinomial(probs, 1, generator=gen)], dim=1)
    response, lengths, _ = truncate_after_eos(ids[:, len(query) :], EOS, PAD)
    mask = sequence_mask(lengths, response.shape[1])
    q = torch.tensor([query] * n)
    return q, torch.ones_like(q), response, mask


def test_kl_estimator_matches_exact_kl_by_enumeration():
    import torch

    from rlhf_trl.evaluation.stats import sequence_kl
    from rlhf_trl.generation import response_logprobs

    policy, ref = _tiny_lm(0), _tiny_lm(1)
    query = [1, 2]
    exact = _exact_kl(policy, ref, query)
    assert exact > 0.05  # the two models really differ

    n = 20000
    q, qmask, response, mask = _ancestral_samples(policy, query, n)
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


def test_analytic_kl_matches_exact_kl_and_the_monte_carlo_estimate():
    import torch

    from rlhf_trl.evaluation.stats import sequence_kl
    from rlhf_trl.generation import response_logprobs, response_token_kl

    policy, ref = _tiny_lm(0), _tiny_lm(1)
    query = [1, 2]
    exact = _exact_kl(policy, ref, query)
    n = 20000
    q, qmask, response, mask = _ancestral_samples(policy, query, n, seed=1)
    kw = dict(query_mask=qmask, response_mask=mask)
    with torch.no_grad():
        token_kl, lp, lp_ref = response_token_kl(policy, ref, q, response, TEMP, **kw)
        # the log-probs from the shared pass are response_logprobs' log-probs
        assert torch.allclose(lp, response_logprobs(policy, q, response, PAD, TEMP, **kw), atol=1e-5)
        assert torch.allclose(lp_ref, response_logprobs(ref, q, response, PAD, TEMP, **kw), atol=1e-5)
    assert (token_kl >= 0).all() and (token_kl[mask == 0] == 0).all()
    analytic = token_kl.sum(-1)
    mc = sequence_kl(lp, lp_ref, mask.float())
    se = analytic.std().item() / math.sqrt(n)
    assert abs(analytic.mean().item() - exact) < 4 * se + 1e-3, (analytic.mean().item(), exact, se)
    se_diff = (analytic - mc).std().item() / math.sqrt(n)  # paired: same samples
    assert abs(analytic.mean().item() - mc.mean().item()) < 4 * se_diff
    with torch.no_grad():
        same, _, _ = response_token_kl(
            policy, policy, q[:64], response[:64], TEMP, query_mask=qmask[:64], response_mask=mask[:64]
        )
    assert same.abs().max().item() == 0.0


class _TableLM:
    """A stub causal LM whose logits depend only on the position among the kept ones: ``table`` is
    ``[Lr + 1, V]``; the last row predicts nothing and is NaN, so an off-by-one shows."""

    def __init__(self, table):
        self.table = table

    def __call__(self, input_ids, attention_mask, position_ids, logits_to_keep, use_cache):
        from types import SimpleNamespace

        assert logits_to_keep == self.table.shape[0]
        return SimpleNamespace(logits=self.table.expand(input_ids.shape[0], -1, -1))


def test_analytic_kl_two_tokens_by_hand():
    import torch

    from rlhf_trl.generation import response_token_kl, token_kl_from_logits

    t = 2.0  # logits are T * log p, so softmax(logits / T) = p

    def table(*dists):
        return torch.tensor([[t * math.log(x) for x in d] for d in dists] + [[float("nan")] * 2])

    policy = _TableLM(table([0.5, 0.5], [0.9, 0.1]))
    ref = _TableLM(table([0.75, 0.25], [0.5, 0.5]))
    kl1 = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    kl2 = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    q = torch.tensor([[1], [1]])
    response = torch.tensor([[0, 1], [1, 0]])
    mask = torch.tensor([[1, 1], [1, 0]])  # the second response ended after one token
    kl, lp, lp_ref = response_token_kl(
        policy, ref, q, response, t, query_mask=torch.ones_like(q), response_mask=mask
    )

    def close(x, expected):
        torch.testing.assert_close(x, torch.tensor(expected, dtype=torch.float32), atol=1e-6, rtol=0)

    close(kl, [[kl1, kl2], [kl1, 0.0]])
    close(lp, [[math.log(0.5), math.log(0.1)], [math.log(0.5), 0.0]])
    close(lp_ref, [[math.log(0.75), math.log(0.5)], [math.log(0.25), 0.0]])
    # chunking (one row at a time) gives the same numbers as one pass
    logits = torch.randn(3, 4, 7)
    ref_logits = torch.randn(3, 4, 7)
    assert torch.allclose(
        token_kl_from_logits(logits, ref_logits, chunk_elements=1), token_kl_from_logits(logits, ref_logits)
    )


def test_sample_model_stores_both_kls(tiny_model_dir, one_thread):
    """The harness's rows: Monte-Carlo and analytic KL of a policy on its own samples, 0 for the reference
    and for an identical policy; under top-k both are None for a policy (its samples estimate no
    KL(π‖π_ref); docs/evaluation.md) and still 0 for the reference."""
    from types import SimpleNamespace

    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    from rlhf_trl.evaluation.harness import sample_model

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    ref = LlamaForCausalLM.from_pretrained(tiny_model_dir).eval()
    policy = LlamaForCausalLM.from_pretrained(tiny_model_dir).eval()
    torch.manual_seed(3)
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.5 * torch.randn_like(p))
    prompts = [[{"role": "user", "content": f"Question {i}?"}] for i in range(4)]
    cfg = SimpleNamespace(
        max_new_tokens=5, temperature=0.7, top_k=0, top_p=1.0, do_sample=True, batch_size=2, seed=0
    )
    rows = sample_model(policy, ref, tokenizer, prompts, cfg, desc="policy")
    assert all(r["kl_analytic"] > 0 for r in rows)  # a perturbed policy differs at every position
    assert sum(r["kl"] for r in rows) != sum(r["kl_analytic"] for r in rows)
    same = sample_model(ref, ref, tokenizer, prompts, cfg, desc="identical")
    assert [r["kl_analytic"] for r in same] == [0.0] * 4 and [r["kl"] for r in same] == [0.0] * 4
    assert [r["kl_analytic"] for r in sample_model(ref, None, tokenizer, prompts, cfg, desc="ref")] == [
        0.0
    ] * 4
    cfg.top_k = 5
    truncated = sample_model(policy, ref, tokenizer, prompts, cfg, desc="top-k")
    assert all(r["kl_analytic"] is None and r["kl"] is None for r in truncated)
    assert [r["response"] for r in truncated] != [r["response"] for r in rows]  # top-k did apply
    reference = sample_model(ref, None, tokenizer, prompts, cfg, desc="ref top-k")
    assert [(r["kl"], r["kl_analytic"]) for r in reference] == [(0.0, 0.0)] * 4
