"""Sampling for the evaluation harness: every model's replies and their KL to the reference, and the
reference's best-of-n candidates, all drawn with the same settings and per-batch seeds.

``sample_model`` draws one reply per prompt (batch ``b`` with seed ``cfg.seed + b`` for every model) and
scores its KL(π‖π_ref) on the policy's own samples; ``sample_candidates`` draws the reference's best-of-n
candidates with seeds no model's own sample uses (:data:`BON_SEED_STRIDE`), and ``best_of_n_rows`` picks
the reward model's favourite among the first n of them. ``SAMPLING_KEYS`` are the evaluation settings
recorded with every cached sample (the harness adds precision and ``samples_per_prompt`` when not the
default).
"""

from __future__ import annotations

import sys

SAMPLING_KEYS = (
    "prompt_set",
    "max_new_tokens",
    "temperature",
    "top_k",
    "top_p",
    "do_sample",
    "batch_size",
    "seed",
)
# Best-of-n candidate k, batch b, is sampled with seed + BON_SEED_STRIDE * (k + 1) + b: never a seed
# some model's own sample uses (seed + b) while there are fewer than BON_SEED_STRIDE batches.
BON_SEED_STRIDE = 100003


def torch_device():
    """CUDA when there is a GPU, else the CPU: where the evaluation's models run."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def sampling_precision(cfg):
    """bf16 autocast (fp32 weights) around the sampling passes under ``bf16: true``, else a no-op. Only
    sampling: KL and the reward model score in fp32, as bf16 rounding of two slightly different models
    reads as KL (fp32-trained demo policies: analytic KL 0.21 nats scored in bf16, 0.008 in fp32)."""
    import torch

    return torch.autocast(torch_device().type, dtype=torch.bfloat16, enabled=getattr(cfg, "bf16", False))


def kl_is_scored(cfg) -> bool:
    """False under top-k/top-p sampling: the samples then come from the truncated policy, and no KL they
    estimate is KL(π‖π_ref) of the untruncated models, the one the report means (docs/evaluation.md,
    "Definitions"). Such an evaluation reports ``kl`` and ``kl_analytic`` as None for every model but
    the reference."""
    return not (cfg.do_sample and (cfg.top_k > 0 or cfg.top_p < 1.0))


def sample_with_settings(model, tokenizer, prompts, cfg, *, seed: int):
    """One batch of responses with the evaluation's sampling settings (every model and candidate alike)."""
    from rlhf_trl.generation import generate_responses

    with sampling_precision(cfg):
        return generate_responses(
            model,
            tokenizer,
            prompts,
            max_new_tokens=cfg.max_new_tokens,
            temperature=cfg.temperature,
            top_k=cfg.top_k,
            top_p=cfg.top_p,
            do_sample=cfg.do_sample,
            batch_size=cfg.batch_size,
            seed=seed,
        )


