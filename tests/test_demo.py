"""`rlhf-trl demo` end to end on a tiny model: every stage runs as a user would launch it, the table
prints, and a re-run resumes (skips) the finished stages."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_eval_harness import write_hh_folder

BIN = str(Path(sys.executable).with_name("rlhf-trl"))
STAGES = ["reward", "ppo", "grpo", "dpo", "evaluation"]

CONFIG = """
run_dir: {run_dir}
model_name_or_path: {model}
dataset_name: bundled
max_train_samples: 16
max_test_samples: 8
max_eval_prompts: 4
seed: 0
demo:
  stages: [reward, ppo, grpo, dpo, evaluation]
reward: {{max_steps: 1, per_device_train_batch_size: 4, per_device_eval_batch_size: 4, max_length: 128, save_strategy: "no", report_to: none}}
ppo: {{max_steps: 1, per_device_train_batch_size: 2, response_length: 8, ppo_epochs: 1, report_to: none}}
grpo: {{max_steps: 1, per_device_train_batch_size: 4, group_size: 2, max_completion_length: 8, save_strategy: "no", report_to: none}}
dpo: {{max_steps: 1, per_device_train_batch_size: 2, per_device_eval_batch_size: 4, max_length: 128, save_strategy: "no", report_to: none}}
evaluation: {{num_prompts: 4, max_new_tokens: 8, batch_size: 4, judges: [reward_model, gold], bootstrap_samples: 100}}
"""


@pytest.mark.slow
def test_demo_chain_runs_prints_table_and_resumes(tmp_path, tiny_model_dir):
    run_dir = tmp_path / "run"
    config = tmp_path / "demo.yaml"
    config.write_text(CONFIG.format(run_dir=run_dir, model=tiny_model_dir))
    env = {"HF_HUB_OFFLINE": "1", "PATH": str(Path(sys.executable).parent)}
    first = subprocess.run(
        [BIN, "demo", "--config", str(config)], capture_output=True, text=True, env=env, timeout=900
    )
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    for k, stage in enumerate(STAGES, start=1):
        assert f"[{k}/5] {stage}: finished" in first.stdout
    for stage in STAGES[:-1]:  # each records the precision it trained in (fp32: the config sets none)
        assert json.loads((run_dir / "checkpoints" / stage / "metrics.json").read_text())["bf16"] is False
    assert (run_dir / "evaluation" / "metrics.json").is_file()
    assert (run_dir / "ANALYSIS.md").is_file()
    # The final table names every model and the gold win rate of each policy.
    for model in ("reference", "ppo", "grpo", "dpo"):
        assert f"| {model} |" in first.stdout
    assert "Verdict: " in first.stdout  # the verdicts in words, or plainly that there is none

    again = subprocess.run(
        [BIN, "demo", "--config", str(config)], capture_output=True, text=True, env=env, timeout=300
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("done already") == len(STAGES)


def test_demo_rejects_an_unknown_stage(tmp_path):
    config = tmp_path / "demo.yaml"
    config.write_text("demo:\n  stages: [reward, ppoo]\n")
    proc = subprocess.run([BIN, "demo", "--config", str(config)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "demo.stages: unknown stage 'ppoo'" in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("fork", ["1", "0"])
def test_demo_stage_runs_forked_or_in_a_fresh_interpreter(tmp_path, tiny_model_dir, fork):
    """Forked from the warm demo (the CPU default) or a fresh `python recipes/reward.py` (CUDA builds,
    RLHF_TRL_DEMO_FORK=0): the same stage, the same output."""
    run_dir = tmp_path / "run"
    config = tmp_path / "demo.yaml"
    config.write_text(CONFIG.format(run_dir=run_dir, model=tiny_model_dir))
    env = {"HF_HUB_OFFLINE": "1", "PATH": str(Path(sys.executable).parent), "RLHF_TRL_DEMO_FORK": fork}
    proc = subprocess.run(
        [BIN, "demo", "--config", str(config), "--stages", "reward"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "[1/1] reward: finished" in proc.stdout
    assert "reward: test accuracy" in proc.stdout  # the stage's own stdout reaches the demo's
    assert "Tokenizing" not in proc.stderr  # no per-map dataset progress bars in the demo's output
    assert (run_dir / "checkpoints" / "reward" / "metrics.json").is_file()


def test_demo_with_sft_checks_the_order_and_the_sft_model_before_running(tmp_path):
    from rlhf_trl.demo import main
    from rlhf_trl.errors import UserError

    config = tmp_path / "demo.yaml"
    config.write_text(f"run_dir: {tmp_path / 'run'}\ndemo:\n  stages: [reward, sft, dpo]\n")
    with pytest.raises(UserError, match="sft must come before reward"):
        main(["--config", str(config)])
    config.write_text(f"run_dir: {tmp_path / 'run'}\ndemo:\n  stages: [sft, dpo, evaluation]\n")
    # sft is in the configured chain: dpo alone starts from its model, which is not there yet
    with pytest.raises(UserError, match=r"start from its model .*sft, which does not exist yet"):
        main(["--config", str(config), "--stages", "dpo"])
    assert not (tmp_path / "run").exists()


def test_stages_start_from_sft_unless_their_section_names_a_model(tmp_path):
    from rlhf_trl.demo import sft_flags

    sft = str(tmp_path / "checkpoints" / "sft")
    sections = {"dpo": {"beta": 0.1}, "grpo": {"model_name_or_path": "mine"}, "evaluation": {}}
    assert sft_flags(tmp_path, "dpo", sections) == ["--model_name_or_path", sft]
    assert sft_flags(tmp_path, "reward", sections) == ["--model_name_or_path", sft]
    assert sft_flags(tmp_path, "grpo", sections) == []
    assert sft_flags(tmp_path, "evaluation", sections) == ["--reference_model", sft]
    assert sft_flags(tmp_path, "sft", sections) == []
    assert sft_flags(tmp_path, "evaluation", {"evaluation": {"reference": "mine"}}) == []  # the alias


def test_the_evaluation_is_done_per_prompt_set(tmp_path):
    """A chain evaluating on the test prompts is not 'done' because the dev evaluation exists."""
    from rlhf_trl.demo import done_marker

    (tmp_path / "evaluation").mkdir()
    (tmp_path / "evaluation" / "metrics.json").write_text("{}")
    assert done_marker(tmp_path, "evaluation").is_file()
    assert done_marker(tmp_path, "evaluation", "test") == tmp_path / "evaluation_test" / "metrics.json"
    assert not done_marker(tmp_path, "evaluation", "test").is_file()


def test_seed_and_run_dir_reach_every_stage(tmp_path):
    """`--seed N --run_dir DIR` (one folder per training seed) move the whole chain, checks included."""
    from rlhf_trl.demo import _parse, main, override_flags
    from rlhf_trl.errors import UserError

    assert override_flags(_parse(["--seed", "43", "--run_dir", "out/s43"])) == [
        "--seed",
        "43",
        "--run_dir",
        "out/s43",
    ]
    assert override_flags(_parse([])) == []
    config = tmp_path / "demo.yaml"
    config.write_text(f"run_dir: {tmp_path / 'run'}\ndemo:\n  stages: [sft, dpo, evaluation]\n")
    other = tmp_path / "seed43"
    with pytest.raises(UserError, match=rf"its model {other}/checkpoints/sft, which does not exist yet"):
        main(["--config", str(config), "--run_dir", str(other), "--seed", "43", "--stages", "dpo"])


def test_the_evaluation_of_an_sft_chain_is_judged_against_the_sft_model(tmp_path):
    """`rlhf-trl evaluate` alone picks the reference the demo passes: the chain's SFT model."""
    from types import SimpleNamespace

    from rlhf_trl.errors import UserError
    from rlhf_trl.evaluation.harness import default_reference

    config = tmp_path / "c.yaml"
    args = SimpleNamespace(config_path=str(config), model=SimpleNamespace(model_name_or_path="base"))
    config.write_text("demo:\n  stages: [reward, dpo, evaluation]\n")
    assert default_reference(args, tmp_path) == "base"
    config.write_text("demo:\n  stages: [sft, dpo, evaluation]\n")
    with pytest.raises(UserError, match=r"the reference is the SFT model .*sft, which does not exist"):
        default_reference(args, tmp_path)
    (tmp_path / "checkpoints" / "sft").mkdir(parents=True)
    (tmp_path / "checkpoints" / "sft" / "config.json").write_text("{}")
    assert default_reference(args, tmp_path) == str(tmp_path / "checkpoints" / "sft")
    assert default_reference(SimpleNamespace(config_path=None, model=args.model), tmp_path) == "base"


