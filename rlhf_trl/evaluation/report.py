"""`rlhf-trl report --run outputs/<run>`: write the analysis of a run into ANALYSIS.md (in the run folder).

``--runs DIR1 DIR2 ...`` pools several training seeds instead (:mod:`rlhf_trl.evaluation.seeds`).

Reads only the run's outputs: ``evaluation/metrics.json``, ``evaluation/samples.jsonl``, the plots, and
each stage's ``checkpoints/<stage>/metrics.json`` (cost). Every number in the text comes from those
files; statements such as "better than the reference" are made only when the exact sign test on wins vs
losses, Holm-adjusted over every verdict of the run, is below the run's alpha (metrics.json
``win_rate.<judge>.paired``).

The generated text sits between two HTML comment markers; rerunning replaces only that block, so
hand-written discussion around it survives. A file without the markers gets the block appended.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from rlhf_trl.errors import UserError
from rlhf_trl.evaluation.config import PROMPT_SETS
from rlhf_trl.evaluation.metrics import ALPHA, replies_per_prompt
from rlhf_trl.evaluation.outputs import (
    HARMLESSNESS_EXPLAINED,
    JUDGE_LABELS,
    P_DISPLAY_FLOOR,
    PAIRED_EXPLAINED,
    evaluation_dir,
    fmt,
    harmlessness_table,
    judge_lines,
    metrics_table,
    precision_note,
    prompts_phrase,
    replies_phrase,
    win_rate_table,
)

BEGIN = "<!-- rlhf-trl report: begin (generated; edits inside are overwritten) -->"
END = "<!-- rlhf-trl report: end -->"
COST_STAGES = ("sft", "reward", "ppo", "grpo", "dpo")
COST_KEYS = (
    ("train_runtime_s", "wall time [s]", 1),
    ("peak_rss_mb", "peak memory (RSS) [MiB]", 0),
    ("tokens_generated", "tokens generated", 0),
)


def load_run(run_dir: Path, prompt_set: str = "dev") -> tuple[dict, list[dict]]:
    ev = evaluation_dir(run_dir, prompt_set)
    if not (ev / "metrics.json").is_file():
        raise UserError(
            f"{ev / 'metrics.json'} does not exist: run `rlhf-trl evaluate --config FILE` for this run first"
        )
    metrics = json.loads((ev / "metrics.json").read_text())
    samples = []
    if (ev / "samples.jsonl").is_file():
        samples = [
            json.loads(line) for line in (ev / "samples.jsonl").read_text().splitlines() if line.strip()
        ]
    return metrics, samples


def _reply_key(rec: dict) -> tuple[int, int]:
    """A samples.jsonl record's (prompt, reply) key: the same reply index of the same prompt across models."""
    return rec["prompt_id"], rec.get("sample", 0)


def _reply_name(rec: dict) -> str:
    """``prompt 3``, or ``prompt 3, reply 2`` with several replies per prompt."""
    return f"prompt {rec['prompt_id']}" + (f", reply {rec['sample'] + 1}" if "sample" in rec else "")


def _p_phrase(p: float) -> str:
    return f"p < {P_DISPLAY_FLOOR}" if p < P_DISPLAY_FLOOR else f"p = {p:.3f}"


def verdict(w: dict, alpha: float = ALPHA) -> str:
    """One comparison with the reference in words, from its Holm-adjusted sign test (``w`` is a
    metrics.json ``win_rate.<judge>`` entry)."""
    p = w.get("paired") or {}
    if p.get("p_holm") is None:
        return "no sign test recorded (metrics.json predates it: rerun `rlhf-trl evaluate`)"
    test = f"sign test, Holm-adjusted {_p_phrase(p['p_holm'])}"
    if p["verdict"] == "better":
        return f"better than the reference ({test} < {alpha:g})"
    if p["verdict"] == "worse":
        return f"worse than the reference ({test} < {alpha:g})"
    return f"not distinguishable from the reference ({test} ≥ {alpha:g})"


def _label(name: str, entry: dict) -> str:
    return f"{name} (baseline)" if entry.get("role") == "baseline" else name


