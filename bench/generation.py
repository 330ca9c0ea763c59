"""Rollout generation speed on the embedded SmolLM2-135M: tokens/s at batch 1, 4 and 16, against limits.

    .venv/bin/python bench/generation.py [--prompts 32 --tokens 48]

For each setting, the held-out eval prompts are sampled (temperature 0.7, ``max_new_tokens`` tokens, no
early stop counted: every slot costs a decode step until its batch ends) through
``rlhf_trl.generation.generate_responses`` (the decode loop of ``rlhf_trl.decoding``), the code PPO and
the evaluation use. Rows:

* fp32 / bf16 weights, batch 1, 4, 16, prompts length-sorted (the default) — and batch 16 unsorted;
* the same prompts through ``transformers``' ``generate`` (neutral processors) at batch 4 and 16, the
  sampler this project used before, for the ratio;
* tokens/s over the whole rollout, and over its decode part (wall minus the time a forward pass over
  the same prompt batches takes: the prefill, which no sampler can skip; SmolLM2's chat template adds
  a ~30-token system prompt, so prompts are ~3x longer than the 48 new tokens);
* the limits per decoded token: compute = matmul peak / (2 x parameters), memory = bandwidth / weight
  bytes x batch (each decode step reads every weight once for the whole batch).

Exactness: the log-probs the decode loop sampled from are compared with
``response_logprobs`` (one plain forward pass, the scoring PPO uses) on the same tokens; the largest
absolute difference is reported per dtype. Not a test: numbers go into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))


def read_bandwidth_gbs() -> float:
    import torch

    x = torch.randn(64 * 1024 * 1024)  # 256 MiB of fp32
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        x.sum()
        best = min(best, time.perf_counter() - start)
    return x.numel() * 4 / best / 1e9


def logprob_gap(model, tokenizer, prompts, tokens: int, scorer=None) -> float:
    """max |log p(the decode loop's sampling distribution) - log p(plain forward of ``scorer``, default the
    same model)| over the sampled tokens."""
    import torch

    from rlhf_trl.decoding import sample_tokens
    from rlhf_trl.generation import encode_prompts, response_logprobs, truncate_after_eos

    q, m = encode_prompts(tokenizer, prompts)
    torch.manual_seed(0)
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    with torch.no_grad():
        raw, sampled = sample_tokens(
            model,
            q,
            m,
            max_new_tokens=tokens,
            eos_token_id=eos,
            pad_token_id=pad,
            temperature=0.7,
            return_logprobs=True,
        )
        ids, lengths, _ = truncate_after_eos(raw, eos, pad)
        mask = (torch.arange(ids.shape[1])[None] < lengths[:, None]).long()
        forward = response_logprobs(scorer or model, q, ids, pad, 0.7, query_mask=m, response_mask=mask)
    return float((sampled * mask - forward).abs().max())


def prefill_seconds(model, tokenizer, prompts, batch: int, sort: bool) -> float:
    """Seconds to encode the prompts alone (one forward per batch, last position's logits only), the
    part of a rollout that does not depend on the sampler."""
    import torch

    from rlhf_trl.generation import _length_order, encode_prompts

    order = _length_order(tokenizer, prompts) if sort else list(range(len(prompts)))
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(order), batch):
            q, m = encode_prompts(tokenizer, [prompts[j] for j in order[i : i + batch]])
            model(input_ids=q, attention_mask=m, logits_to_keep=1)
    return time.perf_counter() - start


def transformers_generate(model, tokenizer, prompts, tokens: int, batch: int) -> tuple[int, float]:
    """(tokens generated, seconds) for the same batches through ``transformers``' ``generate`` (the
    sampler before rlhf_trl.decoding), neutral processors, prompts length-sorted."""
    import torch

    from rlhf_trl.generation import (
        _length_order,
        encode_prompts,
        neutral_generation_config,
        truncate_after_eos,
    )

    config = neutral_generation_config(
        tokenizer, max_new_tokens=tokens, temperature=0.7, top_k=0, top_p=1.0, do_sample=True
    )
    order = _length_order(tokenizer, prompts)
    torch.manual_seed(0)
    produced, start = 0, time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(order), batch):
            q, m = encode_prompts(tokenizer, [prompts[j] for j in order[i : i + batch]])
            out = model.generate(input_ids=q, attention_mask=m, generation_config=config)
            _, lengths, _ = truncate_after_eos(
                out[:, q.shape[1] :], tokenizer.eos_token_id, tokenizer.pad_token_id
            )
            produced += int(lengths.sum())
    return produced, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--model", default="embedded:smollm2-135m-instruct")
    parser.add_argument("--prompts", type=int, default=32, help="prompts per setting (multiple of 16)")
    parser.add_argument("--tokens", type=int, default=48)
    opts = parser.parse_args()

    from matmul_peak import measure as matmul_peak

    from rlhf_trl.config import DataArguments
    from rlhf_trl.data.loaders import load_prompts
    from rlhf_trl.generation import generate_responses
    from rlhf_trl.models import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(opts.model)
    prompts = load_prompts(DataArguments())["prompt"][: opts.prompts]
    peak = matmul_peak()
    bandwidth = read_bandwidth_gbs()
    rows, gaps = [], {}
    fp32_model = load_causal_lm(opts.model, tokenizer, dtype="float32")
    from common import BF16_SKIPPED, bf16_native

    precisions = (("float32", "fp32"), ("bfloat16", "bf16")) if bf16_native() else (("float32", "fp32"),)
    for dtype, key in precisions:
        model = fp32_model if key == "fp32" else load_causal_lm(opts.model, tokenizer, dtype=dtype)
        n_params = sum(p.numel() for p in model.parameters())
        weight_gb = n_params * (4 if key == "fp32" else 2) / 1e9
        gaps[key] = logprob_gap(model, tokenizer, prompts[:4], 16)
        if key == "bf16":  # sampled from bf16 weights, scored by the fp32 policy PPO would train
            gaps["bf16 sampling vs fp32 scoring"] = logprob_gap(model, tokenizer, prompts[:4], 16, fp32_model)
        settings = [(1, True), (4, True), (16, True), (16, False)]
        generate_responses(model, tokenizer, prompts[:2], max_new_tokens=4, seed=0)  # warm-up
        compute_limit = peak[key] * 1e9 / (2 * n_params)
        for batch, sort in settings:
            n = min(len(prompts), 8) if batch == 1 else len(prompts)  # batch 1 is slow: fewer prompts
            start = time.perf_counter()
            out = generate_responses(
                model,
                tokenizer,
                prompts[:n],
                max_new_tokens=opts.tokens,
                temperature=0.7,
                batch_size=batch,
                seed=0,
                sort_by_length=sort,
            )
            seconds = time.perf_counter() - start
            prefill = prefill_seconds(model, tokenizer, prompts[:n], batch, sort)
            memory_limit = bandwidth / weight_gb * batch
            rows.append(
                f"| {key} | ours | {batch} | {'yes' if sort else 'no'} | {out.tokens_generated / seconds:.0f} "
                f"| {out.tokens_generated / (seconds - prefill):.0f} | {compute_limit:.0f} | {memory_limit:.0f} "
                f"| {seconds:.1f} s for {n} prompts, prefill {prefill:.1f} s |"
            )
        for batch in (4, 16):
            produced, seconds = transformers_generate(model, tokenizer, prompts, opts.tokens, batch)
            prefill = prefill_seconds(model, tokenizer, prompts, batch, True)
            rows.append(
                f"| {key} | transformers generate | {batch} | yes | {produced / seconds:.0f} "
                f"| {produced / (seconds - prefill):.0f} | {compute_limit:.0f} | {bandwidth / weight_gb * batch:.0f} "
                f"| {seconds:.1f} s for {len(prompts)} prompts, prefill {prefill:.1f} s |"
            )
    print(
        f"{opts.model}, {opts.tokens} new tokens at temperature 0.7, held-out eval prompts; "
        f"matmul peak fp32 {peak['fp32']:.0f} / bf16 {peak['bf16']:.1f} GFLOP/s, read bandwidth "
        f"{bandwidth:.0f} GB/s. Tokens/s counts generated tokens (EOS included; not the padding after it).\n"
    )
    print(
        "| weights | sampler | batch | length-sorted | tokens/s | tokens/s after prefill | compute limit "
        "(decode) | memory limit (decode) | wall |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(
        "\nExactness (max |log-prob the decode loop sampled from − log-prob from a plain forward pass| on "
        "sampled tokens): "
        + ", ".join(f"{k} {v:.1e}" for k, v in gaps.items())
        + ". Scoring in PPO and the evaluation always uses the plain forward pass in the model's dtype."
    )
    if len(precisions) == 1:
        print(f"\n{BF16_SKIPPED}")


if __name__ == "__main__":
    main()
