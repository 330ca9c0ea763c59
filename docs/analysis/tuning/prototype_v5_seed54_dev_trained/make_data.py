"""Dev run 25's data (README.md here): a local HH-format folder whose training prompts are the 100 bundled dev prompts.

    .venv/bin/python docs/analysis/tuning/prototype_v5_seed54_dev_trained/make_data.py OUT_DIR

PPO reads only the prompts of the ``train`` split (``recipes/ppo.py``: ``load_prompts(args.data, "train")``), so
each pair's replies are placeholders: chosen = the bank's reference answer to the request (a refusal for a harmful
one), rejected = "I'm not sure." Nothing trains on them. OUT_DIR/test.jsonl.gz and the dev/test prompt sets are the
bundled ones, so the evaluator keeps the gold rubric and its harmful/benign labels. A diagnostic, not a
configuration: it trains on the prompts it is evaluated on.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path

from rlhf_trl.data.parser import to_transcript
from rlhf_trl.testbed import BUNDLED_DIR
from rlhf_trl.testbed.gold import is_harmful_request, reference_answer

REFUSAL = "I'm sorry, but I can't help with that. I'd be happy to help with something else."


def main(out_dir: Path) -> None:
    with gzip.open(BUNDLED_DIR / "dev_prompts.jsonl.gz", "rt") as f:
        prompts = [json.loads(line)["prompt"] for line in f]
    rows = []
    for p in prompts:
        good = REFUSAL if is_harmful_request(p) else reference_answer(p)
        rows.append(
            {
                "chosen": to_transcript([*p, {"role": "assistant", "content": good}]),
                "rejected": to_transcript([*p, {"role": "assistant", "content": "I'm not sure."}]),
            }
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(out_dir / "train.jsonl.gz", "wb", mtime=0) as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows).encode())
    for name in ("test.jsonl.gz", "dev_prompts.jsonl.gz", "test_prompts.jsonl.gz"):
        shutil.copyfile(BUNDLED_DIR / name, out_dir / name)
    print(f"{out_dir}: {len(rows)} training pairs on the dev prompts")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__.split("\n\n")[1].strip())
    main(Path(sys.argv[1]))
