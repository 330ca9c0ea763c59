"""Every recipe under 2 processes on CPU (DDP over gloo) through accelerate_configs/cpu_2proc.yaml, compared
with 1 process at the same global batch: each rank trains on its own share of the data (disjoint), together
they consume exactly what the 1-process run consumes (same examples, same count, same tokens for the
offline methods), metrics are reduced over both ranks, and the run saves one loadable model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from test_accelerate_configs import launch_cpu_2proc

ROOT = Path(__file__).resolve().parents[1]

# Runs in each process: record what every training micro-batch (offline methods) or every reward call
# (GRPO, PPO) contains, then run the recipe as is.
WRAPPER = """
import hashlib, importlib.util, os, sys
import trl

out = os.environ["RECORD_DIR"]
rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))

def record(*fields):
    with open(os.path.join(out, f"rank{rank}.txt"), "a") as f:
        f.write(" ".join(str(x) for x in (world, *fields)) + "\\n")

def record_rows(cls, stacked):
    original = cls.compute_loss

    def compute_loss(self, model, inputs, *args, **kwargs):
        if model.training:
            ids = inputs["input_ids"]
            mask = inputs.get("attention_mask")
            n = ids.shape[0] // 2 if stacked else ids.shape[0]  # preference batches: chosen rows, then rejected
            for i in range(n):
                # the real tokens only: the same example padded differently must hash the same
                real = ids[i][mask[i].bool()] if mask is not None else ids[i]
                record("row", hashlib.sha1(real.cpu().numpy().tobytes()).hexdigest(), real.numel())
        return original(self, model, inputs, *args, **kwargs)

    cls.compute_loss = compute_loss

