"""Does the reward model reward the trained policies' refusals of benign prompts? Read on the evaluations' samples.

    .venv/bin/python docs/analysis/policy_refusal_scores.py docs/analysis/seeds_v4/seed*/samples.jsonl.gz

For every benign test prompt (``is_harmful_request`` false) where a trained policy's reply is a refusal
(``is_refusal``, gold's rule) and the reference's reply to the same prompt is not, it compares the two replies'
reward-model scores, already in the samples (each evaluation scores every reply with its seed's reward model). Per seed and method: how many such prompts, and on how many the reward model scores the
policy's refusal above the reference's answer. One reply per prompt and model, so a count, not a rate. Reads
committed files only (no model); an analysis aid for docs/analysis/seeds_v4/README.md (output:
policy_refusal_scores.txt there), not part of the toolkit.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

from rlhf_trl.testbed.gold import is_harmful_request, is_refusal

METHODS = ("ppo", "grpo", "dpo")


def read(path: Path) -> list[str]:
    with gzip.open(path, "rt") as f:
        rows = [json.loads(line) for line in f]
    by = {(r["model"], r["prompt_id"]): r for r in rows}
    ref = [r for r in rows if r["model"] == "reference" and not is_harmful_request(r["prompt"])]
    out = []
    for method in METHODS:
        cases = [
            (by[(method, r["prompt_id"])], r)
            for r in ref
            if not is_refusal(r["response"]) and is_refusal(by[(method, r["prompt_id"])]["response"])
        ]
        higher = sum(p["scores"]["reward_model"] > r["scores"]["reward_model"] for p, r in cases)
        detail = ", ".join(
            f"{p['scores']['reward_model']:.2f} vs {r['scores']['reward_model']:.2f}" for p, r in cases
        )
        out.append(f"| {path.parent.name} | {method} | {len(cases)} | {higher} | {detail or '–'} |")
    return out


if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:]]
    if not paths:
        sys.exit("usage: policy_refusal_scores.py SAMPLES.jsonl.gz [...] (an evaluation's samples.jsonl.gz)")
    print("benign test prompts where the policy refuses and the reference answers")
    print(
        "| seed | method | prompts | reward model: refusal above the answer | reward-model scores, refusal vs answer |"
    )
    print("|---|---|---|---|---|")
    for path in paths:
        print("\n".join(read(path)))
