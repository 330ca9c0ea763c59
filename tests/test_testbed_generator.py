"""The bundled testbed: reproducible byte for byte, with the composition the comparison needs."""

import gzip
import json
from collections import Counter

import pytest

from rlhf_trl.data import parse_hh_pair
from rlhf_trl.testbed import BUNDLED_DIR, bank, is_refusal
from rlhf_trl.testbed import generate as gen
from rlhf_trl.testbed.gold import is_harmful_request


def _rows(name):
    with gzip.open(BUNDLED_DIR / name, "rt") as f:
        return [json.loads(line) for line in f]


def test_build_reproduces_the_committed_files(tmp_path):
    for name, path in gen.build(tmp_path).items():
        assert path.read_bytes() == (BUNDLED_DIR / path.name).read_bytes(), (
            f"{name} differs: rerun the build step"
        )


@pytest.fixture(scope="module")
def pairs():
    return [
        parse_hh_pair(r["chosen"], r["rejected"]) for s in ("train", "test") for r in _rows(f"{s}.jsonl.gz")
    ]


def test_sizes_and_multi_turn_share(pairs):
    assert len(_rows("train.jsonl.gz")) >= 2000 and len(_rows("test.jsonl.gz")) >= 200
    assert len(_rows("dev_prompts.jsonl.gz")) == len(_rows("test_prompts.jsonl.gz")) == 100
    assert sum(len(p["prompt"]) > 1 for p in pairs) / len(pairs) >= 0.2


def test_harmful_requests_teach_polite_refusal(pairs):
    """Enough harmful requests with a refusal chosen and compliance rejected for a reward model or DPO
    to learn to refuse, and benign requests with an over-refusal rejected, so it does not refuse all."""
    harmful = [p for p in pairs if is_harmful_request(p["prompt"])]
    assert 0.2 < len(harmful) / len(pairs) < 0.5
    refused = [p for p in harmful if is_refusal(p["chosen"][0]["content"])]
    assert len(refused) / len(harmful) > 0.95
    assert sum(not is_refusal(p["rejected"][0]["content"]) for p in refused) >= 300
    benign = [p for p in pairs if not is_harmful_request(p["prompt"])]
    assert sum(is_refusal(p["rejected"][0]["content"]) for p in benign) >= 100


@pytest.mark.parametrize("split", ["train", "test"])
def test_refusing_is_right_exactly_when_the_request_is_harmful(split):
    """Among pairs with one refusal side, the refusal wins about half the time, and exactly when the
    request is harmful: the wording of a refusal cannot tell a reward model the label, only the request
    can. (With refusals chosen 72 % of the time, the seed-42 reward model scored a polite refusal of a
    benign dev prompt above the SFT model's own answer on 47 of 55.)"""
    rows = [parse_hh_pair(r["chosen"], r["rejected"]) for r in _rows(f"{split}.jsonl.gz")]
    one_side = [
        p for p in rows if is_refusal(p["chosen"][0]["content"]) != is_refusal(p["rejected"][0]["content"])
    ]
    assert len(one_side) / len(rows) > 0.4
    refusal_wins = [is_refusal(p["chosen"][0]["content"]) for p in one_side]
    assert 0.4 < sum(refusal_wins) / len(one_side) < 0.6
    assert refusal_wins == [is_harmful_request(p["prompt"]) for p in one_side]
    # the benign side of the mirror: the model's own answers chosen over a polite refusal
    samples = _model_samples()
    own = [
        p for p in one_side if not is_harmful_request(p["prompt"]) and p["chosen"][0]["content"] in samples
    ]
    assert len(own) / len(rows) > 0.1


def test_the_models_own_refusals_are_chosen_on_harmful_and_rejected_on_benign_requests(pairs):
    """The refusals a policy writes after SFT (an opener, then its own words: refusal_samples.jsonl.gz) are on
    both sides, by request: with only composed refusals the seed-42 reward model (64 steps) scored a composed
    refusal of a harmful dev prompt 2.2 above the SFT model's compliance but the SFT model's own refusals
    only 0.8 above it, and PPO's below it (docs/testbed.md)."""
    own = {s["response"].strip() for s in gen.read_samples(BUNDLED_DIR / gen.REFUSAL_SAMPLES_FILE)}
    assert len(own) >= 350 and all(is_refusal(r) for r in own)
    for split, at_least in (("train", (150, 80)), ("test", (20, 10))):
        rows = [parse_hh_pair(r["chosen"], r["rejected"]) for r in _rows(f"{split}.jsonl.gz")]
        chosen = [p for p in rows if p["chosen"][0]["content"] in own]
        rejected = [p for p in rows if p["rejected"][0]["content"] in own]
        assert all(is_harmful_request(p["prompt"]) for p in chosen)
        assert not any(is_harmful_request(p["prompt"]) for p in rejected)
        assert (len(chosen), len(rejected)) >= at_least, split
        assert len(rejected) >= at_least[1], split


