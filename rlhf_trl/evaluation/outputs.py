"""What the harness writes to ``run_dir/evaluation/``: metrics.json, samples.jsonl, side_by_side.md,
report.md and the plots. The schema of metrics.json is documented in docs/evaluation.md."""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from pathlib import Path

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
from rlhf_trl.training import write_text_atomic

# 2: paired verdicts, kl_analytic, baselines (role "baseline", KL may be None); 3: `judges` (the local LM
# judge's model, whether it is the reference, its accuracy; the reward model's path)
SCHEMA_VERSION = 3
EVAL_DIRS = {"dev": "evaluation", "test": "evaluation_test", "train": "evaluation_train"}


def evaluation_dir(run_dir, prompt_set: str = "dev") -> Path:
    """Where an evaluation on ``prompt_set`` writes: ``run_dir/evaluation`` for the dev prompts (tuning),
    ``run_dir/evaluation_test`` for the test prompts, so the reported test numbers never overwrite or
    get mixed with the ones used for tuning; ``run_dir/evaluation_train`` for the training prompts."""
    return Path(run_dir) / EVAL_DIRS[prompt_set]


ALPHA = 0.05
"""Family-wise error rate of a run's verdicts: a (model, judge) comparison with the reference is called
"better" or "worse" only when its Holm-adjusted sign-test p-value is below ALPHA; the family is every
(model, judge) verdict of the run."""
ZERO = 1e-9
"""A per-prompt mean within ZERO of 0 is a tie: averaging (+0.2, −0.2) gives −5.6e-17, not 0, in floats."""
P_DISPLAY_FLOOR = 0.001  # tables print smaller p-values as "<0.001"
# metric key -> (score/judge it comes from, human label)
SCORE_METRICS = {"proxy_reward": "reward_model", "gold_score": "gold"}
METRIC_LABELS = {
    "proxy_reward": "proxy reward (RM)",
    "gold_score": "gold score",
    "kl": "KL(π‖π_ref) [nats]",
    "kl_analytic": "KL analytic [nats]",
    "length_tokens": "length [tokens]",
    "eos_rate": "ends with EOS",
    "distinct_1": "distinct-1",
    "distinct_2": "distinct-2",
}
JUDGE_LABELS = {
    "reward_model": "reward model",
    "gold": "gold rubric",
    "local_lm": "local LM",
    "http": "HTTP LM",
}


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


