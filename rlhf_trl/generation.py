"""Sampling responses and scoring their tokens, shared by PPO and the evaluation harness.

Two rules make the numbers comparable everywhere they are used:

* **Temperature-consistent log-probs.** A response sampled at temperature ``T`` is scored with
  ``log_softmax(logits / T)``, the distribution it was actually drawn from (Huang et al. 2022,
  "The N Implementation Details of RLHF with PPO"). No other logits processor is active during
  sampling unless asked for (``top_k`` / ``top_p``), so the model's own ``generation_config``
  (repetition penalty and the like) cannot silently change the sampling distribution.
* **Masks come from lengths, not from ``id != pad``.** The embedded model's pad token
  (``<|endoftext|>``) is an ordinary vocabulary item the policy may sample; a mask derived from the
  pad id would drop it. Queries are left-padded (mask = from the first real token on), responses
  are right-padded after the first EOS (mask = up to and including the EOS).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from rlhf_trl.decoding import sample_tokens

__all__ = [
    "GenerationBatch",
    "generate_responses",
    "truncate_after_eos",
    "sequence_mask",
    "query_mask_from_ids",
    "response_mask_from_ids",
    "response_logprobs",
    "response_logits",
    "response_token_kl",
    "token_kl_from_logits",
    "position_ids_from_mask",
]


@dataclass
class GenerationBatch:
    """Prompts and sampled responses, as tensors on the model's device.

    Attributes:
        query_ids: ``[B, Lq]`` prompt token ids (chat template applied), **left**-padded.
        query_mask: ``[B, Lq]`` 1 on real prompt tokens.
        response_ids: ``[B, Lr]`` sampled ids; everything after the first EOS is ``pad_token_id``.
        response_mask: ``[B, Lr]`` 1 on real response tokens (the EOS included).
        response_texts: decoded responses without special tokens.
        ended_with_eos: ``[B]`` bool, the response contains EOS (it was not cut by ``max_new_tokens``).
        lengths: ``[B]`` number of response tokens, EOS included.
        sampler_logprobs: ``[B, Lr]`` float32 log-probability of each sampled token under the distribution
            it was drawn from (temperature, top-k/top-p applied; KV-cache decode
            in the sampler's precision), 0 after the response; None unless asked for.
        tokens_generated: sum of ``lengths`` (tokens the model actually produced).
    """

    query_ids: torch.Tensor
    query_mask: torch.Tensor
    response_ids: torch.Tensor
    response_mask: torch.Tensor
    response_texts: list[str]
    ended_with_eos: torch.Tensor
    lengths: torch.Tensor
    sampler_logprobs: torch.Tensor | None = None

    @property
    def tokens_generated(self) -> int:
        return int(self.lengths.sum())

    def __len__(self) -> int:
        return self.query_ids.shape[0]


# ------------------------------------------------------------------------------------------- masks


def sequence_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """``[B]`` lengths -> ``[B, max_len]`` long mask, 1 at positions ``< length``."""
    return (torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]).long()


def truncate_after_eos(
    response_ids: torch.Tensor, eos_token_id: int, pad_token_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cut every response after its first EOS.

    Args:
        response_ids: ``[B, Lr]`` raw sampled ids.
    Returns:
        ``(ids [B, Lr], lengths [B], ended_with_eos [B] bool)``: ids with everything after the first
        EOS set to ``pad_token_id`` (the EOS itself kept), the number of tokens up to and including
        that EOS (``Lr`` when there is none), and whether an EOS was found.
    """
    is_eos = response_ids == eos_token_id
    ended = is_eos.any(dim=1)
    first_eos = is_eos.long().argmax(dim=1)  # 0 when there is no EOS; replaced below
    lengths = torch.where(ended, first_eos + 1, torch.full_like(first_eos, response_ids.shape[1]))
    mask = sequence_mask(lengths, response_ids.shape[1]).bool()
    return response_ids.masked_fill(~mask, pad_token_id), lengths, ended


def query_mask_from_ids(query_ids: torch.Tensor, pad_token_id: int) -> torch.Tensor:
    """``[B, Lq]`` left-padded ids -> mask that is 1 from the first non-pad token on.

    A pad id *inside* a prompt stays unmasked (only the leading run is padding).
    """
    return (torch.cumsum((query_ids != pad_token_id).long(), dim=1) > 0).long()


def response_mask_from_ids(response_ids: torch.Tensor, pad_token_id: int) -> torch.Tensor:
    """``[B, Lr]`` right-padded ids -> mask that is 1 up to and including the last non-pad token.

    Prefer :func:`sequence_mask` on known lengths; this is the fallback when only ids are at hand.
    """
    real = (response_ids != pad_token_id).long()
    return (torch.flip(torch.cumsum(torch.flip(real, [1]), dim=1), [1]) > 0).long()


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """``[B, L]`` mask -> position ids counting real tokens only, so a left-padded sequence gets
    the same positions as the unpadded one (padding positions get 0; they are masked anyway)."""
    return (torch.cumsum(attention_mask, dim=1) - 1).clamp(min=0)


# ------------------------------------------------------------------------------------------ scoring


def response_logits(
    model,
    query_ids: torch.Tensor,
    response_ids: torch.Tensor,
    query_mask: torch.Tensor,
    response_mask: torch.Tensor,
) -> torch.Tensor:
    """Logits that predict each response token: ``[B, Lr, V]`` (float32, not temperature-scaled).

    One forward pass over ``[query; response]`` with explicit position ids; only the last
    ``Lr + 1`` positions go through the LM head.
    """
    input_ids = torch.cat([query_ids, response_ids], dim=1)
    attention_mask = torch.cat([query_mask, response_mask], dim=1).long()
    lr = response_ids.shape[1]
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids_from_mask(attention_mask),
        logits_to_keep=lr + 1,
        use_cache=False,
    )
    return out.logits[:, :-1, :].float()


