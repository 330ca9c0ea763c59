"""metrics.json, the numbers of an evaluation (schema in docs/evaluation.md): per-model summaries with
bootstrap CIs (clustered by prompt with several replies per prompt), refusal rates on harmful and benign
prompts, and each model's paired test against the reference, Holm-corrected over the run's verdicts.
Writing it, with samples.jsonl, side_by_side.md, report.md and the plots, is ``outputs``'."""

from __future__ import annotations

import math
import time
from collections import Counter

from rlhf_trl.evaluation.baselines import PATH_PREFIX as BASELINE_PATH_PREFIX
from rlhf_trl.evaluation.stats import (
    LOSS,
    TIE,
    WIN,
    holm,
    paired_difference,
    sign_test,
    summarize,
    win_rate_summary,
)

# 2: paired verdicts, kl_analytic, baselines (role "baseline", KL may be None); 3: `judges` (the local LM
# judge's model, whether it is the reference, its accuracy; the reward model's path)
SCHEMA_VERSION = 3
ALPHA = 0.05
"""Family-wise error rate of a run's verdicts: a (model, judge) comparison with the reference is called
"better" or "worse" only when its Holm-adjusted sign-test p-value is below ALPHA; the family is every
(model, judge) verdict of the run."""
ZERO = 1e-9
"""A per-prompt mean within ZERO of 0 is a tie: averaging (+0.2, −0.2) gives −5.6e-17, not 0, in floats."""
# metric key -> the score/judge it comes from
SCORE_METRICS = {"proxy_reward": "reward_model", "gold_score": "gold"}


def replies_per_prompt(settings: dict) -> int:
    """An evaluation's replies per prompt and model (``settings`` records it only when above 1)."""
    return settings.get("samples_per_prompt", 1)


def _distinct_summary(texts: list[str], n: int, clusters: list[int] | None = None) -> dict:
    """distinct-n over all responses, with a jackknife (leave-one-response-out; with ``clusters``,
    leave-one-prompt-out) standard error and a normal 95% CI. A bootstrap would be biased here:
    resampling with replacement duplicates responses and so lowers distinct-n by construction."""
    grams = [[tuple(t.split()[i : i + n]) for i in range(len(t.split()) - n + 1)] for t in texts]
    counts = Counter(g for row in grams for g in row)
    total = sum(counts.values())
    value = len(counts) / total if total else 0.0
    if clusters is not None:  # a prompt's replies are left out together
        merged: dict[int, list] = {}
        for c, row in zip(clusters, grams):
            merged.setdefault(c, []).extend(row)
        grams = list(merged.values())
    k = len(grams)
    if k < 2 or total == 0:
        return {"mean": value, "std": None, "ci95": None, "n": len(texts)}
    loo = []
    for row in grams:  # unique count drops by the n-grams only this response (prompt) has
        row_counts = Counter(row)
        only_here = sum(1 for g, c in row_counts.items() if counts[g] == c)
        rest = total - len(row)
        loo.append((len(counts) - only_here) / rest if rest else 0.0)
    mean_loo = sum(loo) / k
    se = math.sqrt((k - 1) / k * sum((x - mean_loo) ** 2 for x in loo))
    return {"mean": value, "std": se, "ci95": [value - 1.96 * se, value + 1.96 * se], "n": len(texts)}


def _role(spec) -> str:
    if spec.name == "reference":
        return "reference"
    return "baseline" if spec.path.startswith(BASELINE_PATH_PREFIX) else "policy"


def _summary_of_present(values: list, boots: int, seed: int, clusters: list[int] | None = None) -> dict:
    """:func:`summarize` over the rows that have the value (``kl`` is None for a baseline that is a
    fixed rule rather than a model; ``kl_analytic`` under top-k/top-p or in samples cached before it
    existed); ``n`` says how many. ``{"mean": None, ...}`` when no row has it."""
    keep = [i for i, v in enumerate(values) if v is not None]
    return summarize([values[i] for i in keep], boots, seed, _subset(clusters, keep))


def _subset(clusters: list[int] | None, rows: list[int]) -> list[int] | None:
    return None if clusters is None else [clusters[i] for i in rows]


def per_prompt_means(values: list[float], clusters: list[int] | None) -> list[float]:
    """The mean of each prompt's values, in prompt order (``values`` unchanged without clusters)."""
    if clusters is None:
        return list(values)
    sums: dict[int, list[float]] = {}
    for c, v in zip(clusters, values):
        sums.setdefault(c, []).append(v)
    return [sum(v) / len(v) for v in sums.values()]


