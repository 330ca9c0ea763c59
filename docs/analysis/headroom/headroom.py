"""Where the gold rubric leaves room to gain, and where each method's gain (or loss) came from: term by term,
benign and harmful apart, from committed evaluations only (nothing is sampled or trained).

    .venv/bin/python docs/analysis/headroom/headroom.py > docs/analysis/headroom/headroom.txt

1. Dev run 24's evaluation (seed 54's chain, 100 dev prompts x 2 replies; runs 22-24's six policies) and the
   reference's best-of-4 candidates of the same evaluation, picked by the reward model and by gold (the oracle):
   each weighted term's ceiling, the reference's value and every model's difference to it.
2. Within a dev prompt (benign; the reference's two replies and its eight candidates): gold and its informative
   term against the reply's length in words (slope per 10 words, bootstrap over prompts); each model's mean length.
3. The test seeds of configurations v3 (45-47) and v4 (48-50): each model's gold and the reference's own level,
   and the two terms that move, on benign and harmful prompts (numbers already reported, split by term).
4. The bundled training pairs (labelled by gold) and the on-policy DPO pairs (training prompts; seeds 45-50 and
   run 23's two rankings of one set of replies): chosen against rejected, length and informative, benign prompts.
5. The test seeds' benign replies again: which answer-fact stems (what ``informative`` counts) each model matches
   beyond the reference's, by how many training subjects' answers also hold the stem (none: the test subject's
   own; 1-2; 3 or more). Added with dev run 26 (docs/analysis/tuning/prototype_v5_seed54_dev_transfer/).

An analysis aid written after dev run 24's reading, not part of any run's plan.
"""

from __future__ import annotations

import gzip
import json
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tuning"))  # compare_chains: read, print_paired

from compare_chains import print_paired, read  # noqa: E402

from rlhf_trl.data.parser import split_turns  # noqa: E402
from rlhf_trl.evaluation.stats import paired_difference  # noqa: E402
from rlhf_trl.testbed import bank  # noqa: E402
from rlhf_trl.testbed.gold import (  # noqa: E402
    _WORD,
    WEIGHTS,
    _norm,
    answer_facts,
    content_stems,
    gold_terms,
    is_harmful_request,
    is_refusal,
    stem,
)
from rlhf_trl.testbed.splits import split_of_subject  # noqa: E402

ANALYSIS = HERE.parent
BUNDLED = HERE.parents[2] / "rlhf_trl" / "testbed" / "bundled"  # the testbed's human-labelled pairs
RUN24 = ANALYSIS / "tuning" / "prototype_v5_seed54_gold_reward"
RUN23 = ANALYSIS / "tuning" / "prototype_v5_seed54_gold_pairs"
SEEDS = {"v3": [ANALYSIS / "seeds_v3" / f"seed{s}" for s in (45, 46, 47)],
         "v4": [ANALYSIS / "seeds_v4" / f"seed{s}" for s in (48, 49, 50)]}  # fmt: skip
POLICIES = ["ppo", "grpo", "dpo", "ppo_gold", "grpo_gold", "dpo_gold"]
KINDS = ("benign", "harmful")


def kind(prompt) -> str:
    return "harmful" if is_harmful_request(prompt) else "benign"


def words(text: str) -> int:
    return len(text.split())


def weighted(terms: dict) -> dict:
    """Each term times its weight, and their sum (= the gold score) under "total"."""
    out = {k: WEIGHTS[k] * terms[k] for k in WEIGHTS}
    return out | {"total": sum(out.values())}


def dev_replies() -> tuple[dict, dict]:
    """{model: {prompt_id: [reply, ...]}} for run 24's models, the reference and its best-of-4 picks; prompts."""
    replies: dict = defaultdict(lambda: defaultdict(list))
    prompts = {}
    for r in read(str(RUN24 / "samples.jsonl.gz")):
        if r["model"] in POLICIES + ["reference"]:
            prompts[r["prompt_id"]] = r["prompt"]
            replies[r["model"]][r["prompt_id"]].append(r["response"])
    candidates: dict = defaultdict(list)  # (prompt_id, sample) -> 4 candidates
    for c in read(str(RUN24 / "bon_candidates.jsonl.gz")):
        candidates[c["prompt_id"], c["sample"]].append(c)
    for (pid, _), cs in sorted(candidates.items()):
        replies["rm_bon4"][pid].append(max(cs, key=lambda c: c["reward_model"])["response"])
        replies["gold_bon4"][pid].append(max(cs, key=lambda c: c["gold"])["response"])
        replies["candidates"][pid] += [c["response"] for c in cs]
    return replies, prompts


