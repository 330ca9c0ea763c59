"""Reward functions for GRPO and PPO, built from config specs.

Every reward function has TRL's GRPO signature::

    f(prompts, completions, **kwargs) -> list[float]

where ``prompts``/``completions`` are either conversational (a prompt is a list of ``{"role", "content"}``
messages, a completion a list holding one assistant message) or plain strings. TRL passes extra
keyword arguments (``completion_ids``, dataset columns, ``trainer_state``…); every function here
accepts and ignores what it does not use.

A spec (one entry of ``reward_funcs`` in a config) is one of

* a registered name: ``reward_model`` (the reward model this run trained, ``run_dir/checkpoints/reward``),
  ``gold`` (the bundled set's rubric), ``length`` (a deliberately hackable toy);
* a folder holding a reward model (a sequence classifier with one label, e.g. ``checkpoints/reward``);
  it is scored at the **last real token** of the chat-templated prompt + response (see
  :func:`score_at_last_token`);
* a dotted path to a user function: ``my_pkg.rewards:fn`` or ``my_pkg.rewards.fn``.

``build_reward_funcs(specs, weights, tokenizer)`` turns specs into callables plus weights; GRPO hands
both to TRL, PPO combines them with :func:`combined_reward`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rlhf_trl.errors import UserError

RewardFunc = Callable[..., list[float]]

# name -> factory(**context) returning a reward function. Context keys: tokenizer, data_args, device, dtype.
REWARD_REGISTRY: dict[str, Callable[..., RewardFunc]] = {}


def register_reward(name: str):
    """Decorator: register a reward-function *factory* under ``name`` (usable as a config spec)."""

    def wrap(factory):
        if name in REWARD_REGISTRY:
            raise ValueError(f"reward {name!r} is already registered")
        REWARD_REGISTRY[name] = factory
        return factory

    return wrap


# ------------------------------------------------------------------------------------ text helpers


def prompt_messages(prompt) -> list[dict]:
    """A prompt as chat messages (a plain string becomes one user turn)."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return list(prompt)


def completion_text(completion) -> str:
    """The response text of a completion (conversational: the assistant message contents joined)."""
    if isinstance(completion, str):
        return completion
    return "".join(m.get("content", "") for m in completion if m.get("role", "assistant") == "assistant")


def transcript_text(tokenizer, prompt, completion) -> str:
    """The exact text a reward model sees: the chat template applied to prompt + response.

    Conversational input goes through ``apply_chat_template`` (as TRL's RewardTrainer tokenises its
    training pairs, so training and scoring agree); plain text is concatenated as is, plus EOS when
    missing (as the RewardTrainer does for plain-text pairs).
    """
    if isinstance(prompt, str) and isinstance(completion, str):
        text = prompt + completion
        eos = tokenizer.eos_token
        return text if eos is None or text.endswith(eos) else text + eos
    messages = prompt_messages(prompt) + [{"role": "assistant", "content": completion_text(completion)}]
    return tokenizer.apply_chat_template(messages, tokenize=False)


# ------------------------------------------------------------------------------------- reward model


def last_token_index(attention_mask):
    """Index of the last attended position of each row: (B, T) 0/1 mask -> (B,) long.

    Works for left and right padding and never looks at token ids, so it is right even when the
    pad token equals EOS or the text itself contains the pad/EOS token (chat templates do).
    """
    import torch

    positions = torch.arange(attention_mask.shape[-1], device=attention_mask.device)
    return (positions * attention_mask.long()).argmax(-1)


def score_at_last_token(model, input_ids, attention_mask):
    """Scalar reward per row from a sequence classifier, read at the last real token.

    input_ids, attention_mask: (B, T). Returns (B,) float. Transformers' own pooling locates the last
    token by ``input_ids != pad_token_id``, which is one token early when pad == EOS; here the
    position comes from the attention mask (left or right padding). Models with a ``score`` head (every causal-LM family in
    transformers: Llama, GPT-2, Qwen, Mistral…) take that path; others fall back to their forward.
    """
    import torch

    index = last_token_index(attention_mask)
    rows = torch.arange(input_ids.shape[0], device=input_ids.device)
    backbone = getattr(model, getattr(model, "base_model_prefix", ""), None)
    head = getattr(model, "score", None)
    if backbone is None or head is None:  # unknown layout: trust the model's own pooling
        return model(input_ids=input_ids, attention_mask=attention_mask).logits[:, 0]
    # positions from the mask, so a left-padded batch scores exactly like a right-padded one
    position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    hidden = backbone(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
    ).last_hidden_state
    return head(hidden[rows, index]).squeeze(-1).float()


