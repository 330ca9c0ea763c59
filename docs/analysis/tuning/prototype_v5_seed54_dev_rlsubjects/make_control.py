"""Dev run 27's control arm (README.md here): SFT-side training prompts matched to the RL side's distinct prompts.

    .venv/bin/python docs/analysis/tuning/prototype_v5_seed54_dev_rlsubjects/make_control.py DATA

DATA is make_data.py's OUT_DIR. PPO reads each side's distinct prompts (``load_prompts`` drops repeats): the RL side
has 134. For every stratum of them (the kind of the last request, harmful / advice / other, and the number of user
turns) this takes as many distinct SFT-side prompts of the same stratum, in the order of the SHA-1 of their turns,
and writes one pair per prompt (its first) to DATA/sft_matched, with the test pairs and prompt sets copied beside: the
control PPO then samples prompts the SFT model trained on, as many and of the same kinds as the RL side's.
Fixed before any result of run 27.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import sys
from collections import Counter
from pathlib import Path

from rlhf_trl.data.parser import split_turns
from rlhf_trl.testbed.gold import bank_request

HERE = Path(__file__).resolve().parent


def distinct(folder: Path) -> dict[str, tuple[dict, tuple]]:
    """prompt key -> (its first pair, its stratum)."""
    out: dict[str, tuple[dict, tuple]] = {}
    with gzip.open(folder / "train.jsonl.gz", "rt") as f:
        for line in f:
            row = json.loads(line)
            turns = split_turns(row["chosen"])[:-1]
            key = json.dumps(turns)
            if key not in out:
                kind = bank_request(turns)["kind"]
                kind = kind if kind in ("harmful", "advice") else "other"
                out[key] = (row, (kind, sum(t["role"] == "user" for t in turns)))
    return out


def main(data: Path) -> None:
    rl, sft = distinct(data / "rl"), distinct(data / "sft")
    want = Counter(stratum for _, stratum in rl.values())
    rows, got = [], Counter()
    for key in sorted(sft, key=lambda k: hashlib.sha1(k.encode()).hexdigest()):
        row, stratum = sft[key]
        if got[stratum] < want[stratum]:
            got[stratum] += 1
            rows.append(row)
    out = data / "sft_matched"
    out.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(out / "train.jsonl.gz", "wb", mtime=0) as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows).encode())
    for name in ("test.jsonl.gz", "dev_prompts.jsonl.gz", "test_prompts.jsonl.gz"):
        shutil.copyfile(data / "sft" / name, out / name)
    strata = {f"{k} {n}-turn": [want[k, n], got[k, n]] for k, n in sorted(want)}
    (HERE / "control.json").write_text(json.dumps({"rl_vs_sft_matched": strata}, indent=1) + "\n")
    print(f"{out}: {len(rows)} prompts for the RL side's {len(rl)}; by stratum (RL, matched): {strata}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__.split("\n\n")[1].strip())
    main(Path(sys.argv[1]))
