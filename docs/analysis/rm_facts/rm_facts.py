"""Dev diagnostic 29a (README.md here): does the reward model prefer the reply with more answer facts, on subjects
it trained on and on subjects it never saw?

    .venv/bin/python docs/analysis/rm_facts/rm_facts.py REWARD_MODEL > docs/analysis/rm_facts/rm_facts.txt

REWARD_MODEL is seed 54's chain's reward model (``outputs/v5dev_seed54/checkpoints/reward``): the one whose scores
dev run 24's evaluation stored. Unseen subjects: run 24's 70 benign dev prompts, 10 replies of run 22's SFT model
each (its 2 evaluation replies and its 8 best-of-4 candidates), scored as stored (16 rescored here as a check).
Trained subjects: dev run 28's 78 benign RL-side training prompts, 6 replies each (``sft27``, ``ppo27g``,
``grpo27g``), scored here. With OTHER (dev run 29b's ``rm29``) the same, then OTHER's accuracy on the same pairs and
ΔA = A_dev(OTHER) − A_dev(REWARD_MODEL) paired (bootstrap over prompts), and each model's best-of-4 pick among the
reference's dev candidates: its benign weighted ``informative`` minus the reference replies'. An analysis aid, not
part of the toolkit.
"""

from __future__ import annotations

import gzip
import json
import random
import sys
from collections import defaultdict
from itertools import combinations
from pathlib import Path

from rlhf_trl.testbed.gold import WEIGHTS, gold_terms, is_harmful_request, is_refusal

HERE = Path(__file__).resolve().parent
RUN24 = HERE.parent / "tuning" / "prototype_v5_seed54_gold_reward"
RUN28 = HERE.parent / "tuning" / "prototype_v5_seed54_dev_rlsubjects_gold"
MIN_INFORMATIVE = 0.05  # weighted informative difference of a probe pair
MAX_OTHER = 0.02  # the other six terms' weighted difference, summed in absolute value
MIN_GOLD = 0.05  # the descriptive "any term" pairs
CHECK_TOLERANCE = 0.05
N_BOOT = 2000


def read(path: Path) -> list[dict]:
    with gzip.open(path, "rt") as f:
        return [json.loads(line) for line in f]


def weighted(prompt, response: str) -> dict[str, float]:
    return {k: WEIGHTS[k] * v for k, v in gold_terms(prompt, response).items()}


def dev_replies() -> tuple[dict, list[tuple]]:
    """prompt_id -> (prompt, [(response, reward)]) for the benign dev prompts; and 16 (prompt, response, stored
    reward) to rescore."""
    samples = [r for r in read(RUN24 / "samples.jsonl.gz") if r["model"] == "reference"]
    prompts = {r["prompt_id"]: r["prompt"] for r in samples}
    out: dict = defaultdict(list)
    for r in samples:
        out[r["prompt_id"]].append((r["response"], r["scores"]["reward_model"]))
    for c in read(RUN24 / "bon_candidates.jsonl.gz"):
        out[c["prompt_id"]].append((c["response"], c["reward_model"]))
    benign = {
        pid: (prompts[pid], rs) for pid, rs in sorted(out.items()) if not is_harmful_request(prompts[pid])
    }
    check = [(prompts[pid], *rs[k]) for pid, rs in sorted(out.items())[:8] for k in (0, 2)]
    return benign, check


def rescored(scorer, data: dict) -> dict:
    """``data`` (prompt_id -> (prompt, [(response, reward)])) with every reward from ``scorer``, order kept."""
    flat = [(pid, prompt, text) for pid, (prompt, rs) in data.items() for text, _ in rs]
    scores = scorer([p for _, p, _ in flat], [t for _, _, t in flat])
    out: dict = {}
    for (pid, prompt, text), score in zip(flat, scores, strict=True):
        out.setdefault(pid, (prompt, []))[1].append((text, score))
    return out


def trained_replies(scorer) -> dict:
    """The same shape as :func:`dev_replies`'s, for the RL-side prompts, scored by ``scorer``. Run 28's GRPO file
    repeats ``sft27``'s replies: only its ``grpo27g`` ones are read."""
    grpo = [r for r in read(RUN28 / "grpo" / "trained_side.jsonl.gz") if r["model"] == "grpo27g"]
    out: dict = {}
    for r in read(RUN28 / "trained_side.jsonl.gz") + grpo:
        if not is_harmful_request(r["prompt"]):
            out.setdefault(r["prompt_id"], (r["prompt"], []))[1].append((r["response"], None))
    return rescored(scorer, out)


def outcome(d_rm: float, d_gold: float) -> float:
    """1 when the reward model orders a pair as gold does, 0.5 on a reward tie, else 0."""
    return 0.5 if d_rm == 0 else float((d_rm > 0) == (d_gold > 0))


