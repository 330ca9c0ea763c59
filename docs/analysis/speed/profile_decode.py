"""Where a decode step's time goes (CPU, embedded SmolLM2-135M, fp32): torch.profiler over
rlhf_trl.decoding.sample_tokens at batch 1 and 16 (the first 16 eval prompts, unsorted), 24 new tokens.
Exploration for issue #15; results in README.md next to this file.

    .venv/bin/python docs/analysis/speed/profile_decode.py [--dtype bfloat16] [--batches 16]
"""

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from torch.profiler import ProfilerActivity, profile

from rlhf_trl.config import DataArguments
from rlhf_trl.data.loaders import load_prompts
from rlhf_trl.decoding import sample_tokens
from rlhf_trl.generation import encode_prompts
from rlhf_trl.models import load_causal_lm, load_tokenizer

parser = argparse.ArgumentParser(allow_abbrev=False)
parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"], help="weights")
parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
cli = parser.parse_args()
tok = load_tokenizer("embedded:smollm2-135m-instruct")
model = load_causal_lm("embedded:smollm2-135m-instruct", tok, dtype=cli.dtype).eval()
prompts = load_prompts(DataArguments())["prompt"][:16]
for batch in cli.batches:
    q, m = encode_prompts(tok, prompts[:batch])
    kw = dict(max_new_tokens=24, eos_token_id=-1, pad_token_id=tok.pad_token_id, temperature=0.7)
    sample_tokens(model, q, m, **{**kw, "max_new_tokens": 4})
    t = time.perf_counter()
    sample_tokens(model, q, m, **kw)
    total = time.perf_counter() - t
    t = time.perf_counter()
    sample_tokens(model, q, m, **{**kw, "max_new_tokens": 1})
    pre = time.perf_counter() - t
    print(
        f"batch {batch}: {total:.2f} s for 24 tokens, prefill {pre:.2f} s -> {(total - pre) / 23 * 1000:.1f} ms per decode step"
    )
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        sample_tokens(model, q, m, **kw)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=14, max_name_column_width=40))
