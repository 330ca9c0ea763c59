"""Sampling the embedded model for the bundled testbed's caches (``python -m rlhf_trl.testbed.generate
sample [--harmful | --refusals]`` and ``reference``): the slow, model-running steps. ``build`` and
everything else of :mod:`rlhf_trl.testbed.generate` run without a model."""

from __future__ import annotations

import json
import random
from pathlib import Path

from rlhf_trl.testbed import BUNDLED_DIR, bank
from rlhf_trl.testbed.generate import (
    MULTI_TURN_SHARE,
    PROMPT_FILES,
    SAMPLES_FILE,
    SEED,
    _by_split,
    _write_jsonl_gz,
    make_prompt,
    prompt_splits,
    read_samples,
    refusal_opener,
    split_of,
)
from rlhf_trl.testbed.gold import bank_request

N_SAMPLE_PROMPTS = 300
SAMPLES_PER_PROMPT = 2
SAMPLING = {"temperature": 0.8, "top_p": 0.95, "max_new_tokens": 48, "seed": SEED, "batch_size": 12}
# The model's own answers to harmful requests: on-topic compliance in its own words.
HARMFUL_SAMPLING = {**SAMPLING, "seed": SEED + 7, "batch_size": 24}
# The model's own refusals: a refusal opener forced as the start of its reply, the rest in its own words.
REFUSAL_SAMPLING = {**SAMPLING, "seed": SEED + 11, "batch_size": 24, "max_new_tokens": 32}


def sample_prompts() -> list[list[dict]]:
    """The prompts the model is sampled on (pair-split subjects only, never dev/test ones)."""
    rng = random.Random(SEED)
    groups = _by_split()
    pool = groups["train"] + groups["pairs_test"]
    rng.shuffle(pool)
    return [
        make_prompt(req, groups[split_of(req)], rng, rng.random() < MULTI_TURN_SHARE)
        for req in pool[:N_SAMPLE_PROMPTS]
    ]


def harmful_sample_prompts() -> list[list[dict]]:
    """One prompt per harmful request of the pair splits (never dev/test subjects), in text order;
    ``MULTI_TURN_SHARE`` of them after an earlier benign exchange of the same split."""
    rng = random.Random(SEED + 7)
    groups = _by_split()
    reqs = sorted(
        (r for split in ("train", "pairs_test") for r in groups[split] if r["kind"] == "harmful"),
        key=lambda r: r["text"],
    )
    return [make_prompt(r, groups[split_of(r)], rng, rng.random() < MULTI_TURN_SHARE) for r in reqs]


def refusal_sample_prompts() -> tuple[list[list[dict]], list[str]]:
    """The prompts of the model's own refusals and the opener forced on each: every harmful request of the
    pair splits (:func:`harmful_sample_prompts`), then every benign pair-split prompt of the committed
    ``model_samples.jsonl.gz`` (those its over-refusal pairs are built on), in text order."""
    rng = random.Random(SEED + 11)
    reqs_by_text = {r["text"].lower(): r for r in bank.requests()}
    benign = {
        json.dumps(s["prompt"], sort_keys=True)
        for s in read_samples(BUNDLED_DIR / SAMPLES_FILE)
        if (req := bank_request(s["prompt"])) is not None
        and req["kind"] != "harmful"
        and prompt_splits(s["prompt"], reqs_by_text) <= {"train", "pairs_test"}
    }
    prompts = harmful_sample_prompts() + [json.loads(key) for key in sorted(benign)]
    return prompts, [refusal_opener(bank_request(p), rng) for p in prompts]


def sample(out_path: Path, limit: int | None = None, harmful: bool = False, refusals: bool = False) -> None:
    """Sample the embedded model on :func:`sample_prompts`, :func:`harmful_sample_prompts` or, with
    ``refusals``, on :func:`refusal_sample_prompts` continuing each forced opener (slow; writes the
    committed cache)."""
    import torch

    from rlhf_trl import EMBEDDED_MODEL
    from rlhf_trl.models import load_causal_lm, load_tokenizer

    settings = REFUSAL_SAMPLING if refusals else HARMFUL_SAMPLING if harmful else SAMPLING
    torch.manual_seed(settings["seed"])
    tokenizer = load_tokenizer(EMBEDDED_MODEL)
    model = load_causal_lm(EMBEDDED_MODEL, tokenizer).eval()
    if refusals:
        prompts, openers = refusal_sample_prompts()
    else:
        prompts = harmful_sample_prompts() if harmful else sample_prompts()
        openers = [""] * len(prompts)
    # Shortest first (less padding); ``limit`` keeps the first prompts of this order, so a run stopped
    # after k batches equals ``sample --limit k*batch_size``.
    order = sorted(range(len(prompts)), key=lambda i: (len(json.dumps(prompts[i])), i))[:limit]
    responses: dict[int, list[str]] = {}
    bs, k = settings["batch_size"], 1 if refusals else SAMPLES_PER_PROMPT
    for start in range(0, len(order), bs):
        idx = order[start : start + bs]
        texts = [
            tokenizer.apply_chat_template(prompts[i], tokenize=False, add_generation_prompt=True) + openers[i]
            for i in idx
        ]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            gen = model.generate(
                **enc,
                do_sample=True,
                temperature=settings["temperature"],
                top_p=settings["top_p"],
                top_k=0,
                max_new_tokens=settings["max_new_tokens"],
                num_return_sequences=k,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        texts_out = tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        for j, i in enumerate(idx):
            responses[i] = [(openers[i] + t).strip() for t in texts_out[j * k : (j + 1) * k]]
        print(f"sampled {min(start + bs, len(order))}/{len(order)} prompts x {k}", flush=True)
        partial = [{"prompt": prompts[i], "response": r} for i in sorted(responses) for r in responses[i]]
        _write_jsonl_gz(out_path.with_name(out_path.name + ".partial"), partial)
    rows = [{"prompt": prompts[i], "response": r} for i in sorted(responses) for r in responses[i]]
    _write_jsonl_gz(out_path, rows)
    out_path.with_name(out_path.name + ".partial").unlink()


def reference_samples(batch_size: int = 16) -> list[dict]:
    """The embedded reference model's samples on the dev and test prompts, drawn exactly as the
    evaluation harness draws them with its defaults (T = 0.7, 64 new tokens, seed 42 + batch):
    ``{"split", "prompt", "response", "length", "ended_with_eos"}`` per prompt."""
    from types import SimpleNamespace

    from rlhf_trl import EMBEDDED_MODEL
    from rlhf_trl.evaluation.config import EvaluationConfig
    from rlhf_trl.evaluation.sampling import sample_model
    from rlhf_trl.models import load_causal_lm, load_tokenizer

    defaults = EvaluationConfig()
    cfg = SimpleNamespace(
        **{k: getattr(defaults, k) for k in ("max_new_tokens", "temperature", "top_k", "top_p", "do_sample")},
        batch_size=batch_size,
        seed=defaults.seed,
    )
    tokenizer = load_tokenizer(EMBEDDED_MODEL)
    model = load_causal_lm(EMBEDDED_MODEL, tokenizer).eval()
    out = []
    for split, name in PROMPT_FILES.items():
        prompts = [r["prompt"] for r in read_samples(BUNDLED_DIR / name)]
        rows = sample_model(model, None, tokenizer, prompts, cfg, desc=f"reference {split}")
        for prompt, row in zip(prompts, rows):
            keep = {k: row[k] for k in ("response", "length", "ended_with_eos")}
            out.append({"split": split, "prompt": prompt, **keep})
    return out
