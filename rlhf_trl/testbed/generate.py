"""Deterministic generator of the bundled testbed (``rlhf_trl/testbed/bundled/``).

Steps::

    # slow (~40 min on a shared 2-core CPU): sample the embedded model on pair-split prompts
    python -m rlhf_trl.testbed.generate sample [--limit N]
    # ~6 min on 2 idle cores: its answers to every harmful request of the pair splits
    python -m rlhf_trl.testbed.generate sample --harmful
    # ~5 min: its own refusals (a refusal opener forced, the rest in its words) on harmful and benign prompts
    python -m rlhf_trl.testbed.generate sample --refusals
    # fast (seconds), reproduces the committed pair and prompt files byte for byte
    python -m rlhf_trl.testbed.generate build [--check]
    # a few minutes: the reference model's samples on the dev/test prompts (trivial-baseline test)
    python -m rlhf_trl.testbed.generate reference [--check]

``sample`` writes ``bundled/model_samples.jsonl.gz``: ``{"prompt": [messages], "response": str}`` per
line, sampled from SmolLM2-135M-Instruct, so that a reward model trained on the set has seen the
policy's own kind of text. The committed cache was sampled by generator v1 (204 prompts, before the
topic split); ``build`` keeps only the samples whose every user turn asks a pair-split subject.
``sample --harmful`` writes ``bundled/harmful_samples.jsonl.gz``: two answers of the model to each of the
255 harmful requests of the pair splits (:func:`rlhf_trl.testbed.sampling.harmful_sample_prompts`), almost all compliance in its own
words. ``build`` pairs each with a polite refusal (chosen): up to ``HARMFUL_SAMPLED_SHARE`` of a split.
``sample --refusals`` writes ``bundled/refusal_samples.jsonl.gz``: the model's continuation of a forced
refusal opener on each harmful request and each benign sampled prompt; ``build`` uses it as the refusal of
a prompt's first sample (chosen on harmful requests, rejected as over-refusal on benign ones).

``build`` writes ``train.jsonl.gz`` and ``test.jsonl.gz`` (Anthropic HH-RLHF format: ``{"chosen":
transcript, "rejected": transcript}``; the ``pairs_test`` subjects) and the evaluation prompt sets
``dev_prompts.jsonl.gz`` and ``test_prompts.jsonl.gz`` (``{"prompt": [messages]}``). Subjects are
assigned to splits by topic group (:mod:`rlhf_trl.testbed.splits`), so no evaluation subject, its
paraphrases or its reference answer occur in any pair. Every pair is labelled by
:func:`rlhf_trl.testbed.gold.gold_score`: the higher-scoring response is ``chosen``, and pairs closer than
``MIN_MARGIN`` are not used.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import random
import re
import sys
from pathlib import Path

from rlhf_trl.data.parser import parse_hh_pair, to_transcript
from rlhf_trl.testbed import BUNDLED_DIR, bank, splits
from rlhf_trl.testbed.gold import bank_request, gold_score, gold_terms

SAMPLES_FILE = "model_samples.jsonl.gz"
HARMFUL_SAMPLES_FILE = "harmful_samples.jsonl.gz"
REFERENCE_FILE = "reference_samples.jsonl.gz"
PROMPT_FILES = {"dev": "dev_prompts.jsonl.gz", "test": "test_prompts.jsonl.gz"}
SEED = 1234
N_TRAIN, N_TEST, N_EVAL = 2000, 220, 100
EVAL_HARMFUL_SHARE = 0.3  # of each evaluation prompt set: refusal is measured apart from helpfulness
MULTI_TURN_SHARE = 0.3  # of the sampled prompts
TEMPLATE_MULTI_TURN_SHARE = 0.6
OFF_TOPIC_USES = 1
MIN_MARGIN = 0.05
MAX_SAMPLED_SHARE = 0.6
FILL_HARMFUL_SHARE = 0.2  # of the template pairs (reference answer or refusal vs a failure mode)
MODEL_SIDE_SHARE = 0.45
# The model's own answers to harmful requests (sampling.py): on-topic compliance in its own words, the
# rejected side of refusal pairs (templated compliance alone teaches a reward model a lexical rule, not to refuse).
HARMFUL_SAMPLED_SHARE = 0.25  # at most this share of a split's pairs: refusal vs the model's compliance
# The model's own refusals: a refusal opener forced as the start of its reply, the rest in its own words (the
# kind of refusal a policy writes after SFT). One per harmful request and per benign sampled prompt; the
# first of a prompt's two samples is paired with it, the second with a composed refusal.
REFUSAL_SAMPLES_FILE = "refusal_samples.jsonl.gz"
# The mirror image: the model's own answers to benign requests against the same polite refusals (rejected).
# Without it the refusal wording was chosen 72 % of the times it occurred, and a reward model trained on the
# set scored a polite refusal of a benign dev prompt above the SFT model's answer on 47 of 55 (seed 42).
BENIGN_REFUSAL_SHARE = 0.2
# Of the benign template pairs, the share set against an over-refusal: with it a polite refusal is the
# chosen side in 52 % of the pairs that have one refusal side (train and test), and refusing is right
# exactly when the request is harmful.
FILL_OVER_REFUSAL_SHARE = 0.25


# ------------------------------------------------------------------------------------ requests


def split_of(req: dict) -> str:
    """The split of a bank request: its subject's (:func:`rlhf_trl.testbed.splits.split_of_subject`)."""
    return splits.split_of_subject(req["subject"])


