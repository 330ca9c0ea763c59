"""Dev run 16's on-policy DPO read against the other trained policies of seed 44 on the same dev prompts
(runs 10, 11 and 14 share the reference's replies with run 16, checked below) and against the ablation with
the SFT term alone (`sft_on_picks/`, whose reference and on-policy DPO replies are also checked to match run
16's); what its pairs say about the reward model's picks on the training prompts (`pairs_gold.json`, written
by make_pairs.py); then the seed-43 replication (`seed43/`) against its own offline DPO and best-of-4, and
both seeds pooled (each dev prompt's difference averaged over the two seeds first, as `rlhf-trl report --runs`
does in `pooled.md`).

    python docs/analysis/tuning/prototype_v2_seed44_dpo_onpolicy/cross_runs.py   # writes cross_runs.txt beside it
"""

import gzip
import json
from pathlib import Path

from rlhf_trl.evaluation.seeds import pooled_test

HERE = Path(__file__).resolve().parent
RUNS = {
    "run 10": HERE.parent / "prototype_v2_seed44_grpo_budget" / "samples.jsonl.gz",
    "run 11": HERE.parent / "prototype_v2_seed44_ppo_kl" / "samples.jsonl.gz",
    "run 14": HERE.parent / "prototype_v2_seed44_ppo_batch32" / "samples.jsonl.gz",
    "run 16": HERE / "samples.jsonl.gz",
    "ablation": HERE / "sft_on_picks" / "samples.jsonl.gz",
}
X = ("run 16", "dpo_onpolicy")
OTHERS = [
    ("run 16", "dpo_offline"),
    ("run 16", "bon4"),
    ("run 10", "grpo_120"),
    ("run 10", "grpo_30"),
    ("run 14", "ppo_b32"),
    ("run 11", "ppo_kl0.5"),
    ("ablation", "sft_on_picks"),
]


def load(path: Path) -> dict[tuple[str, int], dict]:
    with gzip.open(path, "rt") as f:
        return {(r["model"], r["prompt_id"]): r for r in map(json.loads, f)}


def main() -> None:
    runs = {name: load(path) for name, path in RUNS.items()}
    ids = sorted(i for m, i in runs["run 16"] if m == "reference")
    lines = []
    for run in ("run 10", "run 11", "run 14"):
        same = sum(
            runs[run][("reference", i)]["response"] == runs["run 16"][("reference", i)]["response"]
            for i in ids
        )
        lines.append(f"{run} reference vs run 16 reference: {same}/{len(ids)} identical replies")
    same = sum(
        runs["ablation"][(m, i)]["response"] == runs["run 16"][(m, i)]["response"]
        for m in ("reference", "dpo_onpolicy")
        for i in ids
    )
    lines.append(f"ablation reference and dpo_onpolicy vs run 16's: {same}/{2 * len(ids)} identical replies")
    for judge in ("gold", "reward_model"):
        for run_y, y_name in OTHERS:
            diffs = [
                runs[X[0]][(X[1], i)]["scores"][judge] - runs[run_y][(y_name, i)]["scores"][judge]
                for i in ids
            ]
            lines.append(f"{judge}: {X[1]} - {y_name} ({run_y}) = {compared(diffs)}")
    seed43 = load(HERE / "seed43" / "samples.jsonl.gz")
    for y_name in ("dpo_offline", "bon4"):
        per_seed = [
            [run[("dpo_onpolicy", i)]["scores"]["gold"] - run[(y_name, i)]["scores"]["gold"] for i in ids]
            for run in (runs["run 16"], seed43)
        ]
        pooled = [(a + b) / 2 for a, b in zip(*per_seed)]
        for label, diffs in (("seed 43", per_seed[1]), ("seeds 43+44 pooled", pooled)):
            lines.append(f"gold, {label}: dpo_onpolicy - {y_name} = {compared(diffs)}")
    for label, folder in (("seed 44", HERE), ("seed 43", HERE / "seed43")):
        lines += pair_lines(label, json.loads((folder / "pairs_gold.json").read_text())["pairs"])
    text = "\n".join(lines) + "\n"
    (HERE / "cross_runs.txt").write_text(text)
    print(text, end="")


def compared(diffs: list[float]) -> str:
    """Per-prompt differences as `rlhf-trl report --runs` tests them: mean [bootstrap CI], counts, sign test."""
    t = pooled_test(diffs, 1, 2000)
    return (
        f"{t['mean_diff']:+.3f} [{t['ci95'][0]:+.3f}, {t['ci95'][1]:+.3f}], {t['wins']} better / {t['ties']} tied / "
        f"{t['losses']} worse, sign p {t['p_sign']:.3f}"
    )


def pair_lines(label: str, pairs: list[dict]) -> list[str]:
    lines = []
    n = len(pairs)
    gold_pick = sum(max(p["gold"]) for p in pairs) / n
    rm_pick = sum(p["chosen_gold"] for p in pairs) / n
    first = sum(p["gold"][0] for p in pairs) / n
    lines.append(
        f"{label}, training prompts ({n}): gold of the first reply {first:.3f}, of the reward model's pick of 4 {rm_pick:.3f}, "
        f"of the gold's own pick {gold_pick:.3f}, of the lowest-scored (rejected) "
        f"{sum(p['rejected_gold'] for p in pairs) / n:.3f}"
    )
    agree = sum(p["chosen_gold"] > p["rejected_gold"] for p in pairs)
    ties = sum(p["chosen_gold"] == p["rejected_gold"] for p in pairs)
    lines.append(
        f"{label}: gold orders the pair as the reward model: {agree} / tied {ties} / reversed {n - agree - ties}"
    )
    return lines


if __name__ == "__main__":
    main()
