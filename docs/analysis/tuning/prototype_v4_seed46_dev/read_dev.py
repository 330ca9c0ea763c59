"""Dev runs 19 and 20 read from their one evaluation (README.md here and ../prototype_v4_seed46_critic/).

    .venv/bin/python docs/analysis/tuning/prototype_v4_seed46_dev/read_dev.py [DIR]

DIR (default: this folder) holds the evaluation's metrics.json and samples.jsonl.gz, and the logged metrics
of run 19's PPO (ppo_log_history.json) and run 20's (../prototype_v4_seed46_critic/ppo_critic_log_history.json).
Prints the numbers the two plans read: refusals per kind of request and model (compare_chains.refusals: advice,
other benign, all benign, the test prompts' mix, harmful), per model its gold difference to the reference with
the 95 % CI, prompts + / 0 / − and Holm p, its reward-model mean, Monte-Carlo KL and reward-model gain per nat;
each PPO's explained variance per update and over its last 4; and the gold difference ppo_critic − ppo paired
by prompt (mean of each prompt's replies; bootstrap CI, exact sign test). An analysis aid.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # docs/analysis/tuning: compare_chains

from compare_chains import print_paired, read, refusals  # noqa: E402

HERE = Path(__file__).resolve().parent
LOGS = {
    "ppo": HERE / "ppo_log_history.json",
    "ppo_critic": HERE.parent / "prototype_v4_seed46_critic" / "ppo_critic_log_history.json",
}


def per_model(metrics: dict) -> None:
    models = metrics["models"]
    ref_rm = models["reference"]["metrics"]["proxy_reward"]["mean"]
    print("model: gold | gold diff vs reference [95% CI] (+ / 0 / −, Holm p) | RM | KL | RM gain per nat")
    for name, m in models.items():
        gold, rm = m["metrics"]["gold_score"]["mean"], m["metrics"]["proxy_reward"]["mean"]
        kl = (m["metrics"].get("kl") or {}).get("mean")
        line = f"  {name}: {gold:.3f} | "
        w = (m.get("win_rate") or {}).get("gold")
        if w:
            p = w["paired"]
            line += (
                f"{p['mean_diff']:+.3f} [{p['ci95'][0]:+.3f}, {p['ci95'][1]:+.3f}] "
                f"({w['wins']} / {w['ties']} / {w['losses']}, {p['p_holm']:.3f}) | "
            )
        else:
            line += "– | "
        line += f"{rm:.2f} | " + ("–" if kl is None else f"{kl:.2f}")
        if kl:
            line += f" | {(rm - ref_rm) / kl:+.2f}"
        print(line)


def explained_variance() -> None:
    for name, path in LOGS.items():
        if not path.is_file():
            print(f"  {name}: no log at {path}")
            continue
        ev = [
            h["val/explained_variance"] for h in json.loads(path.read_text()) if "val/explained_variance" in h
        ]
        print(
            f"  {name}: explained variance per update {[round(x, 2) for x in ev]}, last 4: {sum(ev[-4:]) / 4:.2f}"
        )


def paired_ppo(samples: str, a: str = "ppo_critic", b: str = "ppo") -> None:
    gold: dict = defaultdict(lambda: defaultdict(list))
    for r in read(samples):
        gold[r["model"]][r["prompt_id"]].append(r["scores"]["gold"])
    diffs = [sum(gold[a][k]) / len(gold[a][k]) - sum(gold[b][k]) / len(gold[b][k]) for k in gold[b]]
    print_paired(f"gold, {a} − {b}, paired by prompt", diffs)


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    refusals(str(folder / "samples.jsonl.gz"))
    per_model(json.loads((folder / "metrics.json").read_text()))
    print("PPO critics:")
    explained_variance()
    paired_ppo(str(folder / "samples.jsonl.gz"))
