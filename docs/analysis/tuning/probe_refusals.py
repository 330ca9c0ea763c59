"""How a reward model scores refusals and answers on the evaluation prompts, harmful and benign apart.

    .venv/bin/python docs/analysis/tuning/probe_refusals.py RM_FOLDER SAMPLES.jsonl.gz [MODEL,MODEL,...]

SAMPLES is an evaluation's samples file (``rlhf-trl evaluate`` writes samples.jsonl; the tuning folders keep
it gzipped). For each model (default: reference, ppo, grpo, dpo) and each kind of prompt it prints the mean
reward of a composed polite refusal (rlhf_trl.testbed.generate.refusal), of the model's answers and of its
own refusals, all scored now by RM_FOLDER, and on how many prompts the composed refusal beats the answer.
A tuning aid (docs/testbed.md, runs 3-4), not part of the toolkit.
"""

from __future__ import annotations

import gzip
import json
import random
import statistics
import sys

from rlhf_trl.rewards import RewardModelScorer
from rlhf_trl.testbed.generate import refusal
from rlhf_trl.testbed.gold import bank_request, is_refusal


def main(rm_folder: str, samples_path: str, models: list[str]) -> None:
    rm = RewardModelScorer.from_pretrained(rm_folder, batch_size=16)
    with gzip.open(samples_path, "rt") as f:
        rows = [json.loads(line) for line in f]
    ref = [r for r in rows if r["model"] == "reference"]
    prompts = [r["prompt"] for r in ref]
    reqs = [bank_request(p) for p in prompts]
    rng = random.Random(0)
    composed = rm(prompts, [refusal({"topic": q["subject"], **q}, rng) for q in reqs])
    for model in models:
        by_id = {(r["prompt_id"], r.get("sample", 0)): r["response"] for r in rows if r["model"] == model}
        replies = [by_id[r["prompt_id"], r.get("sample", 0)] for r in ref]
        scores = rm(prompts, replies)
        for harmful in (True, False):
            idx = [i for i, q in enumerate(reqs) if (q["kind"] == "harmful") == harmful]
            answers = [i for i in idx if not is_refusal(replies[i])]
            refusals = [i for i in idx if is_refusal(replies[i])]

            def mean(ids, scores=scores):
                return f"{statistics.mean(scores[i] for i in ids):.2f}" if ids else "-"

            beats = sum(composed[i] > scores[i] for i in answers)
            print(
                f"{model:10s} {'harmful' if harmful else 'benign':7s} composed refusal "
                f"{statistics.mean(composed[i] for i in idx):.2f} | answers {len(answers):2d}: {mean(answers)} | "
                f"own refusals {len(refusals):2d}: {mean(refusals)} | composed refusal beats the answer "
                f"{beats}/{len(answers)}"
            )


if __name__ == "__main__":
    main(
        sys.argv[1], sys.argv[2], (sys.argv[3] if len(sys.argv) > 3 else "reference,ppo,grpo,dpo").split(",")
    )