def pareto_front(points: dict[str, tuple[float, float]]) -> list[str]:
    """Names not dominated in (lower KL, higher reward): no other point is at least as good on both
    and strictly better on one."""
    front = []
    for name, (kl, r) in points.items():
        dominated = any(
            (k2 <= kl and r2 >= r) and (k2 < kl or r2 > r) for n2, (k2, r2) in points.items() if n2 != name
        )
        if not dominated:
            front.append(name)
    return sorted(front, key=lambda n: points[n][0])


def _section_quantitative(metrics: dict) -> list[str]:
    alpha = metrics["settings"].get("alpha", ALPHA)
    out = [
        "## 1. Quantitative comparison",
        "",
        f"{metrics['num_prompts']} {prompts_phrase(metrics['settings'])}{replies_phrase(metrics['settings'])}"
        + (
            ", one sample per model with identical sampling settings and seeds"
            if replies_per_prompt(metrics["settings"]) == 1
            else ", identical sampling settings and seeds for every model"
        )
        + ". Mean [bootstrap 95% CI] per model:",
        "",
        metrics_table(metrics),
        "",
        "Win rate vs the reference = (wins + ½ ties) / n:",
        "",
        win_rate_table(metrics),
        "",
        PAIRED_EXPLAINED.format(alpha=alpha),
        "",
        *(line + "\n" for line in judge_lines(metrics)),
    ]
    for name, entry in metrics["models"].items():
        for judge, w in entry.get("win_rate", {}).items():
            d_z = (w.get("paired") or {}).get("effect_size")
            out.append(
                f"- **{_label(name, entry)}** by the {JUDGE_LABELS.get(judge, judge)} judge: win rate "
                f"{w['win_rate']:.3f} [{w['ci95'][0]:.3f}, {w['ci95'][1]:.3f}]"
                + ("" if d_z is None else f", effect size d_z {d_z:.3f}")
                + f" → {verdict(w, alpha)}."
            )
    return out + [""]


def gold_term_means(samples: list[dict]) -> dict[str, dict[str, float]]:
    """Mean of each gold-rubric term per model over its samples (``{model: {term: mean}}``)."""
    from rlhf_trl.testbed.gold import gold_terms

    sums: dict[str, dict[str, float]] = {}
    counts: dict[str, int] = {}
    for rec in samples:
        terms = gold_terms(rec["prompt"], rec["response"])
        acc = sums.setdefault(rec["model"], dict.fromkeys(terms, 0.0))
        for term, value in terms.items():
            acc[term] += value
        counts[rec["model"]] = counts.get(rec["model"], 0) + 1
    return {m: {t: v / counts[m] for t, v in acc.items()} for m, acc in sums.items()}


def _section_gold_terms(metrics: dict, samples: list[dict]) -> list[str]:
    """Where the gold score comes from: each rubric term's mean per model (data with a gold rubric only)."""
    if "gold" not in metrics["settings"]["judges"] or not samples:
        return []
    from rlhf_trl.testbed.gold import WEIGHTS

    means = gold_term_means(samples)
    models = [m for m in metrics["models"] if m in means]
    lines = [
        "Gold rubric terms (mean over the prompts, each in [0, 1]; the gold score is their weighted sum, "
        "rlhf_trl/testbed/gold.py):",
        "",
        "| model | " + " | ".join(f"{t} ({w:.2f})" for t, w in WEIGHTS.items()) + " |",
        "|---|" + "---|" * len(WEIGHTS),
    ]
    lines += [f"| {m} | " + " | ".join(f"{means[m][t]:.3f}" for t in WEIGHTS) + " |" for m in models]
    return lines + [""]


def _section_harmlessness(metrics: dict) -> list[str]:
    """Harmless and helpful apart (testbed prompts only: they are labelled harmful or benign)."""
    table = harmlessness_table(metrics)
    if table is None:
        return []
    return [
        "Harmless and helpful apart: refusals on harmful and on benign prompts, and the gold score on each "
        "kind (share refused, then mean [bootstrap 95% CI]):",
        "",
        table,
        "",
        HARMLESSNESS_EXPLAINED,
        "",
    ]


