"""bf16 attention on a CPU: SDPA's flash kernel against the math kernel and against fp32 attention inside
bf16 autocast, alone and inside the model. Exploration for issue #15 (the PPO update's backward).

    .venv/bin/python docs/analysis/speed/attention_bf16.py

1. ``F.scaled_dot_product_attention`` alone, 9 heads x 64, causal boolean mask, shapes of a PPO micro-batch
   (4 x 80, 4 x 160), of scoring (16 x 100) and of long DPO rows (8 x 300); forward only or forward +
   backward; best of 5 x 10 calls.
2. The embedded SmolLM2-135M, one forward + backward over a [4, 73] batch (PPO's micro-batch in
   bench/ppo_step.py) under bf16 autocast, with transformers' ``sdpa`` attention as it is and inside
   ``rlhf_trl.models.cpu_autocast_attention_in_fp32`` (what PPO uses); alternating, 4 timed steps each after a
   warm-up.
3. The same at DPO's step with 4 pairs of 192 tokens: a reference forward without grad and a policy forward +
   backward over [8, 192]; 3 timed steps each.
Results in README.md next to this file.
"""

import contextlib
import functools
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from rlhf_trl.models import cpu_autocast_attention_in_fp32, load_causal_lm, load_tokenizer

torch.manual_seed(0)


def bench(f):
    for _ in range(3):
        f()
    best = 1e9
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(10):
            f()
        best = min(best, (time.perf_counter() - t) / 10)
    return best * 1e3


def attend(mode, q, k, v, mask, grad):
    if mode == "bf16":
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    elif mode == "bf16-math":
        with sdpa_kernel(SDPBackend.MATH):
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    else:
        o = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask).to(torch.bfloat16)
    if grad:
        o.float().sum().backward()


print("1. SDPA alone, ms per call (bf16 flash | fp32 upcast | bf16 math)")
for B, L, grad in (
    (4, 80, True),
    (4, 160, True),
    (4, 80, False),
    (16, 100, False),
    (8, 300, False),
    (8, 300, True),
):
    row = []
    for mode in ("bf16", "fp32-upcast", "bf16-math"):
        q, k, v = (torch.randn(B, 9, L, 64, dtype=torch.bfloat16, requires_grad=grad) for _ in range(3))
        mask = torch.ones(B, 1, L, L, dtype=torch.bool).tril()
        f = functools.partial(attend, mode, q, k, v, mask, grad)
        row.append(f"{mode} {bench(f):.2f}")
    print(f"  {B} x {L}, {'forward + backward' if grad else 'forward'}: {' | '.join(row)}")

tok = load_tokenizer("embedded:smollm2-135m-instruct")
model = load_causal_lm("embedded:smollm2-135m-instruct", tok).train()


def step(ids, mask, keep, reference_pass):
    if reference_pass:  # DPO's reference log-probs: a forward without grad over the same batch
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            model(input_ids=ids, attention_mask=mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(input_ids=ids, attention_mask=mask, logits_to_keep=keep)
    out.logits.float().logsumexp(-1).mean().backward()
    model.zero_grad(set_to_none=True)


for title, rows, length, padded, keep, reference_pass, repeats in (
    ("2. PPO's micro-batch: forward + backward, [4, 73]", 4, 73, 10, 33, False, 4),
    (
        "3. DPO's step, 4 pairs: reference forward + policy forward + backward, [8, 192]",
        8,
        192,
        30,
        0,
        True,
        3,
    ),
):
    print(title, "under bf16 autocast, ms")
    ids = torch.randint(100, 1000, (rows, length))
    mask = torch.ones_like(ids)
    mask[0, :padded] = 0
    for mode in ("sdpa", "fp32 attention", "sdpa", "fp32 attention"):
        block = cpu_autocast_attention_in_fp32() if mode != "sdpa" else contextlib.nullcontext()
        with block:
            step(ids, mask, keep, reference_pass)
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                step(ids, mask, keep, reference_pass)
                times.append(time.perf_counter() - t)
        print(f"  {mode}: min {min(times) * 1e3:.0f} ms, all {[round(x * 1e3) for x in times]}")
