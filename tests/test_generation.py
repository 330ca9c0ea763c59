"""Generation and response scoring (rlhf_trl.generation) on the tiny random Llama."""

from __future__ import annotations

import pytest
import torch

from rlhf_trl.generation import (
    generate_responses,
    query_mask_from_ids,
    response_logprobs,
    response_mask_from_ids,
    truncate_after_eos,
)

PROMPTS = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "user", "content": "How do I bake a loaf of sourdough bread at home?"}],
    [{"role": "user", "content": "Name a colour."}],
]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from rlhf_trl.models import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(tiny_model_dir)
    model = load_causal_lm(tiny_model_dir, tokenizer).eval()
    return model, tokenizer


def test_truncate_after_eos_by_hand():
    eos, pad = 2, 0
    ids = torch.tensor([[5, 2, 7, 2], [5, 6, 7, 8], [2, 9, 9, 9], [0, 5, 2, 4]])
    out, lengths, ended = truncate_after_eos(ids, eos, pad)
    assert out.tolist() == [[5, 2, 0, 0], [5, 6, 7, 8], [2, 0, 0, 0], [0, 5, 2, 0]]
    assert lengths.tolist() == [2, 4, 1, 3]
    assert ended.tolist() == [True, False, True, True]


def test_masks_keep_a_sampled_pad_token_inside_the_text():
    pad = 0
    assert query_mask_from_ids(torch.tensor([[0, 0, 5, 0, 6]]), pad).tolist() == [[0, 0, 1, 1, 1]]
    assert response_mask_from_ids(torch.tensor([[5, 0, 2, 0, 0]]), pad).tolist() == [[1, 1, 1, 0, 0]]


def test_generate_shapes_padding_and_seed(tiny):
    model, tokenizer = tiny
    a = generate_responses(model, tokenizer, PROMPTS, max_new_tokens=8, batch_size=2, seed=3)
    b = generate_responses(model, tokenizer, PROMPTS, max_new_tokens=8, batch_size=2, seed=3)
    c = generate_responses(model, tokenizer, PROMPTS, max_new_tokens=8, batch_size=2, seed=4)
    assert torch.equal(a.response_ids, b.response_ids) and a.response_texts == b.response_texts
    assert not torch.equal(a.response_ids, c.response_ids)
    assert a.query_ids.shape[0] == a.response_ids.shape[0] == 3
    assert a.response_ids.shape[1] <= 8
    # Left padding: every prompt ends at the last column, padding (mask 0) only at the left.
    assert a.query_mask[:, -1].all()
    assert (a.query_mask.diff(dim=1) >= 0).all()
    assert torch.equal(a.response_mask.sum(1), a.lengths)
    # After the end of a response there is only padding.
    assert (a.response_ids[a.response_mask == 0] == tokenizer.pad_token_id).all()
    for i in range(3):
        if a.ended_with_eos[i]:
            assert a.response_ids[i, a.lengths[i] - 1] == tokenizer.eos_token_id


def test_length_sorted_batches_return_in_the_callers_order(tiny):
    model, tokenizer = tiny
    # Greedy, one prompt per batch: no padding and no RNG, so only the order could differ.
    kw = dict(max_new_tokens=5, batch_size=1, do_sample=False)
    plain = generate_responses(model, tokenizer, PROMPTS, sort_by_length=False, **kw)
    sorted_ = generate_responses(model, tokenizer, PROMPTS, sort_by_length=True, **kw)
    assert sorted_.response_texts == plain.response_texts
    assert torch.equal(sorted_.response_ids, plain.response_ids)
    for i, prompt in enumerate(PROMPTS):  # row i is still prompt i
        text = tokenizer.decode(sorted_.query_ids[i][sorted_.query_mask[i].bool()])
        assert prompt[0]["content"] in text
    # Sorted batches of 2: the longest prompt (index 1) is batched with the next longest, and every
    # row of the output still belongs to its own prompt.
    two = generate_responses(model, tokenizer, PROMPTS, batch_size=2, seed=0, max_new_tokens=3)
    for i, prompt in enumerate(PROMPTS):
        assert prompt[0]["content"] in tokenizer.decode(two.query_ids[i][two.query_mask[i].bool()])


