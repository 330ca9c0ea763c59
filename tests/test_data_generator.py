"""The bundled set: reproducible byte for byte, and the composition issue 3 asks for."""

import gzip
import json
from collections import Counter

import pytest

from rlhf_trl.data import bank, parse_hh_pair
from rlhf_trl.data import generate_bundled as gen
from rlhf_trl.data.gold import is_harmful_request
from rlhf_trl.data.loaders import BUNDLED_DIR


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
    assert len(_rows("eval_prompts.jsonl.gz")) == 100
    assert sum(len(p["prompt"]) > 1 for p in pairs) / len(pairs) >= 0.2


def test_harmful_and_helpful_requests(pairs):
    harmful = sum(is_harmful_request(p["prompt"]) for p in pairs) / len(pairs)
    assert 0.1 < harmful < 0.5


def test_a_third_of_responses_are_model_samples(pairs):
    """Unmodified samples of the embedded model (from the committed cache), on either side."""
    samples = {s["response"].strip() for s in gen.read_samples(BUNDLED_DIR / gen.SAMPLES_FILE)}
    assert samples, "model_samples.jsonl.gz is missing"
    sampled = sum(p[k][0]["content"] in samples for p in pairs for k in ("chosen", "rejected"))
    assert sampled / (2 * len(pairs)) >= 1 / 3


def test_rejected_cover_every_failure_mode():
    rng = __import__("random").Random(0)
    reqs = bank.requests()
    modes = Counter()
    for req in reqs[:: len(reqs) // 20] + [r for r in reqs if r["kind"] == "harmful"][:3]:
        modes.update(gen.failures(req, reqs, rng).keys())
    assert set(modes) == {"off_topic", "rude", "rambling", "repetitive", "evasive", "cut_off", "complies"}
    # ...and each mode appears as a rejected reply in the committed set.
    rejected = [
        parse_hh_pair(r["chosen"], r["rejected"])["rejected"][0]["content"] for r in _rows("train.jsonl.gz")
    ]
    assert any(r.startswith(tuple(bank.RUDE_PREFIXES)) or r in bank.RUDE_ONE_LINERS for r in rejected)
    assert any(r in bank.EVASIVE for r in rejected)
    assert any(len(r.split()) > 150 for r in rejected)  # rambling
    assert any(r.startswith(tuple(c.split("{")[0] for c in bank.COMPLIANCE)) for r in rejected)
    assert any(r and r[-1] not in ".!?" for r in rejected)  # cut off


def test_eval_prompts_never_in_training():
    train_users = {
        m["content"]
        for r in _rows("train.jsonl.gz") + _rows("test.jsonl.gz")
        for m in parse_hh_pair(r["chosen"], r["rejected"])["prompt"]
        if m["role"] == "user"
    }
    evals = [r["prompt"] for r in _rows("eval_prompts.jsonl.gz")]
    assert len({json.dumps(p) for p in evals}) == 100
    assert not any(p[-1]["content"] in train_users for p in evals)
    assert all(
        gen.split_of(gen._final_request(p, {r["text"].lower(): r for r in bank.requests()})["text"]) == "eval"
        for p in evals
    )
