"""Several replies per prompt (evaluation.samples_per_prompt): every statistic averages a prompt's replies
first, checked against hand computations on a fake evaluation (no model loads)."""

from __future__ import annotations

import json

import pytest
from conftest import labelled_testbed_prompts

K = 2


def prompts() -> list:
    """Three testbed requests, the first harmful (read when a test runs, not at import)."""
    harmful, benign = labelled_testbed_prompts()
    return [harmful[0], benign[0], benign[1]]


REFUSAL = "I'm sorry, but I can't help with that."
# ppo's gold per reply, prompt by prompt (the reference scores 0.5 everywhere): prompt 0 +0.2 / −0.1 (mean
# +0.05: a win, though its verdicts are a win and a loss), prompt 1 +0.1 / −0.1 (mean 0: a tie), prompt 2
# −0.2 / 0 (mean −0.1: a loss)
PPO_GOLD = [0.7, 0.4, 0.6, 0.4, 0.3, 0.5]


def evaluation(ppo_gold: list[float] = PPO_GOLD, evaluated: list | None = None):
    from rlhf_trl.evaluation.config import EvaluationConfig
    from rlhf_trl.evaluation.harness import SAMPLING_KEYS, ModelSpec
    from rlhf_trl.evaluation.metrics import build_metrics
    from rlhf_trl.evaluation.outputs import sample_records
    from rlhf_trl.evaluation.stats import outcome_from_scores

    cfg = EvaluationConfig(bootstrap_samples=500, judges=["gold"], samples_per_prompt=K)
    settings = {k: getattr(cfg, k) for k in SAMPLING_KEYS} | {"samples_per_prompt": K}
    rows = [
        p for p in evaluated or prompts() for _ in range(K)
    ]  # the harness samples each prompt K times in a row
    specs = [ModelSpec("reference", "ref"), ModelSpec("ppo", "run/checkpoints/ppo")]
    responses = {"reference": [REFUSAL, REFUSAL] + ["an answer"] * 4, "ppo": [REFUSAL, "sure"] + ["x y"] * 4}
    samples = {
        name: [
            {"response": r, "length": 3 + i, "ended_with_eos": True, "kl": 0.1 * i, "kl_analytic": None}
            for i, r in enumerate(texts)
        ]
        for name, texts in responses.items()
    }
    scores = {"reference": {"gold": [0.5] * 6}, "ppo": {"gold": ppo_gold}}
    judgements = {"ppo": {"gold": [outcome_from_scores(p, 0.5) for p in ppo_gold]}}
    metrics = build_metrics(
        specs,
        samples,
        scores,
        judgements,
        cfg,
        settings=settings,
        reference="ref",
        run_dir="run",
        notes=[],
        dataset="bundled",
        prompts=rows,
    )
    return metrics, list(sample_records(rows, specs, samples, scores, judgements, K))


def test_verdicts_and_paired_differences_are_over_prompts():
    from rlhf_trl.evaluation.stats import paired_difference

    metrics, _ = evaluation()
    assert metrics["num_prompts"] == 3
    w = metrics["models"]["ppo"]["win_rate"]["gold"]
    # each prompt's outcome is the sign of its mean score difference (as the pooled seeds'), and the win
    # rate is over those outcomes, so it agrees with the verdict: (1 + ½) / 3, not the replies' 2.5 / 6
    assert (w["wins"], w["ties"], w["losses"], w["n"], w["replies"]) == (1, 1, 1, 3, 6)
    assert w["win_rate"] == 0.5
    assert w["paired"]["p_sign"] == 1.0  # one win, one loss among the prompts
    per_prompt = paired_difference([0.55, 0.5, 0.4], [0.5] * 3, 500, 42)
    assert w["paired"]["mean_diff"] == pytest.approx(-0.05 / 3)
    assert w["paired"]["ci95"] == pytest.approx(per_prompt["ci95"])
    assert w["paired"]["effect_size"] == pytest.approx(per_prompt["effect_size"])


def test_a_prompt_whose_replies_all_tie_is_a_tie_after_rounding():
    from rlhf_trl.evaluation.config import EvaluationConfig
    from rlhf_trl.evaluation.metrics import _win_rate
    from rlhf_trl.evaluation.stats import outcome_from_scores

    cfg = EvaluationConfig(tie_margin=0.1)
    own, ref = [0.1] * 3 + [0.3] * 3, [0.0] * 6  # (0.1 + 0.1 + 0.1) / 3 = 0.10000000000000002 > 0.1
    verdicts = [outcome_from_scores(a, b, cfg.tie_margin) for a, b in zip(own, ref)]
    w = _win_rate(verdicts, own, ref, [0, 0, 0, 1, 1, 1], cfg.tie_margin, 200, 0)
    assert (w["wins"], w["ties"], w["losses"]) == (1, 1, 0)