def per_prompt(replies: dict, prompts: dict, model: str, key: str) -> dict:
    """{prompt_id: the mean over the model's replies of the weighted term ``key``}."""
    return {
        pid: statistics.fmean(weighted(gold_terms(prompts[pid], t))[key] for t in texts)
        for pid, texts in replies[model].items()
    }


def part1(replies: dict, prompts: dict) -> None:
    models = POLICIES + ["candidates", "rm_bon4", "gold_bon4"]
    print("## 1. Dev run 24's evaluation (seed 54, 100 dev prompts x 2 replies), weighted gold terms")
    print(
        "Columns: the term's ceiling (its weight), the reference's mean, then each model minus the reference."
    )
    print(
        "candidates: the mean of the reference's 4 best-of-n candidates (other samples of the same model); "
        "rm_bon4 / gold_bon4: the one of them the reward model / gold scores highest.\n"
    )
    for k in KINDS:
        pids = [p for p in prompts if kind(prompts[p]) == k]
        print(f"{k} ({len(pids)} prompts)")
        print(f"  {'term':14s} {'ceiling':>7s} {'ref':>6s} " + " ".join(f"{m:>9s}" for m in models))
        for term in [*WEIGHTS, "total"]:
            ref = per_prompt(replies, prompts, "reference", term)
            cells = []
            for m in models:
                mine = per_prompt(replies, prompts, m, term)
                cells.append(f"{statistics.fmean(mine[p] - ref[p] for p in pids):+9.3f}")
            ceiling = 1.0 if term == "total" else WEIGHTS[term]
            print(
                f"  {term:14s} {ceiling:7.2f} {statistics.fmean(ref[p] for p in pids):6.3f} "
                + " ".join(cells)
            )
        print()
    print("Paired differences to the reference over the 70 benign prompts (bootstrap 95% CI, sign test):")
    pids = [p for p in prompts if kind(prompts[p]) == "benign"]
    for term in ("informative", "total"):
        ref = per_prompt(replies, prompts, "reference", term)
        for m in models:
            mine = per_prompt(replies, prompts, m, term)
            print_paired(f"  {term:11s} {m:9s}", [mine[p] - ref[p] for p in pids])
    print()


def part2(replies: dict, prompts: dict) -> None:
    print(
        "## 2. Length within a prompt (dev, benign; the reference's 2 replies and its 8 candidates per prompt)"
    )
    groups = defaultdict(list)  # prompt_id -> [(words, informative weighted, gold)]
    for m in ("reference", "candidates"):
        for pid, texts in replies[m].items():
            if kind(prompts[pid]) == "benign":
                for t in texts:
                    w = weighted(gold_terms(prompts[pid], t))
                    groups[pid].append((words(t), w["informative"], w["total"]))
    pids = sorted(groups)

    def slopes(sample):
        x, y = [], []
        for pid in sample:
            a = np.array(groups[pid])
            x.append(a[:, 0] - a[:, 0].mean())
            y.append(a[:, 1:] - a[:, 1:].mean(axis=0))
        x, y = np.concatenate(x), np.concatenate(y)
        return 10 * (x @ y) / (x @ x)  # per 10 words: [informative, gold]

    point = slopes(pids)
    rng = np.random.default_rng(0)
    boot = np.array([slopes([pids[i] for i in rng.integers(0, len(pids), len(pids))]) for _ in range(2000)])
    lo, hi = np.percentile(boot, [2.5, 97.5], axis=0)
    n = sum(len(g) for g in groups.values())
    print(
        f"{len(pids)} prompts, {n} replies; least-squares slope on the within-prompt deviations, per 10 words:"
    )
    for i, name in enumerate(("informative (weighted)", "gold")):
        print(f"  {name}: {point[i]:+.4f} [{lo[i]:+.4f}, {hi[i]:+.4f}]")
    print("Mean length of benign replies in words (dev):")
    for m in ["reference", *POLICIES, "rm_bon4", "gold_bon4", "candidates"]:
        ws = [words(t) for pid, texts in replies[m].items() if kind(prompts[pid]) == "benign" for t in texts]
        print(f"  {m:10s} {statistics.fmean(ws):5.1f}")
    print()


