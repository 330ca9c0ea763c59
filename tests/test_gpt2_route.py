"""The GPT-2 route end to end, offline: a tiny GPT-2-architecture model with a GPT-2-shaped tokenizer (byte-level
BPE, ``<|endoftext|>`` as BOS/EOS/UNK, no pad token, no chat template) through sft -> reward -> ppo -> grpo -> dpo ->
evaluation on a Hub-layout HH-RLHF folder of multi-turn transcripts, driven by recipes/configs/full.yaml with only
the model, the data and the sizes overridden; then the same chain through `rlhf-trl demo`, SFT first."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
FULL = ROOT / "recipes" / "configs" / "full.yaml"
BUNDLED_TRAIN = ROOT / "rlhf_trl" / "testbed" / "bundled" / "train.jsonl.gz"
EOT = "<|endoftext|>"
CONTEXT = 1024  # GPT-2's n_positions: the long transcripts below do not fit it
TURNS_IN_LONG_PROMPT = 40


def _bundled_rows() -> list[dict]:
    with gzip.open(BUNDLED_TRAIN, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def build_gpt2(folder: Path) -> Path:
    """A tiny random GPT2LMHeadModel and a GPT-2-shaped tokenizer (byte-level BPE trained on HH transcripts)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    rows = _bundled_rows()[:600]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=1024,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator([r[k] for r in rows for k in ("chosen", "rejected")], trainer)
    tokenizer = GPT2TokenizerFast(
        tokenizer_object=backend, bos_token=EOT, eos_token=EOT, unk_token=EOT, model_max_length=CONTEXT
    )
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=CONTEXT,
        n_embd=16,
        n_layer=2,
        n_head=2,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def long_row(rows: list[dict]) -> dict:
    """A conversation of TURNS_IN_LONG_PROMPT exchanges (real HH-RLHF has up to 35 turns), longer than the context."""
    head = "".join(r["chosen"] for r in rows[:-1])
    return {"chosen": head + rows[-1]["chosen"], "rejected": head + rows[-1]["rejected"]}


def _in_dev(row: dict) -> bool:
    from rlhf_trl.data import parse_hh_pair
    from rlhf_trl.data.loaders import _in_eval_set

    return _in_eval_set(parse_hh_pair(row["chosen"], row["rejected"])["prompt"], "dev")


def write_hh_folder(folder: Path) -> Path:
    """The Hub repo's layout, ``<subset>/{train,test}.jsonl.gz`` of raw ``{"chosen", "rejected"}`` transcripts:
    half multi-turn, and one conversation longer than the context at the head of each split."""
    rows = _bundled_rows()
    multi = [r for r in rows if r["chosen"].count("\n\nHuman:") > 1]
    single = [r for r in rows if r["chosen"].count("\n\nHuman:") == 1]
    pool = single[200:]
    for k, subset in enumerate(["helpful-base", "harmless-base"]):
        for j, split in enumerate(["train", "test"]):
            part = 2 * k + j
            mixed = [x for pair in zip(multi[12 * part :], single[12 * part : 12 * part + 12]) for x in pair]
            long = long_row(pool[TURNS_IN_LONG_PROMPT * part : TURNS_IN_LONG_PROMPT * (part + 1)])
            if split == "test":  # the evaluation's dev prompts (half of the test split) must hold it
                shift = 0
                while not _in_dev(long):
                    shift += 1
                    start = TURNS_IN_LONG_PROMPT * part + shift
                    long = long_row(pool[start : start + TURNS_IN_LONG_PROMPT])
            (folder / subset).mkdir(parents=True, exist_ok=True)
            with gzip.open(folder / subset / f"{split}.jsonl.gz", "wt", encoding="utf-8") as f:
                f.writelines(json.dumps(r) + "\n" for r in [long, *mixed])
    return folder


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory) -> str:
    return str(build_gpt2(tmp_path_factory.mktemp("tiny_gpt2")))


@pytest.fixture(scope="module")
def hh_dir(tmp_path_factory) -> str:
    return str(write_hh_folder(tmp_path_factory.mktemp("hh_rlhf")))


# ------------------------------------------------------------------------------------------ fast


