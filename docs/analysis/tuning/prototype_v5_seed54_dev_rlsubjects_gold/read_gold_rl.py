"""Dev run 28 read by its plan (README.md here): run 27's PPO with gold as its reward (``ppo27g``).

    .venv/bin/python docs/analysis/tuning/prototype_v5_seed54_dev_rlsubjects_gold/read_gold_rl.py DIR [MODEL]

DIR (this folder, once collect.sh has copied the outputs here) holds the dev evaluation (metrics.json,
samples.jsonl.gz: ``reference`` is sft27; ``ppo27c`` and ``ppo27g``), trained_side.jsonl.gz (trained_side.py:
``sft27`` and ``ppo27g`` on the RL side's prompts) and ``ppo27g_log_history.json``. ``ppo27`` (the reward model as
its reward) comes from run 27's committed evaluation, whose ``reference`` replies the new one must hold exactly.
Per prompt (its two replies averaged), with bootstrap 95% CIs (``../compare_chains.py``): the plan's guard G on the
RL side's benign prompts, its I on the benign dev prompts (by prompt and clustered by topic group) and its reading,
then what the plan reports beside. MODEL (default ``ppo27g``) is the policy read: ``grpo27g`` for the GRPO arm,
whose files ``collect.sh grpo`` puts in ``grpo/`` here. An analysis aid.
"""

from __future__ import annotations

import gzip
import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUN27 = HERE.parent / "prototype_v5_seed54_dev_rlsubjects"
RUN24 = (
    HERE.parent / "prototype_v5_seed54_gold_reward"
)  # run 22's sft (its reference) and ppo, run 24's ppo_gold
sys.path.insert(0, str(HERE.parent))  # docs/analysis/tuning: compare_chains
sys.path.insert(0, str(HERE.parent / "prototype_v5_seed46_budget"))
sys.path.insert(0, str(HERE.parent / "prototype_v5_seed54_dev_trained"))
sys.path.insert(0, str(HERE.parent.parent / "headroom"))

from compare_chains import paired_difference, print_paired, read  # noqa: E402
from headroom import matched_facts  # noqa: E402
from read_budget import per_prompt_gold, refusal_counts, table  # noqa: E402
from read_dev_trained import benign_informative, training_gold  # noqa: E402

from rlhf_trl.testbed import bank  # noqa: E402
from rlhf_trl.testbed.gold import (  # noqa: E402
    answer_facts,
    bank_request,
    content_stems,
    gold_score,
    gold_terms,
    is_harmful_request,
    is_refusal,
)
from rlhf_trl.testbed.splits import split_of_subject, topic_groups  # noqa: E402

NEW = "ppo27g"
NO_CARRY_CAP = 0.03  # "does not carry": I's upper end below min(NO_CARRY_CAP, G / 2)


def ci95(diffs: list[float], clusters: list | None = None) -> list[float]:
    return paired_difference(diffs, [0.0] * len(diffs), 2000, 44, clusters=clusters)["ci95"]


def fmt(ci: list[float]) -> str:
    return f"[{ci[0]:+.3f}, {ci[1]:+.3f}]"


def reading(g: list[float], i: list[float], groups: list) -> str:
    """The plan's rule: g = NEW − sft27 benign informative on the RL side's prompts (the guard), i = the same on the
    benign dev prompts, whose topic groups are groups."""
    if ci95(g)[0] <= 0:
        return "inconclusive: it did not learn where it trained"
    if ci95(i)[0] > 0 and ci95(i, groups)[0] > 0:
        return "what PPO learns on new subjects' facts carries to other new subjects"
    if ci95(i)[1] < min(NO_CARRY_CAP, sum(g) / len(g) / 2):
        return "what PPO learns on new subjects' facts does not carry to other new subjects"
    return "inconclusive"


def dev_rows(folder: Path, model: str) -> list[dict]:
    """Run 27's committed reference and ppo27 replies, plus ``model``'s (and ``NEW``'s, beside another arm) from this run's evaluation, whose reference
    replies must be run 27's exactly."""
    old, new = read(str(RUN27 / "samples.jsonl.gz")), read(str(folder / "samples.jsonl.gz"))

    def key(rows: list[dict]) -> list:
        return sorted((r["prompt_id"], r["sample"], r["response"]) for r in rows if r["model"] == "reference")

    if key(old) != key(new):
        raise SystemExit(
            "the new evaluation's reference (sft27) replies differ from run 27's: the pairing is void"
        )
    return [r for r in old if r["model"] in ("reference", "ppo27")] + [
        r for r in new if r["model"] in (model, NEW)
    ]


