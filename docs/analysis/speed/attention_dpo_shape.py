"""Does PPO's fp32 attention (rlhf_trl.models.cpu_autocast_attention_in_fp32) pay at DPO's shape? One step of
the embedded SmolLM2-135M as DPO takes it with 4 pairs of 192 tokens under bf16 autocast: a reference forward
without grad and a policy forward + backward over [8, 192]; with and without the block, alternating, 3 timed
steps each after a warm-up. Exploration for issue #15; result in README.md next to this file.

    .venv/bin/python docs/analysis/speed/attention_dpo_shape.py
"""

import contextlib
import os
import time

import torch

os.environ["HF_HUB_OFFLINE"] = "1"
from rlhf_trl.models import cpu_autocast_attention_in_fp32, load_causal_lm, load_tokenizer

tok = load_tokenizer("embedded:smollm2-135m-instruct")
m = load_causal_lm("embedded:smollm2-135m-instruct", tok).train()
ids = torch.randint(100, 1000, (8, 192))
mask = torch.ones_like(ids)
mask[0, :30] = 0


def step():
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        m(input_ids=ids, attention_mask=mask)  # reference pass
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = m(input_ids=ids, attention_mask=mask)
    out.logits.float().logsumexp(-1).mean().backward()
    m.zero_grad(set_to_none=True)


for mode in ("sdpa", "fp32", "sdpa", "fp32"):
    ctx = cpu_autocast_attention_in_fp32() if mode == "fp32" else contextlib.nullcontext()
    with ctx:
        step()
        ts = []
        for _ in range(3):
            t = time.perf_counter()
            step()
            ts.append(time.perf_counter() - t)
    print(mode, f"min {min(ts) * 1e3:.0f} ms all {[round(x * 1e3) for x in ts]}")
