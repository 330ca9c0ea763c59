"""The two per-seed figures a v4 seed's stages did not write (before 2026-12-06), recomputed from its saved models and pairs.

    .venv/bin/python docs/analysis/seeds_v4/testbed_labels.py RUN_DIR [OUT_JSON]

v4 trains on a local copy of the bundled testbed (outputs/testbed_advice_x3), so the reward stage does not know
which test pairs are harmful requests and the pairs stage does not know the gold rubric (both key on
``dataset_name: bundled``; docs/analysis/seeds_v4/README.md; since 2026-12-06 a copy whose every pair is a
testbed request keeps both, ``rlhf_trl.data.has_gold``, but v4's seeds were trained before). This script computes them the way those stages
do on the bundled set: the reward model's accuracy on the bundled test pairs by kind of request
(``preference_report`` with ``is_harmful_request``, the reward stage's call; the bundled test split is the
one v4 trains beside, copied unchanged) and the gold rubric's ordering of the pairs stage's ranked pairs
(``gold_score`` of chosen and rejected, the pairs stage's summary). A reading aid, not part of the toolkit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rlhf_trl.config import DataArguments
from rlhf_trl.data import load_preference_splits, parse_hh_pair
from rlhf_trl.evaluation.metrics import harmful_flags
from rlhf_trl.rewards import RewardModelScorer, preference_report
from rlhf_trl.testbed import gold_score


def reward_by_request(run: Path) -> dict:
    test = load_preference_splits(DataArguments(dataset_name="bundled"))["test"]
    scorer = RewardModelScorer.from_pretrained(
        str(run / "checkpoints" / "reward"), batch_size=16, max_length=256
    )
    report = preference_report(scorer, test, harmful=harmful_flags(test["prompt"]))
    return {k: v for k, v in report.items() if k.startswith("accuracy")}


def pairs_gold_order(run: Path) -> dict:
    with open(run / "pairs" / "train.jsonl") as f:
        rows = [json.loads(line) for line in f]
    gold = []
    for row in rows:
        pair = parse_hh_pair(row["chosen"], row["rejected"])
        prompt, chosen, rejected = pair["prompt"], pair["chosen"], pair["rejected"]
        gold.append((gold_score(prompt, chosen[-1]["content"]), gold_score(prompt, rejected[-1]["content"])))
    return {
        "pairs": len(gold),
        "chosen_mean": sum(c for c, _ in gold) / len(gold),
        "rejected_mean": sum(r for _, r in gold) / len(gold),
        "same_order": sum(c > r for c, r in gold),
        "tied": sum(c == r for c, r in gold),
        "reversed": sum(c < r for c, r in gold),
    }


def main(run: Path, out: Path | None) -> None:
    result = {"run": str(run), "reward_model": reward_by_request(run), "pairs_gold": pairs_gold_order(run)}
    text = json.dumps(result, indent=1)
    print(text)
    if out is not None:
        out.write_text(text + "\n")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__.strip().splitlines()[2].strip())
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) == 3 else None)
