"""A plain sampling loop for rollouts: prefill, then one forward per new token over a preallocated cache.

``transformers``' ``generate`` is general (beam search, logits processors, stopping criteria, streaming)
and pays for it on every token; a rollout needs none of it. :func:`sample_tokens` does exactly what
:func:`rlhf_trl.generation.generate_responses` asks of ``generate`` and nothing else:

* the prompt is encoded once (``logits_to_keep=1``: only the last position's logits are computed);
* every step feeds one token per row into a :class:`~transformers.StaticCache` allocated for
  ``prompt + max_new_tokens`` positions (no per-step ``torch.cat`` of the keys and values), with the
  same position ids as a plain forward pass of the padded sequence (:func:`position_ids_from_mask`),
  so the log-probs of the sampled tokens equal the scoring pass within float tolerance;
* the next token is drawn from ``softmax(logits / T)`` (top-k / top-p applied when asked) by inverting
  its cumulative distribution at one uniform number per row (:func:`draw`), where ``torch.multinomial``
  draws one exponential number per vocabulary entry (49k for SmolLM2) and row; rows that have emitted
  EOS are fed the pad token, and the loop stops as soon as every row has ended.

Models whose cache cannot be static (``_can_compile_fullgraph`` false in ``transformers``) get a
``DynamicCache``; nothing else changes.
"""

from __future__ import annotations

import torch

__all__ = ["sample_tokens", "filter_logits", "draw"]


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """``[B, V]`` logits with everything outside the top-k / nucleus set to ``-inf`` (0 and 1.0: off).

    The nucleus keeps the smallest set of tokens whose probability reaches ``top_p``, always at least
    one (the same rule as ``transformers``' ``TopPLogitsWarper``, applied after top-k).
    """
    if top_k and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=False, dim=-1)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        remove = cumulative <= (1 - top_p)
        remove[:, -1] = False  # the most likely token always stays
        logits = logits.masked_fill(remove.scatter(1, order, remove), float("-inf"))
    return logits


def draw(probs: torch.Tensor) -> torch.Tensor:
    """One index per row of ``[B, V]`` probabilities (rows need not be normalised), by inverse CDF.

    A zero-probability entry is never drawn: its cumulative sum equals its predecessor's, and the search
    returns the first entry whose cumulative sum exceeds the uniform draw. Uses the global RNG.
    """
    cdf = probs.float().cumsum(dim=-1)
    u = torch.rand(probs.shape[0], 1, device=probs.device) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True).clamp(max=probs.shape[-1] - 1).squeeze(1)


def _cache(model, max_len: int):
    from transformers import DynamicCache, StaticCache

    config = model.config
    if getattr(model, "_can_compile_fullgraph", False):
        return StaticCache(config=config, max_cache_len=max_len)
    return DynamicCache(config=config)


@torch.no_grad()
def sample_tokens(
    model,
    query_ids: torch.Tensor,
    query_mask: torch.Tensor,
    *,
    max_new_tokens: int,
    eos_token_id: int,
    pad_token_id: int,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    do_sample: bool = True,
    return_logprobs: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Sample up to ``max_new_tokens`` tokens after each left-padded prompt.

    Args:
        query_ids, query_mask: ``[B, Lq]`` left-padded prompt ids and mask.
        do_sample: False takes the most likely token (greedy); temperature, top-k and top-p are then
            ignored.
        return_logprobs: also return the log-probability of each drawn token under the distribution it
            was drawn from (temperature and filters applied).
    Returns:
        ``(ids [B, n], logprobs [B, n] float32 or None)``, ``n <= max_new_tokens``: every row up to and
        including its first EOS, then ``pad_token_id`` (logprob 0). ``n`` is shorter than
        ``max_new_tokens`` when all rows ended earlier. Draws from the global RNG.
    """
    batch, prompt_len = query_ids.shape
    device = query_ids.device
    mask = torch.cat(
        [query_mask.long(), torch.ones(batch, max_new_tokens, dtype=torch.long, device=device)], dim=1
    )
    cache = _cache(model, prompt_len + max_new_tokens)
    position = (query_mask.long().cumsum(dim=1) - 1).clamp(min=0)
    out = model(
        input_ids=query_ids,
        attention_mask=query_mask,
        position_ids=position,
        cache=cache,
        cache_position=torch.arange(prompt_len, device=device),
        use_cache=True,
        logits_to_keep=1,
    )
    # transformers before 5.2x names the argument `past_key_values` and swallows `cache=` in **kwargs
    if prompt_len and cache.get_seq_length() == 0:
        import transformers

        from rlhf_trl.errors import UserError

        raise UserError(
            f"transformers {transformers.__version__} ignored the KV cache passed as `cache=`: every decode step "
            "would see one token without its context; install the pinned version (pip install -r requirements.txt)"
        )
    next_position = position[:, -1:] + 1
    tokens, logprobs = [], []
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    for step in range(max_new_tokens):
        logits = out.logits[:, -1, :].float()
        if do_sample:
            logits = filter_logits(logits / temperature, top_k, top_p)
            token = draw(torch.softmax(logits, dim=-1))
        else:
            token = logits.argmax(dim=-1)
        if return_logprobs:
            chosen = torch.log_softmax(logits, dim=-1).gather(1, token[:, None]).squeeze(1)
            logprobs.append(chosen.masked_fill(finished, 0.0))
        token = token.masked_fill(finished, pad_token_id)
        tokens.append(token)
        finished |= token == eos_token_id
        if step == max_new_tokens - 1 or bool(finished.all()):
            break
        cache_at = prompt_len + step
        out = model(
            input_ids=token[:, None],
            attention_mask=mask[:, : cache_at + 1],
            position_ids=next_position + step,
            cache=cache,
            cache_position=torch.tensor([cache_at], device=device),
            use_cache=True,
        )
    ids = torch.stack(tokens, dim=1)
    return ids, (torch.stack(logprobs, dim=1) if return_logprobs else None)