def test_rejected_replies_are_not_a_handful_of_fixed_strings(pairs):
    """v1 had 24% of rejected replies from 9 strings that were never chosen: a lexical rule, not a
    preference, to learn. The most frequent rejected replies now are polite refusals of benign requests,
    worded exactly as the refusals chosen on harmful ones (each of the top strings is chosen elsewhere)."""
    rejected = Counter(p["rejected"][0]["content"] for p in pairs)
    chosen = Counter(p["chosen"][0]["content"] for p in pairs)
    only_rejected = Counter({text: n for text, n in rejected.items() if text not in chosen})
    assert sum(n for _, n in only_rejected.most_common(9)) / len(pairs) < 0.03
    assert sum(n for _, n in rejected.most_common(9)) / len(pairs) < 0.06


def _model_samples():
    return {
        s["response"].strip()
        for name in (gen.SAMPLES_FILE, gen.HARMFUL_SAMPLES_FILE)
        for s in gen.read_samples(BUNDLED_DIR / name)
    }


def test_a_third_of_responses_are_model_samples(pairs):
    """Unmodified samples of the embedded model (from the committed caches), on either side."""
    samples = _model_samples()
    assert samples, "model_samples.jsonl.gz / harmful_samples.jsonl.gz are missing"
    sampled = sum(p[k][0]["content"] in samples for p in pairs for k in ("chosen", "rejected"))
    assert sampled / (2 * len(pairs)) >= 0.3


def test_refusals_are_preferred_to_the_models_own_compliance():
    """The rejected side of most harmful pairs is the embedded model's own answer, not a template: with
    only templated compliance, the seed-42 reward model learned the templates' words and did not
    penalise the policies' real compliance (docs/analysis/tuning/prototype_v2_seed42_dev.json)."""
    harmful_samples = {
        s["response"].strip() for s in gen.read_samples(BUNDLED_DIR / gen.HARMFUL_SAMPLES_FILE)
    }
    assert len(harmful_samples) >= 400
    for split, at_least in (("train", 400), ("test", 40)):
        rows = [parse_hh_pair(r["chosen"], r["rejected"]) for r in _rows(f"{split}.jsonl.gz")]
        own = [
            p
            for p in rows
            if is_harmful_request(p["prompt"]) and p["rejected"][0]["content"] in harmful_samples
        ]
        assert len(own) >= at_least, split
        assert all(is_refusal(p["chosen"][0]["content"]) for p in own)
        # ...and these are the majority of the split's harmful pairs
        assert len(own) / sum(is_harmful_request(p["prompt"]) for p in rows) > 0.5


def test_rejected_cover_every_failure_mode():
    rng = __import__("random").Random(0)
    reqs = bank.requests()
    modes = Counter()
    for req in reqs[:: len(reqs) // 20] + [r for r in reqs if r["kind"] == "harmful"][:3]:
        modes.update(gen.failures(req, reqs, rng).keys())
    assert set(modes) == {
        "off_topic",
        "rude",
        "rambling",
        "repetitive",
        "evasive",
        "cut_off",
        "complies",
        "over_refusal",
    }
    # ...and each mode appears as a rejected reply in the committed set.
    rejected = [
        parse_hh_pair(r["chosen"], r["rejected"])["rejected"][0]["content"] for r in _rows("train.jsonl.gz")
    ]
    assert any(r.startswith(tuple(bank.RUDE_PREFIXES)) for r in rejected)
    assert any(r.startswith(tuple(e.split("{")[0] for e in bank.EVASIVE)) for r in rejected)
    assert any(len(r.split()) > 150 for r in rejected)  # rambling
    assert any(r.startswith(tuple(c.split("{")[0] for c in bank.COMPLIANCE)) for r in rejected)
    assert any(r and r[-1] not in ".!?" for r in rejected)  # cut off


def test_build_check_reports_identical():
    assert gen.main(["build", "--check"]) == 0


def test_subcommand_flags_are_never_abbreviated(capsys):
    """`build --out X` must not set --out_dir (argparse's default would): a flag is its whole name."""
    with pytest.raises(SystemExit) as exit_info:
        gen.main(["build", "--out", "/tmp/never-written"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --out" in capsys.readouterr().err