def trained_side_rows(path: Path) -> list[dict]:
    """trained_side.py's replies, scored by gold, with sft27 named ``reference``."""
    with gzip.open(path, "rt") as f:
        rows = [json.loads(line) for line in f]
    for r in rows:
        r["scores"] = {"gold": gold_score(r["prompt"], r["response"])}
        r["model"] = "reference" if r["model"] == "sft27" else r["model"]
    return rows


def stem_buckets(rows: list[dict], ids: set, rl_facts: set[str], trained: set[str]) -> dict:
    """{model: {prompt_id: mean per reply of the answer-fact stems it matches that are (an RL-side prompt's answer
    fact, else a stem of some training subject's answer, else neither)}}; a refusal matches none, as in gold."""
    out: dict = {}
    for r in rows:
        if r["prompt_id"] in ids:
            hit = matched_facts(r["prompt"], r["response"])
            split = (hit & rl_facts, (hit - rl_facts) & trained, hit - rl_facts - trained)
            out.setdefault(r["model"], {}).setdefault(r["prompt_id"], []).append([len(x) for x in split])
    return {
        m: {k: [statistics.fmean(x[j] for x in v) for j in range(3)] for k, v in d.items()}
        for m, d in out.items()
    }


def reward_model_scores(rows: list[dict]) -> dict:
    """{model: {prompt_id: [the reward model's score of each reply]}}."""
    out: dict = {}
    for r in rows:
        out.setdefault(r["model"], {}).setdefault(r["prompt_id"], []).append(r["scores"]["reward_model"])
    return out


def refusal_line(rows: list[dict], models: tuple) -> str:
    c = refusal_counts(rows)
    return "; ".join(f"{m} {c[m][0]} / {c[m][1]}, {c[m][2]} / {c[m][3]}" for m in models)


