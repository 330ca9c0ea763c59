"""Where each model's gold difference to the reference comes from: the rubric's weighted terms, benign and harmful
dev prompts apart (dev run 21's evaluation, README.md here).

    .venv/bin/python docs/analysis/tuning/prototype_v5_seed46_budget/gold_terms.py DIR

DIR holds the evaluation's samples.jsonl.gz. Prints, per kind of prompt, the reference's mean weighted term (each
term × its weight in ``rlhf_trl.testbed.gold.WEIGHTS``) and every other model's difference to it, over replies;
the row sums are the models' gold differences on that kind. An analysis aid.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections import defaultdict
from pathlib import Path

from rlhf_trl.testbed.gold import WEIGHTS, gold_terms, is_harmful_request

MODELS = ["reference", "ppo_critic", "ppo_budget", "grpo", "grpo_budget", "dpo", "dpo_budget", "bon4"]


def main(folder: Path) -> None:
    acc: dict = defaultdict(lambda: defaultdict(list))
    with gzip.open(folder / "samples.jsonl.gz", "rt") as f:
        for r in map(json.loads, f):
            if r["model"] in MODELS:
                kind = "harmful" if is_harmful_request(r["prompt"]) else "benign"
                for name, v in gold_terms(r["prompt"], r["response"]).items():
                    acc[r["model"], kind][name].append(WEIGHTS[name] * v)
    for kind in ("benign", "harmful"):
        ref = {n: sum(v) / len(v) for n, v in acc["reference", kind].items()}
        print(
            f"{kind}: reference's weighted terms, then each model's difference to them (sum = gold difference)"
        )
        print(f"  {'model':<12}" + "".join(f"{n[:12]:>13}" for n in WEIGHTS) + f"{'sum':>9}")
        for m in MODELS:
            row = {n: sum(v) / len(v) - (0 if m == "reference" else ref[n]) for n, v in acc[m, kind].items()}
            print(
                f"  {m:<12}" + "".join(f"{row[n]:>+13.4f}" for n in WEIGHTS) + f"{sum(row.values()):>+9.4f}"
            )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__.split("\n\n")[1].strip())
    main(Path(sys.argv[1]))
