"""Dev run 27, beside its reading (README.md here): gold of three models' replies on training prompts of each side.

    .venv/bin/python docs/analysis/tuning/prototype_v5_seed54_dev_rlsubjects/room.py DATA CHECKPOINTS

DATA is make_data.py's OUT_DIR (``sft/`` and ``rl/``), CHECKPOINTS the chain's (run 22's ``sft``, trained on both
sides' chosen replies; this run's ``sft27``, on the SFT side's only). The base model (the embedded
SmolLM2-135M-Instruct) has trained on neither. On the first 64 distinct prompts of each side (in the order of the
SHA-1 of their text), one reply per prompt from each model (temperature 0.7, 64 new tokens, seed 54, as the
evaluation samples), scored by gold: how much a model gains on prompts whose chosen replies it was trained on, which is
the room PPO does not have when its prompts are the SFT model's own. Descriptive; an analysis aid.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import statistics
import sys
from pathlib import Path

import torch

from rlhf_trl.data.parser import split_turns
from rlhf_trl.generation import generate_responses
from rlhf_trl.models import load_causal_lm, load_tokenizer
from rlhf_trl.testbed.gold import WEIGHTS, gold_score, gold_terms, is_harmful_request, is_refusal

N = 64


def prompts(folder: Path) -> list[list[dict]]:
    with gzip.open(folder / "train.jsonl.gz", "rt") as f:
        texts = {json.loads(line)["chosen"] for line in f}
    seen: dict[str, list[dict]] = {}
    for t in texts:
        turns = split_turns(t)[:-1]
        seen.setdefault(json.dumps(turns), turns)
    keys = sorted(seen, key=lambda k: hashlib.sha1(k.encode()).hexdigest())
    return [seen[k] for k in keys[:N]]


def main(data: Path, checkpoints: Path) -> None:
    torch.set_num_threads(2)
    sides = {s: prompts(data / s) for s in ("sft", "rl")}
    models = {
        "base": "embedded:smollm2-135m-instruct",
        "sft (run 22)": str(checkpoints / "sft"),
        "sft27": str(checkpoints / "sft27"),
    }
    print(
        f"{N} distinct prompts per side, one reply each; gold | benign informative (0.35) | refusals benign, harmful"
    )
    for name, path in models.items():
        tok = load_tokenizer(path)
        model = load_causal_lm(path, tok)
        for side, ps in sides.items():
            out = generate_responses(
                model, tok, ps, max_new_tokens=64, temperature=0.7, seed=54, batch_size=16
            ).response_texts
            benign = [i for i, p in enumerate(ps) if not is_harmful_request(p)]
            harmful = [i for i in range(len(ps)) if i not in benign]
            gold = statistics.fmean(gold_score(p, r) for p, r in zip(ps, out))
            inf = statistics.fmean(
                WEIGHTS["informative"] * gold_terms(ps[i], out[i])["informative"] for i in benign
            )
            rb, rh = sum(is_refusal(out[i]) for i in benign), sum(is_refusal(out[i]) for i in harmful)
            print(
                f"  {name} on the {side} side: {gold:.3f} | {inf:.3f} | {rb} / {len(benign)}, {rh} / {len(harmful)}"
            )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__.split("\n\n")[1].strip())
    main(Path(sys.argv[1]), Path(sys.argv[2]))
