"""Rollout generation speed on the embedded SmolLM2-135M: tokens/s at batch 1, 4 and 16, against limits.

    .venv/bin/python bench/generation.py [--prompts 32 --tokens 48]

For each setting, the held-out eval prompts are sampled (temperature 0.7, ``max_new_tokens`` tokens, no
early stop counted: every slot costs a decode step until its batch ends) through
``rlhf_trl.generation.generate_responses``, the code PPO and the evaluation use. Rows:

* fp32 / bf16 weights, batch 1, 4, 16, prompts length-sorted (the default) — and batch 16 unsorted;
* the limits per token: compute = matmul peak / (2 x parameters), memory = bandwidth / weight bytes
  x batch (each decode step reads every weight once for the whole batch).

Exactness: the log-probs ``generate`` sampled from (its processed scores) are compared with
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
    """max |log p(generate's scores) - log p(plain forward of ``scorer``, default the same model)| over
    the sampled tokens."""
    import torch

    from rlhf_trl.generation import _sampling_config, encode_prompts, response_logprobs, truncate_after_eos

    q, m = encode_prompts(tokenizer, prompts)
    config = _sampling_config(
        tokenizer, max_new_tokens=tokens, temperature=0.7, top_k=0, top_p=1.0, do_sample=True
    )
    config.output_scores, config.return_dict_in_generate = True, True
    torch.manual_seed(0)
    with torch.no_grad():
        out = model.generate(input_ids=q, attention_mask=m, generation_config=config)
        raw = out.sequences[:, q.shape[1] :]
        ids, lengths, _ = truncate_after_eos(raw, tokenizer.eos_token_id, tokenizer.pad_token_id)
        mask = (torch.arange(ids.shape[1])[None] < lengths[:, None]).long()
        scores = torch.stack(out.scores, 1).float().log_softmax(-1)  # already divided by T
        sampled = scores.gather(-1, raw[..., None]).squeeze(-1) * mask
        forward = response_logprobs(
            scorer or model, q, ids, tokenizer.pad_token_id, 0.7, query_mask=m, response_mask=mask
        )
    return float((sampled - forward).abs().max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    for dtype, key in (("float32", "fp32"), ("bfloat16", "bf16")):
        model = fp32_model if key == "fp32" else load_causal_lm(opts.model, tokenizer, dtype=dtype)
        n_params = sum(p.numel() for p in model.parameters())
        weight_gb = n_params * (4 if key == "fp32" else 2) / 1e9
        gaps[key] = logprob_gap(model, tokenizer, prompts[:4], 16)
        if key == "bf16":  # sampled from bf16 weights, scored by the fp32 policy PPO would train
            gaps["bf16 sampling vs fp32 scoring"] = logprob_gap(model, tokenizer, prompts[:4], 16, fp32_model)
        settings = [(1, True), (4, True), (16, True), (16, False)]
        generate_responses(model, tokenizer, prompts[:2], max_new_tokens=4, seed=0)  # warm-up
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
            compute_limit = peak[key] * 1e9 / (2 * n_params)
            memory_limit = bandwidth / weight_gb * batch
            rows.append(
                f"| {key} | {batch} | {'yes' if sort else 'no'} | {out.tokens_generated / seconds:.0f} "
                f"| {compute_limit:.0f} | {memory_limit:.0f} | {seconds:.1f} s for {n} prompts |"
            )
    print(
        f"{opts.model}, {opts.tokens} new tokens at temperature 0.7, held-out eval prompts; "
        f"matmul peak fp32 {peak['fp32']:.0f} / bf16 {peak['bf16']:.0f} GFLOP/s, read bandwidth "
        f"{bandwidth:.0f} GB/s. Tokens/s counts generated tokens (EOS included; not the padding after it).\n"
    )
    print("| weights | batch | length-sorted | tokens/s | compute limit | memory limit | wall |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(
        "\nExactness (max |log-prob from generate − log-prob from a plain forward pass| on sampled tokens): "
        + ", ".join(f"{k} {v:.1e}" for k, v in gaps.items())
        + ". Scoring in PPO and the evaluation always uses the plain forward pass in the model's dtype."
    )


if __name__ == "__main__":
    main()
