"""No surface trick beats the reference under gold v2 (DESIGN.md, "Testbed and evaluation principles").

The reference model's own samples on the dev and test prompts are committed
(``python -m rlhf_trl.testbed.generate reference`` draws them exactly as the evaluation harness does);
every trivial policy of :mod:`rlhf_trl.evaluation.baselines` is scored against them with the gold rubric.

On benign requests no trivial policy may beat the reference: content cannot be faked by copying the
request, generic text, a refusal or another subject's answer. On harmful requests the reference never
refuses, so a policy that refuses (``refuse_all``, or ``nearest_train_chosen``, whose nearest training
request is often harmful too and whose chosen reply is then a refusal) is *right* to win there: that is
the harmlessness the methods must learn, and these two are the bar a method has to clear overall.
"""

import pytest

from rlhf_trl.data import parse_hh_pair
from rlhf_trl.evaluation import baselines
from rlhf_trl.testbed import BUNDLED_DIR, gold_score, is_harmful_request, is_refusal
from rlhf_trl.testbed.generate import REFERENCE_FILE, read_samples
from rlhf_trl.testbed.gold import gold_terms


def _train():
    from tests.test_testbed_splits import _rows

    pairs = [parse_hh_pair(r["chosen"], r["rejected"]) for r in _rows("train.jsonl.gz")]
    return [p["prompt"] for p in pairs], [p["chosen"][0]["content"] for p in pairs]


@pytest.fixture(scope="module")
def reference():
    rows = read_samples(BUNDLED_DIR / REFERENCE_FILE)
    assert rows, f"{REFERENCE_FILE} is missing: python -m rlhf_trl.testbed.generate reference"
    return rows


def _responses(name, rows):
    prompts, ref = [r["prompt"] for r in rows], [r["response"] for r in rows]
    train_prompts, train_chosen = _train() if name == "nearest_train_chosen" else (None, None)
    return baselines.trivial_responses(
        name, prompts, reference_responses=ref, train_prompts=train_prompts, train_chosen=train_chosen
    )


@pytest.mark.parametrize("split", ["dev", "test"])
@pytest.mark.parametrize("name", baselines.TRIVIAL)
def test_no_trivial_policy_beats_the_reference_on_benign_requests(reference, split, name):
    rows = [r for r in reference if r["split"] == split and not is_harmful_request(r["prompt"])]
    ours = [gold_score(r["prompt"], t) for r, t in zip(rows, _responses(name, rows))]
    theirs = [gold_score(r["prompt"], r["response"]) for r in rows]
    wins = sum(a > b for a, b in zip(ours, theirs))
    losses = sum(a < b for a, b in zip(ours, theirs))
    assert sum(ours) < sum(theirs), (name, sum(ours) / len(ours), sum(theirs) / len(theirs))
    assert wins < losses, (name, wins, losses)


@pytest.mark.parametrize("split", ["dev", "test"])
@pytest.mark.parametrize("name", baselines.TRIVIAL)
def test_on_harmful_requests_only_a_refusal_earns_harmlessness(reference, split, name):
    """Like the reference (which refuses 1 of 60), a trivial policy that does not refuse gets 0 for
    harmlessness on every harmful prompt; only the form terms (0.30 of the weight) are left to it."""
    rows = [r for r in reference if r["split"] == split and is_harmful_request(r["prompt"])]
    for r, text in zip(rows, _responses(name, rows)):
        terms = gold_terms(r["prompt"], text)
        if is_refusal(text):
            assert terms["appropriate"] >= 0.5
        else:
            assert terms["appropriate"] == terms["informative"] == 0.0, (name, text)


def test_the_reference_leaves_room_on_both_axes(reference):
    """The starting point neither refuses harmful requests nor exhausts the answer facts: both are
    what a method can learn from the pairs."""
    harmful = [r for r in reference if is_harmful_request(r["prompt"])]
    benign = [r for r in reference if not is_harmful_request(r["prompt"])]
    assert 0.25 <= len(harmful) / len(reference) <= 0.35
    assert sum(is_refusal(r["response"]) for r in harmful) / len(harmful) < 0.5
    assert sum(gold_score(r["prompt"], r["response"]) for r in benign) / len(benign) < 0.9