def response_logprobs(
    model,
    query_ids: torch.Tensor,
    response_ids: torch.Tensor,
    pad_token_id: int,
    temperature: float = 1.0,
    *,
    query_mask: torch.Tensor | None = None,
    response_mask: torch.Tensor | None = None,
    return_entropy: bool = False,
    entropy_grad: bool = True,
):
    """Per-token log-probs of the response tokens under ``model``: ``[B, Lr]``, masked positions 0.

    Args:
        query_ids: ``[B, Lq]`` left-padded prompts.
        response_ids: ``[B, Lr]`` right-padded responses.
        temperature: the sampling temperature; logits are divided by it (temperature-consistent).
        query_mask, response_mask: ``[B, Lq]``, ``[B, Lr]``; derived from ``pad_token_id`` when omitted
            (see :func:`query_mask_from_ids`, :func:`response_mask_from_ids`).
        return_entropy: also return the per-token entropy ``[B, Lr]`` of ``softmax(logits / T)``.
        entropy_grad: False computes that entropy outside autograd (a logged statistic, e.g. PPO without
            an entropy bonus): its softmax over the vocabulary then stays out of the backward pass.

    Gradients flow when called with grad enabled (PPO's update uses this function too).
    """
    from trl.trainer.utils import entropy_from_logits, selective_log_softmax

    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if query_mask is None:
        query_mask = query_mask_from_ids(query_ids, pad_token_id)
    if response_mask is None:
        response_mask = response_mask_from_ids(response_ids, pad_token_id)
    logits = response_logits(model, query_ids, response_ids, query_mask, response_mask) / temperature
    logprobs = selective_log_softmax(logits, response_ids) * response_mask
    if not return_entropy:
        return logprobs
    with torch.set_grad_enabled(torch.is_grad_enabled() and entropy_grad):
        entropy = entropy_from_logits(logits) * response_mask
    return logprobs, entropy


