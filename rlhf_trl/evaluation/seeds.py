"""Several training seeds of one configuration: ``rlhf-trl report --runs DIR1 DIR2 DIR3``.

One training seed shows how one run went, not how a method does: a verdict that holds for seed 42 may
not hold for seed 43. Each DIR holds one evaluation's ``metrics.json`` and ``samples.jsonl`` (a copy of
``run_dir/evaluation_test/`` of the run trained with that seed), all on the same prompts. From them
(pure functions over the loaded files; docs/evaluation.md, "Several seeds"):

* **spread**: per model and metric, the mean over seeds of each seed's mean, its min–max and the sample
  std over seeds, and how many seeds had the model;
* **pooled paired test** of each (model, judge) vs the reference: per prompt, the mean over seeds of the
  paired difference d (model − reference score for a score judge; the judgement as +1 win / 0 tie / −1
  loss for a pairwise judge), then an exact sign test over prompts on those means (a mean of 0 is a tie,
  dropped) and the mean of the means with a bootstrap CI over prompts and d_z; Holm over every
  (model, judge). Averaging per prompt first, because the same prompt under three seeds is one
  observation of that prompt's difficulty, not three independent pairs: a sign test over all
  (seed, prompt) pairs would count it three times and overstate the evidence;
* **each trained policy vs each baseline** on the gold score, pooled the same way, Holm over that family;
* the gold rubric's terms per model, pooled over seeds.

The rendering of the ANALYSIS.md block is at the end of this module, next to the numbers it shows.
"""

from __future__ import annotations

import functools
import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from rlhf_trl.errors import UserError
from rlhf_trl.evaluation.metrics import ALPHA, ZERO, harmful_flags, harmlessness_summary, replies_per_prompt
from rlhf_trl.evaluation.outputs import (
    JUDGE_LABELS,
    METRIC_LABELS,
    fmt,
    fmt_metric,
    fmt_p,
    precision_note,
    replies_phrase,
)
from rlhf_trl.evaluation.report import gold_term_means, splice_block
from rlhf_trl.evaluation.sampling import SAMPLING_KEYS
from rlhf_trl.evaluation.stats import holm, paired_difference, sign_test

REFERENCE = "reference"
SEEDS_BEGIN = "<!-- rlhf-trl report --runs: begin (generated; edits inside are overwritten) -->"
SEEDS_END = "<!-- rlhf-trl report --runs: end -->"
# Its own markers: the single-run block (`--run`) and this one can share a file (`--output` the same file).
HARMLESSNESS_METRICS = {"refusal_rate_harmful": "refuses harmful", "over_refusal_benign": "refuses benign"}
SPREAD_METRICS = {
    **{k: METRIC_LABELS[k] for k in ("gold_score", "proxy_reward", "kl", "kl_analytic", "length_tokens")},
    **HARMLESSNESS_METRICS,
}
BOOTSTRAP_SEED = 0  # fixed, so the pooled CIs do not depend on which run is listed first


@dataclass
class SeedRun:
    """One seed's evaluation as ``rlhf-trl evaluate`` wrote it."""

    path: Path
    metrics: dict
    samples: list[dict]

    @functools.cached_property
    def records(self) -> dict[str, dict[int, list[dict]]]:
        """``{model: {prompt_id: [samples.jsonl records, one per reply, in reply order]}}`` (one record per
        prompt unless the evaluation had ``samples_per_prompt`` > 1)."""
        out: dict[str, dict[int, list[dict]]] = {}
        for rec in sorted(self.samples, key=lambda r: r.get("sample", 0)):
            out.setdefault(rec["model"], {}).setdefault(rec["prompt_id"], []).append(rec)
        return out

    def value(self, model: str, key: str) -> float | None:
        """This seed's mean of a metric (``SPREAD_METRICS``) for ``model``; None when it has no value."""
        entry = self.metrics["models"].get(model)
        if entry is None:
            return None
        if key in HARMLESSNESS_METRICS:
            h = entry.get("harmlessness") or self._harmlessness_from_samples(model)
            return None if h is None else h[key]["mean"]
        return (entry["metrics"].get(key) or {}).get("mean")

    def _harmlessness_from_samples(self, model: str) -> dict | None:
        """For a metrics.json written before ``harmlessness`` existed: the same numbers from samples.jsonl
        (only the means are used, so few bootstrap resamples)."""
        rows = [rec for p in sorted(self.records.get(model, {})) for rec in self.records[model][p]]
        flags = harmful_flags([r["prompt"] for r in rows])
        if not rows or flags is None:
            return None
        gold = [r["scores"]["gold"] for r in rows] if all("gold" in r["scores"] for r in rows) else None
        return harmlessness_summary(flags, [r["response"] for r in rows], gold, 10, BOOTSTRAP_SEED)


