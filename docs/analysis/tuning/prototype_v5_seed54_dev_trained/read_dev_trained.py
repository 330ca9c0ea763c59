"""Dev run 25 read by its plan (README.md here): PPO (and GRPO) with gold as the reward, trained on the dev prompts.

    .venv/bin/python docs/analysis/tuning/prototype_v5_seed54_dev_trained/read_dev_trained.py DIR

DIR (this folder, once collect.sh has copied the outputs here) holds the evaluation's metrics.json and
samples.jsonl.gz (runs 22-24's models and ppo_gold_dev, grpo_gold_dev when trained). Checks that the reference's and
run 22's methods' replies are run 22's committed ones, prints refusals per kind of request and model, the
per-model table, and per method trained on the dev prompts the plan's reading of M_dev − reference and
M_dev − M (run 24's gold-trained M on the training prompts), with the benign informative term and the gold of
its training batches. An analysis aid.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # docs/analysis/tuning: compare_chains
sys.path.insert(0, str(HERE.parent / "prototype_v5_seed46_budget"))
sys.path.insert(0, str(HERE.parent / "prototype_v5_seed54_gold_pairs"))

from compare_chains import paired_difference, print_paired, read, refusals  # noqa: E402
from read_budget import per_prompt_gold, refusal_counts, table  # noqa: E402
from read_gold_pairs import check_run22_samples  # noqa: E402

from rlhf_trl.testbed.gold import WEIGHTS, gold_terms, is_harmful_request  # noqa: E402

SHIFT, SCALE = 18.6, 30.0  # run 24's reward: SCALE x gold - SHIFT (oracle_reward.py)


def reading(to_ref: list[float], to_run24: list[float]) -> str:
    """The plan's rule: Δ_ref = M_dev − reference, Δ_run24 = M_dev − M_gold (per-prompt gold differences)."""
    ref = paired_difference(to_ref, [0.0] * len(to_ref), 2000, 44)
    run24 = paired_difference(to_run24, [0.0] * len(to_run24), 2000, 44)
    if run24["ci95"][0] > 0 and ref["mean_diff"] >= 0.05:
        return "the held-out subjects are the limit"
    if ref["mean_diff"] < 0.035:
        return "the optimiser at this budget is the limit"
    return "inconclusive"


def benign_informative(rows: list[dict]) -> dict:
    """{model: {prompt_id: mean weighted informative term over its replies}} on benign prompts."""
    out: dict = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if not is_harmful_request(r["prompt"]):
            out[r["model"]][r["prompt_id"]].append(
                WEIGHTS["informative"] * gold_terms(r["prompt"], r["response"])["informative"]
            )
    return {m: {k: statistics.fmean(v) for k, v in d.items()} for m, d in out.items()}


def training_gold(path: Path) -> str:
    """Gold of the training batches over the logged steps, from the reward's scores: (score + SHIFT) / SCALE."""
    log = json.loads(path.read_text())
    key = "objective/scores" if "objective/scores" in log[0] else "reward"
    g = [(e[key] + SHIFT) / SCALE for e in log if key in e]
    k = max(1, len(g) // 5)
    return f"{len(g)} logged steps, first {k}: {statistics.fmean(g[:k]):.3f}, last {k}: {statistics.fmean(g[-k:]):.3f}"


def main(folder: Path) -> None:
    models = json.loads((folder / "metrics.json").read_text())["models"]
    rows = read(str(folder / "samples.jsonl.gz"))
    check_run22_samples(rows, ("reference", "ppo", "grpo", "dpo"))
    refusals(str(folder / "samples.jsonl.gz"))
    table(models)
    counts = refusal_counts(rows)
    gold = per_prompt_gold(rows)
    informative = benign_informative(rows)
    print(
        "\nreading (dev run 25's plan), per method M trained on the dev prompts (M_dev): the held-out subjects are"
    )
    print(
        "the limit if M_dev − M_gold has its CI above 0 and M_dev − reference >= +0.05; the optimiser at this"
    )
    print("budget is the limit if M_dev − reference < +0.035; else inconclusive")
    for m in ("ppo", "grpo"):
        new, run24 = f"{m}_gold_dev", f"{m}_gold"
        if new not in gold:
            print(f"\n{m.upper()}: {new} not evaluated")
            continue
        if not set(gold[new]) == set(gold[run24]) == set(gold["reference"]):
            raise SystemExit(f"{new}, {run24} and the reference were not evaluated on the same prompts")
        print(f"\n{m.upper()}")
        for name in (run24, new):
            b, bn, h, hn = counts[name]
            print(f"  {name}: benign refused {b}/{bn}, harmful {h}/{hn}")
        to_ref = [gold[new][k] - gold["reference"][k] for k in gold[new]]
        to_run24 = [gold[new][k] - gold[run24][k] for k in gold[new]]
        print_paired(f"  gold, {new} − reference", to_ref)
        print_paired(f"  gold, {new} − {run24}", to_run24)
        inf = informative
        print_paired(
            f"  informative (benign), {new} − reference",
            [inf[new][k] - inf["reference"][k] for k in inf[new]],
        )
        print_paired(
            f"  informative (benign), {run24} − reference",
            [inf[run24][k] - inf["reference"][k] for k in inf[new]],
        )
        logs = {run24: HERE.parent / "prototype_v5_seed54_gold_reward", new: folder}
        for name, where in logs.items():
            print(f"  training batches' gold, {name}: {training_gold(where / f'{name}_log_history.json')}")
        print("  =>", reading(to_ref, to_run24))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__.split("\n\n")[1].strip())
    main(Path(sys.argv[1]))