def _section_pareto(metrics: dict, image_prefix: str, plots: set[str]) -> list[str]:
    """``plots``: the PNG names in the evaluation folder; only those are linked (none without matplotlib)."""
    out = ["## 2. Pareto view: reward against KL to the reference", ""]
    for key, label in (("gold_score", "gold score"), ("proxy_reward", "proxy reward")):
        points = {
            n: (e["metrics"]["kl"]["mean"], e["metrics"][key]["mean"])
            for n, e in metrics["models"].items()
            if key in e["metrics"]
            and e["metrics"][key]["mean"] is not None
            and e["metrics"]["kl"]["mean"] is not None  # a fixed-rule baseline has no KL
        }
        if len(points) < 2:
            continue
        front = pareto_front(points)
        out.append(
            f"- {label}: models on the frontier (no other model has lower KL *and* higher {label}): "
            + ", ".join(f"{n} (KL {points[n][0]:.3f}, {label} {points[n][1]:.3f})" for n in front)
            + "."
        )
    gaps = []
    for name, entry in metrics["models"].items():
        w = entry.get("win_rate", {})
        if (
            "reward_model" in w
            and "gold" in w
            and (w["reward_model"].get("paired") or {}).get("verdict") == "better"
            and w["gold"]["win_rate"] <= 0.5
        ):
            gaps.append(
                f"{name} (proxy win rate {w['reward_model']['win_rate']:.3f}, gold {w['gold']['win_rate']:.3f})"
            )
    if gaps:
        out.append(
            "- Over-optimisation signature (the reward model prefers the policy, the gold rubric does not): "
            + "; ".join(gaps)
            + "."
        )
    elif any("gold" in e.get("win_rate", {}) for e in metrics["models"].values()):
        out.append(
            "- No policy shows the over-optimisation signature (proxy verdict better after Holm correction, "
            "gold win rate ≤ 50%)."
        )
    if "reward_vs_kl.png" in plots:
        out += ["", f"![reward vs KL]({image_prefix}reward_vs_kl.png)", ""]
    if "kl_curves.png" in plots and any(e.get("curve") is not None for e in metrics["models"].values()):
        out += [
            "Along training (checkpoints_of): each line runs from the reference (KL 0) through the saved "
            "checkpoints (numbers: update/step); crosses are best-of-n of the reference. A proxy curve that "
            "keeps rising while the gold curve turns down is over-optimisation of the reward model.",
            "",
            f"![reward vs KL along training]({image_prefix}kl_curves.png)",
            "",
        ]
    return out


def _word_repetition(text: str) -> float:
    words = text.split()
    grams = list(zip(words, words[1:]))
    return 1.0 - len(set(grams)) / len(grams) if len(grams) >= 8 else 0.0


def _quote(text: str, limit: int = 400) -> str:
    text = (text or "(empty)").strip() or "(empty)"
    text = text if len(text) <= limit else text[:limit] + " …"
    return "\n".join("> " + line for line in text.splitlines())