def load_seed_runs(dirs: list[Path]) -> list[SeedRun]:
    """Each folder's metrics.json and samples.jsonl (or .jsonl.gz); a one-line UserError when one is missing or when a
    folder's prompts or sampling settings (:data:`SAMPLING_SETTINGS`) differ from the first folder's (a pooled
    test pairs prompts across seeds)."""
    import gzip

    runs = []
    for d in dirs:
        # samples.jsonl, or gzipped (samples.jsonl.gz: how docs/analysis/seeds/ keeps them small)
        samples = next((d / n for n in ("samples.jsonl", "samples.jsonl.gz") if (d / n).is_file()), None)
        for path in (d / "metrics.json", samples or d / "samples.jsonl"):
            if not path.is_file():
                raise UserError(
                    f"{path} does not exist: each --runs folder holds one evaluation's metrics.json and "
                    "samples.jsonl or samples.jsonl.gz (e.g. a copy of run_dir/evaluation_test/)"
                )
        text = (
            gzip.decompress(samples.read_bytes()).decode() if samples.suffix == ".gz" else samples.read_text()
        )
        lines = text.splitlines()
        metrics = json.loads((d / "metrics.json").read_text())
        run = SeedRun(d, metrics, [json.loads(x) for x in lines if x.strip()])
        _check_complete(run, samples)
        runs.append(run)
    first = _prompts(runs[0])
    for run in runs[1:]:
        other = _prompts(run)
        if other != first:
            bad = sorted(set(first) ^ set(other)) or [i for i in sorted(first) if first[i] != other[i]]
            raise UserError(
                f"{run.path}: its prompts differ from those of {runs[0].path} (prompt_id {bad[0]}); --runs "
                "pools evaluations of the same prompts (same --prompt_set and num_prompts for every seed)"
            )
        for key in SAMPLING_SETTINGS:
            mine, theirs = (r.metrics["settings"].get(key, UNRECORDED.get(key)) for r in (run, runs[0]))
            if mine != theirs:
                raise UserError(
                    f"{run.path}: sampled with {key}={mine}, {runs[0].path} with {key}={theirs}; --runs pools "
                    "evaluations made with the same sampling settings (evaluation section of one config)"
                )
    return runs


def _check_complete(run: SeedRun, samples: Path) -> None:
    """Every model has ``samples_per_prompt`` replies for every prompt (as ``rlhf-trl evaluate`` writes them):
    the pooled tests pair them by prompt and reply. A one-line UserError for a cut or edited file."""
    k = replies_per_prompt(run.metrics.get("settings", {}))
    prompt_ids = set(_prompts(run))
    for model, by_prompt in run.records.items():
        missing = sorted(prompt_ids - set(by_prompt))
        wrong = [p for p in sorted(by_prompt) if len(by_prompt[p]) != k]
        if missing or wrong:
            p = (missing or wrong)[0]
            raise UserError(
                f"{samples}: model {model!r} has {len(by_prompt.get(p, []))} replies for prompt_id {p}, "
                f"expected {k} (samples_per_prompt in metrics.json) for each of the {len(prompt_ids)} prompts; "
                "was the file cut or edited? Copy it again from the evaluation's folder"
            )