def _prompt_differences(judgements: list[float], own, ref, clusters: list[int] | None) -> list[float]:
    """Per prompt, the mean paired difference to the reference: of the scores for a score judge (``own``
    and ``ref`` given), of the verdicts as +1 win / 0 tie / −1 loss for a pairwise judge."""
    if own is not None and ref is not None:
        return per_prompt_means([a - b for a, b in zip(own, ref)], clusters)
    return per_prompt_means([2.0 * (j - 0.5) for j in judgements], clusters)


def _win_rate(
    judgements: list[float], own, ref, clusters: list[int] | None, tie_margin: float, boots: int, seed: int
) -> dict:
    """:func:`win_rate_summary`. With several replies per prompt (``clusters``) each prompt gets one
    outcome from its mean difference (:func:`_prompt_differences`): a win above +margin, a loss below
    −margin, else a tie, margin = tie_margin + ZERO for a score judge (a prompt whose replies all tie
    stays a tie after rounding), ZERO for a pairwise one; the win rate, wins / ties / losses, n and the CI
    are over those prompt outcomes, the same statistic the sign test tests. ``replies`` counts the replies."""
    if clusters is None:
        return win_rate_summary(judgements, boots, seed)
    margin = (tie_margin if own is not None and ref is not None else 0.0) + ZERO
    outcomes = [
        WIN if x > margin else LOSS if x < -margin else TIE
        for x in _prompt_differences(judgements, own, ref, clusters)
    ]
    return {**win_rate_summary(outcomes, boots, seed), "replies": len(judgements)}


def _paired(
    judgements: list[float],
    own: list[float] | None,
    ref: list[float] | None,
    boots,
    seed,
    clusters: list[int] | None = None,
) -> dict:
    """Paired difference to the reference on the same prompts: of the scores for a score judge (``own``
    and ``ref`` given), of the verdicts mapped to +1 win / 0 tie / −1 loss for a pairwise judge. With
    several replies per prompt (``clusters``), of each prompt's mean: the prompts are the pairs."""
    diffs = _prompt_differences(judgements, own, ref, clusters)
    d = paired_difference(diffs, [0.0] * len(diffs), boots, seed)
    return {"mean_diff": d["mean_diff"], "ci95": d["ci95"], "std": d["std"], "effect_size": d["effect_size"]}


def harmful_flags(prompts) -> list[bool] | None:
    """Which prompts ask for something harmful (``rlhf_trl.testbed.is_harmful_request``), when every prompt
    is a testbed request whose kind is known (:func:`rlhf_trl.testbed.gold.covers`: the bundled testbed or a
    copy of it). ``None`` otherwise (or without prompts): the testbed's regular expressions say nothing
    reliable about another dataset's prompts."""
    if prompts is None:
        return None
    from rlhf_trl.testbed.gold import covers, is_harmful_request

    prompts = list(prompts)
    return [is_harmful_request(p) for p in prompts] if covers(prompts) else None


def harmlessness_summary(
    harmful: list[bool],
    responses: list[str],
    gold: list[float] | None,
    boots: int,
    seed: int,
    clusters: list[int] | None = None,
) -> dict:
    """Helpful and harmless apart (metrics.json ``models.<name>.harmlessness``, docs/evaluation.md).

    A refusal (``rlhf_trl.testbed.is_refusal``) is right on a harmful prompt and wrong on a benign one, so
    one mean gold score can hide a policy that refuses everything; the two rates and the gold score on
    each kind of prompt separate the two. Rates are means of 0/1 values with bootstrap CIs; ``gold_*`` are
    ``None`` without gold scores; a kind with no prompt has ``mean`` ``None``.
    """
    from rlhf_trl.testbed.gold import is_refusal

    refused = [float(is_refusal(r)) for r in responses]
    harm = [i for i, h in enumerate(harmful) if h]
    benign = [i for i, h in enumerate(harmful) if not h]
    ch, cb = _subset(clusters, harm), _subset(clusters, benign)
    return {
        "refusal_rate_harmful": summarize([refused[i] for i in harm], boots, seed, ch),
        "over_refusal_benign": summarize([refused[i] for i in benign], boots, seed, cb),
        "n_harmful": len(harm),
        "n_benign": len(benign),
        "gold_harmful": None if gold is None else summarize([gold[i] for i in harm], boots, seed, ch),
        "gold_benign": None if gold is None else summarize([gold[i] for i in benign], boots, seed, cb),
    }


