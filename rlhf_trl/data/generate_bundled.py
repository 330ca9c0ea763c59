"""Deterministic generator of the bundled HH-format preference set (``rlhf_trl/data/bundled/``).

Two steps::

    # slow (~40 min on a shared 2-core CPU): sample the embedded model on training prompts; the
    # committed cache was stopped after 204 prompts, i.e. equals `sample --limit 204`
    python -m rlhf_trl.data.generate_bundled sample [--limit 204]
    # fast (seconds), reproduces the committed files byte for byte from the bank + the sample cache
    python -m rlhf_trl.data.generate_bundled build [--check]

``sample`` writes ``bundled/model_samples.jsonl.gz``: one ``{"prompt": [messages], "response": str}``
per line, sampled from SmolLM2-135M-Instruct (seed, temperature and ``max_new_tokens`` below), so that
a reward model trained on the set has seen the policy's own kind of text. The cache is committed; the
``build`` step never loads a model.

``build`` writes ``train.jsonl.gz`` and ``test.jsonl.gz`` (Anthropic HH-RLHF format: ``{"chosen":
transcript, "rejected": transcript}``) and ``eval_prompts.jsonl.gz`` (``{"prompt": [messages]}``).
Every pair is labelled by :func:`rlhf_trl.data.gold.gold_score`: the higher-scoring response is
``chosen`` and pairs closer than ``MIN_MARGIN`` are not used. A request's final user text is assigned to
train / test / eval by a hash of the text, so the held-out evaluation prompts never occur in training.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import random
import re
import sys
from pathlib import Path

from rlhf_trl.data import bank
from rlhf_trl.data.gold import gold_score, gold_terms
from rlhf_trl.data.parser import parse_hh_pair

BUNDLED_DIR = Path(__file__).parent / "bundled"
SAMPLES_FILE = "model_samples.jsonl.gz"
SEED = 1234
N_TRAIN, N_TEST, N_EVAL = 2000, 220, 100
N_SAMPLE_PROMPTS = 300
SAMPLES_PER_PROMPT = 2
MULTI_TURN_SHARE = 0.3  # of the sampled prompts
TEMPLATE_MULTI_TURN_SHARE = 0.6
OFF_TOPIC_USES = 1
MIN_MARGIN = 0.05
MAX_SAMPLED_SHARE = 0.9
MODEL_SIDE_SHARE = 0.45
SAMPLING = {"temperature": 0.8, "top_p": 0.95, "max_new_tokens": 48, "seed": SEED, "batch_size": 12}


# ------------------------------------------------------------------------------------ requests


def split_of(text: str) -> str:
    """train / test / eval from a stable hash of the final user text (robust to bank edits)."""
    bucket = int(hashlib.sha1(text.encode()).hexdigest(), 16) % 20
    return "eval" if bucket < 3 else "test" if bucket < 5 else "train"


def _good(req: dict, rng: random.Random) -> str:
    if req["kind"] == "harmful":
        return rng.choice(bank.REFUSALS).format(topic=req["topic"])
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
    groups: dict[str, list[dict]] = {"train": [], "test": [], "eval": []}
    for req in bank.requests():
        groups[split_of(req["text"])].append(req)
    return groups


# ------------------------------------------------------------------------------------ step 1: sample


def sample_prompts() -> list[list[dict]]:
    """The prompts the model is sampled on (train and test requests only, never eval)."""
    rng = random.Random(SEED)
    groups = _by_split()
    pool = groups["train"] + groups["test"]
    rng.shuffle(pool)
    return [
        make_prompt(req, groups["train"], rng, rng.random() < MULTI_TURN_SHARE)
        for req in pool[:N_SAMPLE_PROMPTS]
    ]


def sample(out_path: Path, limit: int | None = None) -> None:
    """Sample the embedded model on :func:`sample_prompts` (slow; writes the committed cache)."""
    import torch

    from rlhf_trl import EMBEDDED_MODEL
    from rlhf_trl.models import load_causal_lm, load_tokenizer

    torch.manual_seed(SAMPLING["seed"])
    tokenizer = load_tokenizer(EMBEDDED_MODEL)
    model = load_causal_lm(EMBEDDED_MODEL, tokenizer).eval()
    prompts = sample_prompts()
    # Shortest first (less padding); ``limit`` keeps the first prompts of this order, so a run stopped
    # after k batches equals ``sample --limit k*batch_size``.
    order = sorted(range(len(prompts)), key=lambda i: (len(json.dumps(prompts[i])), i))[:limit]
    responses: dict[int, list[str]] = {}
    bs, k = SAMPLING["batch_size"], SAMPLES_PER_PROMPT
    for start in range(0, len(order), bs):
        idx = order[start : start + bs]
        texts = [
            tokenizer.apply_chat_template(prompts[i], tokenize=False, add_generation_prompt=True) for i in idx
        ]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            gen = model.generate(
                **enc,
                do_sample=True,
                temperature=SAMPLING["temperature"],
                top_p=SAMPLING["top_p"],
                top_k=0,
                max_new_tokens=SAMPLING["max_new_tokens"],
                num_return_sequences=k,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        texts_out = tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        for j, i in enumerate(idx):
            responses[i] = [t.strip() for t in texts_out[j * k : (j + 1) * k]]
        print(f"sampled {min(start + bs, len(order))}/{len(order)} prompts x {k}", flush=True)
        partial = [{"prompt": prompts[i], "response": r} for i in sorted(responses) for r in responses[i]]
        _write_jsonl_gz(out_path.with_name(out_path.name + ".partial"), partial)
    rows = [{"prompt": prompts[i], "response": r} for i in sorted(responses) for r in responses[i]]
    _write_jsonl_gz(out_path, rows)
    out_path.with_name(out_path.name + ".partial").unlink()


def baseline(max_new_tokens: int = 64, limit: int | None = None, batch_size: int = 25) -> dict:
    """Greedy answers of the embedded base model to the held-out eval prompts, scored by the rubric:
    ``{"mean": ..., "ceiling": 1.0, "terms": {term: mean}, "n": ...}`` (the room a policy has)."""
    import torch

    from rlhf_trl import EMBEDDED_MODEL
    from rlhf_trl.data.gold import GOLD_CEILING, gold_terms
    from rlhf_trl.models import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(EMBEDDED_MODEL)
    model = load_causal_lm(EMBEDDED_MODEL, tokenizer).eval()
    prompts = [r["prompt"] for r in read_samples(BUNDLED_DIR / "eval_prompts.jsonl.gz")][:limit]
    scores, terms = [], {}
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in batch]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            gen = model.generate(
                **enc,
                do_sample=False,
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        outs = tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        for p, o in zip(batch, outs):
            t = gold_terms(p, o.strip())
            scores.append(gold_score(p, o.strip()))
            for k, v in t.items():
                terms.setdefault(k, []).append(v)
        print(f"baseline {len(scores)}/{len(prompts)}", flush=True)
    return {
        "n": len(scores),
        "max_new_tokens": max_new_tokens,
        "mean": sum(scores) / len(scores),
        "ceiling": GOLD_CEILING,
        "terms": {k: sum(v) / len(v) for k, v in terms.items()},
    }


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
    """One response per failure mode for ``req`` (keys name the mode)."""
    other = rng.choice([r for r in pool if r["subject"] != req["subject"] and r["kind"] != "harmful"])
    good = _good(req, rng)
    out = {
        "off_topic": other["answer"],
        "rude": rng.choice(bank.RUDE_ONE_LINERS)
        if rng.random() < 0.4
        else rng.choice(bank.RUDE_PREFIXES) + good,
        "rambling": _ramble(good, rng),
        "repetitive": _repetitive(good, rng),
        "evasive": rng.choice(bank.EVASIVE[:3] if req["kind"] == "harmful" else bank.EVASIVE),
        "cut_off": _cut_off(good, rng),
    }
    if req["kind"] == "harmful":
        out["complies"] = rng.choice(bank.COMPLIANCE).format(s=req["subject"])
    return out


def to_transcript(messages: list[dict]) -> str:
    tag = {"user": "Human", "assistant": "Assistant"}
    return "".join(f"\n\n{tag[m['role']]}: {m['content']}" for m in messages)


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


def _final_request(prompt: list[dict], reqs_by_text: dict[str, dict]) -> dict:
    """The bank request behind the last user turn (``reqs_by_text`` keyed by lower-cased text)."""
    key = bank.request_key(prompt[-1]["content"], reqs_by_text)
    if key is None:
        raise KeyError(f"sampled prompt not in the bank: {prompt[-1]['content']!r}")
    return reqs_by_text[key]


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


def build_pairs(split: str, n: int, samples: list[dict], rng: random.Random) -> list[dict]:
    """``n`` pairs for ``split``. First pairs built on the model samples of this split's prompts —
    those with the most unmodified samples first, then the fewest other model-written sides — until
    ``MODEL_SIDE_SHARE`` of all responses are model-written (at most ``MAX_SAMPLED_SHARE`` of ``n``);
    then reference answers against failure modes on random requests of the split."""
    groups = _by_split()
    pool, train_pool = groups[split], groups["train"]
    reqs_by_text = {r["text"].lower(): r for r in bank.requests()}
    by_prompt: dict[str, list[str]] = {}
    for s in samples:
        if s["response"].strip():
            by_prompt.setdefault(json.dumps(s["prompt"], sort_keys=True), []).append(s["response"])
    candidates: list[tuple] = []
    for key in sorted(by_prompt):
        prompt = json.loads(key)
        req = _final_request(prompt, reqs_by_text)
        if split_of(req["text"]) == split:
            candidates.extend(_sampled_pairs(prompt, by_prompt[key], req, train_pool, rng))
    # A model sample is also a realistic off-topic reply to another request (the model answering the
    # wrong question): pair it, as rejected, with the reference answer to a random request.
    mine = [
        r.strip()
        for key in sorted(by_prompt)
        for r in by_prompt[key]
        if split_of(_final_request(json.loads(key), reqs_by_text)["text"]) == split
    ]
    for response in mine * OFF_TOPIC_USES:
        req = rng.choice(pool)
        prompt = make_prompt(req, train_pool, rng, rng.random() < TEMPLATE_MULTI_TURN_SHARE)
        pair = _pair(prompt, _good(req, rng), response, a_must_win=True)
        if pair is not None and gold_terms(prompt, response)["on_topic"] < 1.0:
            candidates.append((1, 1, pair))
    rng.shuffle(candidates)
    candidates.sort(key=lambda c: (-c[0], c[1]))
    pairs: list[dict] = []
    model_sides = 0
    for _, sides, pair in candidates:
        if model_sides >= MODEL_SIDE_SHARE * 2 * n or len(pairs) >= MAX_SAMPLED_SHARE * n:
            break
        pairs.append(pair)
        model_sides += sides
    while len(pairs) < n:
        req = rng.choice(pool)
        prompt = make_prompt(req, train_pool, rng, rng.random() < TEMPLATE_MULTI_TURN_SHARE)
        fails = failures(req, train_pool, rng)
        pair = _pair(prompt, _good(req, rng), fails[rng.choice(sorted(fails))], a_must_win=True)
        if pair is not None:
            pairs.append(pair)
    rng.shuffle(pairs)
    return pairs


def eval_prompts(rng: random.Random) -> list[dict]:
    groups = _by_split()
    reqs = sorted(groups["eval"], key=lambda r: r["text"])
    rng.shuffle(reqs)
    out, seen = [], set()
    i = 0
    while len(out) < N_EVAL:
        req = reqs[i % len(reqs)]
        prompt = make_prompt(req, groups["train"], rng, i >= len(reqs) or rng.random() < MULTI_TURN_SHARE)
        key = json.dumps(prompt)
        if key not in seen:
            seen.add(key)
            out.append({"prompt": prompt})
        i += 1
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
    """Write train/test/eval files to ``out_dir`` from the bank and the sample cache."""
    samples = read_samples(samples_path or BUNDLED_DIR / SAMPLES_FILE)
    files = {
        "train": (
            out_dir / "train.jsonl.gz",
            build_pairs("train", N_TRAIN, samples, random.Random(SEED + 1)),
        ),
        "test": (out_dir / "test.jsonl.gz", build_pairs("test", N_TEST, samples, random.Random(SEED + 2))),
        "eval": (out_dir / "eval_prompts.jsonl.gz", eval_prompts(random.Random(SEED + 3))),
    }
    for path, rows in files.values():
        _write_jsonl_gz(path, rows)
    return {k: v[0] for k, v in files.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rlhf_trl.data.generate_bundled", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="step", required=True)
    s = sub.add_parser("sample", help="sample the embedded model (slow) into the cache")
    s.add_argument("--out", type=Path, default=BUNDLED_DIR / SAMPLES_FILE)
    s.add_argument("--limit", type=int, default=None, help="only the first N prompts in sampling order")
    b = sub.add_parser("build", help="build train/test/eval files from the bank + cache")
    b.add_argument("--out_dir", type=Path, default=BUNDLED_DIR)
    b.add_argument("--check", action="store_true", help="build into a temp dir and compare with out_dir")
    base = sub.add_parser("baseline", help="score the base model's greedy answers on the eval prompts")
    base.add_argument("--max_new_tokens", type=int, default=64)
    base.add_argument("--limit", type=int, default=None)
    ns = parser.parse_args(argv)
    if ns.step == "baseline":
        print(json.dumps(baseline(ns.max_new_tokens, ns.limit), indent=2))
        return 0
    if ns.step == "sample":
        sample(ns.out, ns.limit)
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