# Settings that change what a model's samples are (or how many a prompt has): evaluations pooled over
# seeds must agree on them. The evaluation's own sampling keys, less those that tell seeds apart or only
# batch the work (the prompts themselves are compared whole), plus what the harness records beside them.
SAMPLING_SETTINGS = (
    *(k for k in SAMPLING_KEYS if k not in ("prompt_set", "batch_size", "seed")),
    "bf16",
    "dtype",
    "samples_per_prompt",
)
UNRECORDED = {"bf16": False, "dtype": "float32", "samples_per_prompt": 1}  # recorded only when not these


def _prompts(run: SeedRun) -> dict[int, list]:
    return {r["prompt_id"]: r["prompt"] for r in run.samples}


def seed_labels(runs: list[SeedRun]) -> list[str]:
    """Each run's seed from metrics.json (``settings.seed``: a recipe's top-level ``seed`` sets training
    and evaluation alike) when the runs record different ones; else the folder names, since equal
    recorded seeds are the evaluation's own, not the training seeds that tell the runs apart."""
    seeds = [r.metrics.get("settings", {}).get("seed") for r in runs]
    if None not in seeds and len(set(seeds)) == len(seeds):
        return [str(s) for s in seeds]
    return [r.path.name for r in runs]


def training_precision(runs: list[SeedRun], labels: list[str]) -> str | None:
    """One line on the precision each seed's stages trained in, from the ``stages/<stage>.json`` copies of
    their metrics.json (``bf16``, recorded since `bf16: auto` made it depend on the host); None when no run
    has a stages/ folder. Seeds trained in different precisions are pooled all the same, but a reader
    should know."""
    parts = []
    for run, label in zip(runs, labels):
        files = sorted((run.path / "stages").glob("*.json"))
        if not files:
            continue
        kinds: dict[str, list[str]] = {}
        for f in files:
            value = json.loads(f.read_text()).get("bf16")
            kinds.setdefault({True: "bf16 autocast", False: "fp32"}.get(value, "unrecorded"), []).append(
                f.stem
            )
        parts.append(f"seed {label}: " + ", ".join(f"{k} ({' '.join(v)})" for k, v in kinds.items()))
    return "Training precision (stages/*.json): " + "; ".join(parts) + "." if parts else None


def model_roles(runs: list[SeedRun]) -> dict[str, str]:
    """``{model: role}`` over all runs: the reference, then policies, then baselines, each in order of
    first appearance."""
    roles: dict[str, str] = {}
    for run in runs:
        for name, entry in run.metrics["models"].items():
            roles.setdefault(name, entry.get("role", "policy"))
    order = {"reference": 0, "policy": 1, "baseline": 2}
    return dict(sorted(roles.items(), key=lambda kv: order.get(kv[1], 1)))  # sorted() is stable


def spread(values: list[float]) -> dict:
    """``{"mean", "min", "max", "std", "n"}`` of one metric's per-seed means: the sample std (ddof 1; the
    seeds are a sample of the seeds one could have drawn), None for fewer than two seeds."""
    if not values:
        return {"mean": None, "min": None, "max": None, "std": None, "n": 0}
    std = statistics.stdev(values) if len(values) > 1 else None
    return {
        "mean": statistics.fmean(values),
        "min": min(values),
        "max": max(values),
        "std": std,
        "n": len(values),
    }


def seed_spreads(runs: list[SeedRun]) -> dict[str, dict]:
    """``{model: {"n_seeds": seeds that had the model, metric: spread(...)}}`` for ``SPREAD_METRICS``."""
    out = {}
    for model in model_roles(runs):
        row: dict = {"n_seeds": sum(model in r.metrics["models"] for r in runs)}
        for key in SPREAD_METRICS:
            row[key] = spread([v for r in runs if (v := r.value(model, key)) is not None])
        out[model] = row
    return out


