"""Dev run 27 read by its plan (README.md here): SFT on part of the training subjects, PPO on the others' prompts.

    .venv/bin/python docs/analysis/tuning/prototype_v5_seed54_dev_rlsubjects/read_rlsubjects.py DIR

DIR (this folder, once collect.sh has copied the outputs here) holds run 27's evaluation (metrics.json,
samples.jsonl.gz: ``reference`` is sft27, ``ppo27`` its PPO) and ``ppo27_log_history.json``; the control arm's
``ppo27c`` replies come from the same evaluation (collect.sh) or, rebuilt (rebuild27c.sh), from
samples_control.jsonl.gz, whose reference replies must equal samples.jsonl.gz's; run 22's evaluation
and PPO log are read from ``../prototype_v5_seed54_dev/``. Per dev prompt (each prompt's two replies averaged):
D27 = ppo27 − sft27, D22 = run 22's ppo − its sft, and the plan's D = D27 − D22, with bootstrap 95% CIs
(``../compare_chains.py``); then the plan's reading, refusals, the benign ``informative`` term, KL, length, and the
reward model's score of the critic-only updates (the policy is still the SFT model there) in both runs. An analysis
aid.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUN22 = HERE.parent / "prototype_v5_seed54_dev"
sys.path.insert(0, str(HERE.parent))  # docs/analysis/tuning: compare_chains
sys.path.insert(0, str(HERE.parent / "prototype_v5_seed46_budget"))
sys.path.insert(0, str(HERE.parent / "prototype_v5_seed54_dev_trained"))

from compare_chains import paired_difference, print_paired, read  # noqa: E402
from read_budget import per_prompt_gold, refusal_counts, table  # noqa: E402
from read_dev_trained import benign_informative  # noqa: E402

HELPS_ABOVE, NO_HELP_BELOW = 0.0, 0.025  # the plan's thresholds on D's CI
CRITIC_ONLY = 4  # updates 1-4 train only the critic (critic_warmup_steps)
CONTROL = "ppo27c"  # the control arm (make_control.py, run27c.sh), when its evaluation is in


def ci95(diffs: list[float]) -> list[float]:
    return paired_difference(diffs, [0.0] * len(diffs), 2000, 44)["ci95"]


def reading(d27: list[float], d: list[float], refs: list[float]) -> str:
    """The plan's rule: d27 = ppo27 − sft27 per prompt, d = d27 − (run 22's ppo − sft) per prompt; "help" is
    checked first, and (amended before any result) is marked confounded when refs = sft27 − run 22's sft has its
    CI below 0 (a weaker reference leaves more room on dev whatever the split)."""
    lo, hi = ci95(d)
    if lo > HELPS_ABOVE and ci95(d27)[0] > 0:
        if ci95(refs)[1] < 0:
            return "separate RL subjects help PPO, confounded: sft27 is below run 22's sft"
        return "separate RL subjects help PPO"
    if hi < NO_HELP_BELOW:
        return f"no help of +{NO_HELP_BELOW} or more: separate RL subjects do not explain PPO's small gain"
    return "inconclusive"


def control_reading(e: list[float]) -> str:
    """The control arm's rule: e = ppo27 − CONTROL per dev prompt (both PPOs from sft27)."""
    lo, hi = ci95(e)
    if lo > 0:
        return "prompts of unseen subjects help PPO (same SFT model, as many prompts, same kinds)"
    if hi < NO_HELP_BELOW:
        return f"no help of +{NO_HELP_BELOW} or more from unseen subjects (against the matched seen ones)"
    return "inconclusive"


def control_rows(folder: Path) -> list[dict]:
    """CONTROL's rows of the rebuilt control's evaluation, which must hold run 27's reference replies exactly."""
    rows = read(str(folder / "samples_control.jsonl.gz"))

    def key(rs: list[dict]) -> list:
        return sorted((r["prompt_id"], r["sample"], r["response"]) for r in rs if r["model"] == "reference")

    if key(rows) != key(read(str(folder / "samples.jsonl.gz"))):
        raise SystemExit("the control's reference (sft27) replies differ from run 27's: the pairing is void")
    return [r for r in rows if r["model"] == CONTROL]


