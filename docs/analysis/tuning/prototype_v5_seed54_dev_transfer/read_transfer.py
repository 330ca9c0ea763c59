"""Dev run 26 read by its plan (README.md here): PPO with gold as its reward, trained on half A of the dev prompts.

    .venv/bin/python docs/analysis/tuning/prototype_v5_seed54_dev_transfer/read_transfer.py DIR

DIR (this folder, once collect.sh has copied the outputs here) holds the evaluation's metrics.json and
samples.jsonl.gz (runs 22-25's models and ppo_gold_devA); ``halves.json`` (make_data.py) says which dev prompts are
in half A (trained on) and B (held out). Checks that the reference's and run 22's methods' replies are run 22's
committed ones, prints the per-model table, then per half and model the gold and the benign informative term against
the reference, refusals, KL and length, and the plan's reading (as amended before any result: the read prompts are
half B's benign prompts none of whose turns is on an A subject, ``B_read``; "carries" needs the CI above 0 by prompt
and clustered by topic group). Beside it: the same over all of B's benign prompts, ``ppo_gold_devA`` − ``ppo_gold``,
and the matched answer-fact stems per reply split into stems shared with half A's answers and B's own. An analysis
aid.
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
sys.path.insert(0, str(HERE.parents[1] / "headroom"))  # matched_facts

from compare_chains import paired_difference, print_paired, read  # noqa: E402
from headroom import matched_facts  # noqa: E402
from read_budget import per_prompt_gold, table  # noqa: E402
from read_dev_trained import benign_informative, training_gold  # noqa: E402
from read_gold_pairs import check_run22_samples  # noqa: E402

from rlhf_trl.testbed.gold import answer_facts, bank_request, is_harmful_request, is_refusal  # noqa: E402
from rlhf_trl.testbed.splits import topic_groups  # noqa: E402

NEW = "ppo_gold_devA"
OTHERS = (
    "ppo_gold",
    "ppo_gold_dev",
)  # run 24: trained on the training subjects; run 25: on all 100 dev prompts
NO_CARRY_BELOW = 0.03


def ci95(diffs: list[float], clusters: list | None = None) -> list[float]:
    return paired_difference(diffs, [0.0] * len(diffs), 2000, 44, clusters=clusters)["ci95"]


def fmt(ci: list[float]) -> str:
    return f"[{ci[0]:+.3f}, {ci[1]:+.3f}]"


def reading(gold_a: list[float], informative_b: list[float], groups_b: list[int]) -> str:
    """The plan's rule (amended): gold_a = NEW − reference on half A's prompts; informative_b = NEW − reference
    on B_read's benign prompts, whose topic groups are groups_b."""
    if ci95(gold_a)[0] <= 0:
        return "inconclusive: it did not learn where it trained"
    by_prompt, by_group = ci95(informative_b), ci95(informative_b, groups_b)
    if by_prompt[0] > 0 and by_group[0] > 0:
        return "what PPO learned on half A carries to half B"
    if by_prompt[1] < NO_CARRY_BELOW:
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


def matched_stems(rows: list[dict], ids: set[int], shared: set[str]) -> dict:
    """{model: {prompt_id: (answer-fact stems matched per reply that are in ``shared``, those that are not)}},
    means over the prompt's replies; a refusal matches none (gold scores its informative term 0)."""
    out: dict = {}
    for r in rows:
        if r["prompt_id"] not in ids or is_harmful_request(r["prompt"]):
            continue
        hit = matched_facts(r["prompt"], r["response"])
        out.setdefault(r["model"], {}).setdefault(r["prompt_id"], []).append(
            (len(hit & shared), len(hit - shared))
        )
    return {
        m: {k: tuple(statistics.fmean(x[j] for x in v) for j in (0, 1)) for k, v in d.items()}
        for m, d in out.items()
    }


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
    if not set(gold[NEW]) == set(gold["reference"]) == set(range(100)):
        raise SystemExit(f"{NEW} and the reference were not evaluated on the same 100 dev prompts")
    prompt = {r["prompt_id"]: r["prompt"] for r in rows}
    group = {k: topic_groups()[bank_request(p)["subject"]] for k, p in prompt.items()}
    found = {}
    for half in ("A", "B", "B_read"):
        ids = set(halves[half])
        names = ", ".join(halves["groups"][half[0]])
        print(
            f"\nhalf {half}: {len(ids)} prompts"
            + (f" ({names})" if half != "B_read" else " (B's, no A turn)")
        )
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
        print_paired(f"    gold, {NEW} − ppo_gold", [gold[NEW][k] - gold["ppo_gold"][k] for k in sorted(ids)])
        print_paired(
            f"    informative (benign), {NEW} − ppo_gold",
            [inf[NEW][k] - inf["ppo_gold"][k] for k in sorted(ids) if k in inf[NEW]],
        )
    read_ids = sorted(k for k in halves["B_read"] if k in inf[NEW])
    groups_b = [group[k] for k in read_ids]
    informative_b = found["B_read", NEW][1]
    print(
        f"\nI_B = {NEW} − reference, informative on B_read's {len(read_ids)} benign prompts ({len(set(groups_b))} "
        f"topic groups): CI by prompt {fmt(ci95(informative_b))}, clustered by group {fmt(ci95(informative_b, groups_b))}"
    )
    shared = set().union(*(answer_facts(prompt[k]) or set() for k in halves["A_train"]))
    stems = matched_stems(rows, set(read_ids), shared)
    print(
        "matched answer-fact stems per reply on those prompts, model − reference: shared with A_train's answers | B's own"
    )
    for m in (NEW, *OTHERS):
        for j, label in ((0, "shared with A"), (1, "B's own")):
            print_paired(f"  {m}, {label}", [stems[m][k][j] - stems["reference"][k][j] for k in read_ids])
    print(f"\n  training batches' gold, {NEW}: {training_gold(folder / f'{NEW}_log_history.json')}")
    print(
        f"\nreading (dev run 26's plan, as amended): inconclusive if {NEW} − reference in half A's gold has\n"
        f"its CI not above 0; else it carries if I_B's CI lies above 0 by prompt and clustered by topic group;\n"
        f"it does not carry if I_B's CI (by prompt) has its upper end < +{NO_CARRY_BELOW}; else inconclusive"
    )
    print("  =>", reading(found["A", NEW][0], informative_b, groups_b))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__.split("\n\n")[1].strip())
    main(Path(sys.argv[1]))