record_rows(trl.RewardTrainer, stacked=True)
record_rows(trl.DPOTrainer, stacked=True)
record_rows(trl.SFTTrainer, stacked=False)
spec = importlib.util.spec_from_file_location("recipe", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from rlhf_trl.errors import run_cli
run_cli(module.main, sys.argv[2:])
"""

# A reward function (GRPO, PPO) that records which prompts this process scored and how many tokens it sampled.
REWARDS = """
import hashlib, json, os

CALLS = {"n": 0}

def recording_reward(prompts, completions, completion_ids=None, **kwargs):
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    CALLS["n"] += 1
    values = []
    with open(os.path.join(os.environ["RECORD_DIR"], f"rank{rank}.txt"), "a") as f:
        for prompt, completion, ids in zip(prompts, completions, completion_ids):
            value = len(completion[0]["content"]) / 100.0
            values.append(value)
            key = hashlib.sha1(json.dumps(prompt, sort_keys=True).encode()).hexdigest()
            f.write(f"{world} prompt {key} {len(ids)} {CALLS['n']} {value!r}\\n")
    return values
"""

DATA = "dataset_name: bundled\nmax_train_samples: {n}\nmax_test_samples: 4\nseed: 0\n"
COMMON = "max_steps: 2\nlogging_steps: 1\nsave_strategy: 'no'\nreport_to: none\ndisable_tqdm: true\n"
# stage -> (prompts/pairs in the train split, section). Global batch = 4 examples per step in both runs:
# per_device_train_batch_size is 4 with 1 process and 2 with 2; 2 steps consume the train split exactly once.
# max_length 512: no pair is truncated or dropped (the bundled multi-turn prompts plus a rambling reply pass
# 128 tokens), so each run sees exactly the 8 pairs and neither sampler pads or cycles.
CASES = {
    "reward": (8, "max_length: 512\n"),
    "sft": (8, "max_length: 512\n"),
    "dpo": (8, "max_length: 512\nlearning_rate: 1.0e-3\n"),  # moves the policy: test rewards well away from 0
    # our own loss path (rlhf_trl.losses): its metrics are gathered over the ranks by our code, not TRL's
    "dpo_custom_loss": (8, "max_length: 512\nlearning_rate: 1.0e-3\npreference_loss: dpo\n"),
    "grpo": (4, "reward_funcs: [mp_rewards:recording_reward]\ngroup_size: 2\nmax_completion_length: 6\n"),
    "ppo": (  # 9 prompts: the 2nd update ends a pass with a remainder (1 prompt left over)
        9,
        "reward_funcs: [mp_rewards:recording_reward]\nresponse_length: 6\nmax_prompt_length: 64\n"
        "ppo_epochs: 1\nmissing_eos_penalty: null\n",
    ),
}


def run(stage: str, processes: int, tmp_path: Path, model: str) -> tuple[dict[int, list[list[str]]], dict]:
    """One recipe run; returns (records by rank, the saved metrics.json)."""
    folder = tmp_path / f"{stage}-{processes}proc"
    case, stage = stage, stage.split("_")[0]  # dpo_custom_loss runs recipes/dpo.py
    (folder / "record").mkdir(parents=True)
    (folder / "wrapper.py").write_text(WRAPPER)
    (folder / "mp_rewards.py").write_text(REWARDS)
    n, section = CASES[case]
    body = section + COMMON + f"per_device_train_batch_size: {4 // processes}\n"
    # the 4 test pairs split 2 + 2 over the ranks (an eval batch of 4 each would give rank 0 all of them)
    if stage in ("reward", "sft", "dpo"):
        body += f"per_device_eval_batch_size: {4 // processes}\n"
    config = folder / "config.yaml"
    config.write_text(
        f"run_dir: {folder / 'run'}\nmodel_name_or_path: {model}\n{DATA.format(n=n)}{stage}:\n"
        + "".join(f"  {line}\n" for line in body.splitlines())
    )
    env = dict(
        os.environ,
        RECORD_DIR=str(folder / "record"),
        HF_HUB_OFFLINE="1",
        PYTHONPATH=os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")]),
    )
    script = [str(folder / "wrapper.py"), str(ROOT / "recipes" / f"{stage}.py"), "--config", str(config)]
    if processes == 2:
        proc = launch_cpu_2proc(script, timeout=600, env=env)
    else:
        proc = subprocess.run([sys.executable, *script], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    records = {}
    for rank in range(processes):
        lines = [line.split() for line in (folder / "record" / f"rank{rank}.txt").read_text().splitlines()]
        assert {line[0] for line in lines} == {str(processes)}  # each process knew how many there were
        records[rank] = lines
    out = folder / "run" / "checkpoints" / stage
    assert (out / "config.json").is_file()  # one loadable model, written once
    return records, json.loads((out / "metrics.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("stage", list(CASES))
def test_recipe_under_two_processes_matches_one_process(stage, tmp_path, tiny_model_dir):
    two, metrics2 = run(stage, 2, tmp_path, tiny_model_dir)
    one, metrics1 = run(stage, 1, tmp_path, tiny_model_dir)
    n = CASES[stage][0]
    stage = stage.split("_")[0]
    keys = {r: Counter(line[2] for line in lines) for r, lines in two.items()}
    keys_one = Counter(line[2] for line in one[0])
    tokens = {r: sum(int(line[3]) for line in lines) for r, lines in two.items()}

    # both ranks worked, equally; together they consumed what 1 process consumed
    assert sum(keys[0].values()) == sum(keys[1].values()) > 0
    assert keys[0] + keys[1] == keys_one
    if stage in ("reward", "sft", "dpo"):
        assert not set(keys[0]) & set(keys[1])  # disjoint pairs
        assert sum(keys_one.values()) == n and len(keys_one) == n  # every pair once
        assert tokens[0] + tokens[1] == sum(int(line[3]) for line in one[0])  # the same training tokens
        assert metrics1["global_step"] == metrics2["global_step"] == 2
        # the same examples in the same global batches, gradients averaged by DDP: the same training loss, and
        # the held-out metrics computed over both ranks' shares of the test split, not rank 0's alone
        held_out = sorted(k for k, v in metrics1.items() if k.startswith("test/") and v is not None)
        reported = ["train_loss", *held_out]
        assert len(reported) > 1 and metrics1.keys() == metrics2.keys()
        # abs: a response's log-prob is an fp32 sum over ~100 tokens, batched 2 or 4 at a time: it differs by ~3e-5
        # nats between the runs (x beta in DPO's rewards); rank 0's share alone would be off by ~4e-3
        expected = pytest.approx({k: metrics1[k] for k in reported}, rel=1e-4, abs=1e-5)
        assert {k: metrics2[k] for k in reported} == expected
        return
    # GRPO, PPO: every prompt scored as often as in the 1-process run (no rank generated for the other's
    # prompts), sampled tokens summed over ranks, scores averaged over ranks
    calls = [
        [float(line[5]) for lines in two.values() for line in lines if line[4] == str(i)] for i in (1, 2)
    ]
    assert metrics2["tokens_generated"] == tokens[0] + tokens[1] > 0
    assert metrics1["tokens_generated"] == sum(int(line[3]) for line in one[0])
    means = [sum(values) / len(values) for values in calls]
    if stage == "ppo":
        assert not set(keys[0]) & set(keys[1])  # prompt batches are sharded across ranks
        assert set(keys_one.values()) == {1} and len(keys_one) == 8  # 2 updates x 4 prompts, each once
        assert metrics1["episodes"] == metrics2["episodes"] == 8
        # the last update ends a pass over the prompts: its metrics must still average both ranks
        assert [metrics2["scores_first"], metrics2["scores_last"]] == pytest.approx(means, abs=1e-5)
    else:
        assert len(keys_one) == n and set(keys_one.values()) == {2}  # each prompt once, as a group of 2
        assert metrics2["reward_first"] == pytest.approx(means[0], abs=1e-5)


NAN_ON_RANK1 = """
import os

CALLS = {"n": 0}

def nan_on_rank1(prompts, completions, **kwargs):
    CALLS["n"] += 1
    values = [len(c[0]["content"]) / 100.0 for c in completions]
    if CALLS["n"] == 2 and os.environ.get("RANK") == "1":
        values[0] = float("nan")
    return values
"""


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["grpo", "ppo"])
def test_nan_reward_on_one_rank_stops_both(stage, tmp_path, tiny_model_dir):
    """A NaN on one process only: both stop at the same step with their own line (none waits forever)."""
    (tmp_path / "nan_rewards.py").write_text(NAN_ON_RANK1)
    extra = (
        "group_size: 2\nmax_completion_length: 4\n"
        if stage == "grpo"
        else "response_length: 4\nppo_epochs: 1\n"
    )
    body = f"reward_funcs: [nan_rewards:nan_on_rank1]\n{extra}max_steps: 3\nper_device_train_batch_size: 2\n"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"run_dir: {tmp_path / 'run'}\nmodel_name_or_path: {tiny_model_dir}\n{DATA.format(n=8)}{stage}:\n"
        + "".join(f"  {line}\n" for line in (body + COMMON.replace("max_steps: 2\n", "")).splitlines())
    )
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
    )
    proc = launch_cpu_2proc(
        [str(ROOT / "recipes" / f"{stage}.py"), "--config", str(config)], timeout=600, env=env
    )
    assert proc.returncode != 0
    errors = sorted(line for line in proc.stderr.splitlines() if line.startswith("error: step 2: "))
    assert len(errors) == 2, proc.stderr[-3000:]
    assert "on another process" in errors[0] or "on another process" in errors[1]
    assert any("nan" in line and "another process" not in line for line in errors)
    assert not (tmp_path / "run" / "checkpoints" / stage / "metrics.json").exists()


SAME_PROMPT_WRAPPER = """
import importlib.util, json, os, sys
from datasets import Dataset
from rlhf_trl import data

data.load_prompts = lambda args, split: Dataset.from_list([{"prompt": [{"role": "user", "content": "Tell me a story."}]}] * 8)

def recording_reward(prompts, completions, completion_ids=None, **kwargs):
    with open(os.path.join(os.environ["RECORD_DIR"], f"rank{os.environ.get('RANK', '0')}.txt"), "a") as f:
        for ids in completion_ids:
            f.write(json.dumps(list(ids)) + "\\n")
    return [len(ids) / 10.0 for ids in completion_ids]

import rlhf_trl.ppo.trainer as ppo_trainer
_update_metrics = ppo_trainer.update_metrics

def recording_metrics(*args, **kwargs):  # this rank's metrics of an update, before they are averaged over ranks
    metrics = _update_metrics(*args, **kwargs)
    with open(os.path.join(os.environ["RECORD_DIR"], f"metrics{os.environ.get('RANK', '0')}.jsonl"), "a") as f:
        f.write(json.dumps({k: float(v) for k, v in metrics.items()}) + "\\n")
    return metrics

ppo_trainer.update_metrics = recording_metrics
sys.modules["same_prompt"] = sys.modules[__name__]
spec = importlib.util.spec_from_file_location("recipe", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from rlhf_trl.errors import run_cli
run_cli(module.main, sys.argv[2:])
"""


def run_same_prompt_ppo(
    folder: Path, model_dir: str, settings: str = "per_device_train_batch_size: 2\n"
) -> list:
    """PPO on 2 CPU processes over one repeated prompt (SAME_PROMPT_WRAPPER): each rank's sampled responses
    (token ids, one line each) and, in folder/record/metrics{rank}.jsonl, its own metrics per update."""
    (folder / "record").mkdir(parents=True)
    (folder / "wrapper.py").write_text(SAME_PROMPT_WRAPPER)
    body = (
        "reward_funcs: [same_prompt:recording_reward]\nresponse_length: 8\nppo_epochs: 1\n"
        + settings
        + COMMON
    )
    config = folder / "config.yaml"
    config.write_text(
        f"run_dir: {folder / 'run'}\nmodel_name_or_path: {model_dir}\nseed: 0\nppo:\n"
        + "".join(f"  {line}\n" for line in body.splitlines())
    )
    env = dict(os.environ, RECORD_DIR=str(folder / "record"), HF_HUB_OFFLINE="1")
    proc = launch_cpu_2proc(
        [str(folder / "wrapper.py"), str(ROOT / "recipes" / "ppo.py"), "--config", str(config)],
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return [(folder / "record" / f"rank{r}.txt").read_text().splitlines() for r in (0, 1)]


@pytest.mark.slow
def test_ppo_ranks_sample_their_own_responses_deterministically(tmp_path, tiny_model_dir):
    """Every rank gets the same prompt: with one random stream per rank (seed + rank x 100003) the ranks'
    responses differ; the weights start identical and a rerun samples exactly the same."""
    runs = [run_same_prompt_ppo(tmp_path / attempt, tiny_model_dir) for attempt in ("a", "b")]
    folder = tmp_path / "b"
    (rank0, rank1), again = runs
    assert len(rank0) == len(rank1) == 4  # 2 updates x 2 responses per rank
    assert not set(rank0) & set(rank1)  # no response sampled on both ranks
    assert runs[0] == again
    # on every rank, not only on average: at the first update (one minibatch, policy == reference) the KL is
    # exactly 0 and the ratio exactly 1; at the second the policy has moved
    for rank in (0, 1):
        first, second = (json.loads(line) for line in (folder / "record" / f"metrics{rank}.jsonl").open())
        assert (first["objective/kl"], first["val/ratio"], first["policy/approxkl_avg"]) == (0.0, 1.0, 0.0), (
            rank
        )
        assert second["objective/kl"] != 0.0, rank


@pytest.mark.slow
def test_ppo_gradient_accumulation_over_two_ranks_equals_one_micro_batch(tmp_path, tiny_model_dir):
    """Under DDP, 2 micro-batches of 1 with accumulation (gradients all-reduced once, after the last) end at
    the weights of one micro-batch of 2 per rank: the same rollouts, the same optimizer steps."""
    import torch
    from safetensors.torch import load_file
    from torch.testing import assert_close

    one = run_same_prompt_ppo(tmp_path / "one", tiny_model_dir)
    accum = "per_device_train_batch_size: 1\ngradient_accumulation_steps: 2\n"
    assert run_same_prompt_ppo(tmp_path / "accum", tiny_model_dir, accum) == one  # the same rollouts
    a, b = (
        load_file(tmp_path / name / "run" / "checkpoints" / "ppo" / "model.safetensors")
        for name in ("one", "accum")
    )
    init = load_file(Path(tiny_model_dir) / "model.safetensors")
    assert not all(torch.equal(a[k], init[k]) for k in init if k in a)  # the policy moved
    for k in a:
        assert_close(a[k], b[k], atol=1e-6, rtol=1e-5, msg=k)