PAIRS_CONFIG = CONFIG.replace(
    "stages: [reward, ppo, grpo, dpo, evaluation]",
    "stages: [reward, pairs, dpo]\n  pairs_prompts: 3\n  pairs_replies: 2",
)


@pytest.mark.slow
def test_demo_pairs_stage_ranks_the_reference_replies_and_dpo_trains_on_them(tmp_path, tiny_model_dir):
    """`pairs` in demo.stages: the reference's own replies ranked by the run's reward model go to
    run_dir/pairs, and the dpo stage reads its pairs from there (on-policy DPO); a re-run skips both."""
    run_dir = tmp_path / "run"
    config = tmp_path / "demo.yaml"
    config.write_text(PAIRS_CONFIG.format(run_dir=run_dir, model=tiny_model_dir))
    env = {"HF_HUB_OFFLINE": "1", "PATH": str(Path(sys.executable).parent)}
    proc = subprocess.run(
        [BIN, "demo", "--config", str(config)], capture_output=True, text=True, env=env, timeout=900
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    pairs = run_dir / "pairs"
    assert (
        f"[2/3] pairs: python recipes/pairs.py --config {config} --output_dir {pairs} --train_prompts 3 --replies 2"
        in proc.stdout
    )
    assert "--replies 2 --rank_by reward_model" in proc.stdout
    summary = json.loads((pairs / "pairs.json").read_text())
    assert summary["train_prompts"] == 3 and summary["replies_per_prompt"] == 2
    assert summary["ranked_by"] == "reward_model"
    assert summary["reward_model"] == str(run_dir / "checkpoints" / "reward")
    assert summary["policy"] == str(tiny_model_dir)  # no sft in the chain: the reference is the base model
    kept = summary["pairs"]
    assert f"--dataset_name {pairs}" in proc.stdout
    assert f"data {pairs}: train kept {kept}/{kept}" in proc.stderr  # dpo read the sampled pairs
    assert (run_dir / "checkpoints" / "dpo" / "metrics.json").is_file()
    again = subprocess.run(
        [BIN, "demo", "--config", str(config)], capture_output=True, text=True, env=env, timeout=300
    )
    assert again.returncode == 0 and again.stdout.count("done already") == 3, again.stderr[-3000:]


def test_demo_pairs_stage_order_and_its_missing_pairs_are_refused_before_running(tmp_path):
    from rlhf_trl.demo import main, pairs_flags
    from rlhf_trl.errors import UserError

    config = tmp_path / "demo.yaml"
    config.write_text(f"run_dir: {tmp_path / 'run'}\ndemo:\n  stages: [reward, dpo, pairs]\n")
    with pytest.raises(UserError, match="demo.stages: pairs must come before dpo"):
        main(["--config", str(config)])
    config.write_text(f"run_dir: {tmp_path / 'run'}\ndemo:\n  stages: [pairs, reward, dpo]\n")
    with pytest.raises(UserError, match="demo.stages: reward must come before pairs"):
        main(["--config", str(config)])
    config.write_text(f"run_dir: {tmp_path / 'run'}\ndemo:\n  stages: [reward, pairs, dpo]\n")
    with pytest.raises(UserError, match=r"dpo trains on .*run/pairs, which does not exist yet"):
        main(["--config", str(config), "--stages", "dpo"])
    # the ranker: a known one, gold only on the testbed, and not a finished pairs stage ranked otherwise
    stages = "demo:\n  stages: [reward, pairs, dpo]\n  pairs_rank_by: "
    config.write_text(f"run_dir: {tmp_path / 'run'}\n{stages}judge\n")
    with pytest.raises(UserError, match="pairs_rank_by must be one of reward_model, gold; got 'judge'"):
        main(["--config", str(config)])
    hh = write_hh_folder(tmp_path / "hh")
    config.write_text(f"run_dir: {tmp_path / 'run'}\ndataset_name: {hh}\n{stages}gold\n")
    with pytest.raises(
        UserError, match=r"demo.pairs_rank_by: gold needs the testbed's gold rubric, and .*hh is not"
    ):
        main(["--config", str(config)])
    (tmp_path / "run" / "pairs").mkdir(parents=True)
    (tmp_path / "run" / "pairs" / "pairs.json").write_text("{}")  # before --rank_by: the reward model
    config.write_text(f"run_dir: {tmp_path / 'run'}\n{stages}gold\n")
    with pytest.raises(
        UserError, match=r"run/pairs holds pairs ranked by reward_model, but demo.pairs_rank_by is gold"
    ):
        main(["--config", str(config)])
    shutil.rmtree(tmp_path / "run")
    # the hint names the folder and seed given to the demo; --restart would delete the pairs it needs
    other = tmp_path / "s7"
    with pytest.raises(
        UserError, match=rf"{other}/pairs, which does not exist yet; .*--run_dir {other}` with pairs"
    ):
        main(["--config", str(config), "--stages", "dpo", "--seed", "7", "--run_dir", str(other)])
    (tmp_path / "run" / "pairs").mkdir(parents=True)
    (tmp_path / "run" / "pairs" / "pairs.json").write_text("{}")
    with pytest.raises(UserError, match=r"run/pairs, which --restart would delete"):
        main(["--config", str(config), "--stages", "dpo", "--restart"])
    assert (tmp_path / "run" / "pairs" / "pairs.json").is_file()

    from types import SimpleNamespace

    demo = SimpleNamespace(pairs_prompts=8, pairs_replies=3, pairs_rank_by="gold")
    run = tmp_path / "run"
    assert pairs_flags(run, "pairs", demo, {}) == [
        "--output_dir", str(run / "pairs"), "--train_prompts", "8", "--replies", "3", "--rank_by", "gold"
    ]  # fmt: skip
    assert pairs_flags(run, "dpo", demo, {"dpo": {"beta": 0.1}}) == ["--dataset_name", str(run / "pairs")]
    assert pairs_flags(run, "dpo", demo, {"dpo": {"dataset_name": "mine"}}) == []  # its own section wins
    assert pairs_flags(run, "ppo", demo, {}) == []