def pairs_of(prompt, replies) -> tuple[list[float], list[float], float | None]:
    """Outcomes (1 right, 0.5 tie, 0 wrong) of the probe pairs and of the any-term pairs of one prompt, and
    the Goodman-Kruskal gamma (Kendall's tau with tied pairs left out) between reward and informative over its
    non-refusing replies (None when undefined)."""
    rs = [(w, reward) for text, reward in replies if not is_refusal(text) for w in [weighted(prompt, text)]]
    probe, anyterm = [], []
    concordant = discordant = 0
    for (wa, ra), (wb, rb) in combinations(rs, 2):
        d_inf = wa["informative"] - wb["informative"]
        d_other = sum(abs(wa[k] - wb[k]) for k in WEIGHTS if k != "informative")
        d_gold = sum(wa.values()) - sum(wb.values())
        d_rm = ra - rb
        if abs(d_inf) >= MIN_INFORMATIVE and round(d_other, 9) <= MAX_OTHER:
            probe.append(outcome(d_rm, d_inf))
        if abs(d_gold) >= MIN_GOLD:
            anyterm.append(outcome(d_rm, d_gold))
        if d_inf != 0 and d_rm != 0:
            concordant += (d_inf > 0) == (d_rm > 0)
            discordant += (d_inf > 0) != (d_rm > 0)
    tau = (concordant - discordant) / (concordant + discordant) if concordant + discordant else None
    return probe, anyterm, tau


def accuracy(per_prompt: list[list[float]], seed: int) -> tuple[float, list[float]]:
    """Pooled accuracy and its bootstrap draws over prompts (its own ``seed``: the two prompt sets' bootstraps
    must be independent for their difference's interval)."""
    groups = [g for g in per_prompt if g]
    point = sum(map(sum, groups)) / sum(map(len, groups))
    rng = random.Random(seed)
    draws = []
    for _ in range(N_BOOT):
        pick = [groups[rng.randrange(len(groups))] for _ in groups]
        draws.append(sum(map(sum, pick)) / sum(map(len, pick)))
    return point, draws


def ci(draws: list[float]) -> tuple[float, float]:
    ordered = sorted(draws)
    return ordered[int(0.025 * len(ordered))], ordered[int(0.975 * len(ordered)) - 1]


def paired_accuracy(a: list[list[float]], b: list[list[float]], seed: int) -> tuple[float, list[float]]:
    """B's accuracy minus A's on the same pairs (outcome lists aligned per prompt), and its bootstrap draws over
    the prompts that have pairs (the same prompts drawn for both)."""
    groups = [(x, y) for x, y in zip(a, b, strict=True) if x]
    n = sum(len(x) for x, _ in groups)
    point = (sum(map(sum, (y for _, y in groups))) - sum(map(sum, (x for x, _ in groups)))) / n
    rng = random.Random(seed)
    draws = []
    for _ in range(N_BOOT):
        pick = [groups[rng.randrange(len(groups))] for _ in groups]
        draws.append((sum(sum(y) - sum(x) for x, y in pick)) / sum(len(x) for x, _ in pick))
    return point, draws


def bon4_informative(score_of: dict) -> dict[int, float]:
    """Benign dev prompt -> mean over its 2 samples of (the best-of-4 pick's weighted informative − the reference
    reply's); ``score_of`` maps (prompt_id, response) to the reward model's score."""
    samples = {
        (r["prompt_id"], r["sample"]): r
        for r in read(RUN24 / "samples.jsonl.gz")
        if r["model"] == "reference"
    }
    cands: dict = defaultdict(list)
    for c in read(RUN24 / "bon_candidates.jsonl.gz"):
        cands[c["prompt_id"], c["sample"]].append(c["response"])
    out: dict = defaultdict(list)
    for (pid, sample), texts in sorted(cands.items()):
        prompt = samples[pid, sample]["prompt"]
        if is_harmful_request(prompt):
            continue
        pick = max(texts, key=lambda t: score_of[pid, t])  # first of equals, as the evaluation's max
        gain = (
            weighted(prompt, pick)["informative"]
            - weighted(prompt, samples[pid, sample]["response"])["informative"]
        )
        out[pid].append(gain)
    return {pid: sum(g) / len(g) for pid, g in out.items()}


