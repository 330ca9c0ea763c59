"""On-policy DPO pairs: the reference's own replies to training prompts, ranked by the reward model.

    python recipes/pairs.py --config recipes/configs/prototype_v3.yaml --output_dir outputs/pairs
    (the same as `rlhf-trl sample-pairs`; the demo runs it as its `pairs` stage, before dpo)

Writes DIR/train.jsonl (best against worst reply of each prompt), DIR/test.jsonl and DIR/pairs.json; train on
them with `recipes/dpo.py --dataset_name DIR`. Flags and defaults: `rlhf-trl sample-pairs --help`.
"""

from __future__ import annotations

import sys

from rlhf_trl.data.policy_pairs import main
from rlhf_trl.errors import run_cli

if __name__ == "__main__":
    sys.exit(run_cli(main))
