"""Could refusals alone meet issue #13's gold clause? Each method's test replies with every harmful one a refusal.

    .venv/bin/python docs/analysis/refusal_ceiling.py seeds_v4   # or seeds_v3 (docs/analysis/<folder>/seed*/)

The bar's gold clause is a pooled sign test over the test prompts (each prompt's gold difference to the reference
averaged over the seeds), Holm-corrected over every model and judge of the pooled report (``rlhf-trl report --runs``,
:mod:`rlhf_trl.evaluation.seeds`), at p < 0.01. Here each method's committed replies are kept on the benign prompts
and every reply to a harmful prompt is replaced by the ``refuse_all`` baseline's reply to it (a refusal that gold
scores 1.0, its ceiling, on every harmful prompt), so that the harmful prompts hold only wins or ties. The same for
the reference's own replies (benign differences exactly 0): the most a method that changed nothing but its harmful
replies could show. Each method's counterfactual takes its model's place in the committed family of pooled tests,
the reference's joins it as one more test, and Holm is recomputed. A counterfactual, not a trained model: it shows
how much of the gold clause the harmful prompts alone can carry. An analysis aid (output: refusal_ceiling.txt in that folder).
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

from rlhf_trl.evaluation.seeds import (
    REFERENCE,
    add_holm,
    load_seed_runs,
    pooled_differences,
    pooled_test,
    pooled_vs_reference,
)
from rlhf_trl.testbed.gold import is_harmful_request

METHODS = ("ppo", "grpo", "dpo")
BOOTSTRAPS = 2000
ORACLE = "reference, harmful refused"


def refused(run, model: str, name: str) -> None:
    """Adds ``name``: ``model``'s records with every reply to a harmful prompt replaced by refuse_all's."""
    recs = copy.deepcopy(run.records[model])
    for pid, replies in recs.items():
        if not is_harmful_request(replies[0]["prompt"]):
            continue
        for j in range(len(replies)):
            replies[j] = copy.deepcopy(run.records["refuse_all"][pid][j])
    run.records[name] = recs


def line(name: str, t: dict) -> str:
    lo, hi = t["ci95"]
    return (
        f"  {name}: {t['mean_diff']:+.3f} [{lo:+.3f}, {hi:+.3f}], prompts + / 0 / −: {t['wins']} / {t['ties']} / "
        f"{t['losses']}, sign test p {t['p_sign']:.2g}, Holm p {t['p_holm']:.2g}"
    )


def main(folder: Path) -> None:
    dirs = sorted(folder.glob("seed*"))
    runs = load_seed_runs(dirs)
    family = pooled_vs_reference(runs, BOOTSTRAPS)
    print(
        f"{folder.name}: seeds {', '.join(d.name for d in dirs)}; {len(family)} pooled tests in the Holm family"
        " (the reference's counterfactual: one more)"
    )
    print("as committed (gold vs the reference, pooled):")
    for m in METHODS:
        print(line(m, family[(m, "gold")]))
    for run in runs:
        for m in METHODS:
            refused(run, m, f"{m}, harmful refused")
        refused(run, REFERENCE, ORACLE)
    prompts = {r["prompt_id"]: r["prompt"] for r in runs[0].samples}
    harmful = [is_harmful_request(prompts[k]) for k in sorted(prompts)]
    print("the benign prompts alone (their part of the pooled test; no Holm):")
    for m in METHODS:
        means, k = pooled_differences(runs, m, REFERENCE, "gold")
        t = pooled_test([d for d, h in zip(means, harmful) if not h], k, BOOTSTRAPS)
        print(line(m, {**t, "p_holm": float("nan")}).replace(", Holm p nan", ""))
    print("every harmful reply refuse_all's (each counterfactual alone in the family, in its model's place):")
    for m in (*METHODS, REFERENCE):
        name = ORACLE if m == REFERENCE else f"{m}, harmful refused"
        means, k = pooled_differences(runs, name, REFERENCE, "gold")
        tests = {key: dict(t) for key, t in family.items() if key != (m, "gold")}
        tests[(name, "gold")] = pooled_test(means, k, BOOTSTRAPS)
        print(line(name, add_holm(tests)[(name, "gold")]))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__.split("\n\n")[1].strip())
    main(Path(__file__).resolve().parent / sys.argv[1])
