"""The bag-of-words preference baseline: learns a lexical rule when there is one, chance when there is none."""

import random

from rlhf_trl.lexical_baseline import bag_of_words_accuracy


def _pairs(rows):
    return {"chosen": [c for c, _ in rows], "rejected": [r for _, r in rows]}


def test_a_lexical_rule_is_learned_perfectly():
    rng = random.Random(0)
    words = [f"w{i}" for i in range(30)]

    def pair():
        body = " ".join(rng.sample(words, 5))
        return f"{body} thanks", f"{body} stupid"

    out = bag_of_words_accuracy(_pairs([pair() for _ in range(40)]), _pairs([pair() for _ in range(20)]))
    assert out["accuracy"] == 1.0 and out["train_pairs"] == 40 and out["test_pairs"] == 20


def test_no_signal_gives_chance_and_unknown_words_count_half():
    rng = random.Random(1)
    words = [f"w{i}" for i in range(50)]

    def pair():
        return " ".join(rng.sample(words, 6)), " ".join(rng.sample(words, 6))

    out = bag_of_words_accuracy(_pairs([pair() for _ in range(200)]), _pairs([pair() for _ in range(400)]))
    assert 0.4 < out["accuracy"] < 0.6
    unseen = bag_of_words_accuracy(_pairs([("a b", "c d"), ("a b", "c d")]), _pairs([("x", "y")]))
    assert unseen["accuracy"] == 0.5


def test_conversational_messages_are_read_as_text():
    msg = [{"role": "assistant", "content": "polite answer"}]
    bad = [{"role": "assistant", "content": "rude answer"}]
    out = bag_of_words_accuracy(_pairs([(msg, bad)] * 4), _pairs([(msg, bad)]))
    assert out["accuracy"] == 1.0