def test_gpt2_shaped_tokenizer_gets_a_new_pad_and_the_hh_template(gpt2_dir):
    from transformers import AutoTokenizer

    from rlhf_trl.models import HH_CHAT_TEMPLATE, PAD_TOKEN_ADDED, load_causal_lm, load_tokenizer

    raw = AutoTokenizer.from_pretrained(gpt2_dir)
    assert raw.pad_token is None and not raw.chat_template  # the shape of the real gpt2
    assert raw.bos_token == raw.eos_token == raw.unk_token == EOT
    tok = load_tokenizer(gpt2_dir)
    assert tok.pad_token == PAD_TOKEN_ADDED and tok.pad_token_id != tok.eos_token_id
    assert tok.chat_template == HH_CHAT_TEMPLATE and tok.padding_side == "left"
    model = load_causal_lm(gpt2_dir, tok)
    assert model.get_input_embeddings().num_embeddings == len(tok) == len(raw) + 1
    assert model.config.pad_token_id == tok.pad_token_id
    # The new row is the same on every load, so a policy and its separately loaded reference agree.
    again = load_causal_lm(gpt2_dir, load_tokenizer(gpt2_dir))
    for name, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[name]), name


def test_hub_layout_folder_gives_multi_turn_prompts_in_the_hh_template(gpt2_dir, hh_dir):
    """Each parsed pair, rendered with the template GPT-2 gets, is exactly the raw HH transcript (+ EOS)."""
    from rlhf_trl.config import DataArguments
    from rlhf_trl.data.loaders import raw_rows, read_preference_splits
    from rlhf_trl.models import load_tokenizer

    tok = load_tokenizer(gpt2_dir)
    subsets = yaml.safe_load(FULL.read_text())["dataset_subsets"]
    data_args = DataArguments(dataset_name=hh_dir, dataset_subsets=subsets)
    splits, stats = read_preference_splits(data_args)
    raw = raw_rows(data_args)
    for split in ("train", "test"):
        assert stats[split].kept == stats[split].raw == len(raw[split]) == 25 * len(subsets)
        assert sum(len(p) > 1 for p in splits[split]["prompt"]) >= 12 * len(subsets)
        for (_, row), pair in zip(raw[split], splits[split]):
            prompt = tok.apply_chat_template(pair["prompt"], tokenize=False, add_generation_prompt=True)
            assert prompt.startswith("\n\nHuman: ") and prompt.endswith("\n\nAssistant:")
            assert prompt.count("\n\nHuman: ") == len(pair["prompt"]) // 2 + 1
            for side in ("chosen", "rejected"):
                full = tok.apply_chat_template(pair["prompt"] + pair[side], tokenize=False)
                assert full == row[side] + EOT and full.startswith(prompt)


def test_learned_positions_read_a_left_padded_batch_like_an_unpadded_one(gpt2_dir):
    """GPT-2 numbers positions from 0 including left padding unless given position_ids; TRL's GRPO log-prob pass
    gives none. Our loaders (and the reference GRPO builds for itself) count them from the attention mask."""
    import trl.trainer.grpo_trainer as grpo_module
    from transformers import AutoModelForCausalLM

    from rlhf_trl.models import load_causal_lm, load_tokenizer
    from rlhf_trl.training import reference_loaded_like_policy

    tok = load_tokenizer(gpt2_dir)
    texts = [
        "\n\nHuman: hi\n\nAssistant:",
        "\n\nHuman: how do I take better photos with my phone?\n\nAssistant:",
    ]
    batch = tok(texts, padding=True, return_tensors="pt")
    alone = tok(texts[:1], return_tensors="pt")

    def last_logprobs(model, enc):
        with torch.no_grad():
            return model(**enc).logits[0, -1].log_softmax(-1)

    plain = AutoModelForCausalLM.from_pretrained(gpt2_dir).eval()
    plain.resize_token_embeddings(len(tok))
    gap = (last_logprobs(plain, batch) - last_logprobs(plain, alone)).abs().max()
    assert gap > 1e-3  # the trap: without position ids the padded row reads shifted positions
    with reference_loaded_like_policy(tok):
        trl_reference = grpo_module.create_model_from_path(gpt2_dir).eval()
    for model in (load_causal_lm(gpt2_dir, tok).eval(), trl_reference):
        assert model.get_input_embeddings().num_embeddings == len(tok)
        torch.testing.assert_close(last_logprobs(model, batch), last_logprobs(model, alone))

    # The exact call of GRPO's log-prob pass: TRL's fused LM head, input_ids + attention_mask only.
    def fused(model, enc):
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        with torch.no_grad():
            return model(**enc, labels=labels, fused_lm_head=True).log_probs[0, -1]

    grpo_module.add_fused_lm_head(trl_reference)
    torch.testing.assert_close(fused(trl_reference, batch), fused(trl_reference, alone))