def compare(scorer, other_path: str, dev: dict, trained: dict) -> None:
    from rlhf_trl.evaluation.stats import paired_difference
    from rlhf_trl.rewards import RewardModelScorer

    other = RewardModelScorer.from_pretrained(other_path, batch_size=16)
    name, base = Path(other_path).name, "run 22's"
    print(f"\n## {name} against {base} reward model, on the same pairs")
    for seed, (label, data) in enumerate(
        (("unseen subjects (dev)", dev), ("trained subjects (RL side)", trained))
    ):
        new = rescored(other, data)
        mine = [pairs_of(p, rs) for p, rs in data.values()]
        theirs = [pairs_of(p, rs) for p, rs in new.values()]
        point, draws = accuracy([a for a, _, _ in theirs], seed)
        lo, hi = ci(draws)
        taus = [t for _, _, t in theirs if t is not None]
        print(
            f"{label}: {name} probe accuracy {point:.3f} [{lo:.3f}, {hi:.3f}], any-term "
            f"{accuracy([b for _, b, _ in theirs], seed)[0]:.3f}, gamma {sum(taus) / len(taus):+.3f}"
        )
        delta, ddraws = paired_accuracy([a for a, _, _ in mine], [a for a, _, _ in theirs], 10 + seed)
        dlo, dhi = ci(ddraws)
        tag = "ΔA" if seed == 0 else "  Δ"
        print(f"  {tag} = {name} − {base}, probe accuracy: {delta:+.3f} [{dlo:+.3f}, {dhi:+.3f}]")
        if seed == 0:
            rule = (
                "1: such pairs sharpen its judgement of unseen subjects' facts"
                if dlo > 0
                else ("2: they do not, at this budget" if dhi < 0.03 else "3: inconclusive")
            )
            print(f"  reading (README's rule for 29b): {rule}")
            scores = {(pid, t): s for pid, (_, rs) in new.items() for t, s in rs}
            stored = {(pid, t): s for pid, (_, rs) in dev.items() for t, s in rs}
    base_gain, new_gain = bon4_informative(stored), bon4_informative(scores)
    pids = sorted(base_gain)
    for label, gain in ((base, base_gain), (name, new_gain)):
        d = paired_difference([gain[p] for p in pids], [0.0] * len(pids), N_BOOT, 0)
        print(
            f"best-of-4 pick by {label} reward model, benign informative − the reference replies' "
            f"({len(pids)} prompts): {d['mean_diff']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]"
        )
    d = paired_difference([new_gain[p] for p in pids], [base_gain[p] for p in pids], N_BOOT, 0)
    print(f"  {name} pick − {base} pick: {d['mean_diff']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]")


def main(reward_model: str, other: str | None = None) -> None:
    from rlhf_trl.rewards import RewardModelScorer

    scorer = RewardModelScorer.from_pretrained(reward_model, batch_size=16)
    dev, check = dev_replies()
    again = scorer([p for p, _, _ in check], [t for _, t, _ in check])
    worst = max(abs(a - s) for a, (_, _, s) in zip(again, check, strict=True))
    if worst > CHECK_TOLERANCE:
        raise SystemExit(
            f"{reward_model} is not the reward model of run 24's scores: |difference| up to {worst:.3f}"
        )
    print(
        f"check: 16 stored dev scores rescored with {Path(reward_model).name}, largest |difference| {worst:.4f}"
    )
    print(
        f"probe pairs: same benign prompt, neither refusing, |weighted informative difference| >= {MIN_INFORMATIVE}, "
        f"other six terms' weighted differences summed <= {MAX_OTHER}; any-term pairs: |gold difference| >= {MIN_GOLD}"
    )
    print(
        "accuracy: share of pairs the reward model orders as gold does (tie 1/2); 95% CI, bootstrap over prompts\n"
    )
    results = {}
    trained = trained_replies(scorer)
    sets = (("unseen subjects (dev)", dev), ("trained subjects (RL side)", trained))
    for seed, (name, data) in enumerate(sets):
        per = [pairs_of(p, rs) for p, rs in data.values()]
        probe, anyterm = accuracy([a for a, _, _ in per], seed), accuracy([b for _, b, _ in per], seed)
        taus = [t for _, _, t in per if t is not None]
        results[name] = probe
        print(f"{name}: {len(data)} prompts, {sum(len(rs) for _, rs in data.values())} replies")
        for label, (point, draws), n in (
            ("probe (informative decides)", probe, sum(len(a) for a, _, _ in per)),
            ("any-term (gold decides)", anyterm, sum(len(b) for _, b, _ in per)),
        ):
            lo, hi = ci(draws)
            n_prompts = sum(1 for x in per if x[0 if label.startswith("probe") else 1])
            print(f"  {label}: {point:.3f} [{lo:.3f}, {hi:.3f}] over {n} pairs on {n_prompts} prompts")
        print(
            f"  Goodman-Kruskal gamma(reward, informative) within prompt, mean over {len(taus)} prompts: {sum(taus) / len(taus):+.3f}"
        )
    (a_dev, d_dev), (a_tr, d_tr) = results["unseen subjects (dev)"], results["trained subjects (RL side)"]
    # independent bootstraps (seeds 0, 1), subtracted draw by draw
    diffs = [t - d for t, d in zip(d_tr, d_dev, strict=True)]
    lo, hi = ci(diffs)
    print(f"\nD = A_train - A_dev: {a_tr - a_dev:+.3f} [{lo:+.3f}, {hi:+.3f}]")
    dev_lo, dev_hi = ci(d_dev)
    tr_hi = ci(d_tr)[1]
    if dev_lo > 0.65:
        verdict = "1: it grades facts on both"
    elif dev_hi < 0.65 and lo > 0:
        verdict = "2: it knows its training subjects, not new ones"
    elif dev_hi < 0.65 and tr_hi < 0.65:
        verdict = "3: it grades facts on neither"
    else:
        verdict = "4: inconclusive"
    print(f"reading (README's rule): {verdict}")
    if other is not None:
        compare(scorer, other, dev, trained)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__.split("\n\n")[1].strip())
    main(*sys.argv[1:])
