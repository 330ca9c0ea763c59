"""`rlhf-trl demo --config FILE`: reward -> PPO -> GRPO -> DPO -> evaluation -> report, end to end.

Each stage runs as its own process (``python recipes/<stage>.py --config FILE``), exactly as a user would
launch it, so memory is returned between stages and a crash names the stage. A stage whose outputs are
complete (its ``metrics.json`` exists) is skipped on a re-run; ``--restart`` starts the run over.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from rlhf_trl.errors import UserError

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
TRAIN_STAGES = ("sft", "reward", "ppo", "grpo", "dpo")


def recipe_file(stage: str) -> Path:
    return RECIPES / ("evaluate.py" if stage == "evaluation" else f"{stage}.py")


def done_marker(run_dir: Path, stage: str) -> Path:
    """The file whose existence means ``stage`` finished (written last by each recipe)."""
    if stage == "evaluation":
        return run_dir / "evaluation" / "metrics.json"
    return run_dir / "checkpoints" / stage / "metrics.json"


def _fmt(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rlhf-trl demo", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="recipes/configs/demo.yaml", help="recipe config (YAML)")
    parser.add_argument("--restart", action="store_true", help="delete the run folder and start over")
    parser.add_argument(
        "--stages", nargs="+", help="run only these stages (default: the config's demo.stages)"
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    from rlhf_trl.config import parse_recipe_args

    ns = _parse(argv)
    args = parse_recipe_args("demo", ["--config", ns.config])  # validates the whole file before anything runs
    stages = ns.stages or list(args.stage.stages)
    unknown = [s for s in stages if s not in (*TRAIN_STAGES, "evaluation")]
    if unknown:
        raise UserError(
            f"demo.stages: unknown stage {unknown[0]!r}; choose from {', '.join((*TRAIN_STAGES, 'evaluation'))}"
        )
    missing = [s for s in stages if not recipe_file(s).is_file()]
    if missing:
        raise UserError(f"{recipe_file(missing[0])} not found: run the demo from a clone of the repository")
    run_dir = Path(args.run.run_dir)
    if ns.restart and run_dir.exists():
        shutil.rmtree(run_dir)

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    total_start = time.monotonic()
    timings: dict[str, float] = {}
    for k, stage in enumerate(stages, start=1):
        header = f"[{k}/{len(stages)}] {stage}"
        if done_marker(run_dir, stage).is_file():
            print(f"{header}: done already ({done_marker(run_dir, stage)}); --restart to redo", flush=True)
            continue
        print(
            f"\n{header}: python recipes/{recipe_file(stage).name} --config {ns.config}"
            f"   (elapsed {_fmt(time.monotonic() - total_start)})",
            flush=True,
        )
        start = time.monotonic()
        proc = subprocess.run([sys.executable, str(recipe_file(stage)), "--config", ns.config], env=env)
        timings[stage] = time.monotonic() - start
        if proc.returncode != 0:
            print(
                f"{header} failed (exit {proc.returncode}) after {_fmt(timings[stage])}; fix it and re-run "
                f"`rlhf-trl demo --config {ns.config}` to resume from this stage",
                file=sys.stderr,
            )
            return proc.returncode
        print(f"{header}: finished in {_fmt(timings[stage])}", flush=True)

    if "evaluation" in stages:
        from rlhf_trl.evaluation.report import main as report_main

        # The run's own analysis; the repository's ANALYSIS.md is written from the prototype run.
        report_main(["--run", str(run_dir), "--output", str(run_dir / "ANALYSIS.md")])
        print_results(run_dir)
    print(f"\ndemo finished in {_fmt(time.monotonic() - total_start)}; outputs in {run_dir}/", flush=True)
    return 0


def print_results(run_dir: Path) -> None:
    """The final tables (one row per model) from run_dir/evaluation/metrics.json."""
    from rlhf_trl.evaluation.outputs import metrics_table, win_rate_table

    metrics = json.loads((run_dir / "evaluation" / "metrics.json").read_text())
    print("\n" + metrics_table(metrics) + "\n\n" + win_rate_table(metrics))
    print(f"\nreport: {run_dir / 'evaluation' / 'report.md'}   analysis: {run_dir / 'ANALYSIS.md'}")
