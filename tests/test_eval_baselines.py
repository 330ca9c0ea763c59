"""Baselines (rlhf_trl/evaluation/baselines.py) against hand-written expectations."""

from __future__ import annotations

import math

import pytest

from rlhf_trl.evaluation import baselines as bl


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


MULTI_TURN = [
    {"role": "user", "content": "Hi there"},
    {"role": "assistant", "content": "Hello! How can I help?"},
    {"role": "user", "content": "How do I boil an egg?"},
]


def test_content_words_lowercase_unique_in_order_without_stopwords():
    assert bl.content_words("How do I boil an Egg? Boil it, don't fry the egg!") == ["boil", "egg", "fry"]
    assert bl.content_words("What’s 2 + 2?") == ["2"]  # curly apostrophe, a stopword contraction
    assert bl.content_words("Is it?") == []


def test_echo_repeats_the_last_user_turn():
    assert bl.echo([MULTI_TURN, user("Name a colour.")]) == ["How do I boil an egg?", "Name a colour."]


def test_keyword_sentence():
    assert bl.keyword_sentence([MULTI_TURN, user("Why is the SKY blue, and why is the sky so bright?")]) == [
        "Here is what I know about boil egg.",
        "Here is what I know about sky blue bright.",
    ]
    assert bl.keyword_sentence([user("Is it?")]) == ["Here is what I know about it."]


def test_fixed_sentence_and_refusal_ignore_the_prompt():
    prompts = [MULTI_TURN, user("x")]
    assert bl.fixed_sentence(prompts) == [bl.FIXED_SENTENCE] * 2
    assert (
        bl.refuse_all(prompts)
        == ["I'm sorry, but I can't help with that. I'd be happy to help with something else."] * 2
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Boil it for 7 minutes. Then cool it in", "Boil it for 7 minutes."),
        ('He said "stop!" and then the', 'He said "stop!"'),
        ("Really? (Yes.) And also", "Really? (Yes.)"),
        ("Use 3.5 cups of", "Use 3.5 cups of"),  # no sentence end: unchanged
        ("A full sentence. Another one!", "A full sentence. Another one!"),  # already ends one
        ("Ends with a quote.' ", "Ends with a quote.' "),
        ("Wait... what is", "Wait..."),
        ("", ""),
    ],
)
def test_trim_to_sentence(text, expected):
    assert bl.trim_to_sentence(text) == expected


def test_reference_trimmed_uses_the_reference_samples():
    out = bl.reference_trimmed([user("a"), user("b")], ["One. Two", "no end"])
    assert out == ["One.", "no end"]
    with pytest.raises(ValueError):
        bl.reference_trimmed([user("a")], [])


def test_nearest_train_chosen_most_shared_words_first_on_ties():
    train_prompts = [
        user("Tell me about the weather today"),
        user("How long should I boil an egg"),
        [*user("unrelated"), {"role": "assistant", "content": "ok"}, *user("egg recipes please")],
        user("boil egg soft yolk"),
    ]
    chosen = ["weather reply", "egg reply", "recipes reply", "soft yolk reply"]
    prompts = [
        MULTI_TURN,  # {boil, egg}: pairs 1 and 3 share 2 words -> the first, 1
        user("A soft yolk, please"),  # {soft, yolk}: pair 3
        user("Recipes with an egg"),  # {recipes, egg}: pair 2 (2 words) beats 1 and 3 (1 word)
        user("Quantum chromodynamics"),  # no shared word: the first pair
    ]
    assert bl.nearest_train_chosen(prompts, train_prompts, chosen) == [
        "egg reply",
        "soft yolk reply",
        "recipes reply",
        "weather reply",
    ]
    with pytest.raises(ValueError):
        bl.nearest_train_chosen(prompts, train_prompts, chosen[:2])


def test_trivial_responses_dispatches_and_checks_inputs():
    prompts = [user("Name a colour.")]
    assert bl.trivial_responses("echo", prompts) == ["Name a colour."]
    assert bl.trivial_responses("reference_trimmed", prompts, reference_responses=["Red. Bl"]) == ["Red."]
    out = bl.trivial_responses(
        "nearest_train_chosen", prompts, train_prompts=[user("colour names")], train_chosen=["Blue."]
    )
    assert out == ["Blue."]
    with pytest.raises(ValueError, match="reference"):
        bl.trivial_responses("reference_trimmed", prompts)
    with pytest.raises(ValueError, match="training"):
        bl.trivial_responses("nearest_train_chosen", prompts)
    with pytest.raises(ValueError, match="allowed"):
        bl.trivial_responses("bon4", prompts)
    assert set(bl.TRIVIAL) == {
        "echo",
        "keyword_sentence",
        "fixed_sentence",
        "refuse_all",
        "reference_trimmed",
        "nearest_train_chosen",
    }


def test_best_of_n_picks_the_argmax_first_on_ties():
    candidates = [["a", "b", "c"], ["d", "e", "f"], ["g"]]
    scores = [[0.1, 0.9, 0.3], [2.0, -1.0, 2.0], [-5.0]]
    assert bl.best_of_n(candidates, scores) == [1, 0, 0]
    with pytest.raises(ValueError):
        bl.best_of_n(candidates, scores[:2])
    with pytest.raises(ValueError):
        bl.best_of_n([["a", "b"]], [[1.0]])


def test_bon_kl_by_hand():
    assert bl.bon_kl(1) == 0.0
    assert bl.bon_kl(2) == pytest.approx(math.log(2) - 0.5)  # 0.1931
    assert bl.bon_kl(4) == pytest.approx(1.3862944 - 0.75)
    assert bl.bon_kl(16) == pytest.approx(2.7725887 - 0.9375)
    with pytest.raises(ValueError):
        bl.bon_kl(0)


def test_config_validates_baselines_and_best_of_n():
    from rlhf_trl.evaluation.config import EvaluationConfig

    cfg = EvaluationConfig()
    assert cfg.baselines == list(bl.TRIVIAL) and cfg.best_of_n == []
    assert EvaluationConfig(baselines=[], best_of_n=[4, 16]).best_of_n == [4, 16]
    with pytest.raises(ValueError, match=r"baselines: unknown baseline 'echoo'; allowed: echo, "):
        EvaluationConfig(baselines=["echoo"])
    with pytest.raises(ValueError, match="baselines"):
        EvaluationConfig(baselines=["echo", "echo"])
    for bad in ([1], [4, 4], [0]):
        with pytest.raises(ValueError, match="best_of_n"):
            EvaluationConfig(best_of_n=bad)
