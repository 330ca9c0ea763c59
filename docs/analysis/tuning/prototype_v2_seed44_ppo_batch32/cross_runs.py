"""Dev run 14: PPO with 32 prompts per update read against run 11's `kl_coef` 0.5 PPO and best-of-4, paired
on the same dev prompts (the three evaluations share the reference's samples, checked below).

    python docs/analysis/tuning/prototype_v2_seed44_ppo_batch32/cross_runs.py   # writes cross_runs.txt beside it
"""

import gzip
import json
from pathlib import Path

from rlhf_trl.evaluation.stats import paired_difference, sign_test

HERE = Path(__file__).resolve().parent
RUN11 = HERE.parent / "prototype_v2_seed44_ppo_kl" / "samples.jsonl.gz"


def load(path: Path) -> dict[tuple[str, int], dict]:
    with gzip.open(path, "rt") as f:
        return {(r["model"], r["prompt_id"]): r for r in map(json.loads, f)}


def main() -> None:
    mine, run11 = load(HERE / "samples.jsonl.gz"), load(RUN11)
    ids = sorted(i for m, i in mine if m == "reference")
    lines = []
    for a, b in (("reference", "reference"), ("ppo_b8", "ppo_kl0.1")):
        same = sum(mine[(a, i)]["response"] == run11[(b, i)]["response"] for i in ids)
        lines.append(f"run 14 {a} vs run 11 {b}: {same}/{len(ids)} identical replies")
    for judge in ("gold", "reward_model"):
        for other in ("ppo_kl0.5", "bon4"):
            x = [mine[("ppo_b32", i)]["scores"][judge] for i in ids]
            y = [run11[(other, i)]["scores"][judge] for i in ids]
            d = paired_difference(x, y)
            wins = sum(p > q for p, q in zip(x, y))
            losses = sum(p < q for p, q in zip(x, y))
            lines.append(
                f"{judge}: ppo_b32 - {other} = {d['mean_diff']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}], "
                f"{wins} better / {len(ids) - wins - losses} tied / {losses} worse, sign p {sign_test(wins, losses):.3f}"
            )
    text = "\n".join(lines) + "\n"
    (HERE / "cross_runs.txt").write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