def sample_model(model, ref_model, tokenizer, prompts, cfg, desc: str) -> list[dict]:
    """Generate one response per prompt; per-prompt length, EOS flag and (policy only) KL, both the
    Monte-Carlo ``kl`` (Σ_t log π − log π_ref of the sampled tokens) and ``kl_analytic`` (Σ_t of the
    exact per-token KL(π(·|x, y_<t) ‖ π_ref(·|x, y_<t)) along the same samples, never negative).

    Batch ``b`` is sampled with seed ``cfg.seed + b`` for every model, so two identical models give
    identical samples. ``ref_model=None`` means this *is* the reference: KL is 0 by definition.
    Under top-k/top-p sampling (:func:`kl_is_scored`) both KLs are None and ``ref_model`` is not used.
    """
    import torch
    from tqdm.auto import tqdm

    from rlhf_trl.evaluation.stats import sequence_kl
    from rlhf_trl.generation import response_token_kl

    rows: list[dict] = []
    bs = cfg.batch_size
    unit = "reply" if getattr(cfg, "samples_per_prompt", 1) > 1 else "prompt"  # prompts repeated k times
    with tqdm(total=len(prompts), desc=desc, unit=unit, leave=True, file=sys.stderr) as bar:
        for b, start in enumerate(range(0, len(prompts), bs)):
            chunk = prompts[start : start + bs]
            gen = sample_with_settings(model, tokenizer, chunk, cfg, seed=cfg.seed + b)
            if ref_model is None:
                kl = analytic = [0.0] * len(chunk)
            elif not kl_is_scored(cfg):
                kl = analytic = [None] * len(chunk)
            else:
                t = cfg.temperature if cfg.do_sample else 1.0
                with torch.no_grad():
                    token_kl, lp, lp_ref = response_token_kl(
                        model,
                        ref_model,
                        gen.query_ids,
                        gen.response_ids,
                        t,
                        query_mask=gen.query_mask,
                        response_mask=gen.response_mask,
                    )
                kl = sequence_kl(lp, lp_ref, gen.response_mask.to(lp.dtype)).tolist()
                analytic = token_kl.sum(dim=-1).tolist()
            for i in range(len(chunk)):
                rows.append(
                    {
                        "response": gen.response_texts[i],
                        "length": int(gen.lengths[i]),
                        "ended_with_eos": bool(gen.ended_with_eos[i]),
                        "kl": None if kl[i] is None else float(kl[i]),
                        "kl_analytic": None if analytic[i] is None else float(analytic[i]),
                    }
                )
            bar.update(len(chunk))
    return rows


def sample_candidates(model, tokenizer, prompts, cfg, ks: list[int], desc: str | None = None):
    """Yield ``(k, rows)`` for each best-of-n candidate index in ``ks``: one response per prompt from
    ``model`` (the reference) with the evaluation's sampling settings and the seeds of
    :data:`BON_SEED_STRIDE`; rows hold ``response``, ``length``, ``ended_with_eos``. ``desc`` labels the
    progress bar (default: the best-of-n candidates)."""
    from tqdm.auto import tqdm

    bs = cfg.batch_size
    n = max(ks) + 1 if ks else 0
    desc = desc or f"sample best-of-{n} candidates"
    with tqdm(total=len(ks) * len(prompts), desc=desc, unit="sample", file=sys.stderr) as bar:
        for k in ks:
            rows = []
            for b, start in enumerate(range(0, len(prompts), bs)):
                seed = cfg.seed + BON_SEED_STRIDE * (k + 1) + b
                gen = sample_with_settings(model, tokenizer, prompts[start : start + bs], cfg, seed=seed)
                rows += [
                    {
                        "response": gen.response_texts[i],
                        "length": int(gen.lengths[i]),
                        "ended_with_eos": bool(gen.ended_with_eos[i]),
                    }
                    for i in range(len(gen))
                ]
                bar.update(len(gen))
            yield k, rows


def best_of_n_rows(ns, candidates: list[list[dict]], rm_scores: list[list[float]], with_kl: bool = True):
    """``({"bon<n>": rows}, {"bon<n>": reward-model scores})`` for each n in ``ns``: per prompt the
    candidate the reward model scores highest among the first n. ``candidates`` and ``rm_scores`` are
    ``[n_max][P]``. The chosen candidate's own score is the proxy reward (no rescoring: the same number
    that made it win); KL is the analytic KL of best-of-n, None without ``with_kl`` (top-k/top-p: the
    candidates come from the truncated reference, and log n − (n−1)/n is the KL to that, not to π_ref)."""
    from rlhf_trl.evaluation.baselines import best_of_n, bon_kl

    per_prompt = [list(c) for c in zip(*candidates)]  # [P][n_max]
    scores_pp = [list(s) for s in zip(*rm_scores)]
    rows, scores = {}, {}
    for n in sorted(ns):
        picks = best_of_n([[r["response"] for r in c[:n]] for c in per_prompt], [s[:n] for s in scores_pp])
        kl = bon_kl(n) if with_kl else None
        rows[f"bon{n}"] = [{**per_prompt[i][k], "kl": kl, "kl_analytic": kl} for i, k in enumerate(picks)]
        scores[f"bon{n}"] = [scores_pp[i][k] for i, k in enumerate(picks)]
    return rows, scores
