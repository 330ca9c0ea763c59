"""Dev run 23 read by its plan (README.md here): on-policy DPO with gold-ranked pairs against run 22's DPO.

    .venv/bin/python docs/analysis/tuning/prototype_v5_seed54_gold_pairs/read_gold_pairs.py DIR

DIR (this folder, once collect.sh has copied the outputs here) holds the evaluation's metrics.json and
samples.jsonl.gz (run 22's models plus dpo_gold), pairs.json (the gold-ranked pairs' summary) and the two
pair sets, pairs_train_gold.jsonl.gz and pairs_train_rm.jsonl.gz (run 22's). Prints refusals per kind of
request and model, the per-model table, the pairs check (the same replies as run 22's) and the plan's
reading of dpo_gold − dpo. An analysis aid.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # docs/analysis/tuning: compare_chains
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "prototype_v5_seed46_budget"))

from compare_chains import kind, paired_difference, print_paired, read, refusals  # noqa: E402
from read_budget import per_prompt_gold, refusal_counts, table  # noqa: E402

from rlhf_trl.data.parser import parse_hh_pair  # noqa: E402
from rlhf_trl.testbed import gold_score  # noqa: E402


def pairs_by_prompt(path: Path) -> dict:
    """prompt (as JSON) -> (gold of chosen, gold of rejected), from an HH-format train.jsonl.gz."""
    out = {}
    with gzip.open(path, "rt") as f:
        for line in f:
            p = parse_hh_pair(**json.loads(line))
            key = json.dumps(p["prompt"], sort_keys=True)
            TEXTS[path.name][key] = {p["chosen"][0]["content"], p["rejected"][0]["content"]}
            KINDS[path.name][kind(p["prompt"])] += 1
            out[key] = (
                gold_score(p["prompt"], p["chosen"][0]["content"]),
                gold_score(p["prompt"], p["rejected"][0]["content"]),
            )
    return out


TEXTS: dict = defaultdict(dict)  # file -> prompt -> the pair's two reply texts
KINDS: dict = defaultdict(Counter)  # file -> request kind -> pairs


def check_run22_samples(rows: list[dict], models: tuple[str, ...] = ("reference", "dpo")) -> None:
    """The copied evaluation's replies of ``models`` must be run 22's committed ones: else not paired."""
    run22 = Path(__file__).resolve().parents[1] / "prototype_v5_seed54_dev" / "samples.jsonl.gz"
    for model in models:
        mine = [(r["prompt_id"], r.get("sample", 0), r["response"]) for r in rows if r["model"] == model]
        theirs = [
            (r["prompt_id"], r.get("sample", 0), r["response"])
            for r in read(str(run22))
            if r["model"] == model
        ]
        if not mine or mine != theirs:
            raise SystemExit(
                f"{model}: this evaluation's replies are not run 22's ({run22}); the pairing is void"
            )
    print(f"{' and '.join(models)} replies: run 22's (checked against its committed samples)")


def check_same_replies(folder: Path) -> None:
    gold, rm = (
        pairs_by_prompt(folder / "pairs_train_gold.jsonl.gz"),
        pairs_by_prompt(folder / "pairs_train_rm.jsonl.gz"),
    )
    both = [k for k in gold if k in rm]
    shared = sum(
        bool(TEXTS["pairs_train_gold.jsonl.gz"][k] & TEXTS["pairs_train_rm.jsonl.gz"][k]) for k in both
    )
    print(f"\nprompts whose two pairs share a reply text: {shared} of {len(both)}")
    for name, kinds in KINDS.items():
        print(f"  request kinds in {name}: {dict(sorted(kinds.items()))}")
    bad = [k for k in both if gold[k][0] < max(rm[k]) - 1e-12 or gold[k][1] > min(rm[k]) + 1e-12]
    print(
        f"\npairs: gold-ranked {len(gold)}, run 22's {len(rm)}, prompts in both {len(both)}, prompts only in the "
        f"gold-ranked set {len(set(gold) - set(rm))}; gold-ranked chosen >= both of run 22's replies and rejected "
        f"<= both on {len(both) - len(bad)} of {len(both)}"
    )
    for name, pairs in (("gold-ranked", gold), ("run 22's", rm)):
        c = sum(v[0] for v in pairs.values()) / len(pairs)
        r = sum(v[1] for v in pairs.values()) / len(pairs)
        print(f"  {name} pairs: gold chosen {c:.3f}, rejected {r:.3f}, margin {c - r:+.3f}")
    if bad:
        raise SystemExit(f"{len(bad)} prompts break the check: the two runs did not rank the same replies")


def main(folder: Path) -> None:
    models = json.loads((folder / "metrics.json").read_text())["models"]
    rows = read(str(folder / "samples.jsonl.gz"))
    check_run22_samples(rows)
    refusals(str(folder / "samples.jsonl.gz"))
    table(models)
    summary = json.loads((folder / "pairs.json").read_text())
    print(
        f"\ngold-ranked pairs: {summary['pairs']} of {summary['train_prompts']} prompts, dropped {summary['dropped']}"
    )
    check_same_replies(folder)
    counts = refusal_counts(rows)
    for m in ("dpo", "dpo_gold"):
        b, bn, h, hn = counts[m]
        print(f"  {m}: benign refused {b}/{bn}, harmful {h}/{hn}")

    gold = per_prompt_gold(rows)
    if set(gold["dpo_gold"]) != set(gold["dpo"]):
        raise SystemExit("dpo and dpo_gold were not evaluated on the same prompts")
    diffs = [gold["dpo_gold"][k] - gold["dpo"][k] for k in gold["dpo"]]
    print("\nreading (dev run 23's plan): limit if dpo_gold − dpo >= +0.03 with the CI's lower end > 0;")
    print("not the limit if < +0.01 with the CI's upper end < +0.03; inconclusive otherwise")
    print_paired("  gold, dpo_gold − dpo", diffs)
    d = paired_difference(diffs, [0.0] * len(diffs), 2000, 44)  # print_paired's bootstrap: the same CI
    if d["mean_diff"] >= 0.03 and d["ci95"][0] > 0:
        verdict = "the reward model's ranking limits on-policy DPO"
    elif d["mean_diff"] < 0.01 and d["ci95"][1] < 0.03:
        verdict = "the ranking is not the limit"
    else:
        verdict = "inconclusive"
    print("  =>", verdict)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__.split("\n\n")[1].strip())
    main(Path(sys.argv[1]))