def critic_only_scores(path: Path) -> str:
    log = [e for e in json.loads(path.read_text()) if "objective/scores" in e]
    s = [e["objective/scores"] for e in log[:CRITIC_ONLY]]
    last = [e["objective/scores"] for e in log[-CRITIC_ONLY:]]
    return f"updates 1-{CRITIC_ONLY} {statistics.fmean(s):+.2f}, last {CRITIC_ONLY} {statistics.fmean(last):+.2f}"


def main(folder: Path) -> None:
    rows27, rows22 = read(str(folder / "samples.jsonl.gz")), read(str(RUN22 / "samples.jsonl.gz"))
    prompts27 = {r["prompt_id"]: r["prompt"] for r in rows27}
    prompts22 = {r["prompt_id"]: r["prompt"] for r in rows22}
    if prompts27 != prompts22:
        raise SystemExit("run 27's evaluation prompts are not run 22's: the per-prompt pairing is void")
    table(json.loads((folder / "metrics.json").read_text())["models"])
    if (folder / "samples_control.jsonl.gz").is_file():  # the rebuilt control's own evaluation (README.md)
        rows27 += control_rows(folder)
        print("control's evaluation (metrics_control.json; the same reference replies):", end="")
        table(json.loads((folder / "metrics_control.json").read_text())["models"])
    g27, g22 = per_prompt_gold(rows27), per_prompt_gold(rows22)
    ids = sorted(prompts27)
    d27 = [g27["ppo27"][i] - g27["reference"][i] for i in ids]
    d22 = [g22["ppo"][i] - g22["reference"][i] for i in ids]
    d = [a - b for a, b in zip(d27, d22)]
    print("\ngold, per dev prompt (100; each prompt's two replies averaged):")
    print_paired("  D27 = ppo27 − sft27", d27)
    print_paired("  D22 = run 22's ppo − sft", d22)
    print_paired("  D = D27 − D22 (the plan's)", d)
    refs = [g27["reference"][i] - g22["reference"][i] for i in ids]
    print_paired("  sft27 − run 22's sft (the references)", refs)
    print_paired("  ppo27 − run 22's ppo", [g27["ppo27"][i] - g22["ppo"][i] for i in ids])
    i27, i22 = benign_informative(rows27), benign_informative(rows22)
    benign = sorted(i27["reference"])
    print_paired("  D on benign prompts only", [d[ids.index(i)] for i in benign])
    if CONTROL in g27:
        print(f"control arm ({CONTROL}: PPO from sft27 on SFT-side prompts matched to the RL side's):")
        e = [g27["ppo27"][i] - g27[CONTROL][i] for i in ids]
        print_paired(f"  E = ppo27 − {CONTROL} (the control's reading)", e)
        print_paired(f"  {CONTROL} − sft27", [g27[CONTROL][i] - g27["reference"][i] for i in ids])
        print_paired(
            f"  benign informative, ppo27 − {CONTROL}", [i27["ppo27"][i] - i27[CONTROL][i] for i in benign]
        )
    print("benign informative (weighted, 0.35), per benign dev prompt:")
    print_paired("  ppo27 − sft27", [i27["ppo27"][i] - i27["reference"][i] for i in benign])
    print_paired("  run 22's ppo − sft", [i22["ppo"][i] - i22["reference"][i] for i in benign])
    print("refusals (benign refused / replies, harmful refused / replies):")
    mine = ("reference", "ppo27", CONTROL) if CONTROL in g27 else ("reference", "ppo27")
    for name, rows, models in (
        ("run 27", rows27, mine),
        ("run 22", rows22, ("reference", "ppo")),
    ):
        c = refusal_counts(rows)
        print(f"  {name}: " + "; ".join(f"{m} {c[m][0]} / {c[m][1]}, {c[m][2]} / {c[m][3]}" for m in models))
    print("reward-model score of PPO's training batches (objective/scores):")
    print(f"  run 27 (RL-side prompts): {critic_only_scores(folder / 'ppo27_log_history.json')}")
    print(f"  run 22 (all training prompts): {critic_only_scores(RUN22 / 'ppo_log_history.json')}")
    if (folder / f"{CONTROL}_log_history.json").is_file():
        print(f"  {CONTROL} (SFT-side prompts): {critic_only_scores(folder / f'{CONTROL}_log_history.json')}")
    print(f"\nreading: {reading(d27, d, refs)}")
    if CONTROL in g27:
        print(f"control's reading: {control_reading(e)}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__.split("\n\n")[1].strip())
    main(Path(sys.argv[1]))
