"""Dev run 26 read by its plan (README.md here): PPO with gold as its reward, trained on half A of the dev prompts.

    .venv/bin/python docs/analysis/tuning/prototype_v5_seed54_dev_transfer/read_transfer.py DIR

DIR (this folder, once collect.sh has copied the outputs here) holds the evaluation's metrics.json and
samples.jsonl.gz (runs 22-25's models and ppo_gold_devA); ``halves.json`` (make_data.py) says which dev prompts are
in half A (trained on) and B (held out). Checks that the reference's and run 22's methods' replies are run 22's
committed ones, prints the per-model table, then per half and model the gold and the benign informative term against
the reference, refusals, KL and length, and the plan's reading. An analysis aid.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # docs/analysis/tuning: compare_chains
sys.path.insert(0, str(HERE.parent / "prototype_v5_seed46_budget"))
sys.path.insert(0, str(HERE.parent / "prototype_v5_seed54_gold_pairs"))
sys.path.insert(0, str(HERE.parent / "prototype_v5_seed54_dev_trained"))

from compare_chains import paired_difference, print_paired, read  # noqa: E402
from read_budget import per_prompt_gold, table  # noqa: E402
from read_dev_trained import benign_informative, training_gold  # noqa: E402
from read_gold_pairs import check_run22_samples  # noqa: E402

from rlhf_trl.testbed.gold import is_harmful_request, is_refusal  # noqa: E402

NEW = "ppo_gold_devA"
OTHERS = (
    "ppo_gold",
    "ppo_gold_dev",
)  # run 24: trained on the training subjects; run 25: on all 100 dev prompts
NO_CARRY_BELOW = 0.03


def reading(gold_a: list[float], informative_b: list[float]) -> str:
    """The plan's rule: gold_a = NEW − reference on half A, informative_b = NEW − reference on B's benign prompts."""
    if paired_difference(gold_a, [0.0] * len(gold_a), 2000, 44)["ci95"][0] <= 0:
        return "inconclusive: it did not learn where it trained"
    ci = paired_difference(informative_b, [0.0] * len(informative_b), 2000, 44)["ci95"]
    if ci[0] > 0:
        return "what PPO learned on half A carries to half B"
    if ci[1] < NO_CARRY_BELOW:
        return "what PPO learned on half A does not carry to half B"
    return "inconclusive"


def per_half(rows: list[dict], ids: set[int], model: str) -> str:
    mine = [r for r in rows if r["model"] == model and r["prompt_id"] in ids]
    benign = [r for r in mine if not is_harmful_request(r["prompt"])]
    harmful = [r for r in mine if is_harmful_request(r["prompt"])]
    kl = statistics.fmean(r["kl"] for r in mine) if model != "reference" else 0.0
    return (
        f"refused benign {sum(is_refusal(r['response']) for r in benign)}/{len(benign)}, "
        f"harmful {sum(is_refusal(r['response']) for r in harmful)}/{len(harmful)}; "
        f"KL {kl:.2f}; length {statistics.fmean(r['length'] for r in mine):.1f}"
    )


def main(folder: Path) -> None:
    models = json.loads((folder / "metrics.json").read_text())["models"]
    halves = json.loads((HERE / "halves.json").read_text())
    rows = read(str(folder / "samples.jsonl.gz"))
    check_run22_samples(rows, ("reference", "ppo", "grpo", "dpo"))
    table(models)
    gold = per_prompt_gold(rows)
    inf = benign_informative(rows)
    if NEW not in gold:
        raise SystemExit(f"{NEW} was not evaluated")
    found = {}
    for half in ("A", "B"):
        ids = set(halves[half])
        print(f"\nhalf {half}: {len(ids)} prompts ({', '.join(halves['groups'][half])})")
        print(
            f"  reference: gold {statistics.fmean(gold['reference'][k] for k in ids):.3f}; "
            + per_half(rows, ids, "reference")
        )
        for m in (NEW, *OTHERS):
            g = [gold[m][k] - gold["reference"][k] for k in sorted(ids)]
            i = [inf[m][k] - inf["reference"][k] for k in sorted(ids) if k in inf[m]]
            print(f"  {m}: gold {statistics.fmean(gold[m][k] for k in ids):.3f}; " + per_half(rows, ids, m))
            print_paired(f"    gold, {m} − reference", g)
            print_paired(f"    informative (benign, {len(i)} prompts), {m} − reference", i)
            found[half, m] = (g, i)
        print_paired(
            f"    gold, {NEW} − ppo_gold",
            [gold[NEW][k] - gold["ppo_gold"][k] for k in sorted(ids)],
        )
    print(f"\n  training batches' gold, {NEW}: {training_gold(folder / f'{NEW}_log_history.json')}")
    print(
        f"\nreading (dev run 26's plan, as amended): inconclusive if {NEW} − reference in half A's gold has\n"
        f"its CI not above 0; else, with I_B = {NEW} − reference in half B's benign informative term, it\n"
        f"carries if I_B's CI lies above 0, it does not carry if I_B's CI upper end < +{NO_CARRY_BELOW}, else "
        "inconclusive"
    )
    print("  =>", reading(found["A", NEW][0], found["B", NEW][1]))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__.split("\n\n")[1].strip())
    main(Path(sys.argv[1]))