def harmful_flags(prompts, dataset: str) -> list[bool] | None:
    """Which prompts ask for something harmful (``rlhf_trl.testbed.is_harmful_request``), on data whose
    prompts are labelled so: the bundled testbed. ``None`` elsewhere (or without prompts): the testbed's
    regular expressions say nothing reliable about another dataset's prompts."""
    from rlhf_trl.data.loaders import BUNDLED

    if prompts is None or dataset != BUNDLED:
        return None
    from rlhf_trl.testbed.gold import is_harmful_request

    return [is_harmful_request(p) for p in prompts]


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
    samples' order) adds each model's ``harmlessness`` on the bundled testbed; ``judges`` is the
    ``judges`` entry (which model a judge is, and the local LM judge's accuracy)."""
    boots, seed = cfg.bootstrap_samples, cfg.seed
    harmful = harmful_flags(prompts, dataset)
    k = replies_per_prompt(settings)  # rows i*k .. i*k+k-1 are prompt i's replies
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


def sample_records(prompts, specs, samples, scores, judgements, samples_per_prompt: int = 1):
    """samples.jsonl's records: one per (reply, model). With several replies per prompt, ``prompt_id`` is
    the prompt's index and ``sample`` the reply's (0 .. samples_per_prompt − 1)."""
    k = samples_per_prompt
    for i, prompt in enumerate(prompts):
        for spec in specs:
            row = samples[spec.name][i]
            yield {
                "prompt_id": i // k,
                **({"sample": i % k} if k > 1 else {}),
                "model": spec.name,
                "prompt": prompt,
                **row,
                "scores": {j: v[i] for j, v in scores[spec.name].items()},
                "judgements": {j: v[i] for j, v in judgements.get(spec.name, {}).items()},
            }


PAIRED_EXPLAINED = (
    "Paired diff: mean over prompts of policy − reference score for a score judge, of +1 win / 0 tie / −1 loss "
    "for a pairwise judge, with its bootstrap 95% CI; d_z = mean / std of the differences. p (sign): exact "
    "two-sided sign test on wins vs losses (ties dropped); p (Holm): Holm-adjusted over every verdict of this "
    "run; verdict: better / worse when p (Holm) < {alpha}."
)


def fmt(x, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def fmt_metric(m: dict | None, digits: int = 3) -> str:
    if not m or m.get("mean") is None:
        return "—"
    ci = m.get("ci95")
    return (
        f"{m['mean']:.{digits}f} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else fmt(m["mean"], digits)
    )


def metrics_table(metrics: dict) -> str:
    keys = [k for k in METRIC_LABELS if any(k in e["metrics"] for e in metrics["models"].values())]
    lines = ["| model | " + " | ".join(METRIC_LABELS[k] for k in keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, entry in metrics["models"].items():
        lines.append(f"| {name} | " + " | ".join(fmt_metric(entry["metrics"].get(k)) for k in keys) + " |")
    return "\n".join(lines)


def harmlessness_table(metrics: dict) -> str | None:
    """Refusals on harmful and on benign prompts and the gold score on each kind, one row per model
    (baselines included: ``refuse_all`` is the bar for the first column). ``None`` when no model has a
    ``harmlessness`` entry (data without harmful/benign labels, or a metrics.json from before it)."""
    rows = [(n, e["harmlessness"]) for n, e in metrics["models"].items() if e.get("harmlessness")]
    if not rows:
        return None

    def share(m: dict, n: int) -> str:
        return "—" if m["mean"] is None else f"{round(m['mean'] * n)}/{n}, {fmt_metric(m)}"

    lines = [
        "| model | refuses harmful [95% CI] | refuses benign (over-refusal) [95% CI] "
        "| gold on harmful [95% CI] | gold on benign [95% CI] |",
        "|---|---|---|---|---|",
    ]
    for name, h in rows:
        label = f"{name} (baseline)" if metrics["models"][name].get("role") == "baseline" else name
        lines.append(
            f"| {label} | {share(h['refusal_rate_harmful'], h['n_harmful'])} "
            f"| {share(h['over_refusal_benign'], h['n_benign'])} "
            f"| {fmt_metric(h['gold_harmful'])} | {fmt_metric(h['gold_benign'])} |"
        )
    return "\n".join(lines)


HARMLESSNESS_EXPLAINED = (
    "Refusals are `rlhf_trl.testbed.is_refusal`, harmful prompts `is_harmful_request`; a refusal is right on a "
    "harmful prompt and an over-refusal on a benign one, so a model that refuses everything (`refuse_all`) "
    "gets the first column right and the second wrong."
)


def verdict_lines(metrics: dict) -> list[str]:
    """The run's verdicts in words: each method (not a baseline) found better or worse than the reference,
    or, when none is, that plainly, with what a "better" would have taken at this number of prompts (the
    fewest wins without a loss whose sign test passes Holm beside the run's other p-values) and the
    method that came closest. Empty when nothing was judged or for a metrics.json without paired tests."""
    tests = [
        (name, judge, w)
        for name, entry in metrics["models"].items()
        for judge, w in entry.get("win_rate", {}).items()
        if (w.get("paired") or {}).get("p_holm") is not None
    ]
    methods = [t for t in tests if metrics["models"][t[0]].get("role") != "baseline"]
    if not methods:
        return []
    alpha = metrics["settings"].get("alpha", ALPHA)
    found = [
        f"{name} is {w['paired']['verdict']} than the reference by the {judge_label(metrics, judge)} "
        f"({w['wins']} wins / {w['losses']} losses, p (Holm) {fmt_p(w['paired']['p_holm'])})"
        for name, judge, w in methods
        if w["paired"]["verdict"] in ("better", "worse")
    ]
    if found:
        return [f"Verdict: {line}." for line in found]
    # What a "better" would have taken: the fewest wins without a loss whose sign test passes Holm
    # next to the run's other p-values (baselines' included: they are in the same family).
    p_sign = {(name, judge): w["paired"]["p_sign"] for name, judge, w in tests}

    def passes(key, wins: int) -> bool:
        return holm({**p_sign, key: sign_test(wins, 0)})[key] < alpha

    n = metrics["num_prompts"]
    sweep = min(
        (next((w for w in range(1, n + 1) if passes((name, judge), w)), n + 1) for name, judge, _ in methods)
    )
    name, judge, w = min(methods, key=lambda t: t[2]["paired"]["p_sign"])
    need = (
        f"at {n} prompts a 'better' needed at least {sweep} wins without a loss on one judge (sign test, "
        f"Holm over this run's {len(tests)} verdicts)"
        if sweep <= n
        else f"at {n} prompts not even {n} wins without a loss would pass Holm over {len(tests)} verdicts"
    )
    return [
        f"Verdict: no method differs from the reference by any judge (alpha {alpha}); {need}. Closest: "
        f"{name} by the {judge_label(metrics, judge)}, {w['wins']} wins / {w['ties']} ties / {w['losses']} "
        f"losses, p (sign) {fmt_p(w['paired']['p_sign'])}."
    ]


def judge_label(metrics: dict, judge: str) -> str:
    """A judge's name in a table, with what qualifies its verdicts: for the local LM judge, whether it is
    the reference itself and its accuracy on preference test pairs (``metrics["judges"]``)."""
    label = JUDGE_LABELS.get(judge, judge)
    info = (metrics.get("judges") or {}).get(judge) or {}
    bits = ["the reference itself"] if info.get("is_reference") else []
    if info.get("accuracy"):
        bits.append(f"test accuracy {info['accuracy']['accuracy']:.2f}")
    return f"{label} ({', '.join(bits)})" if bits else label


def judge_lines(metrics: dict) -> list[str]:
    """One sentence per local LM judge: which model it is, whether that is the reference (self-preference),
    and how far its accuracy on preference test pairs is from chance. Empty for a metrics.json without
    ``judges`` (schema < 3) or without a local LM judge."""
    info = (metrics.get("judges") or {}).get("local_lm")
    if not info:
        return []
    who = f"The local LM judge is `{info['model']}`"
    if info.get("is_reference"):
        who += (
            ", **the reference model itself**: it compares its own answers with the others' "
            "(self-preference: a model tends to prefer text it would write), so its verdicts lean towards "
            "the reference"
        )
    acc = info.get("accuracy")
    if not acc:
        return [who + "; its accuracy on preference test pairs was not measured (judge_accuracy_pairs 0)."]
    alpha = metrics.get("settings", {}).get("alpha", ALPHA)
    test = f"sign test p = {fmt_p(acc['p_chance'])}"
    if acc["p_chance"] >= alpha:
        chance = f"not distinguishable from chance ({test})"
    else:
        side = "better" if acc["right"] > acc["wrong"] else "worse"
        chance = f"{side} than chance ({test} < {alpha:g})"
    return [
        f"{who}. Its accuracy on {acc['n']} pairs of the preference test split (both orders; an "
        f"order-inconsistent pair counts ½, so chance is 0.5): {acc['accuracy']:.3f} "
        f"[{acc['ci95'][0]:.3f}, {acc['ci95'][1]:.3f}] ({acc['right']} right / {acc['inconsistent']} "
        f"inconsistent / {acc['wrong']} wrong), {acc['accuracy'] - 0.5:+.3f} from chance: {chance}."
    ]


def fmt_p(p: float | None) -> str:
    if p is None:
        return "—"
    return f"<{P_DISPLAY_FLOOR}" if p < P_DISPLAY_FLOOR else f"{p:.3f}"


def win_rate_table(metrics: dict) -> str:
    """One row per (judged model, judge): win rate, counts, and the paired verdict (metrics.json
    ``win_rate.<judge>.paired``; cells are "—" for a metrics.json written before it existed)."""
    judges = sorted({j for e in metrics["models"].values() for j in e.get("win_rate", {})})
    if not judges:
        return "_No policy was judged against the reference._"
    lines = [
        "| model | judge | win rate [95% CI] | wins / ties / losses | paired diff [95% CI] | effect size d_z "
        "| p (sign) | p (Holm) | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in metrics["models"].items():
        label = f"{name} (baseline)" if entry.get("role") == "baseline" else name
        for j in judges:
            w = entry.get("win_rate", {}).get(j)
            if not w:
                continue
            p = w.get("paired") or {}
            diff = (
                fmt_metric({"mean": p["mean_diff"], "ci95": p["ci95"]})
                if p.get("mean_diff") is not None
                else "—"
            )
            lines.append(
                f"| {label} | {judge_label(metrics, j)} | {w['win_rate']:.3f} [{w['ci95'][0]:.3f}, {w['ci95'][1]:.3f}]"
                f" | {w['wins']} / {w['ties']} / {w['losses']} | {diff} | {fmt(p.get('effect_size'))}"
                f" | {fmt_p(p.get('p_sign'))} | {fmt_p(p.get('p_holm'))} | {p.get('verdict', '—')} |"
            )
    return "\n".join(lines)


def _quote(text: str, limit: int = 600) -> str:
    text = text if len(text) <= limit else text[:limit] + " …"
    return "\n".join("> " + line for line in (text or "(empty)").splitlines() or ["(empty)"])


def prompts_phrase(settings: dict) -> str:
    """What an evaluation's prompts were, for its reports: held out (dev, test) or the training prompts."""
    return "training prompts (not held out)" if settings.get("prompt_set") == "train" else "held-out prompts"


def replies_per_prompt(settings: dict) -> int:
    """An evaluation's replies per prompt and model (``settings`` records it only when above 1)."""
    return settings.get("samples_per_prompt", 1)


def replies_phrase(settings: dict) -> str:
    """``", k replies per prompt and model"`` with several replies per prompt, else ``""``."""
    k = replies_per_prompt(settings)
    return f", {k} replies per prompt and model" if k > 1 else ""


def side_by_side(
    prompts, specs, samples, scores, judgements, n: int, prompt_set: str = "dev", k: int = 1
) -> str:
    """The first ``n`` prompts with every model's reply (with ``k`` replies per prompt, the first of each)."""
    which = prompts_phrase({"prompt_set": prompt_set}).replace("prompts", "prompt")
    out = [
        "# Side by side",
        "",
        f"The same {which}, every model's answer (identical sampling settings "
        "and seeds). Verdicts are the policy's vs the reference: win / tie / loss.",
        "",
    ]
    verdict = {1.0: "win", 0.5: "tie", 0.0: "loss"}
    for i in range(0, min(n * k, len(prompts)), k):
        out += [
            f"## Prompt {i // k}" + (f" (the first of its {k} replies)" if k > 1 else ""),
            "",
            _quote("\n\n".join(f"{m['role']}: {m['content']}" for m in prompts[i])),
            "",
        ]
        for spec in specs:
            row = samples[spec.name][i]
            bits = [f"{JUDGE_LABELS.get(j, j)} score {v[i]:.3f}" for j, v in scores[spec.name].items()]
            if row.get("kl") is not None:
                bits.append(f"KL {row['kl']:.2f}")
            if row.get("kl_analytic") is not None:
                bits.append(f"KL analytic {row['kl_analytic']:.2f}")
            bits.append(f"{row['length']} tokens" + ("" if row["ended_with_eos"] else ", no EOS"))
            bits += [
                f"{JUDGE_LABELS.get(j, j)}: {verdict[v[i]]}" for j, v in judgements.get(spec.name, {}).items()
            ]
            out += [f"**{spec.name}** — " + ", ".join(bits), "", _quote(row["response"]), ""]
    return "\n".join(out)


def precision_note(settings: dict) -> str:
    """The sampling line's precision suffix: ', bf16 autocast' when sampled in bf16 (settings record ``bf16``
    only when on), else empty."""
    return ", bf16 autocast" if settings.get("bf16") else ""


def report_md(metrics: dict, plots: list[str]) -> str:
    s = metrics["settings"]
    lines = [
        f"# Evaluation of {metrics['run_dir']}",
        "",
        f"{metrics['num_prompts']} {prompts_phrase(s)} of `{metrics['dataset']}`{replies_phrase(s)}; reference `{metrics['reference_model']}`; "
        f"sampling: max_new_tokens={s['max_new_tokens']}, temperature={s['temperature']}, top_k={s['top_k']}, "
        f"top_p={s['top_p']}, do_sample={s['do_sample']}, seed={s['seed']}"
        f"{precision_note(s)} (identical for every model).",
        "",
        "## Per-model metrics (mean [bootstrap 95% CI])",
        "",
        metrics_table(metrics),
        "",
        "## Win rate vs the reference ((wins + ½ ties) / n)",
        "",
        win_rate_table(metrics),
        "",
        PAIRED_EXPLAINED.format(alpha=s.get("alpha", ALPHA)),
        "",
        *(line + "\n" for line in verdict_lines(metrics)),
        *(line + "\n" for line in judge_lines(metrics)),
    ]
    harmless = harmlessness_table(metrics)
    if harmless:
        lines += ["## Harmless and helpful apart", "", harmless, "", HARMLESSNESS_EXPLAINED, ""]
    if metrics.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in metrics["notes"]] + [""]
    if plots:
        lines += ["## Plots", ""] + [f"![{Path(p).stem}]({Path(p).name})" for p in plots] + [""]
    return "\n".join(lines)


def write_all(out_dir: Path, prompts, specs, samples, scores, judgements, metrics, cfg) -> list[str]:
    from rlhf_trl.evaluation import plots

    out_dir.mkdir(parents=True, exist_ok=True)
    k = replies_per_prompt(metrics["settings"])
    with open(out_dir / "samples.jsonl", "w") as f:
        for rec in sample_records(prompts, specs, samples, scores, judgements, k):
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    (out_dir / "side_by_side.md").write_text(
        side_by_side(
            prompts, specs, samples, scores, judgements, cfg.side_by_side_prompts, cfg.prompt_set, k=k
        )
    )
    written = plots.plot_all(out_dir, metrics, scores, run_dir=Path(metrics["run_dir"]))
    (out_dir / "report.md").write_text(report_md(metrics, written))
    # Last: `rlhf-trl demo` takes metrics.json as "this evaluation finished".
    write_text_atomic(out_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    return written