def build_metrics(
    specs,
    samples,
    scores,
    judgements,
    cfg,
    *,
    settings,
    reference,
    run_dir,
    notes,
    dataset,
    prompts=None,
    judges=None,
) -> dict:
    """The metrics.json dictionary (docs/evaluation.md). ``prompts`` (the evaluated prompts, in the
    samples' order) adds each model's ``harmlessness`` when they are testbed requests (:func:`harmful_flags`);
    ``judges`` is the ``judges`` entry (which model a judge is, and the local LM judge's accuracy)."""
    boots, seed = cfg.bootstrap_samples, cfg.seed
    harmful = harmful_flags(prompts)
    k = replies_per_prompt(settings)  # rows i*k .. i*k+k-1 are prompt i's replies
    if harmful is None and prompts is not None:
        from rlhf_trl.testbed.gold import bank_request

        unique = prompts[::k]
        n_testbed = sum(bank_request(p) is not None for p in unique)
        if n_testbed:  # some testbed prompts among others: say why the harmful/benign split is missing
            notes = [
                *notes,
                f"harmlessness not reported: {len(unique) - n_testbed} of {len(unique)} evaluated prompts are "
                "not testbed requests, so they are not labelled harmful or benign",
            ]
    n_rows = len(next(iter(samples.values())))
    cl = [i // k for i in range(n_rows)] if k > 1 else None
    models = {}
    p_sign = {}
    for spec in specs:
        rows = samples[spec.name]
        m = {
            "kl": _summary_of_present([r.get("kl") for r in rows], boots, seed, cl),
            "kl_analytic": _summary_of_present([r.get("kl_analytic") for r in rows], boots, seed, cl),
            "length_tokens": summarize([r["length"] for r in rows], boots, seed, cl),
            "eos_rate": summarize([float(r["ended_with_eos"]) for r in rows], boots, seed, cl),
        }
        for key, judge in SCORE_METRICS.items():
            if judge in scores[spec.name]:
                m[key] = summarize(scores[spec.name][judge], boots, seed, cl)
        texts = [r["response"] for r in rows]
        for n in (1, 2):
            m[f"distinct_{n}"] = _distinct_summary(texts, n, cl)
        entry = {"path": spec.path, "role": _role(spec), "metrics": m}
        if spec.curve is not None:  # a point along a training run (checkpoints_of)
            entry["curve"], entry["step"] = spec.curve, spec.step
        if harmful is not None:
            entry["harmlessness"] = harmlessness_summary(
                harmful, texts, scores[spec.name].get("gold"), boots, seed, cl
            )
        if spec.name in judgements:
            entry["win_rate"] = {}
            for j, v in judgements[spec.name].items():
                own, ref = scores[spec.name].get(j), scores.get("reference", {}).get(j)
                w = _win_rate(v, own, ref, cl, cfg.tie_margin, boots, seed)
                w["paired"] = _paired(v, own, ref, boots, seed, cl)
                p_sign[(spec.name, j)] = w["paired"]["p_sign"] = sign_test(w["wins"], w["losses"])
                entry["win_rate"][j] = w
        models[spec.name] = entry
    for (name, j), p in holm(p_sign).items():
        w = models[name]["win_rate"][j]
        w["paired"]["p_holm"] = p
        w["paired"]["verdict"] = (
            "no significant difference" if p >= ALPHA else "better" if w["wins"] > w["losses"] else "worse"
        )
    if cfg.do_sample and (cfg.top_k > 0 or cfg.top_p < 1.0):
        notes = [
            *notes,
            "kl and kl_analytic not computed: with top_k/top_p the samples come from truncated "
            "distributions, which estimate no KL(π‖π_ref) of the models (docs/evaluation.md, Definitions); "
            "sample with top_k 0 and top_p 1 for it",
        ]
    return {
        "schema_version": SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "run_dir": str(run_dir),
        "dataset": dataset,
        "reference_model": reference,
        "num_prompts": n_rows // k,
        "settings": {
            **settings,
            "judges": list(cfg.judges),
            "judge_model": cfg.judge_model,
            "judge_accuracy_pairs": cfg.judge_accuracy_pairs,
            "bootstrap_samples": boots,
            "alpha": ALPHA,
            "tie_margin": cfg.tie_margin,
            "side_by_side_prompts": cfg.side_by_side_prompts,
        },
        "models": models,
        "judges": judges or {},
        "notes": notes,
    }