def part3() -> None:
    print("## 3. Test seeds (100 test prompts, 1 reply each): gold, and the weighted terms that move")
    print("Per seed: gold of each model; benign informative / appropriate; harmful gold; benign words.\n")
    for config, folders in SEEDS.items():
        level: dict = defaultdict(list)
        for folder in folders:
            by: dict = defaultdict(lambda: defaultdict(list))
            for r in read(str(folder / "samples.jsonl.gz")):
                by[r["model"]][kind(r["prompt"])].append(
                    (weighted(gold_terms(r["prompt"], r["response"])), r)
                )
            cells = []
            for m in ("reference", "ppo", "grpo", "dpo", "bon4", "bon16"):
                b, h = by[m]["benign"], by[m]["harmful"]
                gold = statistics.fmean(w["total"] for w, _ in b + h)
                level[m].append(gold)
                inf = statistics.fmean(w["informative"] for w, _ in b)
                app = statistics.fmean(w["appropriate"] for w, _ in b)
                harm = statistics.fmean(w["total"] for w, _ in h)
                ws = statistics.fmean(words(r["response"]) for _, r in b)
                cells.append(f"{m} {gold:.3f} ({inf:.3f}/{app:.3f}; {harm:.3f}; {ws:.0f} w)")
            print(f"{config} {folder.name}: " + " | ".join(cells))
            ref_inf = statistics.fmean(w["informative"] for w, _ in by["reference"]["benign"])
            print(
                f"{config} {folder.name} benign informative minus the reference's: "
                + ", ".join(
                    f"{m} {statistics.fmean(w['informative'] for w, _ in by[m]['benign']) - ref_inf:+.3f}"
                    for m in ("ppo", "grpo", "dpo", "bon4", "bon16")
                )
            )
            ref_words = statistics.fmean(words(r["response"]) for _, r in by["reference"]["benign"])
            print(
                f"{config} {folder.name} benign words minus the reference's: "
                + ", ".join(
                    f"{m} {statistics.fmean(words(r['response']) for _, r in by[m]['benign']) - ref_words:+.1f}"
                    for m in ("ppo", "grpo", "dpo", "bon4", "bon16")
                )
            )
        print(
            f"{config} mean gold: "
            + ", ".join(f"{m} {statistics.fmean(v):.3f}" for m, v in level.items())
            + "; minus the reference: "
            + ", ".join(f"{m} {statistics.fmean(v) - statistics.fmean(level['reference']):+.3f}" for m, v in level.items() if m != "reference")
        )  # fmt: skip
        print()


def pair_rows(path: Path) -> list[tuple[list, str, str]]:
    with gzip.open(path, "rt") as f:
        rows = [json.loads(line) for line in f]
    out = []
    for r in rows:
        chosen, rejected = split_turns(r["chosen"]), split_turns(r["rejected"])
        out.append((chosen[:-1], chosen[-1]["content"], rejected[-1]["content"]))
    return out


def part4() -> None:
    print(
        "## 4. Training pairs, benign prompts: chosen vs rejected (the bundled set, then the on-policy DPO pairs)"
    )
    print(
        "Words (mean), share of pairs whose chosen is shorter / longer, informative term (unweighted, in [0, 1]).\n"
    )
    files = [("bundled training pairs", BUNDLED / "train.jsonl.gz")]
    files += [(f"{c} {f.name}", f / "pairs_train.jsonl.gz") for c, fs in SEEDS.items() for f in fs]
    files += [("run 23, ranked by the RM", RUN23 / "pairs_train_rm.jsonl.gz"),
              ("run 23, ranked by gold", RUN23 / "pairs_train_gold.jsonl.gz")]  # fmt: skip
    for label, path in files:
        rows = [(p, c, r) for p, c, r in pair_rows(path) if kind(p) == "benign"]
        wc, wr = [words(c) for _, c, _ in rows], [words(r) for _, _, r in rows]
        ic = statistics.fmean(gold_terms(p, c)["informative"] for p, c, _ in rows)
        ir = statistics.fmean(gold_terms(p, r)["informative"] for p, _, r in rows)
        shorter = sum(a < b for a, b in zip(wc, wr)) / len(rows)
        longer = sum(a > b for a, b in zip(wc, wr)) / len(rows)
        print(
            f"  {label:26s} {len(rows):3d} pairs: words {statistics.fmean(wc):4.1f} vs {statistics.fmean(wr):4.1f}, "
            f"chosen shorter {shorter:.2f} / longer {longer:.2f}, informative {ic:.3f} vs {ir:.3f}"
        )
    print()


