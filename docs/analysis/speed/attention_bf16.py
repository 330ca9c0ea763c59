"""bf16 attention on a CPU: SDPA's flash kernel against the math kernel and against fp32 attention inside
bf16 autocast, alone and inside the model. Exploration for issue #15 (the PPO update's backward).

    .venv/bin/python docs/analysis/speed/attention_bf16.py

1. ``F.scaled_dot_product_attention`` alone, 9 heads x 64, causal boolean mask, shapes of a PPO micro-batch
   (4 x 80, 4 x 160), of scoring (16 x 100) and of long DPO rows (8 x 300); forward only or forward +
   backward; best of 5 x 10 calls.
2. The embedded SmolLM2-135M, one forward + backward over a [4, 73] batch (PPO's micro-batch in
   bench/ppo_step.py) under bf16 autocast, with transformers' ``sdpa`` attention as it is and with a
   version that runs every multi-token attention in fp32 (autocast off inside); alternating, 4 timed steps
   each after a warm-up.
Results in README.md next to this file.
"""

import functools
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
import torch.nn.functional as F
import transformers.integrations.sdpa_attention as sdpa_module
from torch.nn.attention import SDPBackend, sdpa_kernel
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from rlhf_trl.models import load_causal_lm, load_tokenizer

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

original = sdpa_module.sdpa_attention_forward


def fp32_attention(module, query, key, value, attention_mask, **kw):
    # under autocast, RoPE (bf16 x fp32 cos/sin) hands SDPA fp32 queries and keys, which autocast casts to bf16
    lowered = query.dtype == torch.bfloat16 or torch.is_autocast_enabled("cpu")
    if query.device.type == "cpu" and lowered and query.shape[2] > 1:
        with torch.autocast("cpu", enabled=False):
            out, weights = original(module, query.float(), key.float(), value.float(), attention_mask, **kw)
        return out.to(torch.bfloat16), weights
    return original(module, query, key, value, attention_mask, **kw)


print("2. SmolLM2-135M forward + backward, [4, 73], bf16 autocast")
tok = load_tokenizer("embedded:smollm2-135m-instruct")
model = load_causal_lm("embedded:smollm2-135m-instruct", tok).train()
ids = torch.randint(100, 1000, (4, 73))
mask = torch.ones_like(ids)
mask[0, :10] = 0


def step():
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(input_ids=ids, attention_mask=mask, logits_to_keep=33)
    out.logits.float().logsumexp(-1).mean().backward()
    model.zero_grad(set_to_none=True)


for mode in ("sdpa", "fp32 attention", "sdpa", "fp32 attention"):
    ALL_ATTENTION_FUNCTIONS._global_mapping["sdpa"] = fp32_attention if mode != "sdpa" else original
    step()
    times = []
    for _ in range(4):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    print(f"  {mode}: min {min(times) * 1e3:.0f} ms, all {[round(x * 1e3) for x in times]}")
ALL_ATTENTION_FUNCTIONS._global_mapping["sdpa"] = original
