"""Held out by topic, on the committed files: no evaluation subject, paraphrase or answer is in a pair."""

import gzip
import json

import pytest

from rlhf_trl.data import parse_hh_pair
from rlhf_trl.testbed import BUNDLED_DIR, bank, splits
from rlhf_trl.testbed.gold import content_stems

REQS = {r["text"].lower(): r for r in bank.requests()}


def _rows(name):
    with gzip.open(BUNDLED_DIR / name, "rt") as f:
        return [json.loads(line) for line in f]


def _user_requests(prompt):
    """The bank request of every user turn (the test fails on a turn outside the bank)."""
    out = []
    for m in prompt:
        if m["role"] == "user":
            key = bank.request_key(m["content"], REQS)
            assert key is not None, m["content"]
            out.append(REQS[key])
    return out


@pytest.fixture(scope="module")
def pairs():
    return {
        split: [parse_hh_pair(r["chosen"], r["rejected"]) for r in _rows(f"{split}.jsonl.gz")]
        for split in ("train", "test")
    }


@pytest.fixture(scope="module")
def prompt_sets():
    return {s: [r["prompt"] for r in _rows(f"{s}_prompts.jsonl.gz")] for s in ("dev", "test")}


def test_every_turn_of_a_split_asks_a_subject_of_that_split(pairs, prompt_sets):
    expected = {"train": "train", "test": "pairs_test"}
    for split, rows in pairs.items():
        for p in rows:
            assert {splits.split_of_subject(r["subject"]) for r in _user_requests(p["prompt"])} == {
                expected[split]
            }
    for split, prompts in prompt_sets.items():
        assert len(prompts) == 100 and len({json.dumps(p) for p in prompts}) == 100
        for p in prompts:
            assert {splits.split_of_subject(r["subject"]) for r in _user_requests(p)} == {split}


def test_no_evaluation_subject_answer_or_near_duplicate_in_any_pair(pairs, prompt_sets):
    pair_reqs = [r for rows in pairs.values() for p in rows for r in _user_requests(p["prompt"])]
    pair_subjects = {r["subject"] for r in pair_reqs}
    pair_texts = " ".join(
        m["content"]
        for rows in pairs.values()
        for p in rows
        for m in p["prompt"] + p["chosen"] + p["rejected"]
    )
    for split, prompts in prompt_sets.items():
        for req in {r["subject"]: r for p in prompts for r in _user_requests(p)}.values():
            assert req["subject"] not in pair_subjects, (split, req["subject"])
            if req["answer"]:
                assert req["answer"] not in pair_texts, (split, req["subject"])
            # near-duplicate wording: no pair subject shares half of the content words of this one (the
            # phrasings around a subject, "without getting caught", are shared by design)
            mine = content_stems(req["subject"])
            for other in pair_subjects:
                theirs = content_stems(other)
                assert len(mine & theirs) < 0.5 * len(mine | theirs), (req["text"], other)


def test_dev_and_test_prompt_sets_are_disjoint_in_subject(prompt_sets):
    subjects = {s: {r["subject"] for p in ps for r in _user_requests(p)} for s, ps in prompt_sets.items()}
    assert not subjects["dev"] & subjects["test"]


def test_reference_answers_do_not_restate_their_requests_only():
    """Each benign subject's answer adds facts beyond the request's words (what `informative` counts)."""
    for req in bank.requests():
        if req["answer"]:
            facts = content_stems(req["answer"]) - content_stems(req["text"])
            assert len(facts) >= 5, req["text"]