def seed_differences(run: SeedRun, model: str, other: str, judge: str) -> dict[int, float] | None:
    """One seed's paired difference per prompt of ``model`` vs ``other``: the score difference when both
    have the judge's score, else (vs the reference, a pairwise judge) the judgement as +1 / 0 / −1; with
    several replies per prompt, the mean over the prompt's replies (reply j paired with reply j, as the
    single-run report pairs them). None when this seed lacks either model or the judge."""
    mine, theirs = run.records.get(model), run.records.get(other)
    if not mine or not theirs:
        return None
    out = {}
    for pid, recs in mine.items():
        diffs = []
        for rec, ref in zip(recs, theirs[pid], strict=True):
            if judge in rec["scores"] and judge in ref["scores"]:
                diffs.append(rec["scores"][judge] - ref["scores"][judge])
            elif other == REFERENCE and judge in rec.get("judgements", {}):
                diffs.append(2.0 * rec["judgements"][judge] - 1.0)
            else:
                return None
        out[pid] = statistics.fmean(diffs)
    return out


def pooled_differences(runs: list[SeedRun], model: str, other: str, judge: str) -> tuple[list[float], int]:
    """Per prompt (in prompt_id order), the mean of :func:`seed_differences` over the seeds that have
    both models and the judge; and how many seeds that is (0: none, and an empty list)."""
    per_seed = [d for run in runs if (d := seed_differences(run, model, other, judge)) is not None]
    if not per_seed:
        return [], 0
    return [statistics.fmean(d[p] for d in per_seed) for p in sorted(per_seed[0])], len(per_seed)


def pooled_test(means: list[float], n_seeds: int, n_samples: int) -> dict:
    """Exact sign test over prompts on the per-prompt means (|mean| ≤ ZERO is a tie, dropped), with the
    mean difference, its bootstrap 95% CI over prompts, the std and d_z (:func:`stats.paired_difference`;
    d_z is None when the means do not vary beyond ZERO)."""
    wins = sum(m > ZERO for m in means)
    losses = sum(m < -ZERO for m in means)
    d = paired_difference(means, [0.0] * len(means), n_samples, BOOTSTRAP_SEED)
    if d["std"] is not None and d["std"] <= ZERO:  # rounding of the averages, not a spread: d_z ~ 1e16
        d["effect_size"] = None
    return {
        "n_seeds": n_seeds,
        "n_prompts": len(means),
        "wins": wins,
        "ties": len(means) - wins - losses,
        "losses": losses,
        **{k: d[k] for k in ("mean_diff", "ci95", "std", "effect_size")},
        "p_sign": sign_test(wins, losses),
    }


def add_holm(tests: dict, alpha: float = ALPHA) -> dict:
    """Adds ``p_holm`` (Holm over every test of ``tests``, one family) and ``verdict`` to each test."""
    for key, p in holm({k: t["p_sign"] for k, t in tests.items()}).items():
        t = tests[key]
        t["p_holm"] = p
        t["verdict"] = (
            "no significant difference" if p >= alpha else "better" if t["wins"] > t["losses"] else "worse"
        )
    return tests


def pooled_vs_reference(runs: list[SeedRun], n_samples: int) -> dict[tuple[str, str], dict]:
    """``{(model, judge): pooled_test + p_holm + verdict}`` for every non-reference model and every judge
    it was judged by in some seed; one Holm family."""
    tests = {}
    for model in model_roles(runs):
        if model == REFERENCE:
            continue
        judges = dict.fromkeys(
            j for r in runs for j in r.metrics["models"].get(model, {}).get("win_rate", {})
        )
        for judge in judges:
            means, k = pooled_differences(runs, model, REFERENCE, judge)
            if k:
                tests[(model, judge)] = pooled_test(means, k, n_samples)
    return add_holm(tests)


def pooled_vs_baselines(
    runs: list[SeedRun], n_samples: int, judge: str = "gold"
) -> dict[tuple[str, str], dict]:
    """``{(policy, baseline): ...}`` on the ``judge``'s score, every trained policy vs every baseline (the
    claim "each method beats every trivial baseline"); one Holm family of its own. Empty without scores."""
    roles = model_roles(runs)
    tests = {}
    for policy in (m for m, r in roles.items() if r == "policy"):
        for baseline in (m for m, r in roles.items() if r == "baseline"):
            means, k = pooled_differences(runs, policy, baseline, judge)
            if k:
                tests[(policy, baseline)] = pooled_test(means, k, n_samples)
    return add_holm(tests)


