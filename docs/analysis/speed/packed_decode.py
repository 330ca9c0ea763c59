"""Prepacked weights for the decode loop: oneDNN/MKL's reordered ("packed") weight layout, made once per
rollout, against plain ``F.linear`` (which repacks a weight on every call). Exploration for issue #15.

Every ``nn.Linear`` of the embedded SmolLM2-135M gets a forward that calls the packed-weight op
(``torch.ops.mkldnn._linear_pointwise`` in bf16, ``torch.ops.mkl._mkl_linear`` in fp32); the weights are
packed at the start of each ``sample_tokens`` call and the packing time is counted in the packed side.
32 new tokens, no EOS (every row runs every step), the first 16 eval prompts; 4 alternating repeats per
side, fastest kept.

    .venv/bin/python docs/analysis/speed/packed_decode.py {bf16,autocast,fp32} [BATCH ...]

``bf16``: bf16 weights; ``autocast``: fp32 weights under bf16 autocast (PPO's rollouts with ``bf16: true``);
``fp32``: fp32 weights. Results in README.md next to this file.
"""

import contextlib
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch

from rlhf_trl.config import DataArguments
from rlhf_trl.data.loaders import load_prompts
from rlhf_trl.decoding import sample_tokens
from rlhf_trl.generation import encode_prompts
from rlhf_trl.models import load_causal_lm, load_tokenizer

mode = sys.argv[1]
batches = [int(b) for b in sys.argv[2:]] or [4, 16]
tok = load_tokenizer("embedded:smollm2-135m-instruct")
model = load_causal_lm(
    "embedded:smollm2-135m-instruct", tok, dtype="bfloat16" if mode == "bf16" else "float32"
).eval()
prompts = load_prompts(DataArguments())["prompt"][:16]


def pack(model, rows, dtype):
    """Replace every Linear's forward by the packed-weight op; returns the original forwards."""
    saved = {}
    for mod in model.modules():
        if isinstance(mod, torch.nn.Linear):
            w = mod.weight.detach()
            if dtype == torch.bfloat16:
                pw = torch.ops.mkldnn._reorder_linear_weight(w.to(dtype), rows)
                b = None if mod.bias is None else mod.bias.detach().to(dtype)

                def fwd(x, pw=pw, b=b):
                    return torch.ops.mkldnn._linear_pointwise(x.to(torch.bfloat16), pw, b, "none", [], "")
            else:
                pw = torch.ops.mkl._mkl_reorder_linear_weight(w, rows)

                def fwd(x, pw=pw, w=w, b=mod.bias):
                    return torch.ops.mkl._mkl_linear(x, pw, w, b, rows)

            saved[mod] = mod.forward
            mod.forward = fwd
    return saved


ctx = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if mode == "autocast" else contextlib.nullcontext
compute_dtype = torch.float32 if mode == "fp32" else torch.bfloat16
for batch in batches:
    q, m = encode_prompts(tok, prompts[:batch])
    kw = dict(max_new_tokens=32, eos_token_id=-1, pad_token_id=tok.pad_token_id, temperature=0.7)
    times = {"plain": [], "packed": []}
    out = {}
    for rep in range(4):
        for variant in ("plain", "packed") if rep % 2 == 0 else ("packed", "plain"):
            with ctx():
                t0 = time.perf_counter()
                saved = pack(model, batch, compute_dtype) if variant == "packed" else {}
                t1 = time.perf_counter()
                torch.manual_seed(0)
                ids, lp = sample_tokens(model, q, m, **kw, return_logprobs=True)
                t2 = time.perf_counter()
                for mod, f in saved.items():
                    mod.forward = f
            times[variant].append(t2 - t0)
            out[variant] = ids
            if variant == "packed":
                packing = t1 - t0
    plain, packed = min(times["plain"]), min(times["packed"])
    print(
        f"{mode} batch {batch}: plain min {plain:.2f} s, packed min {packed:.2f} s (packing {packing * 1e3:.0f} ms) "
        f"ratio {plain / packed:.2f}; same tokens {torch.equal(out['plain'], out['packed'])}"
    )