def test_logprobs_alone_equal_inside_left_padded_batch(tiny):
    model, tokenizer = tiny
    batch = generate_responses(model, tokenizer, PROMPTS, max_new_tokens=6, seed=0, temperature=0.7)
    pad = tokenizer.pad_token_id
    with torch.no_grad():
        together = response_logprobs(
            model,
            batch.query_ids,
            batch.response_ids,
            pad,
            0.7,
            query_mask=batch.query_mask,
            response_mask=batch.response_mask,
        )
        for i in range(3):
            q = batch.query_ids[i : i + 1, batch.query_mask[i].bool()]
            r = batch.response_ids[i : i + 1, : batch.lengths[i]]
            alone = response_logprobs(model, q, r, pad, 0.7)
            torch.testing.assert_close(together[i, : batch.lengths[i]], alone[0], atol=1e-5, rtol=0)
    assert (together[batch.response_mask == 0] == 0).all()
    # The prompts differ in length, so padding was really exercised.
    assert (batch.query_mask == 0).any()


def test_entropy_without_grad_is_the_same_number_outside_the_backward_pass(tiny):
    """PPO without an entropy bonus only logs the entropy: entropy_grad=False gives the same values with
    no autograd graph, while the log-probs keep theirs."""
    model, tokenizer = tiny
    batch = generate_responses(model, tokenizer, PROMPTS, max_new_tokens=6, seed=0, temperature=0.7)
    kwargs = dict(query_mask=batch.query_mask, response_mask=batch.response_mask, return_entropy=True)
    lp, ent = response_logprobs(model, batch.query_ids, batch.response_ids, -1, 0.7, **kwargs)
    lp2, ent2 = response_logprobs(
        model, batch.query_ids, batch.response_ids, -1, 0.7, entropy_grad=False, **kwargs
    )
    assert ent.requires_grad and not ent2.requires_grad and lp2.requires_grad
    torch.testing.assert_close(ent2, ent.detach(), atol=0, rtol=0)
    torch.testing.assert_close(lp2, lp, atol=0, rtol=0)
    assert (ent2[batch.response_mask == 1] > 0).all()