# ---------------------------------------------------------------------------------------- rendering


def _cell(s: dict) -> str:
    if s["mean"] is None:
        return "—"
    if s["std"] is None:  # one seed: no spread to show
        return f"{s['mean']:.3f}"
    return f"{s['mean']:.3f} ({s['min']:.3f}–{s['max']:.3f}, sd {fmt(s['std'])})"


def _test_rows(tests: dict, roles: dict[str, str], second) -> list[str]:
    rows = []
    for (a, b), t in tests.items():
        label = f"{a} (baseline)" if roles.get(a) == "baseline" else a
        diff = fmt_metric({"mean": t["mean_diff"], "ci95": t["ci95"]})
        rows.append(
            f"| {label} | {second(b)} | {t['n_seeds']} | {t['wins']} / {t['ties']} / {t['losses']} | {diff} "
            f"| {fmt(t['effect_size'])} | {fmt_p(t['p_sign'])} | {fmt_p(t['p_holm'])} | {t['verdict']} |"
        )
    return rows


TEST_HEAD = "| seeds | prompts + / 0 / − | pooled mean diff [95% CI] | d_z | p (sign) | p (Holm) | verdict |"


def _section_vs_baselines(tests: dict, roles: dict[str, str]) -> list[str]:
    if not tests:
        why = "No baselines were evaluated" if "baseline" not in roles.values() else "No gold scores"
        return [f"_{why}: the methods are not compared with the baselines._", ""]
    out = [
        "| method | baseline " + TEST_HEAD,
        "|---|---|---|---|---|---|---|---|---|",
        *_test_rows(tests, roles, lambda b: b),
        "",
    ]
    for policy in dict.fromkeys(p for p, _ in tests):
        verdicts = {b: t["verdict"] for (p, b), t in tests.items() if p == policy}
        not_beaten = [f"{b} ({v})" for b, v in verdicts.items() if v != "better"]
        if not not_beaten:
            out.append(
                f"- **{policy}** beats every baseline ({len(verdicts)}) on the gold score (Holm, α {ALPHA:g})."
            )
        else:
            out.append(
                f"- **{policy}** does not beat every baseline: not established against {', '.join(not_beaten)}."
            )
    return out + [""]


def averaged_over(several_replies: bool, one_seed: bool) -> str:
    """How a prompt's d is formed, for the sentence under the paired-test table."""
    steps = (["the prompt's replies"] if several_replies else []) + (
        [] if one_seed else ["the seeds that have the model"]
    )
    return " is averaged over " + ", then over ".join(steps) if steps else ""