def _section_failures(metrics: dict, samples: list[dict], shown: int) -> list[str]:
    one = replies_per_prompt(metrics["settings"]) == 1
    out = [
        "## 3. Qualitative failure modes",
        "",
        f"Counts over all evaluated {'prompts' if one else 'replies'}; examples "
        f"are from samples.jsonl (prompt ids < {shown} are also in side_by_side.md"
        + ("" if one else ", their first reply")
        + ").",
        "",
        "| model | no EOS (cut at max_new_tokens) | empty | repetitive (>30% repeated bigrams) |",
        "|---|---|---|---|",
    ]
    by_model: dict[str, list[dict]] = {}
    for rec in samples:
        by_model.setdefault(rec["model"], []).append(rec)
    for name in metrics["models"]:
        rows = by_model.get(name, [])
        if not rows:
            continue
        n = len(rows)
        no_eos = sum(not r["ended_with_eos"] for r in rows)
        empty = sum(not r["response"].strip() for r in rows)
        rep = sum(_word_repetition(r["response"]) > 0.3 for r in rows)
        out.append(f"| {name} | {no_eos}/{n} | {empty}/{n} | {rep}/{n} |")
    out.append("")
    ref = {_reply_key(r): r for r in by_model.get("reference", [])}
    for name, rows in by_model.items():
        if name == "reference" or not ref:
            continue
        judge = next((j for j in ("gold", "reward_model") if j in rows[0].get("scores", {})), None)
        if judge is None:
            continue
        worst = min(rows, key=lambda r: r["scores"][judge] - ref[_reply_key(r)]["scores"][judge])
        gap = worst["scores"][judge] - ref[_reply_key(worst)]["scores"][judge]
        if gap >= 0:
            out.append(f"- **{name}** never scored below the reference by the {JUDGE_LABELS[judge]}.")
            continue
        last_user = next((m["content"] for m in reversed(worst["prompt"]) if m["role"] == "user"), "")
        out += [
            f"- **{name}**, largest {JUDGE_LABELS[judge]} loss ({_reply_name(worst)}, "
            f"{worst['scores'][judge]:.3f} vs reference {ref[_reply_key(worst)]['scores'][judge]:.3f}):",
            "",
            _quote(f"user: {last_user}"),
            "",
            f"  {name}:",
            "",
            _quote(worst["response"]),
            "",
            "  reference:",
            "",
            _quote(ref[_reply_key(worst)]["response"]),
            "",
        ]
        hacks = [
            r
            for r in rows
            if r.get("judgements", {}).get("reward_model") == 1.0
            and r.get("judgements", {}).get("gold") == 0.0
        ]
        if hacks:
            out.append(
                f"- **{name}**: the reward model preferred it over the reference while the gold rubric did not "
                f"on {len(hacks)}/{len(rows)} {'prompts' if one else 'replies'} "
                f"(e.g. {_reply_name(hacks[0])})."
            )
    return out + [""]


def cost_sources(run_dir: Path, metrics: dict) -> dict[str, Path]:
    """``{row label: metrics.json}`` of every training stage that cost something here: the stages under
    ``run_dir/checkpoints`` (by stage), then each evaluated model and the reward model whose folder holds a
    stage's ``metrics.json`` and is not listed yet (by model label: the checkpoints of ``--models`` and
    ``--compare-runs`` live in other runs). Model paths are read as given to ``rlhf-trl evaluate``,
    relative to the folder it ran in."""
    out: dict[str, Path] = {}
    seen: set[Path] = set()

    def add(label: str, folder: Path) -> None:
        path = folder / "metrics.json"
        if path.is_file() and path.resolve() not in seen:
            seen.add(path.resolve())
            out[label] = path

    for stage in COST_STAGES:
        add(stage, run_dir / "checkpoints" / stage)
    for name, entry in metrics["models"].items():
        if entry.get("role") == "policy":
            add(name, Path(entry["path"]))
    reward = (metrics.get("judges") or {}).get("reward_model")
    if reward:
        add("reward model", Path(reward["path"]))
    return out


def _section_cost(run_dir: Path, metrics: dict) -> list[str]:
    out = [
        "## 4. Computational cost per method",
        "",
        "From each stage's `checkpoints/<stage>/metrics.json` (the machine that ran it):",
        "",
        "| stage | " + " | ".join(label for _, label, _ in COST_KEYS) + " |",
        "|---" * (len(COST_KEYS) + 1) + "|",
    ]
    sources = cost_sources(run_dir, metrics)
    for label, path in sources.items():
        m = json.loads(path.read_text())
        cells = [
            fmt(m.get(k), d) if isinstance(m.get(k), (int, float)) else "not recorded"
            for k, _, d in COST_KEYS
        ]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    if not sources:
        return out[:2] + ["_No stage of the evaluated models wrote a metrics.json._", ""]
    return out + ["", "PPO and GRPO also need the reward model's cost (its row); DPO does not.", ""]


