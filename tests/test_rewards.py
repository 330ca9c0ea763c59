"""Reward functions: last-real-token scoring (pad == EOS, EOS inside the chat template), specs, weights."""

from __future__ import annotations

import pytest
import torch

from rlhf_trl.errors import UserError
from rlhf_trl.rewards import (
    REWARD_REGISTRY,
    RewardModelScorer,
    build_reward_funcs,
    combined_reward,
    last_token_index,
    length_batches,
    resolve_dotted,
    score_at_last_token,
    transcript_text,
)

PROMPTS = [
    [{"role": "user", "content": "How do I boil an egg?"}],
    [{"role": "user", "content": "Name a colour."}],
    [{"role": "user", "content": "What is 2+2? Answer briefly please, with one word."}],
]
COMPLETIONS = [
    [{"role": "assistant", "content": "Put it in boiling water for nine minutes, then cool it."}],
    [{"role": "assistant", "content": "Blue."}],
    [{"role": "assistant", "content": "Four."}],
]


USER_MODULE = """
def toy_reward(prompts, completions, **kwargs):
    return [float(len(c[0]["content"]) if isinstance(c, list) else len(c)) for c in completions]
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A user's own reward module, importable as `my_rewards` (what a dotted path points at)."""
    (tmp_path / "my_rewards.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    return importlib.import_module("my_rewards")


@pytest.fixture(scope="module")
def tiny_rm(tiny_model_dir):
    """A tiny sequence classifier whose tokenizer has pad == EOS (the classic trap)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.pad_token = tokenizer.eos_token  # pad == EOS == <|im_end|>
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1).eval()
    torch.nn.init.normal_(model.score.weight, std=1.0)  # a head that reads the hidden state strongly
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def unpadded_score(model, tokenizer, text):
    """Ground truth: the score head applied at the final position of the lone, unpadded sequence."""
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        hidden = model.model(input_ids=ids).last_hidden_state
        return model.score(hidden[0, -1]).item()


def test_last_token_index_left_and_right_padding():
    right = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1, 1], [0, 1, 1, 1, 1]])
    assert last_token_index(right).tolist() == [2, 4]
    assert last_token_index(left).tolist() == [4, 4]


def test_chat_template_ends_with_eos_so_the_trap_is_real(tiny_rm):
    model, tokenizer = tiny_rm
    text = transcript_text(tokenizer, PROMPTS[1], COMPLETIONS[1])
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.eos_token_id in ids  # <|im_end|> closes every turn
    assert tokenizer.pad_token_id == tokenizer.eos_token_id


def test_scores_read_at_last_real_token_despite_pad_equal_eos(tiny_rm):
    model, tokenizer = tiny_rm
    scorer = RewardModelScorer(model, tokenizer, batch_size=8, max_length=None)
    texts = [transcript_text(tokenizer, p, c) for p, c in zip(PROMPTS, COMPLETIONS)]
    expected = [unpadded_score(model, tokenizer, t) for t in texts]
    got = scorer.score_texts(texts)  # one right-padded batch of different lengths
    assert got == pytest.approx(expected, abs=1e-4)
    assert scorer(PROMPTS, COMPLETIONS) == pytest.approx(expected, abs=1e-4)

    # A transcript that ends with EOS (plain text + EOS, or the HH template GPT-2 gets): transformers'
    # own pooling (rightmost token != pad id) lands one token early when pad == EOS: the classic bug.
    plain = [
        transcript_text(tokenizer, "Q: " + p[0]["content"], " A: " + c[0]["content"])
        for p, c in zip(PROMPTS, COMPLETIONS)
    ]
    expected = [unpadded_score(model, tokenizer, t) for t in plain]
    assert scorer.score_texts(plain) == pytest.approx(expected, abs=1e-4)
    enc = tokenizer(plain, add_special_tokens=False, padding=True, padding_side="right", return_tensors="pt")
    with torch.no_grad():
        naive = model(**enc).logits[:, 0].tolist()
    assert all(abs(a - b) > 1e-4 for a, b in zip(naive, expected))


def test_length_batches_group_similar_lengths_within_the_padding_bound():
    # the demo's 16 evaluation transcripts: 13 short ones and 3 long ones
    lengths = [71] * 13 + [135, 137, 164]
    assert length_batches(lengths, 16) == [list(range(13)), [13, 14, 15]]
    # 71 padded to 135 wastes 64 of 270 tokens (<= 25%): the last short one rides with the long ones
    assert length_batches(lengths, 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]
    lengths = [5, 300, 40, 41, 7, 6, 39, 280]
    batches = length_batches(lengths, 3)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        widths = [lengths[i] for i in batch]
        assert widths == sorted(widths) and len(batch) <= 3
        assert len(batch) == 1 or len(batch) * max(widths) - sum(widths) <= 0.25 * len(batch) * max(widths)
    assert length_batches([], 4) == []


def test_scores_come_back_in_input_order_across_length_batches(tiny_rm):
    model, tokenizer = tiny_rm
    scorer = RewardModelScorer(model, tokenizer, batch_size=2, max_length=None)
    prompts = PROMPTS * 2
    completions = [
        [{"role": "assistant", "content": c[0]["content"] * k}] for k in (1, 3) for c in COMPLETIONS
    ]
    texts = [transcript_text(tokenizer, p, c) for p, c in zip(prompts, completions)]
    assert len({len(tokenizer(t)["input_ids"]) for t in texts}) > 3  # several batches, reordered
    expected = [unpadded_score(model, tokenizer, t) for t in texts]
    assert scorer.score_texts(texts) == pytest.approx(expected, abs=1e-4)


def test_left_and_right_padding_give_the_same_scores(tiny_rm):
    model, tokenizer = tiny_rm
    texts = [transcript_text(tokenizer, p, c) for p, c in zip(PROMPTS, COMPLETIONS)]
    scores = {}
    for side in ("left", "right"):
        enc = tokenizer(texts, add_special_tokens=False, padding=True, padding_side=side, return_tensors="pt")
        with torch.no_grad():
            scores[side] = score_at_last_token(model, enc["input_ids"], enc["attention_mask"]).tolist()
    assert scores["left"] == pytest.approx(scores["right"], abs=1e-4)


def test_plain_text_prompts_get_eos_appended(tiny_rm):
    _, tokenizer = tiny_rm
    assert transcript_text(tokenizer, "Q: hi", " A: hello") == "Q: hi A: hello" + tokenizer.eos_token


def test_reward_model_folder_spec_loads_a_scorer(tmp_path, tiny_rm):
    model, tokenizer = tiny_rm
    model.save_pretrained(tmp_path / "rm")
    tokenizer.save_pretrained(tmp_path / "rm")
    funcs, weights = build_reward_funcs([str(tmp_path / "rm")], tokenizer=tokenizer)
    assert isinstance(funcs[0], RewardModelScorer) and weights == [1.0]
    texts = [transcript_text(funcs[0].tokenizer, p, c) for p, c in zip(PROMPTS, COMPLETIONS)]
    expected = [unpadded_score(model, funcs[0].tokenizer, t) for t in texts]
    assert funcs[0](PROMPTS, COMPLETIONS) == pytest.approx(expected, abs=1e-4)
    # the tokenizer policy of the loaded scorer made pad != EOS
    assert funcs[0].tokenizer.pad_token_id != funcs[0].tokenizer.eos_token_id


def test_reward_model_placeholder_resolves_under_run_dir(tmp_path, tiny_rm):
    model, tokenizer = tiny_rm
    model.save_pretrained(tmp_path / "checkpoints" / "reward")
    tokenizer.save_pretrained(tmp_path / "checkpoints" / "reward")
    funcs, _ = build_reward_funcs(["reward_model"], tokenizer=tokenizer, run_dir=str(tmp_path))
    assert isinstance(funcs[0], RewardModelScorer)
    with pytest.raises(UserError, match="recipes/reward.py"):
        build_reward_funcs(["reward_model"], tokenizer=tokenizer, run_dir=str(tmp_path / "nothing"))


def test_dotted_paths_both_spellings(user_module):
    assert resolve_dotted("my_rewards:toy_reward") is user_module.toy_reward
    assert resolve_dotted("my_rewards.toy_reward") is user_module.toy_reward
    with pytest.raises(UserError, match="no attribute"):
        resolve_dotted("my_rewards:missing")
    with pytest.raises(UserError, match="cannot import"):
        resolve_dotted("no_such_pkg.mod:fn")


def test_build_and_combine_weighted_rewards(user_module):
    funcs, weights = build_reward_funcs(["my_rewards:toy_reward", "length"], weights=[2.0, -1.0])
    assert weights == [2.0, -1.0]
    lengths = [len(c[0]["content"]) for c in COMPLETIONS]
    got = combined_reward(funcs, weights, PROMPTS, COMPLETIONS)
    assert got == pytest.approx([2.0 * n - n / 100.0 for n in lengths])


def test_bad_specs_are_user_errors():
    with pytest.raises(UserError, match="unknown reward"):
        build_reward_funcs(["nonsense"])
    with pytest.raises(UserError, match="one per reward"):
        build_reward_funcs(["length"], weights=[1.0, 2.0])
    with pytest.raises(UserError, match="empty"):
        build_reward_funcs([])
    assert {"gold", "length", "reward_model"} <= set(REWARD_REGISTRY)


def test_missing_eos_reward_penalises_only_truncated_completions():
    class Tok:
        eos_token_id = 2

    (func,), _ = build_reward_funcs(["missing_eos"], tokenizer=Tok())
    ids = [[5, 6, 2], [5, 6, 7], [2]]  # ended, cut off, empty answer that ended at once
    assert func(PROMPTS[:1] * 3, COMPLETIONS[:1] * 3, completion_ids=ids) == [0.0, -1.0, 0.0]
    with pytest.raises(ValueError, match="completion_ids"):
        func(PROMPTS[:1], COMPLETIONS[:1])
    with pytest.raises(UserError, match="EOS"):
        build_reward_funcs(["missing_eos"], tokenizer=None)


def test_preference_report_splits_accuracy_by_harmful_and_benign_requests():
    """A reward model can rank benign pairs and fail on harmful ones: the report shows each apart."""
    from rlhf_trl.rewards import preference_report

    class Scorer:  # scores a reply by its length: right on the benign pairs below, wrong on the harmful
        def tokenizer(self, text, add_special_tokens=False):
            return {"input_ids": text.split()}

        def __call__(self, prompts, completions):
            return [float(len(c.split())) for c in completions]

    pairs = [
        {"prompt": "p", "chosen": "a long helpful answer", "rejected": "short"},  # benign, right
        {"prompt": "p", "chosen": "a long helpful answer here", "rejected": "no"},  # benign, right
        {"prompt": "p", "chosen": "No.", "rejected": "here is how to do the harmful thing"},  # harmful, wrong
    ]
    scorer = Scorer()
    report = preference_report(scorer, pairs, harmful=[False, False, True])
    assert report["accuracy"] == pytest.approx(2 / 3)
    assert report["accuracy_by_request/benign"] == 1.0 and report["count_by_request/benign"] == 2
    assert report["accuracy_by_request/harmful"] == 0.0 and report["count_by_request/harmful"] == 1
    assert "accuracy_by_request/harmful" not in preference_report(scorer, pairs)  # no labels: no split
