"""Is a compiled decode step worth it on this CPU? One decode step of the embedded SmolLM2-135M (fp32, static
cache, full-length mask so the shapes stay fixed) eager vs ``torch.compile(model, dynamic=False)``, at batch 1
and 16 (length-sorted eval prompts, 24 new tokens); prints the first step (compile) and the median later step,
and whether both drew the same tokens. Exploration for issue #15; results in README.md next to this file.

    .venv/bin/python docs/analysis/speed/compile_decode.py [--dtype bfloat16] [--batches 16] [--freezing]

``--freezing`` sets inductor's ``freezing`` (weights treated as constants: packed once for oneDNN).
"""

import argparse
import os
import time

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from transformers import StaticCache

from rlhf_trl.config import DataArguments
from rlhf_trl.data.loaders import load_prompts
from rlhf_trl.generation import _length_order, encode_prompts
from rlhf_trl.models import load_causal_lm, load_tokenizer

parser = argparse.ArgumentParser(allow_abbrev=False)
parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"], help="weights")
parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
parser.add_argument("--freezing", action="store_true")
cli = parser.parse_args()
tok = load_tokenizer("embedded:smollm2-135m-instruct")
model = load_causal_lm("embedded:smollm2-135m-instruct", tok, dtype=cli.dtype).eval()
prompts = load_prompts(DataArguments())["prompt"][:64]
order = _length_order(tok, prompts)
N = 24


def run(B, fwd, label):
    q, m = encode_prompts(tok, [prompts[i] for i in order[:B]])
    Lq = q.shape[1]
    cache = StaticCache(config=model.config, max_cache_len=Lq + N)
    mask = torch.cat([m.long(), torch.ones(B, N, dtype=torch.long)], 1)
    pos = (m.long().cumsum(1) - 1).clamp(min=0)
    with torch.no_grad():
        out = model(
            input_ids=q,
            attention_mask=m,
            position_ids=pos,
            cache=cache,
            cache_position=torch.arange(Lq),
            use_cache=True,
            logits_to_keep=1,
        )
        nxt = pos[:, -1:] + 1
        g = torch.Generator().manual_seed(0)
        tokens = []
        times = []
        for step in range(N):
            logits = out.logits[:, -1, :].float() / 0.7
            t = torch.multinomial(torch.softmax(logits, -1), 1, generator=g)[:, 0]
            tokens.append(t)
            if step == N - 1:
                break
            s = time.perf_counter()
            out = fwd(
                input_ids=t[:, None],
                attention_mask=mask,
                position_ids=nxt + step,
                cache=cache,
                cache_position=torch.tensor([Lq + step]),
                use_cache=True,
            )
            times.append(time.perf_counter() - s)
    steady = sorted(times[3:])[len(times[3:]) // 2]
    print(
        f"{label} B={B}: first step {times[0] * 1000:.0f} ms, median later step {steady * 1000:.1f} ms",
        flush=True,
    )
    return torch.stack(tokens, 1)


if cli.freezing:
    import torch._inductor.config

    torch._inductor.config.freezing = True
compiled = torch.compile(model, dynamic=False)
for B in cli.batches:
    a = run(B, model, "eager (full mask)")
    b = run(B, compiled, "compiled")
    print("same tokens:", torch.equal(a, b))
