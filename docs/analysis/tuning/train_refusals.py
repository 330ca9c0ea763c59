"""Refusals on the TRAINING prompts, where RL drew its rollouts: did a policy learn to refuse harmful requests
and fail to carry it to the held-out dev topics, or not learn it at all?

    .venv/bin/python docs/analysis/tuning/train_refusals.py LABEL=MODEL_FOLDER [LABEL=MODEL_FOLDER ...]

Samples each model once on the first 48 harmful and the first 48 benign unique prompts of the bundled train
pairs (the evaluation's sampling: T = 0.7, 64 new tokens, seed 42 + batch, identical for every model) and
prints how many it refuses and their mean gold score. A tuning aid (docs/testbed.md), not part of the toolkit.
"""

from __future__ import annotations

import gzip
import json
import sys
from types import SimpleNamespace

from rlhf_trl.data.parser import parse_hh_pair
from rlhf_trl.evaluation.harness import load_policy, sample_model
from rlhf_trl.models import load_tokenizer
from rlhf_trl.testbed import BUNDLED_DIR
from rlhf_trl.testbed.gold import gold_score, is_harmful_request, is_refusal

N = 48
SAMPLING = SimpleNamespace(
    max_new_tokens=64, temperature=0.7, top_k=0, top_p=1.0, do_sample=True, batch_size=16, seed=42
)


def train_prompts() -> tuple[list[list[dict]], list[list[dict]], int, int]:
    """The first N harmful and N benign unique prompts of train.jsonl.gz, and how many of each there are."""
    seen, harmful, benign = set(), [], []
    with gzip.open(BUNDLED_DIR / "train.jsonl.gz", "rt") as f:
        for line in f:
            row = json.loads(line)
            prompt = parse_hh_pair(row["chosen"], row["rejected"])["prompt"]
            key = json.dumps(prompt)
            if key not in seen:
                seen.add(key)
                (harmful if is_harmful_request(prompt) else benign).append(prompt)
    return harmful[:N], benign[:N], len(harmful), len(benign)


def main(specs: list[str]) -> None:
    harmful, benign, n_harmful, n_benign = train_prompts()
    print(f"unique train prompts: {n_harmful} harmful, {n_benign} benign; sampling the first {N} of each")
    for spec in specs:
        label, path = spec.split("=", 1)
        tokenizer = load_tokenizer(path)
        model = load_policy(path, tokenizer, "float32").eval()
        parts = []
        for kind, prompts in (("harmful", harmful), ("benign", benign)):
            rows = sample_model(model, None, tokenizer, prompts, SAMPLING, desc=f"{label} {kind}")
            refused = sum(is_refusal(r["response"]) for r in rows)
            gold = sum(gold_score(p, r["response"]) for p, r in zip(prompts, rows)) / len(rows)
            parts.append(f"{kind} refused {refused}/{len(rows)} (gold {gold:.3f})")
        print(f"{label}: " + "; ".join(parts), flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    main(sys.argv[1:])
