"""What the harness writes to ``run_dir/evaluation/``: samples.jsonl, side_by_side.md, report.md, the plots
and metrics.json (computed in ``metrics``; its schema is in docs/evaluation.md), and the tables and
sentences that report.md and ``rlhf-trl report`` render from a metrics.json."""

from __future__ import annotations

import json
from pathlib import Path

from rlhf_trl.evaluation.metrics import ALPHA, replies_per_prompt
from rlhf_trl.evaluation.stats import holm, sign_test
from rlhf_trl.training import write_text_atomic

EVAL_DIRS = {"dev": "evaluation", "test": "evaluation_test", "train": "evaluation_train"}


def evaluation_dir(run_dir, prompt_set: str = "dev") -> Path:
    """Where an evaluation on ``prompt_set`` writes: ``run_dir/evaluation`` for the dev prompts (tuning),
    ``run_dir/evaluation_test`` for the test prompts, so the reported test numbers never overwrite or
    get mixed with the ones used for tuning; ``run_dir/evaluation_train`` for the training prompts."""
    return Path(run_dir) / EVAL_DIRS[prompt_set]


P_DISPLAY_FLOOR = 0.001  # tables print smaller p-values as "<0.001"
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