def test_long_prompts_lose_their_oldest_turns_to_fit_the_context(gpt2_dir, hh_dir):
    from rlhf_trl import data
    from rlhf_trl.config import DataArguments
    from rlhf_trl.models import load_tokenizer
    from rlhf_trl.training import fit_prompts

    tok = load_tokenizer(gpt2_dir)
    prompts = list(data.load_prompts(DataArguments(dataset_name=hh_dir), "train")["prompt"])
    long = prompts[0]
    assert len(long) == 2 * TURNS_IN_LONG_PROMPT - 1

    def length(p):
        return len(tok(tok.apply_chat_template(p, add_generation_prompt=True, tokenize=False))["input_ids"])

    budget = CONTEXT - 128
    assert length(long) > CONTEXT
    fitted, counts = fit_prompts(prompts, tok, budget)
    assert counts == {"shortened": 2, "dropped": 0}  # the long conversation of each subset
    assert len(fitted) == len(prompts)
    for before, after in zip(prompts, fitted):
        assert length(after) <= budget
        # the latest turns survive, starting with a user turn; a prompt that fitted is untouched
        assert after == before[-len(after) :] and after[0]["role"] == "user"
        assert after == before or length(before) > budget
    assert length(fitted[0]) > budget - 200  # only as many exchanges as needed were dropped
    _, counts = fit_prompts([long[-1:]], tok, 2)
    assert counts == {"shortened": 0, "dropped": 1}


# ------------------------------------------------------------------------------------------ slow

SIZES = {"max_train_samples": 24, "max_test_samples": 8}
STAGE_SIZES = {
    "sft": {"max_steps": 2, "per_device_train_batch_size": 4, "max_length": 128},
    "reward": {
        "max_steps": 2,
        "per_device_train_batch_size": 4,
        "per_device_eval_batch_size": 4,
        "max_length": 128,
    },
    "ppo": {
        "max_steps": 1,
        "per_device_train_batch_size": 2,
        "gradient_accumulation_steps": 1,
        "num_mini_batches": 1,
        "ppo_epochs": 1,
        "response_length": 8,
        "rollout_forward_batch_size": 4,
    },
    "grpo": {"max_steps": 1, "per_device_train_batch_size": 4, "group_size": 2, "max_completion_length": 8},
    "dpo": {
        "max_steps": 1,
        "per_device_train_batch_size": 2,
        "per_device_eval_batch_size": 4,
        "max_length": 128,
    },
    # full.yaml's http judge (GPT-4o-mini) needs the network: the trained reward model judges alone
    "evaluation": {
        "num_prompts": 4,
        "max_new_tokens": 8,
        "batch_size": 4,
        "judges": ["reward_model"],
        "bootstrap_samples": 100,
    },
}
POLICIES = ("ppo", "grpo", "dpo")
BASELINES = ("echo", "refuse_all", "reference_trimmed", "nearest_train_chosen")  # full.yaml's list


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _env() -> dict:
    # one thread: the models are tiny, and a second thread only adds contention on a shared 2-core machine
    return {
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PATH": str(Path(sys.executable).parent),
    }


def _distance(a: dict, b: dict) -> float:
    """Largest weight difference over the GPT-2 body both models share (heads and grown vocab rows aside)."""
    keys = [k for k in a if k.startswith("transformer.") and k in b and a[k].shape == b[k].shape]
    assert len(keys) > 10
    return max((a[k] - b[k]).abs().max().item() for k in keys)


