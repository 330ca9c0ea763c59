"""The bundled training pairs with the pairs of one request kind repeated, as a local HH-format folder.

    .venv/bin/python docs/analysis/tuning/upweight_kind.py KIND TIMES OUT_DIR

Writes OUT_DIR/train.jsonl.gz (every bundled training pair once, then the pairs whose last request is of
KIND — the testbed bank's ``kind``: advice, howto, why, fact, harmful — TIMES − 1 more times, appended in
file order; the trainer shuffles), OUT_DIR/test.jsonl.gz (the bundled test pairs unchanged) and the bundled
dev/test prompt sets. Train a stage on it with ``--dataset_name OUT_DIR``; every pair is a testbed request,
so the stages and the evaluator keep the gold rubric and the harmful/benign labels
(``rlhf_trl.data.has_gold``), and its prompt sets are the bundled ones. Dev runs 12 and 19 (docs/analysis/tuning/prototype_v2_seed44_advice_x3/,
prototype_v4_seed46_dev/): advice 3. Configuration v4 trains on ``advice 3 outputs/testbed_advice_x3``
(``make seed-v4`` writes it first; recipes/configs/prototype_v4.yaml). A tuning aid, not part of the toolkit.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path

from rlhf_trl.data.parser import parse_hh_pair
from rlhf_trl.testbed import BUNDLED_DIR
from rlhf_trl.testbed.gold import bank_request


def main(kind: str, times: int, out_dir: Path) -> None:
    with gzip.open(BUNDLED_DIR / "train.jsonl.gz", "rt") as f:
        rows = [json.loads(line) for line in f]
    of_kind = [
        r for r in rows if bank_request(parse_hh_pair(r["chosen"], r["rejected"])["prompt"])["kind"] == kind
    ]
    if not of_kind or times < 1:
        raise SystemExit(
            f"no training pair of kind {kind!r} (or TIMES {times} < 1); kinds: advice howto why fact harmful"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    with gzip.open(out_dir / "train.jsonl.gz", "wt") as f:
        for row in rows + of_kind * (times - 1):
            f.write(json.dumps(row) + "\n")
    for name in ("test.jsonl.gz", "dev_prompts.jsonl.gz", "test_prompts.jsonl.gz"):
        shutil.copy(BUNDLED_DIR / name, out_dir / name)
    print(
        f"{out_dir}: {len(rows)} pairs + {len(of_kind)} {kind} pairs x {times - 1} = {len(rows) + len(of_kind) * (times - 1)}"
    )


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