def render_seeds(dirs: list[Path]) -> str:
    """The generated ``--runs`` block (between SEEDS_BEGIN and SEEDS_END)."""
    runs = load_seed_runs(dirs)
    roles = model_roles(runs)
    n_samples = runs[0].metrics["settings"].get("bootstrap_samples", 2000)
    s = runs[0].metrics["settings"]
    prompt_set = " / ".join(
        dict.fromkeys(str(r.metrics["settings"].get("prompt_set", "unrecorded")) for r in runs)
    )
    references = ", ".join(dict.fromkeys(f"`{r.metrics['reference_model']}`" for r in runs))
    spreads = seed_spreads(runs)
    keys = [k for k in SPREAD_METRICS if any(row[k]["n"] for row in spreads.values())]
    precision = training_precision(runs, seed_labels(runs))
    one = len(runs) == 1
    out = [
        SEEDS_BEGIN,
        "",
        f"_Generated by `rlhf-trl report --runs {' '.join(str(d) for d in dirs)}`: {len(runs)} training seed{'s' * (len(runs) != 1)} "
        f"({', '.join(seed_labels(runs))}), each evaluated on the same {len(_prompts(runs[0]))} prompts of the "
        f"**{prompt_set}** prompt set of `{runs[0].metrics['dataset']}`{replies_phrase(s)}; reference {references}; judges: "
        f"{', '.join(s['judges'])}; sampling temperature {s['temperature']}, max_new_tokens {s['max_new_tokens']}"
        f"{precision_note(s)}._",
        "",
        "## One training seed" if one else "## Several training seeds",
        "",
        *([precision, ""] if precision else []),
        "Each cell: the seed's mean over the prompts:"
        if one
        else "Each cell: mean over seeds of the seed's mean (min–max over seeds, sd = sample std over seeds):",
        "",
        "| model | seeds | " + " | ".join(SPREAD_METRICS[k] for k in keys) + " |",
        "|---|---|" + "---|" * len(keys),
    ]
    for model, row in spreads.items():
        label = f"{model} (baseline)" if roles[model] == "baseline" else model
        out.append(f"| {label} | {row['n_seeds']} | " + " | ".join(_cell(row[k]) for k in keys) + " |")
    vs_ref = pooled_vs_reference(runs, n_samples)
    out += [
        "",
        "Paired test vs the reference (one seed):"
        if one
        else "Pooled paired test vs the reference, over all seeds:",
        "",
        "| model | judge " + TEST_HEAD,
        "|---|---|---|---|---|---|---|---|---|",
        *_test_rows(vs_ref, roles, lambda j: JUDGE_LABELS.get(j, j)),
        "",
        "Per prompt, d = model − reference score (a pairwise judge: +1 win / 0 tie / −1 loss)"
        + averaged_over(replies_per_prompt(s) > 1, one)
        + f"; prompts + / 0 / − count those {'values' if one else 'means'} above, at and below 0. p (sign): "
        "exact two-sided sign test on them (0 dropped); p (Holm): Holm-adjusted over every row of this table; "
        f"verdict: better / worse when p (Holm) < {ALPHA:g}. The {'' if one else 'pooled '}mean diff's CI is a "
        f"bootstrap over prompts, d_z = mean / std of the per-prompt {'values' if one else 'means'}."
        + (
            ""
            if one
            else " Averaging per prompt first: the same prompt under several seeds is not an independent pair."
        ),
        "",
        "Each trained method vs each baseline on the gold score, pooled the same way (d = method − baseline; "
        "Holm over this table):",
        "",
        *_section_vs_baselines(pooled_vs_baselines(runs, n_samples), roles),
    ]
    if any("gold" in rec["scores"] for run in runs for rec in run.samples):
        from rlhf_trl.testbed.gold import WEIGHTS

        means = gold_term_means([rec for run in runs for rec in run.samples])
        out += [
            "Gold rubric terms, mean over every seed's prompts (each in [0, 1]; rlhf_trl/testbed/gold.py):",
            "",
            "| model | " + " | ".join(f"{t} ({w:.2f})" for t, w in WEIGHTS.items()) + " |",
            "|---|" + "---|" * len(WEIGHTS),
            *(
                f"| {m} | " + " | ".join(f"{means[m][t]:.3f}" for t in WEIGHTS) + " |"
                for m in roles
                if m in means
            ),
            "",
        ]
    if one:
        reading = (
            "- One training seed: the tests say whether the methods differ from the reference at this seed, with "
            "the prompts as the sample, not how another seed would do; that needs more seeds."
        )
    else:
        reading = (
            f"- The pooled tests take each prompt's average over these {len(runs)} seeds as its value: they say "
            "whether the methods differ on average over these seeds, with the prompts as the sample, not how a "
            f"new seed would do; for that read the spread over seeds, itself uncertain from {len(runs)} values."
        )
    out += [reading, "", SEEDS_END]
    return "\n".join(out) + "\n"


def write_seeds_analysis(dirs: list[Path], output: Path) -> Path:
    """Write the ``--runs`` block into ``output`` between its own markers (other text survives)."""
    return splice_block(output, render_seeds(dirs), "Analysis over seeds", SEEDS_BEGIN, SEEDS_END)
