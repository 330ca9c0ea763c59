"""Dev run 22 read by its plan (README.md here): the v5 candidate's PPO, GRPO and DPO on the dev prompts.

    .venv/bin/python docs/analysis/tuning/prototype_v5_seed54_dev/read_dev.py DIR

DIR (this folder, once the evaluation's files are copied here) holds the evaluation's metrics.json and
samples.jsonl.gz. Prints refusals per kind of request and model, the per-model table and the plan's clauses
(a) and (b), the same as dev run 21's v5 reading (../prototype_v5_seed46_budget/read_budget.py). An analysis aid.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # docs/analysis/tuning: compare_chains
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "prototype_v5_seed46_budget"))

from compare_chains import read, refusals  # noqa: E402
from read_budget import table, v5_reading  # noqa: E402

if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__.split("\n\n")[1].strip())
    folder = Path(sys.argv[1])
    models = json.loads((folder / "metrics.json").read_text())["models"]
    refusals(str(folder / "samples.jsonl.gz"))
    table(models)
    print("\nv5 reading (dev run 22's plan):")
    v5_reading(models, read(str(folder / "samples.jsonl.gz")), ["ppo", "grpo", "dpo"])
