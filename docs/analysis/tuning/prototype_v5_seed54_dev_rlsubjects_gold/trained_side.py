"""Dev run 28, its guard (README.md here): replies of sft27 and ppo27g on the prompts ppo27g trained on.

    .venv/bin/python docs/analysis/tuning/prototype_v5_seed54_dev_rlsubjects_gold/trained_side.py RL_DATA CHECKPOINTS [MODEL ...]

RL_DATA is run 27's ``run27_data/rl`` (its ``train.jsonl.gz``: the RL side's pairs, whose distinct prompts PPO
drew), CHECKPOINTS the chain's, MODEL its checkpoints to sample (default ``sft27`` and ``ppo27g``). On every distinct prompt, in the order of the SHA-1 of its
turns (run 27's ``room.py``), two replies per model at the evaluation's settings (temperature 0.7, 64 new
tokens, seed 54; not its draws), each prompt cut to its last 128 tokens as PPO's ``max_prompt_length`` cut it. Writes one JSON line per reply (model, prompt_id, sample, prompt, response) to stdout; read_gold_rl.py
scores them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "prototype_v5_seed54_dev_rlsubjects"))

import room  # noqa: E402

from rlhf_trl.generation import generate_responses  # noqa: E402
from rlhf_trl.models import load_causal_lm, load_tokenizer  # noqa: E402

MODELS = ("sft27", "ppo27g")
SAMPLES = 2


def main(data: Path, checkpoints: Path, models: tuple[str, ...] = MODELS) -> None:
    torch.set_num_threads(2)
    room.N = 10**6  # every distinct prompt, not room.py's first 64
    ps = room.prompts(data)
    for name in models:
        path = str(checkpoints / name)
        tok = load_tokenizer(path)
        model = load_causal_lm(path, tok)
        out = generate_responses(
            model,
            tok,
            ps * SAMPLES,
            max_new_tokens=64,
            temperature=0.7,
            seed=54,
            batch_size=16,
            max_prompt_length=128,
        ).response_texts
        for j, text in enumerate(out):
            row = {"model": name, "prompt_id": j % len(ps), "sample": j // len(ps), "prompt": ps[j % len(ps)]}
            print(json.dumps({**row, "response": text}), flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__.split("\n\n")[1].strip())
    main(Path(sys.argv[1]), Path(sys.argv[2]), tuple(sys.argv[3:]) or MODELS)
