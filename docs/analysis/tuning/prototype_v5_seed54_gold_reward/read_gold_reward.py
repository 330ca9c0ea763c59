"""Dev run 24 read by its plan (README.md here): PPO and GRPO trained on the gold rubric against run 22's.

    .venv/bin/python docs/analysis/tuning/prototype_v5_seed54_gold_reward/read_gold_reward.py DIR

DIR (this folder, once collect.sh has copied the outputs here) holds the evaluation's metrics.json and
samples.jsonl.gz (run 22's models, run 23's dpo_gold, ppo_gold and grpo_gold). Checks that the reference's and
run 22's methods' replies are run 22's committed ones, prints refusals per kind of request and model, the
per-model table, and per method the plan's reading of M_gold − M and M_gold − reference. An analysis aid.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # docs/analysis/tuning: compare_chains
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "prototype_v5_seed46_budget"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "prototype_v5_seed54_gold_pairs"))

from compare_chains import paired_difference, print_paired, read, refusals  # noqa: E402
from read_budget import per_prompt_gold, refusal_counts, table  # noqa: E402
from read_gold_pairs import check_run22_samples  # noqa: E402


def reading(diffs: list[float]) -> str:
    """The plan's rule on M_gold − M (per-prompt gold differences), with print_paired's bootstrap CI."""
    d = paired_difference(diffs, [0.0] * len(diffs), 2000, 44)
    if d["mean_diff"] >= 0.03 and d["ci95"][0] > 0:
        return "the reward model limits it"
    if d["mean_diff"] < 0.01 and d["ci95"][1] < 0.03:
        return "the reward model is not the limit"
    return "inconclusive"


def main(folder: Path) -> None:
    models = json.loads((folder / "metrics.json").read_text())["models"]
    rows = read(str(folder / "samples.jsonl.gz"))
    check_run22_samples(rows, ("reference", "ppo", "grpo", "dpo"))
    refusals(str(folder / "samples.jsonl.gz"))
    table(models)
    counts = refusal_counts(rows)
    gold = per_prompt_gold(rows)
    print(
        "\nreading (dev run 24's plan), per method M: the reward model limits M if M_gold − M >= +0.03 with"
    )
    print(
        "the CI's lower end > 0; it is not the limit if < +0.01 with the CI's upper end < +0.03; else inconclusive"
    )
    for m in ("ppo", "grpo"):
        o = f"{m}_gold"
        if set(gold[o]) != set(gold[m]) or set(gold[o]) != set(gold["reference"]):
            raise SystemExit(f"{m}, {o} and the reference were not evaluated on the same prompts")
        print(f"\n{m.upper()}")
        for name in (m, o):
            b, bn, h, hn = counts[name]
            print(f"  {name}: benign refused {b}/{bn}, harmful {h}/{hn}")
        diffs = [gold[o][k] - gold[m][k] for k in gold[m]]
        print_paired(f"  gold, {o} − {m}", diffs)
        print_paired(f"  gold, {o} − reference", [gold[o][k] - gold["reference"][k] for k in gold[m]])
        print("  =>", reading(diffs))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__.split("\n\n")[1].strip())
    main(Path(sys.argv[1]))
