"""Evaluate every model of a run, or any checkpoints, on the same held-out prompts, samples and judges.

    rlhf-trl evaluate --config recipes/configs/demo.yaml
    accelerate launch recipes/evaluate.py --config recipes/configs/demo.yaml [--judge-base-url URL ...]
    rlhf-trl evaluate --config FILE --models LABEL=PATH ... [--compare-runs DIR ...] --output_dir DIR

Writes run_dir/evaluation/ (output_dir/evaluation/ when given: metrics.json, samples.jsonl,
side_by_side.md, report.md, PNG plots); see docs/evaluation.md. Generation is not sharded: launch with
one process.
"""

from __future__ import annotations

import sys

from rlhf_trl.errors import run_cli
from rlhf_trl.evaluation.harness import main

if __name__ == "__main__":
    sys.exit(run_cli(main, sys.argv[1:]))