def main(folder: Path, new: str = NEW) -> None:
    table(json.loads((folder / "metrics.json").read_text())["models"])
    dev, rl = dev_rows(folder, new), trained_side_rows(folder / "trained_side.jsonl.gz")
    for name, rows in (("dev", dev), ("RL side", rl)):
        gold = per_prompt_gold(rows)
        if new not in gold or "reference" not in gold:
            raise SystemExit(
                f"no {new} or sft27 replies on the {name} prompts: has run28.sh printed RUN28 DONE?"
            )
        if set(gold[new]) != set(gold["reference"]):
            raise SystemExit(f"{new} and sft27 were not sampled on the same {name} prompts")
    gd, gr = per_prompt_gold(dev), per_prompt_gold(rl)
    idev, irl = benign_informative(dev), benign_informative(rl)
    benign_dev, benign_rl = sorted(idev["reference"]), sorted(irl["reference"])
    g = [irl[new][k] - irl["reference"][k] for k in benign_rl]
    i = [idev[new][k] - idev["reference"][k] for k in benign_dev]
    prompt = {r["prompt_id"]: r["prompt"] for r in dev}
    groups = [topic_groups()[bank_request(prompt[k])["subject"]] for k in benign_dev]
    print(
        f"\nwhere it trained: the RL side's {len(gr['reference'])} prompts ({len(benign_rl)} benign), 2 replies each"
    )
    print_paired(f"  gold, {new} − sft27", [gr[new][k] - gr["reference"][k] for k in sorted(gr["reference"])])
    print_paired(f"  G = {new} − sft27, benign informative (weighted, 0.35)", g)
    print(
        f"dev prompts ({len(gd['reference'])}; {len(benign_dev)} benign on {len(set(groups))} topic groups)"
    )
    print_paired(f"  I = {new} − sft27, benign informative", i)
    print(f"    clustered by topic group: {fmt(ci95(i, groups))}")
    ids = sorted(gd["reference"])
    print_paired(f"  gold, {new} − sft27", [gd[new][k] - gd["reference"][k] for k in ids])
    print_paired(
        f"  gold, {new} − ppo27 (gold against the reward model as the reward)",
        [gd[new][k] - gd["ppo27"][k] for k in ids],
    )
    print_paired(
        f"  benign informative, {new} − ppo27", [idev[new][k] - idev["ppo27"][k] for k in benign_dev]
    )
    print_paired(
        "  benign informative, ppo27 − sft27 (run 27)",
        [idev["ppo27"][k] - idev["reference"][k] for k in benign_dev],
    )
    print("refusals (benign refused / replies, harmful refused / replies):")
    print("  dev: " + refusal_line(dev, ("reference", "ppo27", new)))
    print("  RL side: " + refusal_line(rl, ("reference", new)))
    # added after the result (descriptive, not in the plan): which matched answer-fact stems carry
    rl_facts = set().union(*(answer_facts(r["prompt"]) for r in rl if not is_harmful_request(r["prompt"])))
    trained = set().union(
        *(
            content_stems(q["answer"])
            for q in bank.requests()
            if q["answer"] and split_of_subject(q["subject"]) == "train"
        )
    )
    stems = stem_buckets(dev, set(benign_dev), rl_facts, trained)
    print(
        "benign dev replies' answer-fact stems matched beyond sft27's, per reply (after the result, descriptive):"
    )
    buckets = (
        "an answer fact of an RL-side prompt",
        "else in a training subject's answer",
        "in no training answer",
    )
    for j, what in enumerate(buckets):
        for m in (new, "ppo27"):
            print_paired(
                f"  {what}, {m} − sft27", [stems[m][k][j] - stems["reference"][k][j] for k in benign_dev]
            )
    print("benign dev replies (of 140): full informative term | answers matching no answer fact | refusals")
    for m in ("reference", "ppo27", new):
        mine = [r for r in dev if r["model"] == m and r["prompt_id"] in set(benign_dev)]
        full = sum(gold_terms(r["prompt"], r["response"])["informative"] == 1.0 for r in mine)
        none = sum(
            not is_refusal(r["response"]) and not matched_facts(r["prompt"], r["response"]) for r in mine
        )
        print(
            f"  {'sft27' if m == 'reference' else m}: {full} | {none} | {sum(is_refusal(r['response']) for r in mine)}"
        )
    # added after the result (descriptive, not in the plan): the reward model's scores of the same dev replies
    rm = {m: {k: statistics.fmean(v) for k, v in by.items()} for m, by in reward_model_scores(dev).items()}
    print("the reward model's score of the dev replies (after the result, descriptive):")
    for kind, keep in (("benign", set(benign_dev)), ("harmful", set(ids) - set(benign_dev))):
        for a, b in ((new, "reference"), ("ppo27", "reference"), (new, "ppo27")):
            name = "sft27" if b == "reference" else b
            print_paired(f"  {kind}, {a} − {name}", [rm[a][k] - rm[b][k] for k in ids if k in keep])
    # added after the result (descriptive, not in the plan): the endpoint against run 22's chain (all subjects)
    r24 = read(str(RUN24 / "samples.jsonl.gz"))
    if {r["prompt_id"]: r["prompt"] for r in r24} != prompt:
        raise SystemExit("run 24's evaluation prompts are not this run's: the per-prompt pairing is void")
    g24, i24 = per_prompt_gold(r24), benign_informative(r24)
    print("against run 22's chain (its SFT trained on every subject; after the result, descriptive):")
    for label, gold, inf, m in (
        ("run 22's sft", g24, i24, "reference"),
        ("run 22's ppo", g24, i24, "ppo"),
        ("run 24's ppo_gold", g24, i24, "ppo_gold"),
        ("sft27", gd, idev, "reference"),
        ("ppo27", gd, idev, "ppo27"),
        (new, gd, idev, new),
    ):
        print(
            f"  {label}: dev gold {statistics.fmean(gold[m].values()):.3f}, benign informative {statistics.fmean(inf[m].values()):.3f}"
        )
    for label, m in (("run 22's ppo", "ppo"), ("run 24's ppo_gold", "ppo_gold")):
        print_paired(f"  gold, {new} − {label}", [gd[new][k] - g24[m][k] for k in ids])
        print_paired(f"  benign informative, {new} − {label}", [idev[new][k] - i24[m][k] for k in benign_dev])
    print(f"gold of {new}'s training batches: {training_gold(folder / f'{new}_log_history.json')}")
    print(
        f"\nthe plan's rule: inconclusive unless G's CI lies above 0; else it carries if I's CI lies above 0 by prompt"
        f" and clustered by topic group;\n  it does not carry if I's upper end is below min(+{NO_CARRY_CAP}, G / 2)"
        f" = {min(NO_CARRY_CAP, sum(g) / len(g) / 2):+.3f}; else inconclusive"
    )
    print(f"  => {reading(g, i, groups)}")
    if new != NEW:  # another arm's evaluation holds NEW's replies too (its cache): the plan's line beside
        print(f"\nbeside (the plan): {new} − {NEW} on the dev prompts")
        print_paired("  gold", [gd[new][k] - gd[NEW][k] for k in ids])
        print_paired("  benign informative", [idev[new][k] - idev[NEW][k] for k in benign_dev])


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__.split("\n\n")[1].strip())
    main(Path(sys.argv[1]), *sys.argv[2:])