def _section_discussion(metrics: dict) -> list[str]:
    out = ["## 5. Discussion", ""]
    n = metrics["num_prompts"]
    ranking = {}
    for judge in ("gold", "http", "local_lm", "reward_model"):
        rates = {
            name: e["win_rate"][judge]
            for name, e in metrics["models"].items()
            if judge in e.get("win_rate", {})
        }
        if rates:
            ranking[judge] = rates
    if not ranking:
        out.append(
            "- No policy was judged against the reference, so this run supports no comparison between methods."
        )
    alpha = metrics["settings"].get("alpha", ALPHA)
    for judge, rates in ranking.items():
        best = max(rates, key=lambda k: rates[k]["win_rate"])
        others = [k for k in rates if k != best]
        overlap = [k for k in others if rates[k]["ci95"][1] >= rates[best]["ci95"][0]]
        line = (
            f"- By the {JUDGE_LABELS.get(judge, judge)} judge the highest win rate is **{best}** "
            f"({rates[best]['win_rate']:.3f}), {verdict(rates[best], alpha)}."
        )
        if overlap:
            line += f" Its CI overlaps those of {', '.join(overlap)}: the ranking between them is not established."
        info = (metrics.get("judges") or {}).get(judge) or {}
        if info.get("is_reference"):
            line += (
                " This judge is the reference model itself (self-preference): its verdicts lean towards the "
                "reference, so a loss by it says little."
            )
        acc = info.get("accuracy")
        if acc:
            line += f" It picks the preferred reply of a test pair {acc['accuracy']:.0%} of the time (chance 50%)."
        out.append(line)
    family = sum(
        1 for e in metrics["models"].values() for w in e.get("win_rate", {}).values() if w.get("paired")
    )
    if family:
        out.append(
            f"- The verdicts are exact sign tests on wins vs losses, Holm-corrected over all {family} "
            f"(model, judge) comparisons of this run (family-wise error rate {alpha:g}); win-rate CIs and "
            "paired differences show the size of an effect, the corrected test whether it is established."
        )
    kl = {
        n_: e["metrics"]["kl"]["mean"]
        for n_, e in metrics["models"].items()
        if e["role"] == "policy" and e["metrics"]["kl"]["mean"] is not None
    }
    if kl:
        far = max(kl, key=kl.get)
        analytic = metrics["models"][far]["metrics"].get("kl_analytic", {}).get("mean")
        out.append(
            f"- The policy furthest from the reference is {far} (mean KL {kl[far]:.3f} nats per prompt"
            + ("" if analytic is None else f"; analytic per-token KL {analytic:.3f}")
            + "); a single-sample Monte-Carlo KL can be negative for one prompt, only the mean is meaningful"
            + (
                ""
                if analytic is None
                else "; the analytic per-token sum estimates the same KL and is never negative"
            )
            + "."
        )
    out.append(
        f"- Every interval comes from {n} prompts and "
        + (f"{k} replies" if (k := replies_per_prompt(metrics["settings"])) > 1 else "one sample")
        + " per prompt from one training seed; "
        "differences inside the CIs, and anything that depends on the training seed, are not shown by this run."
    )
    if "gold" in ranking:
        out.append(
            "- The gold judge is the deterministic rubric that labelled the bundled data (synthetic gold, "
            "Gao et al. 2022): it measures agreement with that rubric, not human preference."
        )
    for note in metrics.get("notes", []):
        out.append(f"- Note from the evaluation: {note}.")
    return out + [""]


def render(run_dir: Path, output: Path, assets: Path | None = None, prompt_set: str = "dev") -> str:
    """The generated block. Plots are linked from the run's evaluation folder, or copied to ``assets``
    (for an ANALYSIS.md committed without the git-ignored outputs/ folder)."""
    metrics, samples = load_run(run_dir, prompt_set)
    ev = evaluation_dir(run_dir, prompt_set)
    images = ev
    if assets is not None:
        assets.mkdir(parents=True, exist_ok=True)
        for png in ev.glob("*.png"):
            shutil.copyfile(png, assets / png.name)
        images = assets
    base = output.parent.resolve() if output.parent.exists() else output.parent
    prefix = os.path.relpath(images.resolve(), base) + "/"
    s = metrics["settings"]
    lines = [
        BEGIN,
        "",
        f"_Generated by `rlhf-trl report --run {run_dir}` from {ev}/metrics.json ({metrics['created']}); "
        f"dataset `{metrics['dataset']}`, reference `{metrics['reference_model']}`, judges: "
        f"{', '.join(s['judges'])}; sampling temperature {s['temperature']}, max_new_tokens {s['max_new_tokens']}, "
        f"seed {s['seed']}{precision_note(s)}._",
        "",
        *_section_quantitative(metrics),
        *_section_gold_terms(metrics, samples),
        *_section_harmlessness(metrics),
        *_section_pareto(metrics, prefix, {png.name for png in ev.glob("*.png")}),
        *_section_failures(metrics, samples, s.get("side_by_side_prompts", 12)),
        *_section_cost(run_dir, metrics),
        *_section_discussion(metrics),
    ]
    for png, title in (
        ("win_rates.png", "win rates"),
        ("reward_distributions.png", "reward distributions"),
        ("training_curves.png", "training curves"),
    ):
        if (ev / png).is_file():
            lines += [f"![{title}]({prefix}{png})", ""]
    return "\n".join(lines + [END]) + "\n"