def _check_run(run_dir: Path, base: str) -> None:
    """What the route must leave: every stage's checkpoint and metrics.json, later stages started from the SFT
    model, long prompts fitted to the context, and an evaluation of every policy against the SFT model."""
    from safetensors.torch import load_file

    ckpt = run_dir / "checkpoints"
    weights = {"base": load_file(Path(base) / "model.safetensors")}
    for stage in ("sft", "reward", *POLICIES):
        assert json.loads((ckpt / stage / "metrics.json").read_text())["stage"] == stage
        weights[stage] = load_file(ckpt / stage / "model.safetensors")
    # SFT moved away from the base; every later stage is nearer the SFT model than the base (a few small steps).
    assert _distance(weights["sft"], weights["base"]) > 1e-5
    for stage in ("reward", *POLICIES):
        assert _distance(weights[stage], weights["sft"]) < _distance(weights[stage], weights["base"]), stage
    grpo = json.loads((ckpt / "grpo" / "metrics.json").read_text())
    assert grpo["prompts_shortened_to_fit_context"] >= 1 and grpo["prompts_dropped_to_fit_context"] == 0

    metrics = json.loads((run_dir / "evaluation" / "metrics.json").read_text())
    assert metrics["reference_model"] == str(ckpt / "sft")
    # sft is the reference: not judged against itself; full.yaml's trivial baselines are judged like policies
    assert set(metrics["models"]) == {"reference", *POLICIES, *BASELINES}
    assert {metrics["models"][b]["role"] for b in BASELINES} == {"baseline"}
    for stage in (*POLICIES, *BASELINES):
        assert set(metrics["models"][stage]["win_rate"]) == {"reward_model"}
    assert any("shortened to fit" in note for note in metrics["notes"])
    lines = (run_dir / "evaluation" / "samples.jsonl").read_text().splitlines()
    prompts = [json.loads(line)["prompt"] for line in lines]
    assert max(len(p) for p in prompts) > 1  # multi-turn prompts were sampled


@pytest.mark.slow
def test_gpt2_route_through_full_yaml_stage_by_stage(gpt2_dir, hh_dir, tmp_path):
    run_dir = tmp_path / "run"
    sft = str(run_dir / "checkpoints" / "sft")
    shared = ["--config", str(FULL), "--run_dir", str(run_dir), "--dataset_name", hh_dir]
    for stage in ("sft", "reward", "ppo", "grpo", "dpo", "evaluation"):
        script = ROOT / "recipes" / ("evaluate.py" if stage == "evaluation" else f"{stage}.py")
        start = {"sft": ["--model_name_or_path", gpt2_dir], "evaluation": ["--reference_model", sft]}
        flags = start.get(stage, ["--model_name_or_path", sft])
        sizes = [str(a) for k, v in {**SIZES, **STAGE_SIZES[stage]}.items() for a in (f"--{k}", *_listed(v))]
        proc = subprocess.run(
            [sys.executable, str(script), *shared, *flags, *sizes],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=300,
            cwd=ROOT,
        )
        assert proc.returncode == 0, f"{stage}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    _check_run(run_dir, gpt2_dir)


@pytest.mark.slow
def test_demo_runs_the_full_yaml_chain_with_sft_first(gpt2_dir, hh_dir, tmp_path):
    """`rlhf-trl demo` on full.yaml (model, data and sizes overridden): sft first, then every stage from it."""
    run_dir = tmp_path / "run"
    config = yaml.safe_load(FULL.read_text())
    assert config["demo"]["stages"] == ["sft", "reward", "ppo", "grpo", "dpo", "evaluation"]
    config.update(run_dir=str(run_dir), model_name_or_path=gpt2_dir, dataset_name=hh_dir, **SIZES)
    for stage, sizes in STAGE_SIZES.items():
        config[stage].update(sizes)
    path = tmp_path / "full.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("rlhf-trl")), "demo", "--config", str(path)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-4000:]
    sft = run_dir / "checkpoints" / "sft"
    commands = [line for line in proc.stdout.splitlines() if ": python recipes/" in line]
    assert len(commands) == 6 and "[1/6] sft:" in commands[0] and "--model_name_or_path" not in commands[0]
    for line, flag in zip(commands[1:], ["--model_name_or_path"] * 4 + ["--reference_model"]):
        assert f"{flag} {sft}" in line, line
    _check_run(run_dir, gpt2_dir)
    assert (run_dir / "ANALYSIS.md").is_file()