def length_batches(lengths: Sequence[int], batch_size: int, max_padding: float = 0.25) -> list[list[int]]:
    """Indices of ``lengths`` in batches of similar length: ascending, at most ``batch_size`` each, and a
    batch is closed before padding would exceed ``max_padding`` of its padded tokens (one long text among
    short ones gets its own batch instead of padding all of them to its length)."""
    batches: list[list[int]] = []
    current: list[int] = []
    real = 0
    for i in sorted(range(len(lengths)), key=lambda k: lengths[k]):
        padded = (len(current) + 1) * lengths[i]  # ascending: the new text is the batch's longest
        if current and (len(current) == batch_size or padded - real - lengths[i] > max_padding * padded):
            batches.append(current)
            current, real = [], 0
        current.append(i)
        real += lengths[i]
    if current:
        batches.append(current)
    return batches


class RewardModelScorer:
    """A trained reward model as a reward function (and a batch scorer for evaluation/PPO).

    ``scorer(prompts, completions)`` -> list of rewards; ``scorer.score_texts(texts)`` for texts that
    are already templated. Runs in inference mode, truncating from the left to ``max_length`` tokens so
    the response end (where the reward is read) is kept, in batches of at most ``batch_size`` texts of
    similar length (:func:`length_batches`; on the demo's 16 evaluation replies one batch of 16 padded to
    the longest took 4.8 s, batch size 1 4.6 s). Scores come back in the input order.
    """

    def __init__(
        self, model, tokenizer, batch_size: int = 8, max_length: int | None = 1024, name: str = "reward_model"
    ):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length
        self.__name__ = name  # TRL logs rewards/<__name__>

    @classmethod
    def from_pretrained(cls, path: str, tokenizer=None, dtype: str | None = "float32", device=None, **kwargs):
        """Load the reward model (and its own tokenizer, when the folder has one) from ``path``."""
        from rlhf_trl.models import load_sequence_classifier, load_tokenizer

        folder = Path(path)
        if (folder / "tokenizer_config.json").is_file() or tokenizer is None:
            tokenizer = load_tokenizer(str(path))
        model = load_sequence_classifier(str(path), tokenizer, dtype=dtype, num_labels=1)
        model.requires_grad_(False)
        if device is not None:
            model.to(device)
        return cls(model, tokenizer, name=kwargs.pop("name", f"rm_{folder.name}"), **kwargs)

    def score_texts(self, texts: Sequence[str]) -> list[float]:
        import torch

        device = next(self.model.parameters()).device
        if not texts:
            return []
        all_ids = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        if self.max_length is not None:  # keep the end of the transcript: the reward is read there
            all_ids = [row[-self.max_length :] for row in all_ids]
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        out: list[float] = [0.0] * len(texts)
        for batch in length_batches([len(row) for row in all_ids], self.batch_size):
            ids = [all_ids[i] for i in batch]
            width = max(len(row) for row in ids)
            input_ids = torch.tensor([row + [pad_id] * (width - len(row)) for row in ids])
            mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in ids])
            with torch.inference_mode():
                scores = score_at_last_token(self.model, input_ids.to(device), mask.to(device))
            for i, score in zip(batch, scores.cpu().tolist()):
                out[i] = score
        return out

    def __call__(self, prompts, completions, **kwargs) -> list[float]:
        texts = [transcript_text(self.tokenizer, p, c) for p, c in zip(prompts, completions, strict=True)]
        return self.score_texts(texts)


# ---------------------------------------------------------------------------------- registered names


@register_reward("gold")
def _gold_factory(data_args=None, **_):
    """The deterministic rubric that labelled the bundled set (the synthetic "human", Gao et al. 2022)."""
    from rlhf_trl import data

    if data_args is not None and not data.has_gold(data_args):
        raise UserError(
            f"reward 'gold' needs a dataset with a gold rubric (dataset_name: bundled, or a local copy of "
            f"it), not {data_args.dataset_name!r}; use a reward-model folder instead"
        )
    return gold_reward


def gold_reward(prompts, completions, **kwargs) -> list[float]:
    """Gold-rubric score of each response to its prompt (higher is better)."""
    from rlhf_trl.testbed import gold_score

    return [
        float(gold_score(prompt_messages(p), completion_text(c)))
        for p, c in zip(prompts, completions, strict=True)
    ]


@register_reward("reward_model")
def _reward_model_factory(run_dir=None, tokenizer=None, dtype="float32", device=None, **kwargs):
    """The reward model trained by recipes/reward.py in this run: ``run_dir/checkpoints/reward``."""
    folder = Path(run_dir or ".") / "checkpoints" / "reward"
    if not (folder / "config.json").is_file():
        raise UserError(
            f"reward 'reward_model' reads {folder}, which holds no model: run recipes/reward.py with the same "
            f"run_dir first, or name a reward-model folder"
        )
    return RewardModelScorer.from_pretrained(
        str(folder), tokenizer=tokenizer, dtype=dtype, device=device, **kwargs
    )


