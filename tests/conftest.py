"""Shared fixtures. No test touches the network; tiny random models are built from a config."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")

import pytest  # noqa: E402


def pytest_collection_modifyitems(config, items):
    import torch

    if not torch.cuda.is_available():
        skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip_gpu)


def labelled_testbed_prompts() -> tuple[list, list]:
    """The bundled test prompt set's harmful and benign prompts (30 and 70): testbed requests, so the
    evaluation labels them (``rlhf_trl.evaluation.metrics.harmful_flags``), for fake evaluations."""
    from rlhf_trl.config import DataArguments
    from rlhf_trl.data import load_prompts
    from rlhf_trl.testbed import is_harmful_request

    pool = list(load_prompts(DataArguments(), eval_set="test")["prompt"])
    return [p for p in pool if is_harmful_request(p)], [p for p in pool if not is_harmful_request(p)]


def tiny_llama_config(tokenizer, **overrides):
    """The tiny Llama shape the tests use (~1M parameters with the embedded 49k vocabulary)."""
    from transformers import LlamaConfig

    kwargs = dict(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id,
    )
    return LlamaConfig(**{**kwargs, **overrides})


def tiny_ppo_config(tmp_path, **overrides):
    """A PPOConfig for the tiny model: one step of 4 prompts x 6 tokens, no logging or progress bar."""
    from rlhf_trl.ppo.config import PPOConfig

    kwargs = dict(
        output_dir=str(tmp_path / "out"),
        report_to="none",
        disable_tqdm=True,
        seed=0,
        max_steps=1,
        per_device_train_batch_size=4,
        response_length=6,
        temperature=1.0,
        learning_rate=1e-3,
    )
    return PPOConfig(**{**kwargs, **overrides})


@pytest.fixture
def one_thread():
    """Tiny models: threads only add contention (and run-to-run float noise) on a shared CPU."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def embedded_tokenizer_dir(tmp_path_factory) -> str:
    """The embedded model's tokenizer alone (read from the GGUF, ~4 s; no weights converted)."""
    from transformers import AutoTokenizer

    from rlhf_trl.models import EMBEDDED_MODELS, _gguf_location

    folder, filename = _gguf_location(next(iter(EMBEDDED_MODELS)))
    out = tmp_path_factory.mktemp("embedded_tokenizer")
    AutoTokenizer.from_pretrained(folder, gguf_file=filename).save_pretrained(out)
    return str(out)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, embedded_tokenizer_dir) -> str:
    """A tiny random Llama (same tokenizer and chat template as the embedded model), saved to disk.

    Usable anywhere a ``model_name_or_path`` is: recipes, loaders, trainers. ~1M parameters.
    """
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(embedded_tokenizer_dir)
    config = tiny_llama_config(tokenizer)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    out = tmp_path_factory.mktemp("tiny_llama")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


@pytest.fixture(scope="session")
def tiny_model_dir_attention_dropout(tmp_path_factory, embedded_tokenizer_dir) -> str:
    """The tiny Llama with ``attention_dropout: 0.5``: a rate its attention reads from a float attribute,
    not an ``nn.Dropout`` (what TRL's ``disable_dropout_in_model`` leaves on)."""
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(embedded_tokenizer_dir)
    torch.manual_seed(0)
    model = LlamaForCausalLM(tiny_llama_config(tokenizer, attention_dropout=0.5))
    out = tmp_path_factory.mktemp("tiny_llama_attention_dropout")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


def attention_dropout_rates(model) -> set[float]:
    """The ``attention_dropout`` rates of ``model``'s attention modules."""
    return {
        m.attention_dropout
        for m in model.modules()
        if isinstance(getattr(m, "attention_dropout", None), float)
    }