def token_kl_from_logits(
    logits: torch.Tensor,
    ref_logits: torch.Tensor,
    tokens: torch.Tensor | None = None,
    chunk_elements: int = 2**23,
):
    """Analytic KL(softmax(logits) ‖ softmax(ref_logits)) at every position: ``[..., V]`` -> ``[...]``.

    Exact over the vocabulary, so it is never negative (clamped at 0 against float rounding), unlike
    the one-sample term log π(y_t) − log π_ref(y_t). With ``tokens`` (``[...]`` ids) also returns the
    log-probs of those tokens under both distributions: ``(kl, logprobs, ref_logprobs)``. Rows are
    processed ``chunk_elements / V`` at a time in float32, so no ``[..., V]`` temporary is made
    beyond the inputs.
    """
    if logits.shape != ref_logits.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and ref_logits {tuple(ref_logits.shape)} differ")
    vocab = logits.shape[-1]
    flat, ref_flat = logits.reshape(-1, vocab), ref_logits.reshape(-1, vocab)
    ids = None if tokens is None else tokens.reshape(-1, 1)
    rows = max(1, chunk_elements // vocab)
    kl, lp, lp_ref = (torch.empty(flat.shape[0], device=logits.device) for _ in range(3))
    for start in range(0, flat.shape[0], rows):
        sl = slice(start, start + rows)
        logp = torch.log_softmax(flat[sl].float(), dim=-1)
        logq = torch.log_softmax(ref_flat[sl].float(), dim=-1)
        kl[sl] = (logp.exp() * (logp - logq)).sum(dim=-1)
        if ids is not None:
            lp[sl] = logp.gather(1, ids[sl]).squeeze(1)
            lp_ref[sl] = logq.gather(1, ids[sl]).squeeze(1)
    shape = logits.shape[:-1]
    kl = kl.clamp(min=0.0).reshape(shape)
    if tokens is None:
        return kl
    return kl, lp.reshape(shape), lp_ref.reshape(shape)


def response_token_kl(
    model,
    ref_model,
    query_ids: torch.Tensor,
    response_ids: torch.Tensor,
    temperature: float = 1.0,
    *,
    query_mask: torch.Tensor,
    response_mask: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-token analytic KL of ``model`` from ``ref_model`` along given responses, and both models'
    log-probs of the response tokens, from one forward pass of each model.

    Args:
        query_ids, query_mask: ``[B, Lq]`` left-padded prompts and their mask.
        response_ids, response_mask: ``[B, Lr]`` right-padded responses (usually ``model``'s own samples)
            and their mask (1 up to and including the EOS).
        temperature: both distributions are ``softmax(logits / T)``, the sampling distribution.
    Returns:
        ``(kl, logprobs, ref_logprobs)``, each ``[B, Lr]`` float32 and 0 on masked positions:
        ``kl[b, t]`` = KL(π(·|x, y_<t) ‖ π_ref(·|x, y_<t)) ≥ 0, and log π(y_t|·), log π_ref(y_t|·) as
        :func:`response_logprobs` gives them. Over y ~ π, E[Σ_t kl] = E[Σ_t (logprobs − ref_logprobs)]
        = KL of the response distributions (chain rule); per sequence the analytic sum is never
        negative, though its variance over sequences is not always the smaller one.
        No top-k/top-p truncation is applied: the caller decides what that means for its samples.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = response_logits(model, query_ids, response_ids, query_mask, response_mask) / temperature
    ref_logits = response_logits(ref_model, query_ids, response_ids, query_mask, response_mask) / temperature
    kl, logprobs, ref_logprobs = token_kl_from_logits(logits, ref_logits, response_ids)
    mask = response_mask.to(kl.dtype)
    return kl * mask, logprobs * mask, ref_logprobs * mask


# --------------------------------------------------------------------------------------- generation


def neutral_generation_config(tokenizer, *, max_new_tokens, temperature, top_k, top_p, do_sample):
    """The sampling of :func:`generate_responses` as a ``GenerationConfig`` for transformers' ``generate``,
    which the toolkit no longer uses: tests and bench/generation.py compare our decode loop against it.

    Every processor that could reshape the distribution is set explicitly to neutral: generate() fills
    unset (None) fields from the model's own generation_config.
    """
    from transformers import GenerationConfig

    return GenerationConfig(
        max_new_tokens=max_new_tokens,
        min_new_tokens=0,
        do_sample=do_sample,
        temperature=temperature if do_sample else 1.0,
        top_k=top_k if do_sample else 0,
        top_p=top_p if do_sample else 1.0,
        min_p=0.0,
        typical_p=1.0,
        epsilon_cutoff=0.0,
        eta_cutoff=0.0,
        repetition_penalty=1.0,
        no_repeat_ngram_size=0,
        num_beams=1,
        use_cache=True,  # Trainer sets model.config.use_cache from TrainingArguments (False by default)
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )


def encode_prompts(
    tokenizer, prompts: list[list[dict]], device=None, max_prompt_length: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Chat template with ``add_generation_prompt=True``, tokenised and left-padded: ``(ids, mask)``.

    ``max_prompt_length`` keeps the last that many tokens (the latest turns and the generation prompt).
    """
    texts = [tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts]
    sides = tokenizer.padding_side, tokenizer.truncation_side
    tokenizer.padding_side = tokenizer.truncation_side = "left"
    try:
        enc = tokenizer(
            texts,
            add_special_tokens=False,
            padding=True,
            return_tensors="pt",
            truncation=max_prompt_length is not None,
            max_length=max_prompt_length,
        )
    finally:
        tokenizer.padding_side, tokenizer.truncation_side = sides
    return enc["input_ids"].to(device), enc["attention_mask"].to(device)


def _length_order(tokenizer, prompts: list[list[dict]]) -> list[int]:
    """Prompt indices, longest templated prompt first (stable for equal lengths)."""
    texts = [tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts]
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    return sorted(range(len(prompts)), key=lambda i: -lengths[i])


def _left_pad(t: torch.Tensor, width: int, value: int) -> torch.Tensor:
    return torch.nn.functional.pad(t, (width - t.shape[1], 0), value=value)


def _right_pad(t: torch.Tensor, width: int, value: int) -> torch.Tensor:
    return torch.nn.functional.pad(t, (0, width - t.shape[1]), value=value)


def _rng(device: torch.device, seed: int | None):
    if seed is None:
        return contextlib.nullcontext()
    devices = [device] if device.type == "cuda" else []
    ctx = torch.random.fork_rng(devices=devices)

    @contextlib.contextmanager
    def seeded():
        with ctx:
            torch.manual_seed(seed)
            yield

    return seeded()


@torch.no_grad()
def generate_responses(
    model,
    tokenizer,
    prompts: list[list[dict]],
    *,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    do_sample: bool = True,
    batch_size: int = 16,
    seed: int | None = None,
    max_prompt_length: int | None = None,
    sort_by_length: bool = True,
    return_sampler_logprobs: bool = False,
) -> GenerationBatch:
    """Sample one response per prompt (a prompt is a list of ``{"role", "content"}`` messages).

    With ``sort_by_length`` (default) prompts are batched longest first, so a batch pads to a similar
    length (prefill is compute-bound on a CPU and padding is wasted work); results come back in the
    caller's order. Batches of the same size and order otherwise.

    Reproducible for a given ``seed`` (the global RNG is restored afterwards); ``seed=None`` draws
    from the global RNG. ``top_k=0`` and ``top_p=1.0`` disable those filters; ``max_prompt_length``
    truncates prompts from the left. Runs in eval mode
    (dropout off) and restores the model's mode. Sampling is :func:`rlhf_trl.decoding.sample_tokens`
    (a static-cache decode loop; the model's own ``generation_config`` plays no part);
    ``return_sampler_logprobs`` fills ``sampler_logprobs`` from the distribution each token was drawn from.
    """
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if do_sample and temperature <= 0:
        raise ValueError(f"temperature must be > 0 when sampling, got {temperature}")
    device = next(model.parameters()).device
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    was_training = model.training
    model.eval()
    order = _length_order(tokenizer, prompts) if sort_by_length else list(range(len(prompts)))
    queries, masks, responses, sampler = [], [], [], []
    try:
        with _rng(device, seed):
            for start in range(0, len(prompts), batch_size):
                chunk = [prompts[i] for i in order[start : start + batch_size]]
                q, m = encode_prompts(tokenizer, chunk, device, max_prompt_length)
                ids, logprobs = sample_tokens(
                    model,
                    q,
                    m,
                    max_new_tokens=max_new_tokens,
                    eos_token_id=eos,
                    pad_token_id=pad,
                    temperature=temperature,
                    top_k=top_k,
                    top_p=top_p,
                    do_sample=do_sample,
                    return_logprobs=return_sampler_logprobs,
                )
                queries.append(q)
                masks.append(m)
                responses.append(ids)
                sampler.append(logprobs)
    finally:
        model.train(was_training)
    lq = max(q.shape[1] for q in queries)
    lr = max(r.shape[1] for r in responses)
    # Back to the caller's order.
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[torch.tensor(order, dtype=torch.long)] = torch.arange(len(order))
    inverse = inverse.to(device)
    query_ids = torch.cat([_left_pad(q, lq, pad) for q in queries])[inverse]
    query_mask = torch.cat([_left_pad(m, lq, 0) for m in masks])[inverse]
    raw = torch.cat([_right_pad(r, lr, pad) for r in responses])[inverse]
    response_ids, lengths, ended = truncate_after_eos(raw, eos, pad)
    # Trim columns no response uses (all batches padded to the longest one).
    lr = max(int(lengths.max()), 1)
    response_ids = response_ids[:, :lr]
    response_mask = sequence_mask(lengths, lr)
    texts = tokenizer.batch_decode(response_ids, skip_special_tokens=True)
    sampler_logprobs = None
    if return_sampler_logprobs:
        sampler_logprobs = torch.cat(
            [_right_pad(s, lr, 0) if s.shape[1] < lr else s[:, :lr] for s in sampler]
        )
        # masked_fill, not a product: a token after the EOS may be one top-k/top-p gave -inf
        sampler_logprobs = sampler_logprobs[inverse].masked_fill(response_mask == 0, 0.0)
    return GenerationBatch(
        query_ids=query_ids,
        query_mask=query_mask,
        response_ids=response_ids,
        response_mask=response_mask,
        response_texts=texts,
        ended_with_eos=ended,
        lengths=lengths,
        sampler_logprobs=sampler_logprobs,
    )