@register_reward("length")
def _length_factory(**_):
    """Response length in characters / 100: a deliberately hackable reward, for over-optimisation demos."""
    return length_reward


def length_reward(prompts, completions, **kwargs) -> list[float]:
    """Length of each response in characters divided by 100."""
    return [len(completion_text(c)) / 100.0 for c in completions]


@register_reward("missing_eos")
def _missing_eos_factory(tokenizer=None, **_):
    """-1 for a response that ran out of tokens before its EOS, else 0: GRPO's counterpart of PPO's
    ``missing_eos_penalty`` (Huang et al. 2022), so both methods get the same signal about truncation."""
    if tokenizer is None or tokenizer.eos_token_id is None:
        raise UserError("reward 'missing_eos' needs the policy's tokenizer with an EOS token")
    eos = tokenizer.eos_token_id

    def missing_eos(prompts, completions, completion_ids=None, **kwargs) -> list[float]:
        """-1.0 where the completion's token ids contain no EOS (it was cut at the length limit)."""
        if completion_ids is None:
            raise ValueError("reward missing_eos needs the completions' token ids (completion_ids=...)")
        return [0.0 if eos in list(ids) else -1.0 for ids in completion_ids]

    return missing_eos


# ------------------------------------------------------------------------------------------ builder


def resolve_dotted(spec: str) -> Any:
    """Import ``pkg.mod:name`` or ``pkg.mod.name``; UserError naming the spec when it fails."""
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
    else:
        module_name, _, attr = spec.rpartition(".")
    if not module_name or not attr:
        raise UserError(
            f"{spec!r} is not a dotted path (expected pkg.module:function or pkg.module.function)"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise UserError(f"cannot import {module_name!r} for {spec!r}: {err}") from None
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise UserError(f"{module_name!r} has no attribute {attr!r} (from {spec!r})") from None
    return obj


def _looks_like_folder(spec: str) -> bool:
    return Path(spec).expanduser().is_dir()


def reward_model_folder(spec: str, run_dir: str | None = None) -> Path | None:
    """The folder a spec reads a reward model from (``reward_model``: this run's checkpoint; an existing
    folder), or None for rewards that are not models (registered functions, dotted paths)."""
    if spec == "reward_model":
        return Path(run_dir or ".") / "checkpoints" / "reward"
    if spec not in REWARD_REGISTRY and _looks_like_folder(spec):
        return Path(spec).expanduser()
    return None


def build_reward_func(
    spec: str,
    tokenizer=None,
    data_args=None,
    device=None,
    dtype: str | None = "float32",
    batch_size: int = 8,
    max_length: int | None = 1024,
    run_dir: str | None = None,
) -> RewardFunc:
    """One reward function from a spec (registered name, reward-model folder or dotted path)."""
    if spec == "reward_model":
        return REWARD_REGISTRY[spec](
            run_dir=run_dir,
            tokenizer=tokenizer,
            device=device,
            dtype=dtype,
            batch_size=batch_size,
            max_length=max_length,
        )
    if spec in REWARD_REGISTRY:
        return REWARD_REGISTRY[spec](tokenizer=tokenizer, data_args=data_args, device=device, dtype=dtype)
    if _looks_like_folder(spec):
        if not (Path(spec).expanduser() / "config.json").is_file():
            raise UserError(
                f"reward model folder {spec} has no config.json (train one with recipes/reward.py)"
            )
        return RewardModelScorer.from_pretrained(
            spec,
            tokenizer=tokenizer,
            dtype=dtype,
            device=device,
            batch_size=batch_size,
            max_length=max_length,
        )
    if "." in spec or ":" in spec:
        if "/" in spec:
            raise UserError(f"reward model folder {spec} does not exist")
        func = resolve_dotted(spec)
        if not callable(func):
            raise UserError(f"reward {spec!r} is not callable")
        return func
    raise UserError(
        f"unknown reward {spec!r}: use one of {', '.join(sorted(REWARD_REGISTRY))}, a reward-model folder, "
        f"or a dotted path pkg.module:function"
    )


def build_reward_funcs(
    specs: Sequence[str],
    weights: Sequence[float] | None = None,
    tokenizer=None,
    data_args=None,
    device=None,
    dtype: str | None = "float32",
    **kwargs,
):
    """Reward functions and their weights from config specs.

    Returns ``(funcs, weights)``; weights default to 1.0 each and must match ``specs`` in length.
    """
    specs = list(specs or [])
    if not specs:
        raise UserError(
            "reward_funcs is empty: name at least one reward (gold, a reward-model folder, a dotted path)"
        )
    if weights is None:
        weights = [1.0] * len(specs)
    weights = [float(w) for w in weights]
    if len(weights) != len(specs):
        raise UserError(
            f"reward_weights has {len(weights)} entries but reward_funcs has {len(specs)}; give one per reward"
        )
    funcs = [
        build_reward_func(s, tokenizer=tokenizer, data_args=data_args, device=device, dtype=dtype, **kwargs)
        for s in specs
    ]
    return funcs, weights


def reward_funcs_from_recipe(recipe_args, tokenizer) -> tuple[list[RewardFunc], list[float]]:
    """:func:`build_reward_funcs` from a stage's ``reward_funcs`` / ``reward_weights`` (GRPO, PPO), with
    reward models on this process's device."""
    from accelerate import PartialState

    cfg = recipe_args.stage
    return build_reward_funcs(
        cfg.reward_funcs,
        cfg.reward_weights,
        tokenizer=tokenizer,
        data_args=recipe_args.data,
        run_dir=recipe_args.run.run_dir,
        device=PartialState().device,
        dtype=recipe_args.model.dtype,
    )


def combined_reward(
    funcs: Sequence[RewardFunc], weights: Sequence[float], prompts, completions, **kwargs
) -> list[float]:
    """Weighted sum of several reward functions (what PPO optimises; GRPO lets TRL do this)."""
    total = [0.0] * len(completions)
    for func, weight in zip(funcs, weights, strict=True):
        values = func(prompts=prompts, completions=completions, **kwargs)
        if len(values) != len(completions):
            name = getattr(func, "__name__", type(func).__name__)
            raise ValueError(
                f"reward {name} returned {len(values)} values for {len(completions)} completions"
            )
        total = [t + weight * float(v) for t, v in zip(total, values)]
    return total


# ------------------------------------------------------------------------ reward-model test report


def _pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    n = len(xs)
    if n < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return None if sxx == 0 or syy == 0 else sxy / (sxx * syy) ** 0.5


def preference_report(
    scorer: RewardModelScorer, pairs, similar_length_tokens: int = 8, harmful: Sequence[bool] | None = None
) -> dict[str, Any]:
    """How a reward model ranks held-out preference pairs, with two reward-hacking probes.

    ``pairs``: rows with ``prompt``, ``chosen``, ``rejected`` (conversational or plain). Returns
    ``accuracy`` (share with r(chosen) > r(rejected)), ``mean_margin`` (mean r(chosen) - r(rejected)),
    ``accuracy_by_length/{chosen_longer,similar,chosen_shorter}`` with counts (response lengths in tokens;
    "similar" is |Δ| <= ``similar_length_tokens``), and ``reward_length_corr``: Pearson correlation of the
    reward with response length over all scored responses (near 1 means the model mostly measures length).
    ``harmful`` (one flag per pair, the testbed's labels: ``rlhf_trl.evaluation.metrics.harmful_flags``) adds
    ``accuracy_by_request/{harmful,benign}`` with counts: a reward model that ranks benign pairs well but not harmful ones (refusal chosen over
    compliance) cannot teach a policy to refuse.
    """
    tok = scorer.tokenizer
    rows = list(pairs)
    chosen = scorer([r["prompt"] for r in rows], [r["chosen"] for r in rows])
    rejected = scorer([r["prompt"] for r in rows], [r["rejected"] for r in rows])

    def n_tokens(completion) -> int:
        return len(tok(completion_text(completion), add_special_tokens=False)["input_ids"])

    len_c = [n_tokens(r["chosen"]) for r in rows]
    len_r = [n_tokens(r["rejected"]) for r in rows]
    wins = [c > r for c, r in zip(chosen, rejected)]
    report: dict[str, Any] = {
        "num_pairs": len(rows),
        "accuracy": sum(wins) / len(rows) if rows else None,
        "mean_margin": sum(c - r for c, r in zip(chosen, rejected)) / len(rows) if rows else None,
        "mean_reward_chosen": sum(chosen) / len(rows) if rows else None,
        "mean_reward_rejected": sum(rejected) / len(rows) if rows else None,
        "reward_length_corr": _pearson(chosen + rejected, [float(x) for x in len_c + len_r]),
    }
    buckets: dict[str, list[bool]] = {"chosen_longer": [], "similar": [], "chosen_shorter": []}
    for win, lc, lr in zip(wins, len_c, len_r):
        diff = lc - lr
        key = (
            "similar"
            if abs(diff) <= similar_length_tokens
            else ("chosen_longer" if diff > 0 else "chosen_shorter")
        )
        buckets[key].append(win)
    for key, values in buckets.items():
        report[f"accuracy_by_length/{key}"] = sum(values) / len(values) if values else None
        report[f"count_by_length/{key}"] = len(values)
    if harmful is not None:
        for key, flag in (("harmful", True), ("benign", False)):
            values = [w for w, h in zip(wins, harmful) if h == flag]
            report[f"accuracy_by_request/{key}"] = sum(values) / len(values) if values else None
            report[f"count_by_request/{key}"] = len(values)
    return report
