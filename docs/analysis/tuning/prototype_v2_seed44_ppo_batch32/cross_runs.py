"""Dev runs 14 (PPO with 32 prompts per update) and 15 (PPO with 64-token rollouts) read against run 11's
`kl_coef` 0.5 PPO and best-of-4 and against each other, paired on the same dev prompts (the evaluations share
the reference's samples, checked below).

    python docs/analysis/tuning/prototype_v2_seed44_ppo_batch32/cross_runs.py   # writes cross_runs.txt beside it
"""

import gzip
import json
from pathlib import Path

from rlhf_trl.evaluation.seeds import pooled_test

HERE = Path(__file__).resolve().parent
RUNS = {
    "run 11": HERE.parent / "prototype_v2_seed44_ppo_kl" / "samples.jsonl.gz",
    "run 14": HERE / "samples.jsonl.gz",
    "run 15": HERE.parent / "prototype_v2_seed44_ppo_len64" / "samples.jsonl.gz",
}
SAME = [
    ("run 11", "ppo_kl0.1"),
    ("run 14", "ppo_b8"),
    ("run 15", "ppo_len48"),
]  # one policy, three evaluations
PAIRS = [
    (("run 14", "ppo_b32"), ("run 11", "ppo_kl0.5")),
    (("run 14", "ppo_b32"), ("run 11", "bon4")),
    (("run 15", "ppo_len64"), ("run 11", "ppo_kl0.5")),
    (("run 15", "ppo_len64"), ("run 11", "bon4")),
    (("run 15", "ppo_len64"), ("run 14", "ppo_b32")),
]


def load(path: Path) -> dict[tuple[str, int], dict]:
    with gzip.open(path, "rt") as f:
        return {(r["model"], r["prompt_id"]): r for r in map(json.loads, f)}


def main() -> None:
    runs = {name: load(path) for name, path in RUNS.items()}
    ids = sorted(i for m, i in runs["run 11"] if m == "reference")
    lines = []
    (run0, policy0), *others = SAME
    for run, policy in others:
        for a, b in (("reference", "reference"), (policy0, policy)):
            same = sum(runs[run][(b, i)]["response"] == runs[run0][(a, i)]["response"] for i in ids)
            lines.append(f"{run} {b} vs {run0} {a}: {same}/{len(ids)} identical replies")
    for judge in ("gold", "reward_model"):
        for (run_x, x_name), (run_y, y_name) in PAIRS:
            x = [runs[run_x][(x_name, i)]["scores"][judge] for i in ids]
            y = [runs[run_y][(y_name, i)]["scores"][judge] for i in ids]
            t = pooled_test([p - q for p, q in zip(x, y)], 1, 2000)
            lines.append(
                f"{judge}: {x_name} - {y_name} = {t['mean_diff']:+.3f} [{t['ci95'][0]:+.3f}, {t['ci95'][1]:+.3f}], "
                f"{t['wins']} better / {t['ties']} tied / {t['losses']} worse, sign p {t['p_sign']:.3f}"
            )
    text = "\n".join(lines) + "\n"
    (HERE / "cross_runs.txt").write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
