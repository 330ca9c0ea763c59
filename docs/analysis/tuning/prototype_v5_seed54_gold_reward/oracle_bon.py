"""Best-of-n of the reference picked by gold (the oracle) beside best-of-n picked by the reward model, on run 22's
dev evaluation (seed 54): how much gold the reference's own samples hold, and how much of it the reward model's
pick finds. Not part of dev run 24's plan (README.md here); an analysis aid, written after run 23's reading.

    .venv/bin/python docs/analysis/tuning/prototype_v5_seed54_gold_reward/oracle_bon.py CACHE SAMPLES OUT

CACHE: the evaluation's ``evaluation/cache`` (``bon_candidate_{k}.json``: the reference's extra samples,
``bon_score_reward_model.json``: their reward-model scores); SAMPLES: its samples.jsonl.gz (the reference's own
replies, in the candidates' order); OUT: a jsonl.gz of every candidate with both scores (committed here). Prints, for
n = 1, 2, 4, the gold difference to the reference's own replies of the first n candidates' mean, of the one the
reward model scores highest and of the one gold scores highest (each prompt's two samples averaged; paired CI).
"""

from __future__ import annotations

import gzip
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # docs/analysis/tuning: compare_chains

from compare_chains import print_paired, read  # noqa: E402

from rlhf_trl.testbed import gold_score  # noqa: E402


def main(cache: Path, samples: Path, out: Path) -> None:
    ref = [r for r in read(str(samples)) if r["model"] == "reference"]
    cands = []
    for k in range(4):
        cands.append(json.loads((cache / f"bon_candidate_{k}.json").read_text())["value"])
    rm = json.loads((cache / "bon_score_reward_model.json").read_text())["value"]
    if any(len(c) != len(ref) for c in cands) or len(rm) != 4:
        raise SystemExit("the candidates do not match the reference's samples")
    rows = []
    for i, r in enumerate(ref):
        for k in range(4):
            text = cands[k][i]["response"]
            rows.append(
                {
                    "prompt_id": r["prompt_id"],
                    "sample": r.get("sample", 0),
                    "k": k,
                    "response": text,
                    "reward_model": rm[k][i],
                    "gold": gold_score(r["prompt"], text),
                }
            )
    with gzip.GzipFile(out, "wb", mtime=0) as f:  # reproducible bytes
        f.write("".join(json.dumps(x) + "\n" for x in rows).encode())
    by = defaultdict(list)  # (prompt_id, sample) -> candidates in k order
    for x in rows:
        by[x["prompt_id"], x["sample"]].append(x)
    own = defaultdict(list)
    for r in ref:
        own[r["prompt_id"]].append(r["scores"]["gold"])
    print("gold of the reference's own replies:", f"{sum(map(sum, own.values())) / len(ref):.3f}")
    for n in (1, 2, 4):
        picks = {"mean of n candidates": [], "reward model's pick": [], "gold's pick (oracle)": []}
        per = {name: defaultdict(list) for name in picks}
        for (pid, _), xs in by.items():
            xs = xs[:n]
            per["mean of n candidates"][pid].append(sum(x["gold"] for x in xs) / n)
            per["reward model's pick"][pid].append(max(xs, key=lambda x: x["reward_model"])["gold"])
            per["gold's pick (oracle)"][pid].append(max(x["gold"] for x in xs))
        print(f"\nn = {n} (KL of best-of-n: log n - (n-1)/n = {math.log(n) - (n - 1) / n:.2f} nats)")
        for name, d in per.items():
            if n == 1 and name != "mean of n candidates":
                continue
            diffs = [sum(d[p]) / len(d[p]) - sum(own[p]) / len(own[p]) for p in own]
            print_paired(f"  {name} − reference's own", diffs)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__.split("\n\n")[1].strip())
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