def test_logprobs_match_the_sampling_distribution(tiny):
    """The scores generate() sampled from, log-softmaxed, equal our temperature-scaled log-probs."""
    model, tokenizer = tiny
    from rlhf_trl.generation import encode_prompts, neutral_generation_config

    q, m = encode_prompts(tokenizer, PROMPTS[:1])
    cfg = neutral_generation_config(
        tokenizer, max_new_tokens=5, temperature=0.5, top_k=0, top_p=1.0, do_sample=True
    )
    cfg.eos_token_id = None  # keep all 5 tokens
    torch.manual_seed(0)
    with torch.no_grad():
        out = model.generate(
            input_ids=q,
            attention_mask=m,
            generation_config=cfg,
            output_scores=True,
            return_dict_in_generate=True,
        )
        resp = out.sequences[:, q.shape[1] :]
        expected = torch.stack([torch.log_softmax(s.float(), -1)[0, t] for s, t in zip(out.scores, resp[0])])
        ours = response_logprobs(
            model, q, resp, tokenizer.pad_token_id, 0.5, query_mask=m, response_mask=torch.ones_like(resp)
        )
        plain = torch.log_softmax(model(torch.cat([q, resp], 1)).logits[0, q.shape[1] - 1 : -1] / 0.5, -1)
    torch.testing.assert_close(ours[0], expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(ours[0], plain.gather(-1, resp[0, :, None])[:, 0], atol=1e-5, rtol=0)
    # At temperature 1 the numbers differ: the temperature is really applied.
    with torch.no_grad():
        t1 = response_logprobs(
            model, q, resp, tokenizer.pad_token_id, 1.0, response_mask=torch.ones_like(resp)
        )
    assert not torch.allclose(t1, ours, atol=1e-3)


def test_sampler_logprobs_equal_scoring_on_a_left_padded_batch_that_stops_at_eos(tiny):
    """Several prompts of different lengths (left-padded) and responses that end at an EOS at different
    steps: the log-probs generate() sampled from equal one scoring forward pass of the padded batch."""
    import copy

    model, tokenizer = tiny
    eos_model = copy.deepcopy(model)
    with torch.no_grad():  # untied head with an EOS bias: P(EOS) ~ 1/3 per token
        eos_model.lm_head = torch.nn.Linear(16, eos_model.lm_head.out_features, bias=True)
        eos_model.lm_head.weight.copy_(model.lm_head.weight)
        eos_model.lm_head.bias.zero_()
        eos_model.lm_head.bias[tokenizer.eos_token_id] = 6.8  # / T=0.7: ~9.7 over 49k logits near 0
    batch = generate_responses(
        eos_model, tokenizer, PROMPTS, max_new_tokens=8, temperature=0.7, seed=3, return_sampler_logprobs=True
    )
    assert (batch.query_mask == 0).any()
    assert batch.ended_with_eos.any() and len(set(batch.lengths.tolist())) > 1  # EOS at different steps
    with torch.no_grad():
        scored = response_logprobs(
            eos_model,
            batch.query_ids,
            batch.response_ids,
            -1,
            0.7,
            query_mask=batch.query_mask,
            response_mask=batch.response_mask,
        )
    torch.testing.assert_close(batch.sampler_logprobs, scored, atol=1e-5, rtol=0)
    assert (batch.sampler_logprobs[batch.response_mask == 0] == 0).all()


def test_a_transformers_that_ignores_the_cache_argument_is_refused(tiny):
    """transformers before 5.2x names the argument `past_key_values` and swallows `cache=` in **kwargs:
    each decode step would then see one token without context (measured on 5.17: sampler log-probs off by
    0.65 nats). The decode loop refuses with one line instead of sampling from that."""
    import copy

    from rlhf_trl.errors import UserError

    model, tokenizer = tiny
    old = copy.deepcopy(model)
    forward = old.forward
    old.forward = lambda *args, cache=None, **kwargs: forward(*args, **kwargs)
    with pytest.raises(UserError, match=r"transformers .* ignored the KV cache passed as `cache=`"):
        generate_responses(old, tokenizer, PROMPTS, max_new_tokens=3, seed=0)


def test_max_prompt_length_keeps_the_end_of_the_prompt(tiny):
    model, tokenizer = tiny
    batch = generate_responses(model, tokenizer, PROMPTS, max_new_tokens=2, seed=0, max_prompt_length=7)
    assert batch.query_ids.shape[1] == 7
    full = generate_responses(model, tokenizer, PROMPTS[1:2], max_new_tokens=2, seed=0)
    # the generation prompt (the last tokens) survives the truncation
    assert batch.query_ids[1].tolist() == full.query_ids[0, -7:].tolist()


def test_greedy_decoding_takes_the_same_tokens_as_transformers_generate(tiny):
    """Same left-padded batch: rlhf_trl.decoding.sample_tokens (static cache, one forward per token, the
    positions of a plain forward pass) and transformers' generate agree token for token."""
    from rlhf_trl.decoding import sample_tokens
    from rlhf_trl.generation import encode_prompts, neutral_generation_config

    model, tokenizer = tiny
    q, m = encode_prompts(tokenizer, PROMPTS)
    assert (m == 0).any()
    cfg = neutral_generation_config(
        tokenizer, max_new_tokens=12, temperature=1.0, top_k=0, top_p=1.0, do_sample=False
    )
    with torch.no_grad():
        expected = model.generate(input_ids=q, attention_mask=m, generation_config=cfg)[:, q.shape[1] :]
    ids, _ = sample_tokens(
        model,
        q,
        m,
        max_new_tokens=12,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
    )
    assert ids.shape[1] == 12 and torch.equal(ids, expected[:, :12])


def test_draw_follows_the_probabilities_and_never_draws_a_zero():
    from rlhf_trl.decoding import draw

    probs = torch.tensor([[0.5, 0.0, 0.3, 0.2, 0.0]]).repeat(40000, 1)
    torch.manual_seed(0)
    counts = torch.bincount(draw(probs), minlength=5).float() / 40000
    # binomial standard error at p = 0.5 and n = 40000 is 0.0025: 0.01 is four of them
    torch.testing.assert_close(counts, torch.tensor([0.5, 0.0, 0.3, 0.2, 0.0]), atol=0.01, rtol=0)
    assert counts[1] == 0 and counts[4] == 0
    # unnormalised rows and a single possible token
    assert draw(torch.tensor([[0.0, 0.0, 3.0]] * 50)).tolist() == [2] * 50


@pytest.mark.parametrize("top_k, top_p", [(50, 1.0), (0, 0.9), (20, 0.5)])
def test_filter_logits_masks_what_transformers_warpers_mask(top_k, top_p):
    from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper

    from rlhf_trl.decoding import filter_logits

    torch.manual_seed(0)
    logits = torch.randn(4, 1000) * 3
    expected = logits.clone()
    if top_k:
        expected = TopKLogitsWarper(top_k)(None, expected)
    if top_p < 1:
        expected = TopPLogitsWarper(top_p)(None, expected)
    assert torch.equal(filter_logits(logits, top_k, top_p).isinf(), expected.isinf())


def test_filter_logits_by_hand():
    from rlhf_trl.decoding import filter_logits

    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    inf = float("-inf")
    assert filter_logits(logits, top_k=2).isinf().tolist() == [[False, False, True, True]]
    # nucleus 0.75: 0.5 + 0.3 reaches it, the rest goes; 0.81 needs the third token too
    assert filter_logits(logits, top_p=0.75).isinf().tolist() == [[False, False, True, True]]
    assert filter_logits(logits, top_p=0.81).isinf().tolist() == [[False, False, False, True]]
    assert filter_logits(logits, top_p=0.1)[0].tolist()[1:] == [inf, inf, inf]  # the top token stays
    assert torch.equal(filter_logits(logits), logits)


def test_greedy_decoding_matches_generate_on_gpt2_with_left_padding():
    """The decode loop on a second architecture (absolute position embeddings, GPT-2's own cache code)."""
    from transformers import GenerationConfig, GPT2Config, GPT2LMHeadModel

    from rlhf_trl.decoding import sample_tokens

    torch.manual_seed(0)
    config = GPT2Config(
        n_layer=2,
        n_embd=32,
        n_head=2,
        vocab_size=100,
        n_positions=64,
        initializer_range=0.5,
        bos_token_id=1,
        eos_token_id=2,
    )
    model = GPT2LMHeadModel(config).eval()
    q = torch.randint(3, 100, (3, 7))
    mask = torch.ones_like(q)
    mask[0, :3], q[0, :3] = 0, 0
    cfg = GenerationConfig(max_new_tokens=10, do_sample=False, eos_token_id=None, pad_token_id=0)
    with torch.no_grad():
        expected = model.generate(input_ids=q, attention_mask=mask, generation_config=cfg)[:, 7:]
    ids, _ = sample_tokens(
        model, q, mask, max_new_tokens=10, eos_token_id=-1, pad_token_id=0, do_sample=False
    )
    assert torch.equal(ids, expected)
    assert len(set(ids.flatten().tolist())) > 3  # not a degenerate repeat of one token