def subject_phrase(req: dict) -> str:
    """The request's subject as a noun phrase, for failure templates (``{t}``)."""
    kind, subject = req["kind"], req["subject"]
    if kind in ("howto", "harmful"):
        return f"how to {subject}"
    if kind == "why":
        return f"why {subject}"
    if kind == "advice":
        return "that"
    return subject


def refusal(req: dict, rng: random.Random) -> str:
    """A polite refusal composed of an opener, a reason and an offer (never one fixed string). The same
    composition refuses benign requests (over-refusal, rejected) as harmful ones (chosen), so that only
    the request, never the wording of the refusal, tells a reward model whether refusing is right."""
    parts = [refusal_opener(req, rng), rng.choice(bank.REFUSAL_REASONS), rng.choice(bank.REFUSAL_OFFERS)]
    return " ".join(p for p in parts if p)


def refusal_opener(req: dict, rng: random.Random) -> str:
    """The first sentence of a refusal of ``req`` ("I'm sorry, but I can't help with …")."""
    openers = bank.REFUSAL_OPENERS
    if req["kind"] not in ("howto", "harmful"):  # "I can't help you {s}" needs a verb phrase
        openers = [o for o in openers if "{s}" not in o]
    topic = req.get("topic") or subject_phrase(req)
    return rng.choice(openers).format(topic=topic, s=req["subject"])


def _good(req: dict, rng: random.Random) -> str:
    if req["kind"] == "harmful":
        return refusal(req, rng)
    return req["answer"]


def _follow_up(text: str, rng: random.Random) -> str:
    template = rng.choice(bank.FOLLOW_UPS)
    return template.format(q=text, q_lower=text[0].lower() + text[1:])


def make_prompt(req: dict, pool: list[dict], rng: random.Random, multi_turn: bool) -> list[dict]:
    """Messages ending with the user turn ``req``; multi-turn prompts start with an earlier exchange."""
    if not multi_turn:
        return [{"role": "user", "content": req["text"]}]
    first = rng.choice([r for r in pool if r["kind"] != "harmful"])
    turns = [{"role": "user", "content": first["text"]}, {"role": "assistant", "content": first["answer"]}]
    if rng.random() < 0.3:  # three exchanges now and then
        second = rng.choice([r for r in pool if r["kind"] != "harmful"])
        turns += [
            {"role": "user", "content": _follow_up(second["text"], rng)},
            {"role": "assistant", "content": second["answer"]},
        ]
    return [*turns, {"role": "user", "content": _follow_up(req["text"], rng)}]


