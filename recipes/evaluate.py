"""Evaluate every model of a run on the same held-out prompts, samples and judges.

    rlhf-trl evaluate --config recipes/configs/demo.yaml
    accelerate launch recipes/evaluate.py --config recipes/configs/demo.yaml [--judge-base-url URL ...]

Writes run_dir/evaluation/ (metrics.json, samples.jsonl, side_by_side.md, report.md, PNG plots);
see docs/evaluation.md. Generation is not sharded: launch with one process.
"""

from __future__ import annotations

import sys

from rlhf_trl.errors import run_cli
from rlhf_trl.evaluation.harness import main

if __name__ == "__main__":
    sys.exit(run_cli(main, sys.argv[1:]))