def test_summaries_count_replies_and_resample_whole_prompts():
    from rlhf_trl.evaluation.stats import summarize

    metrics, _ = evaluation()
    gold = metrics["models"]["ppo"]["metrics"]["gold_score"]
    assert gold["n"] == 6 and gold["mean"] == pytest.approx(sum(PPO_GOLD) / 6)
    assert gold["ci95"] == summarize(PPO_GOLD, 500, 42, clusters=[0, 0, 1, 1, 2, 2])["ci95"]
    assert gold["ci95"] != summarize(PPO_GOLD, 500, 42)["ci95"]  # not a bootstrap over replies
    h = metrics["models"]["ppo"]["harmlessness"]
    assert (h["n_harmful"], h["n_benign"]) == (2, 4)  # replies
    assert h["refusal_rate_harmful"]["mean"] == 0.5  # refuses one of its two replies to the harmful prompt
    assert h["over_refusal_benign"]["mean"] == 0.0
    assert metrics["settings"]["samples_per_prompt"] == K


def test_no_harmlessness_but_a_note_when_some_prompts_are_not_testbed_requests():
    other = [{"role": "user", "content": "How do I break into a house?"}]  # labelled by no bank
    metrics, _ = evaluation(evaluated=[*prompts()[:2], other])
    assert "harmlessness" not in metrics["models"]["ppo"]
    assert any("harmlessness not reported: 1 of 3 evaluated prompts" in n for n in metrics["notes"])
    assert not any("harmlessness" in n for n in evaluation()[0]["notes"])


def test_samples_name_the_prompt_and_the_reply():
    _, records = evaluation()
    ppo = [r for r in records if r["model"] == "ppo"]
    assert [(r["prompt_id"], r["sample"]) for r in ppo] == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    assert [r["prompt"] for r in ppo[::K]] == prompts()


def test_config_refuses_what_it_cannot_do():
    from rlhf_trl.evaluation.config import EvaluationConfig

    with pytest.raises(ValueError, match="samples_per_prompt must be >= 1, got 0"):
        EvaluationConfig(samples_per_prompt=0)
    with pytest.raises(ValueError, match="identical greedy replies"):
        EvaluationConfig(samples_per_prompt=2, do_sample=False)


def write_evaluation(folder, metrics, records) -> None:
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_seeds_pool_the_prompts_mean_over_their_replies(tmp_path):
    """`rlhf-trl report --runs` with k replies per prompt: per seed, a prompt's difference is the mean over
    its replies; then the mean over seeds. Seed b's per-reply differences 0 / 0, +0.4 / +0.2, 0 / −0.2 give
    prompt means 0, +0.3, −0.1; seed a's are +0.05, 0, −0.1; pooled +0.025, +0.15, −0.1."""
    from rlhf_trl.errors import UserError
    from rlhf_trl.evaluation.seeds import (
        load_seed_runs,
        pooled_differences,
        pooled_vs_reference,
        render_seeds,
    )

    write_evaluation(tmp_path / "a", *evaluation())
    write_evaluation(tmp_path / "b", *evaluation([0.5, 0.5, 0.9, 0.7, 0.5, 0.3]))
    runs = load_seed_runs([tmp_path / "a", tmp_path / "b"])
    means, n_seeds = pooled_differences(runs, "ppo", "reference", "gold")
    assert n_seeds == 2 and means == pytest.approx([0.025, 0.15, -0.1])
    test = pooled_vs_reference(runs, 200)[("ppo", "gold")]
    assert (test["wins"], test["ties"], test["losses"], test["n_prompts"]) == (2, 0, 1, 3)
    assert test["mean_diff"] == pytest.approx(0.025)
    text = render_seeds([tmp_path / "a", tmp_path / "b"])
    assert "2 replies per prompt and model" in text and "averaged over the prompt's replies" in text
    assert "_No baselines were evaluated: the methods are not compared with the baselines._" in text

    metrics, records = evaluation()  # the same prompts with one reply each: not pooled with k = 2
    metrics["settings"].pop("samples_per_prompt")
    write_evaluation(tmp_path / "one", metrics, [r for r in records if r["sample"] == 0])
    with pytest.raises(UserError, match="sampled with samples_per_prompt=1, .* with samples_per_prompt=2"):
        load_seed_runs([tmp_path / "a", tmp_path / "one"])

    metrics, records = evaluation()  # a cut samples.jsonl: ppo's second reply to the last prompt is gone
    write_evaluation(tmp_path / "cut", metrics, records[:-1])
    with pytest.raises(UserError, match="model 'ppo' has 1 replies for prompt_id 2, expected 2"):
        load_seed_runs([tmp_path / "cut"])