def _by_split() -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {name: [] for name in splits.SPLITS}
    for req in bank.requests():
        groups[split_of(req)].append(req)
    return groups


def prompt_splits(prompt: list[dict], reqs_by_text: dict[str, dict]) -> set[str]:
    """The splits of every user turn's bank subject (``{"?"}`` for a turn outside the bank)."""
    out = set()
    for m in prompt:
        if m["role"] == "user":
            key = bank.request_key(m["content"], reqs_by_text)
            out.add("?" if key is None else split_of(reqs_by_text[key]))
    return out


# ------------------------------------------------------------------------------------ step 2: build


def _ramble(good: str, rng: random.Random) -> str:
    filler = rng.sample(bank.RAMBLE_FILLER, k=len(bank.RAMBLE_FILLER))
    return " ".join([good, *filler, *rng.sample(filler, k=4)])


def _repetitive(good: str, rng: random.Random) -> str:
    first = good.split(". ")[0].rstrip(".") + "."
    return " ".join([first] * rng.randint(4, 7))


def _cut_off(good: str, rng: random.Random) -> str:
    words = good.split()
    cut = rng.randint(max(3, len(words) // 3), max(4, (2 * len(words)) // 3))
    return " ".join(words[:cut]).rstrip(".,;:!?")


def failures(req: dict, pool: list[dict], rng: random.Random) -> dict[str, str]:
    """One response per failure mode for ``req`` (keys name the mode). Each names its request or wraps
    its answer, so no rejected text is shared by many pairs."""
    other = rng.choice([r for r in pool if r["subject"] != req["subject"] and r["kind"] != "harmful"])
    good = _good(req, rng)
    t = subject_phrase(req)
    out = {
        "off_topic": other["answer"],
        "rude": rng.choice(bank.RUDE_ONE_LINERS).format(t=t)
        if rng.random() < 0.4
        else rng.choice(bank.RUDE_PREFIXES) + good,
        "rambling": _ramble(good, rng),
        "repetitive": _repetitive(good, rng),
        "evasive": rng.choice(bank.EVASIVE).format(t=t),
        "cut_off": _cut_off(good, rng),
    }
    if req["kind"] == "harmful":
        out["complies"] = rng.choice(bank.COMPLIANCE).format(s=req["subject"])
    else:
        out["over_refusal"] = refusal(req, rng)
    return out


def _pair(prompt, a: str, b: str, a_must_win: bool = False) -> dict | None:
    """The pair labelled by the gold rubric, or None when the margin is below ``MIN_MARGIN``, when
    ``a_must_win`` and it does not, or when a reply would not survive the HH parser."""
    sa, sb = gold_score(prompt, a), gold_score(prompt, b)
    if abs(sa - sb) < MIN_MARGIN or (a_must_win and sa < sb):
        return None
    chosen, rejected = (a, b) if sa > sb else (b, a)
    pair = {
        "chosen": to_transcript([*prompt, {"role": "assistant", "content": chosen}]),
        "rejected": to_transcript([*prompt, {"role": "assistant", "content": rejected}]),
    }
    try:
        parsed = parse_hh_pair(pair["chosen"], pair["rejected"])
    except ValueError:
        return None
    return pair if parsed["chosen"][0]["content"] == chosen.strip() else None


_SENTENCE = re.compile(r"[.!?](?=\s|$)")


def model_variants(response: str, rng: random.Random) -> list[str]:
    """Model-written variants of one sample: the sample itself; its prefix up to the last full
    sentence when it ran out of tokens mid-sentence (as if the model had stopped there); and a prefix
    cut mid-sentence (what sampling the same tokens with a smaller ``max_new_tokens`` gives)."""
    text = response.strip()
    out = [text]
    ends = [m.end() for m in _SENTENCE.finditer(text)]
    if ends and ends[-1] < len(text) and len(text[: ends[-1]].split()) >= 4:
        out.append(text[: ends[-1]].strip())
    words = text.split()
    if len(words) >= 8:
        out.append(" ".join(words[: rng.randint(len(words) // 3, (2 * len(words)) // 3)]).rstrip(".,;:!?"))
    return out


def _sampled_pairs(prompt, responses: list[str], req: dict, train_pool, rng: random.Random) -> list[tuple]:
    """Candidate pairs on one sampled prompt, as ``(raw_sides, model_sides, pair)``: model-written
    responses (:func:`model_variants` of every sample) against each other, each against the reference
    answer (either may win), and each against every failure mode it beats (a failure-mode template is
    never ``chosen``). ``raw_sides`` counts unmodified samples, ``model_sides`` all model-written ones."""
    raw = [r.strip() for r in responses]
    written = list(dict.fromkeys(v for r in responses for v in model_variants(r, rng)))
    out = []
    for i in range(len(written)):
        for j in range(i + 1, len(written)):
            n_raw = (written[i] in raw) + (written[j] in raw)
            out.append((n_raw, 2, _pair(prompt, written[i], written[j])))
    good = _good(req, rng)
    fails = failures(req, train_pool, rng)
    for r in written:
        out.append((int(r in raw), 1, _pair(prompt, r, good)))
        for mode in sorted(fails):
            out.append((int(r in raw), 1, _pair(prompt, r, fails[mode], a_must_win=True)))
    return [c for c in out if c[2] is not None]


def _refusal_pairs(by_prompt, split, reqs_by_text, own_refusals, rng, harmful: bool) -> list[dict]:
    """Each model sample on a prompt of ``split`` that asks a harmful (or benign) bank request against a
    refusal: the model's own one (``own_refusals``) for a prompt's first sample, a composed one otherwise;
    labelled by the rubric, shuffled."""
    pairs = []
    for key in sorted(by_prompt):
        prompt = json.loads(key)
        req = bank_request(prompt)
        if (
            req is None
            or (req["kind"] == "harmful") != harmful
            or prompt_splits(prompt, reqs_by_text) != {split}
        ):
            continue
        for i, response in enumerate(by_prompt[key]):
            refused = (own_refusals.get(key) if i == 0 else None) or refusal(req, rng)
            pair = _pair(prompt, refused, response.strip())
            if pair is not None:
                pairs.append(pair)
    rng.shuffle(pairs)
    return pairs


def build_pairs(
    split: str, n: int, samples: list[dict], rng: random.Random, own_refusals: dict[str, str] | None = None
) -> list[dict]:
    """``n`` pairs for ``split``. First pairs built on the model samples of this split's prompts —
    those with the most unmodified samples first, then the fewest other model-written sides — until
    ``MODEL_SIDE_SHARE`` of all responses are model-written (at most ``MAX_SAMPLED_SHARE`` of ``n``);
    then reference answers against failure modes on random requests of the split. ``own_refusals`` (the
    model's own refusal per prompt key, :func:`rlhf_trl.testbed.sampling.refusal_sample_prompts`) is the refusal in the refusal pairs
    of a prompt's first sample; composed refusals in the others."""
    own_refusals = own_refusals or {}
    pool = _by_split()[split]  # prompts, their context turns and off-topic answers: this split only
    reqs_by_text = {r["text"].lower(): r for r in bank.requests()}
    by_prompt: dict[str, list[str]] = {}
    for s in samples:
        if s["response"].strip():
            by_prompt.setdefault(json.dumps(s["prompt"], sort_keys=True), []).append(s["response"])
    # Refusal pairs first, in mirror image: a refusal against each of the model's own answers to a harmful
    # request (chosen, unless the rubric prefers the answer), and against each of its answers to a benign one.
    refusal_pairs = _refusal_pairs(by_prompt, split, reqs_by_text, own_refusals, rng, harmful=True)
    for key in {k for k in by_prompt if (req := bank_request(json.loads(k))) and req["kind"] == "harmful"}:
        del by_prompt[key]  # the model's harmful answers are used up; its benign ones also form other pairs
    over_refusal_pairs = _refusal_pairs(by_prompt, split, reqs_by_text, own_refusals, rng, harmful=False)
    candidates: list[tuple] = []
    for key in sorted(by_prompt):
        prompt = json.loads(key)
        if prompt_splits(prompt, reqs_by_text) == {split}:
            req = bank_request(prompt)
            candidates.extend(_sampled_pairs(prompt, by_prompt[key], req, pool, rng))
    # A model sample is also a realistic off-topic reply to another request (the model answering the
    # wrong question): pair it, as rejected, with the reference answer to a random request.
    mine = [
        r.strip()
        for key in sorted(by_prompt)
        for r in by_prompt[key]
        if prompt_splits(json.loads(key), reqs_by_text) == {split}
    ]
    for response in mine * OFF_TOPIC_USES:
        req = rng.choice(pool)
        prompt = make_prompt(req, pool, rng, rng.random() < TEMPLATE_MULTI_TURN_SHARE)
        pair = _pair(prompt, _good(req, rng), response, a_must_win=True)
        if pair is not None and gold_terms(prompt, response)["informative"] < 0.5:
            candidates.append((1, 1, pair))
    rng.shuffle(candidates)
    candidates.sort(key=lambda c: (-c[0], c[1]))
    pairs: list[dict] = refusal_pairs[: int(HARMFUL_SAMPLED_SHARE * n)]
    pairs += over_refusal_pairs[: int(BENIGN_REFUSAL_SHARE * n)]
    model_sides = len(pairs)
    for _, sides, pair in candidates:
        if model_sides >= MODEL_SIDE_SHARE * 2 * n or len(pairs) >= MAX_SAMPLED_SHARE * n:
            break
        pairs.append(pair)
        model_sides += sides
    harmful = [r for r in pool if r["kind"] == "harmful"]
    benign = [r for r in pool if r["kind"] != "harmful"]
    while len(pairs) < n:
        # FILL_HARMFUL_SHARE of the template pairs are harmful requests, half of those against templated
        # compliance (the refusal pairs above carry the model's own compliance).
        req = rng.choice(harmful if rng.random() < FILL_HARMFUL_SHARE else benign)
        prompt = make_prompt(req, pool, rng, rng.random() < TEMPLATE_MULTI_TURN_SHARE)
        fails = failures(req, pool, rng)
        # Refusal-related failures weigh more than the others: templated compliance on harmful requests,
        # over-refusal on benign ones (FILL_OVER_REFUSAL_SHARE balances refusal wording chosen vs rejected).
        if "complies" in fails:
            mode = "complies" if rng.random() < 0.5 else rng.choice(sorted(fails))
        else:
            mode = "over_refusal" if rng.random() < FILL_OVER_REFUSAL_SHARE else rng.choice(sorted(fails))
        pair = _pair(prompt, _good(req, rng), fails[mode], a_must_win=True)
        if pair is not None:
            pairs.append(pair)
    rng.shuffle(pairs)
    return pairs


def eval_prompts(split: str, rng: random.Random) -> list[dict]:
    """``N_EVAL`` distinct prompts on the subjects of ``split`` (``dev`` or ``test``), with
    ``EVAL_HARMFUL_SHARE`` harmful requests; earlier turns of multi-turn prompts come from the same split."""
    pool = _by_split()[split]
    out, seen = [], set()
    n_harmful = round(EVAL_HARMFUL_SHARE * N_EVAL)
    for harmful, n in ((True, n_harmful), (False, N_EVAL - n_harmful)):
        reqs = sorted((r for r in pool if (r["kind"] == "harmful") == harmful), key=lambda r: r["text"])
        rng.shuffle(reqs)
        i, rows = 0, []
        while len(rows) < n:
            req = reqs[i % len(reqs)]
            prompt = make_prompt(req, pool, rng, i >= len(reqs) or rng.random() < MULTI_TURN_SHARE)
            key = json.dumps(prompt)
            if key not in seen:
                seen.add(key)
                rows.append({"prompt": prompt})
            i += 1
        out.extend(rows)
    rng.shuffle(out)
    return out


def _write_jsonl_gz(path: Path, rows: list[dict]) -> None:
    """gzip with mtime=0 and no file name, so identical rows give identical bytes."""
    raw = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows).encode()
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(raw)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())


def read_samples(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def build(out_dir: Path, samples_path: Path | None = None) -> dict[str, Path]:
    """Write the pair files and the evaluation prompt sets to ``out_dir`` from the bank and the cache."""
    samples = read_samples(samples_path or BUNDLED_DIR / SAMPLES_FILE)
    samples += read_samples(BUNDLED_DIR / HARMFUL_SAMPLES_FILE)
    own_refusals = {
        json.dumps(s["prompt"], sort_keys=True): s["response"]
        for s in read_samples(BUNDLED_DIR / REFUSAL_SAMPLES_FILE)
        if s["response"].strip()
    }
    files = {
        "train": (
            out_dir / "train.jsonl.gz",
            build_pairs("train", N_TRAIN, samples, random.Random(SEED + 1), own_refusals),
        ),
        "test": (
            out_dir / "test.jsonl.gz",
            build_pairs("pairs_test", N_TEST, samples, random.Random(SEED + 2), own_refusals),
        ),
        "dev_prompts": (out_dir / PROMPT_FILES["dev"], eval_prompts("dev", random.Random(SEED + 3))),
        "test_prompts": (out_dir / PROMPT_FILES["test"], eval_prompts("test", random.Random(SEED + 4))),
    }
    for path, rows in files.values():
        _write_jsonl_gz(path, rows)
    return {k: v[0] for k, v in files.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rlhf_trl.testbed.generate", description=__doc__.split("\n")[0], allow_abbrev=False
    )
    sub = parser.add_subparsers(dest="step", required=True)
    s = sub.add_parser("sample", help="sample the embedded model (slow) into the cache", allow_abbrev=False)
    s.add_argument("--out", type=Path, default=None)
    s.add_argument("--limit", type=int, default=None, help="only the first N prompts in sampling order")
    s.add_argument(
        "--harmful",
        action="store_true",
        help=f"the harmful requests of the pair splits instead (default --out: bundled/{HARMFUL_SAMPLES_FILE})",
    )
    s.add_argument(
        "--refusals",
        action="store_true",
        help="the model's own refusals: a refusal opener forced, the rest sampled "
        f"(default --out: bundled/{REFUSAL_SAMPLES_FILE})",
    )
    b = sub.add_parser(
        "build",
        help="build the pair files and dev/test prompt sets from the bank + cache",
        allow_abbrev=False,
    )
    b.add_argument("--out_dir", type=Path, default=BUNDLED_DIR)
    b.add_argument("--check", action="store_true", help="build into a temp dir and compare with out_dir")
    r = sub.add_parser(
        "reference",
        help="the reference model's samples on the dev/test prompts (minutes)",
        allow_abbrev=False,
    )
    r.add_argument("--out", type=Path, default=BUNDLED_DIR / REFERENCE_FILE)
    r.add_argument("--check", action="store_true", help="sample again and compare with the committed file")
    ns = parser.parse_args(argv)
    if ns.step in ("sample", "reference"):  # the model-sampling steps; build needs no model
        from rlhf_trl.testbed.sampling import reference_samples, sample
    if ns.step == "sample":
        name = REFUSAL_SAMPLES_FILE if ns.refusals else HARMFUL_SAMPLES_FILE if ns.harmful else SAMPLES_FILE
        sample(ns.out or BUNDLED_DIR / name, ns.limit, harmful=ns.harmful, refusals=ns.refusals)
        return 0
    if ns.step == "reference":
        rows = reference_samples()
        if ns.check:
            same = rows == read_samples(ns.out)
            print("identical" if same else f"differs from {ns.out}")
            return 0 if same else 1
        _write_jsonl_gz(ns.out, rows)
        print(f"reference: {ns.out}")
        return 0
    if ns.check:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            fresh = build(Path(tmp))
            diff = [k for k, p in fresh.items() if p.read_bytes() != (ns.out_dir / p.name).read_bytes()]
        print("identical" if not diff else f"differs: {diff}")
        return 1 if diff else 0
    for name, path in build(ns.out_dir).items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
