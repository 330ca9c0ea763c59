"""Dev run 29c read by its plan (README.md here): run 27's PPO with dev run 29b's ``rm29`` as its reward (``ppo29``).

    .venv/bin/python docs/analysis/tuning/prototype_v5_seed54_dev_rm29/read_rm29.py DIR

DIR (this folder, once collect.sh has copied the outputs here) holds the dev evaluation (metrics.json,
samples.jsonl.gz: ``reference`` is sft27; ``ppo27c``, ``ppo27g`` and ``ppo29``) and trained_side.jsonl.gz
(``sft27`` and ``ppo29`` on the RL side's prompts). ``ppo27`` comes from run 27's committed evaluation, whose
``reference`` replies the new one must hold exactly (run 28's ``read_gold_rl.dev_rows``). Per prompt (its two replies
averaged), bootstrap 95% CIs as ``../compare_chains.py``'s. An analysis aid.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "prototype_v5_seed54_dev_rlsubjects_gold"))

from read_gold_rl import (  # noqa: E402
    benign_informative,
    ci95,
    dev_rows,
    per_prompt_gold,
    print_paired,
    refusal_line,
    table,
    trained_side_rows,
)

NEW = "ppo29"
NO_MOVE_CAP = 0.015  # "it does not": P's upper end below this


def reading(p: list[float]) -> str:
    lo, hi = ci95(p)
    if lo > 0:
        return "1: the sharper reward model moves PPO toward new subjects' facts"
    if hi < NO_MOVE_CAP:
        return "2: it does not"
    return "3: inconclusive"


def main(folder: Path) -> None:
    table(json.loads((folder / "metrics.json").read_text())["models"])
    dev, rl = dev_rows(folder, NEW), trained_side_rows(folder / "trained_side.jsonl.gz")
    gd, gr = per_prompt_gold(dev), per_prompt_gold(rl)
    for name, gold in (("dev", gd), ("RL side", gr)):
        if NEW not in gold or set(gold[NEW]) != set(gold["reference"]):
            raise SystemExit(f"no {NEW} replies on every {name} prompt: has run29c.sh printed RUN29C DONE?")
    idev, irl = benign_informative(dev), benign_informative(rl)
    benign_dev, benign_rl = sorted(idev["reference"]), sorted(irl["reference"])
    ids = sorted(gd["reference"])
    p = [idev[NEW][k] - idev["ppo27"][k] for k in benign_dev]
    print(f"\ndev prompts ({len(ids)}; {len(benign_dev)} benign)")
    print_paired(f"  P = {NEW} − ppo27, benign informative (weighted, 0.35)", p)
    print(
        f"  => {reading(p)}  (the plan's rule: 1 if P's CI lies above 0; 2 if its upper end < +{NO_MOVE_CAP})"
    )
    print("beside (the plan):")
    print_paired(
        f"  benign informative, {NEW} − sft27, dev", [idev[NEW][k] - idev["reference"][k] for k in benign_dev]
    )
    print_paired(f"  benign informative, {NEW} − sft27, RL side ({len(benign_rl)} benign prompts)",
                 [irl[NEW][k] - irl["reference"][k] for k in benign_rl])  # fmt: skip
    for other, name in (("reference", "sft27"), ("ppo27", "ppo27"), ("ppo27g", "ppo27g")):
        print_paired(f"  gold, {NEW} − {name}, dev", [gd[NEW][k] - gd[other][k] for k in ids])
    run22 = json.loads((HERE.parent / "prototype_v5_seed54_dev" / "stages" / "reward.json").read_text())
    rm29 = json.loads((folder / "stages" / "rm29.json").read_text())
    print(
        f"  reward scale: mean margin on the pairs_test pairs, rm29 {rm29['test/mean_margin']:.2f}, run 22's "
        f"{run22['test/mean_margin']:.2f} (accuracy {rm29['test/accuracy']:.3f}, {run22['test/accuracy']:.3f})"
    )
    print("refusals (benign refused / replies, harmful refused / replies):")
    print("  dev: " + refusal_line(dev, ("reference", "ppo27", "ppo27g", NEW)))
    print("  RL side: " + refusal_line(rl, ("reference", NEW)))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__.split("\n\n")[1].strip())
    main(Path(sys.argv[1]))