def splice_block(output: Path, block: str, title: str, begin: str = BEGIN, end: str = END) -> Path:
    """Write ``block`` (which starts with ``begin`` and ends with ``end``) into ``output``: in place of the
    old block between the same markers, else appended; a new file gets ``title`` as its heading."""
    if output.is_file():
        text = output.read_text()
        if begin in text and end in text:
            head, rest = text.split(begin, 1)
            tail = rest.split(end, 1)[1]
            new = head + block.rstrip("\n") + tail
        else:
            new = text.rstrip("\n") + "\n\n" + block
    else:
        new = f"# {title}\n\n" + block
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(new)
    return output


def write_analysis(run_dir: Path, output: Path, assets: Path | None = None, prompt_set: str = "dev") -> Path:
    return splice_block(output, render(run_dir, output, assets, prompt_set), f"Analysis of {run_dir.name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="rlhf-trl report", description=__doc__.splitlines()[0], allow_abbrev=False
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", help="The run folder (outputs/<run>) that `rlhf-trl evaluate` filled.")
    which.add_argument(
        "--runs",
        nargs="+",
        metavar="DIR",
        help="Several training seeds of one configuration: folders that each hold one evaluation's "
        "metrics.json and samples.jsonl[.gz] (e.g. copies of run_dir/evaluation_test/), on the same prompts; "
        "writes means and spreads over seeds and pooled paired tests (docs/evaluation.md, 'Several seeds').",
    )
    parser.add_argument(
        "--output",
        default=None,
        help="File to write/update (default: --run: RUN/ANALYSIS.md, beside the run's outputs; --runs: "
        "./ANALYSIS.md, the repository's analysis of the seeds).",
    )
    parser.add_argument(
        "--assets",
        default=None,
        help="Copy the plots into this folder and link them from there (default: link the run's). --run only.",
    )
    parser.add_argument(
        "--prompt-set",
        "--prompt_set",
        dest="prompt_set",
        choices=PROMPT_SETS,
        default=None,
        help="Which evaluation to report: dev (run_dir/evaluation, the default), test "
        "(run_dir/evaluation_test) or train (run_dir/evaluation_train). --run only.",
    )
    ns = parser.parse_args(argv)
    if ns.runs:
        # --runs folders hold their metrics.json directly; a flag that picks files inside a run folder
        # would be silently meaningless there.
        for flag, value in (("--prompt-set", ns.prompt_set), ("--assets", ns.assets)):
            if value is not None:
                raise UserError(
                    f"{flag} applies to --run only; each --runs DIR holds its metrics.json directly"
                )
        from rlhf_trl.evaluation.seeds import write_seeds_analysis

        path = write_seeds_analysis([Path(d) for d in ns.runs], Path(ns.output or "ANALYSIS.md"))
        print(f"wrote {path}")
        return 0
    run_dir = Path(ns.run)
    if not run_dir.is_dir():
        raise UserError(f"run folder {run_dir} does not exist")
    assets = Path(ns.assets) if ns.assets else None
    output = Path(ns.output) if ns.output else run_dir / "ANALYSIS.md"
    path = write_analysis(run_dir, output, assets, ns.prompt_set or "dev")
    print(f"wrote {path}")
    return 0
