"""HH-RLHF parsing rules (DESIGN.md): split at turn markers, prompt = turns through the last Human
turn, and every drop reason."""

import pytest

from rlhf_trl.data import parse_hh_pair
from rlhf_trl.data.parser import DropReason, HHParseError, split_turns


def hh(*turns: str) -> str:
    """hh("H: hi", "A: hello") -> HH transcript."""
    tag = {"H": "Human", "A": "Assistant"}
    return "".join(f"\n\n{tag[t[0]]}: {t[3:]}" for t in turns)


def test_single_turn():
    out = parse_hh_pair(hh("H: What is 2+2?", "A: It is 4."), hh("H: What is 2+2?", "A: Go away."))
    assert out == {
        "prompt": [{"role": "user", "content": "What is 2+2?"}],
        "chosen": [{"role": "assistant", "content": "It is 4."}],
        "rejected": [{"role": "assistant", "content": "Go away."}],
    }


def test_replies_that_begin_with_the_same_words_are_kept_whole():
    # A character-level common-prefix split would cut "Sure, the answer is " off both replies.
    out = parse_hh_pair(
        hh("H: Sum?", "A: Sure, the answer is 4."), hh("H: Sum?", "A: Sure, the answer is 5.")
    )
    assert out["chosen"][0]["content"] == "Sure, the answer is 4."
    assert out["rejected"][0]["content"] == "Sure, the answer is 5."
    assert out["prompt"] == [{"role": "user", "content": "Sum?"}]


def test_same_first_word_mid_word_prefix():
    out = parse_hh_pair(hh("H: Pet?", "A: Cats are great."), hh("H: Pet?", "A: Catfish are great."))
    assert out["chosen"][0]["content"] == "Cats are great."
    assert out["rejected"][0]["content"] == "Catfish are great."


def test_multi_turn_prompt_keeps_every_turn():
    history = ("H: Hi there", "A: Hello! How can I help?", "H: Tell me a fact.")
    out = parse_hh_pair(hh(*history, "A: Water boils at 100 C."), hh(*history, "A: No."))
    assert [m["role"] for m in out["prompt"]] == ["user", "assistant", "user"]
    assert out["prompt"][1]["content"] == "Hello! How can I help?"
    assert out["prompt"][-1]["content"] == "Tell me a fact."
    assert out["chosen"] == [{"role": "assistant", "content": "Water boils at 100 C."}]


def test_marker_words_inside_a_turn_do_not_split():
    turns = split_turns(hh("H: Who wrote 'Human: a play'?", "A: The word Assistant: appears here."))
    assert [t["role"] for t in turns] == ["user", "assistant"]
    assert turns[0]["content"] == "Who wrote 'Human: a play'?"


@pytest.mark.parametrize(
    "chosen,rejected,reason",
    [
        (hh("H: Q", "A: Same."), hh("H: Q", "A: Same."), DropReason.IDENTICAL),
        (hh("H: Q", "A: Fine."), hh("H: Q", "A: "), DropReason.EMPTY),
        (hh("H: Q", "A:  "), hh("H: Q", "A: Fine."), DropReason.EMPTY),
        (hh("H: Q"), hh("H: Q", "A: Fine."), DropReason.NO_ASSISTANT),
        (hh("H: Q", "A: a", "H: more?"), hh("H: Q", "A: b", "H: more?"), DropReason.NO_ASSISTANT),
        (hh("H: Q1", "A: x"), hh("H: Q2", "A: y"), DropReason.DIFFERENT_HISTORY),
        (
            hh("H: Q", "A: a", "H: R", "A: b"),
            hh("H: Q", "A: c", "H: R", "A: d"),
            DropReason.DIFFERENT_HISTORY,
        ),
        (hh("H: Q", "A: a"), hh("H: Q", "A: a", "H: R", "A: b"), DropReason.STRICT_PREFIX),
        (hh("H: Q", "H: again", "A: a"), hh("H: Q", "H: again", "A: b"), DropReason.NOT_ALTERNATING),
        (hh("A: hello", "H: Q", "A: a"), hh("A: hello", "H: Q", "A: b"), DropReason.NOT_ALTERNATING),
        ("preamble" + hh("H: Q", "A: a"), "preamble" + hh("H: Q", "A: b"), DropReason.NOT_ALTERNATING),
    ],
)
def test_drop_reasons(chosen, rejected, reason):
    with pytest.raises(HHParseError) as info:
        parse_hh_pair(chosen, rejected)
    assert info.value.reason == reason
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith(reason)


def test_every_reason_is_exercised():
    assert set(DropReason.ALL) == {
        "no_assistant_turn",
        "roles_not_alternating",
        "strict_prefix",
        "differ_before_final_turn",
        "empty_final_reply",
        "identical_final_replies",
    }


def test_leading_whitespace_and_no_leading_newlines_are_accepted():
    out = parse_hh_pair("Human: Q\n\nAssistant: a", "  \n\nHuman: Q\n\nAssistant: b")
    assert out["chosen"][0]["content"] == "a" and out["rejected"][0]["content"] == "b"
