"""Dev run 27's data (README.md here): v4's training pairs (``outputs/testbed_advice_x3``) split by topic group into
the SFT model's subjects and the RL prompts' subjects, as InstructGPT kept separate prompt sets for SFT and PPO.

    .venv/bin/python docs/analysis/tuning/prototype_v5_seed54_dev_rlsubjects/make_data.py SRC OUT_DIR

The split, fixed before training: the topic groups (``rlhf_trl.testbed.splits.topic_groups``) of the training pairs'
last requests are taken in the order of the SHA-1 of their first subject; each goes to ``rl`` while the RL side holds
fewer than a quarter of the pairs of its kind (harmful / benign, the kind of the group's first pair read) counted so
far, else to ``sft``. A pair goes to the side of its groups when every user turn is a bank request of that side; a
pair whose turns span both sides, or with a turn the bank does not know, goes to neither. OUT_DIR/sft and OUT_DIR/rl
are local HH-format folders (SRC's test pairs and prompt sets copied beside); ``split.json`` beside this script
records the groups and counts. SRC's duplicated advice pairs stay duplicated on their side.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import sys
from pathlib import Path

from rlhf_trl.data.parser import split_turns
from rlhf_trl.testbed import BUNDLED_DIR
from rlhf_trl.testbed.bank import request_key
from rlhf_trl.testbed.gold import _bank_requests
from rlhf_trl.testbed.splits import topic_groups

HERE = Path(__file__).resolve().parent


def user_groups(transcript: str) -> list[int | None]:
    groups, requests = topic_groups(), _bank_requests()
    out = []
    for turn in split_turns(transcript)[:-1]:
        if turn["role"] == "user":
            key = request_key(turn["content"], requests)
            out.append(None if key is None else groups[requests[key]["subject"]])
    return out


def main(src: Path, out_dir: Path) -> None:
    with gzip.open(src / "train.jsonl.gz", "rt") as f:
        rows = [json.loads(line) for line in f]
    requests = _bank_requests()
    turns = [user_groups(r["chosen"]) for r in rows]
    last_kind: dict[int, bool] = {}
    first: dict[int, str] = {}
    size: dict[int, int] = {}
    for r, ts in zip(rows, turns):
        g = ts[-1]
        if g is None:
            continue
        last_user = [t["content"] for t in split_turns(r["chosen"])[:-1] if t["role"] == "user"][-1]
        req = requests[request_key(last_user, requests)]
        first[g] = min(first.get(g, req["subject"]), req["subject"])
        last_kind.setdefault(g, req["kind"] == "harmful")
        size[g] = size.get(g, 0) + 1
    count = {(h, s): 0 for h in (True, False) for s in ("sft", "rl")}
    side: dict[int, str] = {}
    for g in sorted(first, key=lambda g: hashlib.sha1(first[g].encode()).hexdigest()):
        h = last_kind[g]
        s = "rl" if 4 * count[h, "rl"] < count[h, "rl"] + count[h, "sft"] else "sft"
        side[g] = s
        count[h, s] += size[g]
    out: dict[str, list] = {"sft": [], "rl": [], "neither": []}
    for i, ts in enumerate(turns):
        sides = {side.get(t) if t is not None else None for t in ts}
        out[sides.pop() if len(sides) == 1 and None not in sides else "neither"].append(i)
    for s in ("sft", "rl"):
        d = out_dir / s
        d.mkdir(parents=True, exist_ok=True)
        with gzip.GzipFile(d / "train.jsonl.gz", "wb", mtime=0) as f:
            f.write("".join(json.dumps(rows[i]) + "\n" for i in out[s]).encode())
        shutil.copyfile(src / "test.jsonl.gz", d / "test.jsonl.gz")
        for name in ("dev_prompts.jsonl.gz", "test_prompts.jsonl.gz"):
            shutil.copyfile(BUNDLED_DIR / name, d / name)
    summary = {
        "pairs": {s: len(v) for s, v in out.items()},
        "pairs_by_group_kind": {f"{s}_{'harmful' if h else 'benign'}": n for (h, s), n in count.items()},
        "groups": {s: sorted(first[g] for g in side if side[g] == s) for s in ("sft", "rl")},
        "rows": out,
    }
    (HERE / "split.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(
        f"{out_dir}: pairs {summary['pairs']}; groups sft {len(summary['groups']['sft'])}, rl {len(summary['groups']['rl'])}"
    )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__.split("\n\n")[1].strip())
    main(Path(sys.argv[1]), Path(sys.argv[2]))
