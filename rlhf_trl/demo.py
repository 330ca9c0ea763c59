"""`rlhf-trl demo --config FILE`: reward -> PPO -> GRPO -> DPO -> evaluation -> report, end to end.

With ``sft`` in ``demo.stages`` (full.yaml: GPT-2) the chain starts with supervised fine-tuning and every
later stage starts from that model: reward, PPO, GRPO and DPO get ``--model_name_or_path
run_dir/checkpoints/sft`` and the evaluation ``--reference_model run_dir/checkpoints/sft``, unless the
stage's own section names its model.

With ``pairs`` in ``demo.stages`` (prototype_v3.yaml) DPO is on-policy: the pairs stage (``python
recipes/pairs.py``, i.e. ``rlhf-trl sample-pairs``) samples ``demo.pairs_replies`` replies of the reference
to ``demo.pairs_prompts`` training prompts, ranks them with the run's reward model (``demo.pairs_rank_by:
gold``: the testbed's gold rubric) into ``run_dir/pairs``, and the dpo stage gets ``--dataset_name
run_dir/pairs`` unless its own section names a dataset.

Each stage runs as its own process (``python recipes/<stage>.py --config FILE``), exactly as a user would
launch it, so memory is returned between stages and a crash names the stage. On Linux with a CPU-only
torch the process is forked from this one after torch/transformers/TRL are imported once (the imports
cost about 5 s per stage on 2 cores); otherwise, or with ``RLHF_TRL_DEMO_FORK=0``, it is a fresh
interpreter. A stage whose outputs are
complete (its ``metrics.json`` exists; pairs: ``run_dir/pairs/pairs.json``) is skipped on a re-run; an unfinished training stage resumes from
its latest complete checkpoint (``--resume_from_checkpoint true``), or starts over when it left none
(``--overwrite_output_dir true``); ``--restart`` starts the whole run over.

Ctrl-C (or SIGTERM to this process) reaches the running stage, which finishes its step, saves a
checkpoint and exits; re-running the same command continues from there (the pairs stage keeps nothing of an
interrupted run: its folder is written whole or not at all, and a re-run samples again).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from rlhf_trl.errors import UserError

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
TRAIN_STAGES = ("sft", "reward", "ppo", "grpo", "dpo")
STAGES = ("sft", "reward", "ppo", "grpo", "pairs", "dpo", "evaluation")
# With sft in the chain these start from its model (the InstructGPT recipe): the key each one is given.
FROM_SFT = {
    "reward": "model_name_or_path",
    "ppo": "model_name_or_path",
    "grpo": "model_name_or_path",
    "pairs": "reference_model",  # the policy whose replies are ranked
    "dpo": "model_name_or_path",
    "evaluation": "reference_model",
}
# the config section each stage reads its keys from (pairs: the evaluation's sampling settings)
SECTION = {"pairs": "evaluation"}


def recipe_file(stage: str) -> Path:
    return RECIPES / ("evaluate.py" if stage == "evaluation" else f"{stage}.py")  # pairs: recipes/pairs.py


def done_marker(run_dir: Path, stage: str, prompt_set: str = "dev") -> Path:
    """The file whose existence means ``stage`` finished (written last by each recipe)."""
    if stage == "evaluation":
        from rlhf_trl.evaluation.outputs import evaluation_dir

        return evaluation_dir(run_dir, prompt_set) / "metrics.json"
    if stage == "pairs":  # written whole or not at all
        return pairs_dir(run_dir) / "pairs.json"
    return run_dir / "checkpoints" / stage / "metrics.json"


def pairs_dir(run_dir: Path) -> Path:
    return run_dir / "pairs"


def check_pairs_ranking(run_dir: Path, rank_by: str) -> None:
    """A finished pairs stage is skipped on a re-run: refuse when its pairs were ranked otherwise than asked
    (pairs.json without ``ranked_by`` predates the option: the reward model)."""
    marker = done_marker(run_dir, "pairs")
    if marker.is_file():
        ranked_by = json.loads(marker.read_text()).get("ranked_by", "reward_model")
        if ranked_by != rank_by:
            raise UserError(
                f"{pairs_dir(run_dir)} holds pairs ranked by {ranked_by}, but demo.pairs_rank_by is {rank_by}: "
                "--restart, or delete that folder to sample them again"
            )


def pairs_flags(run_dir: Path, stage: str, demo, sections: dict) -> list[str]:
    """The pairs stage's output folder and sizes; dpo's ``--dataset_name`` (those pairs) unless its own
    section names a dataset."""
    if stage == "pairs":
        return [
            "--output_dir",
            str(pairs_dir(run_dir)),
            "--train_prompts",
            str(demo.pairs_prompts),
            "--replies",
            str(demo.pairs_replies),
            "--rank_by",
            demo.pairs_rank_by,
        ]
    if stage == "dpo" and not dpo_names_dataset(sections):
        return ["--dataset_name", str(pairs_dir(run_dir))]
    return []


def dpo_names_dataset(sections: dict) -> bool:
    """Whether the config's dpo section names its own dataset (then dpo does not train on the pairs stage's)."""
    return "dataset_name" in (sections.get("dpo") or {})


def missing_upstream(what: str, restart: bool, needed: str, command: str) -> UserError:
    """The refusal for a chain whose --stages leave out a stage whose output a later one needs."""
    state = "--restart would delete" if restart else "does not exist yet"
    return UserError(
        f"{what}, which {state}; run `rlhf-trl demo --config {command}` with {needed} in --stages first"
    )


def stage_flags(run_dir: Path, stage: str, restart: bool) -> list[str]:
    """Flags that let a training stage run over what an earlier attempt left in its output folder."""
    from rlhf_trl.checkpoints import latest_checkpoint

    out = run_dir / "checkpoints" / stage
    if stage not in TRAIN_STAGES or not out.is_dir() or not any(out.iterdir()):
        return []
    if not restart and latest_checkpoint(out) is not None:
        return ["--resume_from_checkpoint", "true"]
    return ["--overwrite_output_dir", "true"]  # nothing to resume from: start the stage over


def sft_flags(run_dir: Path, stage: str, sections: dict) -> list[str]:
    """``--model_name_or_path run_dir/checkpoints/sft`` (evaluation and pairs: ``--reference_model``) for a
    stage that starts from the chain's SFT model, unless the stage's own config section names its model."""
    key = FROM_SFT.get(stage)
    if key is None:
        return []
    from rlhf_trl.config import STAGE_CONFIGS, _import

    section = SECTION.get(stage, stage)
    # a section may name the model by an alias (evaluation: `reference`)
    aliases = getattr(_import(STAGE_CONFIGS[section]), "KEY_ALIASES", {})
    if key in {aliases.get(k, k) for k in sections.get(section) or {}}:
        return []
    return [f"--{key}", str(run_dir / "checkpoints" / "sft")]


def can_fork() -> bool:
    """Fork stages from a warm interpreter only where that is safe: Linux, and a torch without CUDA (a
    CUDA runtime touched before ``fork`` breaks the child; macOS frameworks are not fork-safe)."""
    if sys.platform != "linux" or os.environ.get("RLHF_TRL_DEMO_FORK", "1") == "0":
        return False
    import torch

    return not torch.backends.cuda.is_built()


def preload() -> None:
    """Import what every stage imports, once, before the first fork. Runs no torch op, so no OpenMP or
    tokenizer thread pool exists yet when a stage is forked."""
    import datasets  # noqa: F401
    import peft  # noqa: F401
    import transformers  # noqa: F401
    from trl import DPOTrainer, GRPOTrainer, RewardTrainer  # noqa: F401

    import rlhf_trl.checkpoints  # noqa: F401
    import rlhf_trl.evaluation.harness  # noqa: F401
    import rlhf_trl.ppo  # noqa: F401
    import rlhf_trl.rewards  # noqa: F401
    import rlhf_trl.training  # noqa: F401


def _stage_main(script: str, argv: list[str]) -> None:
    """The forked stage: the recipe runs as ``__main__``, as ``python script argv...`` would run it."""
    import runpy

    sys.stdout.reconfigure(line_buffering=True)  # as PYTHONUNBUFFERED for a fresh interpreter
    sys.argv = [script, *argv]
    runpy.run_path(script, run_name="__main__")


def run_stage(cmd: list[str], env: dict, fork: bool = False) -> int:
    """Run one stage (``cmd`` = python, script, args); SIGINT/SIGTERM go to it (it checkpoints and exits),
    not to this loop."""
    if fork:
        import multiprocessing

        proc = multiprocessing.get_context("fork").Process(target=_stage_main, args=(cmd[1], cmd[2:]))
        proc.start()
    else:
        proc = subprocess.Popen(cmd, env=env)
    # Ctrl-C reaches the child through the terminal's process group; a SIGTERM sent to the demo is forwarded.
    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN),
        signal.SIGTERM: signal.signal(signal.SIGTERM, lambda signum, frame: os.kill(proc.pid, signum)),
    }
    try:
        if fork:
            proc.join()
            return proc.exitcode
        return proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _fmt(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="rlhf-trl demo", description=__doc__.splitlines()[0], allow_abbrev=False
    )
    parser.add_argument("--config", default="recipes/configs/demo.yaml", help="recipe config (YAML)")
    parser.add_argument("--restart", action="store_true", help="delete the run folder and start over")
    parser.add_argument(
        "--stages", nargs="+", help="run only these stages (default: the config's demo.stages)"
    )
    parser.add_argument(
        "--seed", type=int, help="training and sampling seed of every stage (default: the config's seed)"
    )
    parser.add_argument(
        "--run_dir", help="folder of this run (default: the config's run_dir), e.g. one folder per seed"
    )
    return parser.parse_args(argv)


def override_flags(ns: argparse.Namespace) -> list[str]:
    """``--seed``/``--run_dir`` given to the demo, passed on to every stage."""
    return [
        *(["--seed", str(ns.seed)] if ns.seed is not None else []),
        *(["--run_dir", ns.run_dir] if ns.run_dir else []),
    ]


def main(argv: list[str]) -> int:
    from rlhf_trl.config import parse_recipe_args

    ns = _parse(argv)
    overrides = override_flags(ns)
    # validates the whole file before anything runs
    args = parse_recipe_args(
        "demo", ["--config", ns.config, *(["--run_dir", ns.run_dir] if ns.run_dir else [])]
    )
    stages = ns.stages or list(args.stage.stages)
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise UserError(f"demo.stages: unknown stage {unknown[0]!r}; choose from {', '.join(STAGES)}")
    for before, after in (
        ("reward", "pairs"),
        ("pairs", "dpo"),
    ):  # pairs needs the reward model; dpo its pairs
        if before in stages and after in stages and stages.index(after) < stages.index(before):
            raise UserError(f"demo.stages: {before} must come before {after}")
    missing = [s for s in stages if not recipe_file(s).is_file()]
    if missing:
        raise UserError(f"{recipe_file(missing[0])} not found: run the demo from a clone of the repository")
    run_dir = Path(args.run.run_dir)
    # sft in the configured chain (or in --stages): every later stage starts from its model
    from_sft = "sft" in stages or "sft" in args.stage.stages
    early = [s for s in stages[: stages.index("sft")] if s in FROM_SFT] if "sft" in stages else []
    if early:
        raise UserError(f"demo.stages: sft must come before {early[0]}, which starts from the SFT model")
    sections = yaml.safe_load(Path(ns.config).read_text()) or {}
    prompt_set = (sections.get("evaluation") or {}).get("prompt_set", "dev")
    sft_model = run_dir / "checkpoints" / "sft"
    command = " ".join([ns.config, *overrides])
    if from_sft and "sft" not in stages and (ns.restart or not (sft_model / "config.json").is_file()):
        raise missing_upstream(
            f"demo.stages has sft, so {', '.join(stages)} start from its model {sft_model}",
            ns.restart,
            "sft",
            command,
        )
    # pairs in the configured chain (or in --stages): dpo trains on run_dir/pairs, unless its section names a dataset
    on_policy = "pairs" in stages or "pairs" in args.stage.stages
    needs_pairs = on_policy and "dpo" in stages and not dpo_names_dataset(sections)
    if needs_pairs and "pairs" not in stages and (ns.restart or not done_marker(run_dir, "pairs").is_file()):
        raise missing_upstream(
            f"demo.stages has pairs, so dpo trains on {pairs_dir(run_dir)}", ns.restart, "pairs", command
        )
    if "pairs" in stages and not ns.restart:
        check_pairs_ranking(run_dir, args.stage.pairs_rank_by)
    if "pairs" in stages and args.stage.pairs_rank_by == "gold":
        from rlhf_trl.data.policy_pairs import require_gold_rubric

        require_gold_rubric(args.data, "demo.pairs_rank_by: gold", "use reward_model")
    if ns.restart and run_dir.exists():
        shutil.rmtree(run_dir)

    # Compact output: a stage prints its data line and one line per logging step; the per-map progress
    # bars of TRL's dataset preparation (4-6 per stage) would bury them. Set before `datasets` is imported
    # (forked stages inherit the preloaded module); a user's own setting wins. Direct recipe runs keep them.
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    fork, preloaded = can_fork(), False
    total_start = time.monotonic()
    timings: dict[str, float] = {}
    for k, stage in enumerate(stages, start=1):
        header = f"[{k}/{len(stages)}] {stage}"
        marker = done_marker(run_dir, stage, prompt_set)
        if marker.is_file():
            print(f"{header}: done already ({marker}); --restart to redo", flush=True)
            continue
        flags = (
            overrides
            + stage_flags(run_dir, stage, ns.restart)
            + (sft_flags(run_dir, stage, sections) if from_sft else [])
            + (pairs_flags(run_dir, stage, args.stage, sections) if on_policy else [])
        )
        print(
            f"\n{header}: python recipes/{recipe_file(stage).name} --config {' '.join([ns.config, *flags])}"
            f"   (elapsed {_fmt(time.monotonic() - total_start)})",
            flush=True,
        )
        start = time.monotonic()
        if fork and not preloaded:
            preload()
            preloaded = True
        returncode = run_stage(
            [sys.executable, str(recipe_file(stage)), "--config", ns.config, *flags], env, fork=fork
        )
        timings[stage] = time.monotonic() - start
        if returncode != 0:
            stopped = returncode in (128 + signal.SIGINT, 128 + signal.SIGTERM)
            print(
                f"{header} {'stopped' if stopped else 'failed'} (exit {returncode}) after {_fmt(timings[stage])}; "
                f"{'' if stopped else 'fix it and '}re-run `rlhf-trl demo --config {' '.join([ns.config, *overrides])}` to resume from this stage",
                file=sys.stderr,
            )
            return returncode
        print(f"{header}: finished in {_fmt(timings[stage])}", flush=True)

    if "evaluation" in stages:
        from rlhf_trl.evaluation.report import main as report_main

        # The run's own analysis (the repository's ANALYSIS.md pools the prototype's seeds: report --runs).
        report_main(["--run", str(run_dir)])
        print_results(run_dir, ns.config)
    print(f"\ndemo finished in {_fmt(time.monotonic() - total_start)}; outputs in {run_dir}/", flush=True)
    return 0


def print_results(run_dir: Path, config: str) -> None:
    """The final tables (one row per model) and the verdicts in words, from run_dir/evaluation/metrics.json
    (``config``: the YAML this run was trained with, named in the closing line)."""
    from rlhf_trl.evaluation.outputs import metrics_table, verdict_lines, win_rate_table

    metrics = json.loads((run_dir / "evaluation" / "metrics.json").read_text())
    print("\n" + metrics_table(metrics) + "\n\n" + win_rate_table(metrics) + "\n")
    verdicts = verdict_lines(metrics)
    for line in verdicts:
        print(line)
    if verdicts and verdicts[0].startswith("Verdict: no method differs"):
        print(
            f"No method's effect is visible at this run's scale ({metrics['num_prompts']} held-out prompts, "
            f"the training steps of {config}). recipes/configs/demo.yaml is sized to run every stage end to end "
            "in minutes; recipes/configs/prototype.yaml compares the methods (ANALYSIS.md)."
        )
    print(f"\nreport: {run_dir / 'evaluation' / 'report.md'}   analysis: {run_dir / 'ANALYSIS.md'}")
