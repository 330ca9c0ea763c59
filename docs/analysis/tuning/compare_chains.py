"""Two evaluations of the same prompts, side by side: refusals per kind of request, and each model's gold paired
across the two.

    .venv/bin/python docs/analysis/tuning/compare_chains.py SAMPLES_A.jsonl.gz SAMPLES_B.jsonl.gz

For each evaluation and model: refusals (``is_refusal``) of advice requests, of the other benign requests, of
all benign ones, the rate at the test prompts' mix of kinds (advice and other-benign rates weighted 8 : 62, as
among the 70 benign test prompts) and of harmful requests; then the reward model's mean score of refusals and
of answers on benign prompts, and the same for the benign subject refused most often. Last, for every model in both, the gold difference A − B paired by prompt (mean of
each prompt's replies; bootstrap 95% CI and exact sign test over prompts). Both evaluations must have sampled
the same prompts in the same order. Dev run 13 (docs/analysis/tuning/prototype_v2_seed44_advice_x3_chain/,
output compare_chains.txt there). An analysis aid, not part of the toolkit.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections import defaultdict

from rlhf_trl.evaluation.baselines import TRIVIAL
from rlhf_trl.evaluation.stats import paired_difference, sign_test
from rlhf_trl.testbed.gold import bank_request, is_harmful_request, is_refusal

TEST_ADVICE, TEST_BENIGN = 8, 70  # advice requests among the benign test prompts
# trivial baselines (rules, no model; refuse_all alone would hold most refusals) and best-of-n: not in the
# reward-model summary of refusals and answers below
BASELINES = set(TRIVIAL) | {f"bon{n}" for n in (4, 16)}


def read(path: str) -> list[dict]:
    with gzip.open(path, "rt") as f:
        return [json.loads(line) for line in f]


def kind(prompt) -> str:
    if is_harmful_request(prompt):
        return "harmful"
    return "advice" if bank_request(prompt)["kind"] == "advice" else "other"


def refusals(path: str) -> None:
    counts: dict = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    rm: dict = defaultdict(list)
    by_subject: dict = defaultdict(lambda: defaultdict(list))  # benign subject -> refused? -> RM scores
    for r in read(path):
        k, refused = kind(r["prompt"]), is_refusal(r["response"])
        counts[r["model"]][k][0] += refused
        counts[r["model"]][k][1] += 1
        if k != "harmful" and r["model"] not in BASELINES:  # the methods' and the reference's replies
            rm[refused].append(r["scores"]["reward_model"])
            by_subject[bank_request(r["prompt"])["subject"]][refused].append(r["scores"]["reward_model"])
    print(path)
    for model, c in counts.items():
        (a, an), (o, on), (h, hn) = c["advice"], c["other"], c["harmful"]
        mix = (a / an * TEST_ADVICE + o / on * (TEST_BENIGN - TEST_ADVICE)) / TEST_BENIGN
        print(
            f"  {model}: advice {a}/{an}, other benign {o}/{on}, benign {a + o}/{an + on} "
            f"({100 * (a + o) / (an + on):.1f} %), test mix {100 * mix:.1f} %, harmful {h}/{hn}"
        )
    print(
        f"  reward model on benign prompts: refusals {sum(rm[True]) / len(rm[True]):.2f} (n {len(rm[True])}), "
        f"answers {sum(rm[False]) / len(rm[False]):.2f} (n {len(rm[False])})"
    )
    subject, scores = max(by_subject.items(), key=lambda kv: len(kv[1][True]))
    ref, ans = scores[True], scores[False]
    print(
        f"  most refused benign subject, {subject!r}: refusals {len(ref)}, reward model {sum(ref) / len(ref):.2f}; "
        f"answers {len(ans)}, {sum(ans) / len(ans):.2f} (best {max(ans):.2f}); "
        f"refusals scored above every answer: {sum(x > max(ans) for x in ref)}"
    )


def paired(path_a: str, path_b: str) -> None:
    def gold(path):
        out: dict = defaultdict(dict)
        for r in read(path):
            out[r["model"]][(r["prompt_id"], r.get("sample", 0))] = (r["scores"]["gold"], r["prompt"])
        return out

    a, b = gold(path_a), gold(path_b)
    print("gold, A − B, paired by prompt:")
    for model in [m for m in a if m in b]:
        if sorted(a[model]) != sorted(b[model]) or any(a[model][k][1] != b[model][k][1] for k in a[model]):
            raise SystemExit(
                f"{model}: the two evaluations did not sample the same prompts in the same order"
            )
        per_prompt: dict = defaultdict(list)
        for key, (score, _) in a[model].items():
            per_prompt[key[0]].append(score - b[model][key][0])
        print_paired(f"  {model}", [sum(v) / len(v) for v in per_prompt.values()])


def print_paired(label: str, diffs: list[float]) -> None:
    """One line: the mean of per-prompt differences, its bootstrap 95% CI, prompts + / − and the sign test."""
    d = paired_difference(diffs, [0.0] * len(diffs), 2000, 44)
    wins, losses = sum(x > 1e-9 for x in diffs), sum(x < -1e-9 for x in diffs)
    print(
        f"{label}: {d['mean_diff']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}], "
        f"prompts + / −: {wins} / {losses}, sign test p {sign_test(wins, losses):.3f}"
    )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__.split("\n\n")[1].strip())
    refusals(sys.argv[1])
    refusals(sys.argv[2])
    paired(sys.argv[1], sys.argv[2])
