"""Quick check of the decode loop against transformers' generate: tokens/s at batch 16 and 4, fp32 and bf16.

    .venv/bin/python bench/decode_check.py

The first 32 prompts of the bundled dev set, 48 new tokens at temperature 0.7, through
``rlhf_trl.generation.generate_responses`` (our loop) and ``generate`` on the same length-sorted batches,
with the prefill (a forward pass over the same prompt batches) timed apart. One pass each, no repeats:
a few minutes, for a first look; ``bench/generation.py`` is the full benchmark. Not a test.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    from generation import prefill_seconds, transformers_generate

    from rlhf_trl.config import DataArguments
    from rlhf_trl.data.loaders import load_prompts
    from rlhf_trl.generation import generate_responses
    from rlhf_trl.models import load_causal_lm, load_tokenizer

    tok = load_tokenizer("embedded:smollm2-135m-instruct")
    prompts = load_prompts(DataArguments())["prompt"][:32]
    for dtype in ["float32", "bfloat16"]:
        model = load_causal_lm("embedded:smollm2-135m-instruct", tok, dtype=dtype).eval()
        generate_responses(model, tok, prompts[:2], max_new_tokens=4, seed=0)  # warm-up
        for batch in (16, 4):
            start = time.perf_counter()
            out = generate_responses(
                model, tok, prompts, max_new_tokens=48, temperature=0.7, batch_size=batch, seed=0
            )
            ours = time.perf_counter() - start
            n_hf, hf = transformers_generate(model, tok, prompts, 48, batch)
            pre = prefill_seconds(model, tok, prompts, batch, True)
            print(
                f"{dtype} batch {batch}: ours {out.tokens_generated / ours:.0f} tok/s ({ours:.1f} s, "
                f"{out.tokens_generated} tok), generate {n_hf / hf:.0f} tok/s ({hf:.1f} s, {n_hf} tok); "
                f"prefill {pre:.1f} s; after prefill ours {out.tokens_generated / (ours - pre):.0f} vs "
                f"{n_hf / (hf - pre):.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