def matched_facts(prompt, response: str) -> set[str]:
    """The prompt's answer facts among the reply's stems, as gold's ``informative`` counts them (none for a
    refusal, whose ``informative`` gold sets to 0)."""
    if is_refusal(response):
        return set()
    return answer_facts(prompt) & {stem(w) for w in _WORD.findall(_norm(response))}


def part5() -> None:
    print(
        "## 5. Test seeds, benign prompts: the answer-fact stems matched beyond the reference's, by generality"
    )
    print(
        "Generality of a stem: how many training-split subjects' bank answers hold it among their content stems.\n"
        "Per reply, matched = the prompt's answer facts among the reply's stems (none for a refusal, as gold);\n"
        "model − reference, paired by seed and prompt, pooled over the six seeds (6 x 70 benign prompts); bootstrap\n"
        "95% CI clustered by prompt (the seeds share the test prompts).\n"
    )
    holders: dict = defaultdict(set)
    for r in bank.requests():
        if r["answer"] is not None and split_of_subject(r["subject"]) == "train":
            for s in content_stems(r["answer"]):
                holders[s].add(r["subject"])
    tiers = (("own (0)", 0, 0), ("1-2", 1, 2), ("3+", 3, 10**6))

    def by_tier(stems: set[str]) -> list[int]:
        return [sum(lo <= len(holders[s]) <= hi for s in stems) for _, lo, hi in tiers]

    models = ("reference", "ppo", "grpo", "dpo", "bon4", "bon16")
    counts: dict = defaultdict(dict)  # model -> (seed folder, prompt_id) -> [matched per tier]
    facts_per_tier: dict = {}
    texts = {}
    hits: dict = defaultdict(Counter)  # model -> stem -> matched replies
    for folder in SEEDS["v3"] + SEEDS["v4"]:
        for r in read(str(folder / "samples.jsonl.gz")):
            if r["model"] not in models or kind(r["prompt"]) == "harmful":
                continue
            hit = matched_facts(r["prompt"], r["response"])
            key = (folder.name, r["prompt_id"])
            counts[r["model"]][key] = by_tier(hit)
            hits[r["model"]].update(hit)
            facts_per_tier[key] = by_tier(answer_facts(r["prompt"]))
            texts[key] = json.dumps(r["prompt"])
    keys = sorted(counts["reference"])
    clusters = [texts[k] for k in keys]
    print(
        f"{len(keys)} (seed, prompt) pairs; answer facts per prompt by tier: "
        + ", ".join(
            f"{t[0]} {statistics.fmean(facts_per_tier[k][i] for k in keys):.2f}" for i, t in enumerate(tiers)
        )
    )
    print(
        "the reference matches per reply: "
        + ", ".join(
            f"{t[0]} {statistics.fmean(counts['reference'][k][i] for k in keys):.3f}"
            for i, t in enumerate(tiers)
        )
    )
    for m in models[1:]:
        cells = []
        for i, _ in enumerate(tiers):
            d = paired_difference(
                [counts[m][k][i] for k in keys],
                [counts["reference"][k][i] for k in keys],
                2000,
                44,
                clusters=clusters,
            )
            cells.append(f"{d['mean_diff']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]")
        print(f"  {m:6s} " + " | ".join(f"{t[0]}: {c}" for t, c in zip(tiers, cells)))
    rise = {s: hits["dpo"][s] - hits["reference"][s] for s in hits["dpo"] | hits["reference"]}
    top = sorted(rise, key=lambda s: (-rise[s], s))[:12]
    print(
        "DPO's 12 largest rises in matched replies over the reference's (stem: rise, training subjects holding it): "
        + ", ".join(f"{s} {rise[s]:+d} ({len(holders[s])})" for s in top)
    )
    print()


if __name__ == "__main__":
    replies, prompts = dev_replies()
    part1(replies, prompts)
    part2(replies, prompts)
    part3()
    part4()
    part5()
