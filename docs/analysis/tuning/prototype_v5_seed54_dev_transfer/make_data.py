"""Dev run 26's data (README.md here): the 100 bundled dev prompts split by topic group into halves A and B, and a
local HH-format folder whose training prompts are half A's.

    .venv/bin/python docs/analysis/tuning/prototype_v5_seed54_dev_transfer/make_data.py OUT_DIR

The split, fixed before training: the dev prompts' topic groups (``rlhf_trl.testbed.splits.topic_groups``, of each
prompt's last request) are taken in the order of the SHA-1 of their first subject, and each goes to the half that has
fewer prompts of its kind so far (harmful / benign, the kind of the group's last prompt read), A on ties. Half A's
training prompts (``A_train``) are A's prompts all of whose user turns are requests of A's groups (a multi-turn prompt
whose earlier turn is on a B subject is left out of training, and still read as an A prompt); ``B_read`` likewise
holds B's prompts none of whose turns is on an A subject (the plan's amended reading uses these). The halves are written to ``halves.json`` beside this script (the reading
uses them) and the training folder to OUT_DIR, as run 25's ``make_data.py`` does (placeholder replies: PPO reads only
the prompts). A diagnostic: it trains on half of the prompts it is evaluated on.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import sys
from pathlib import Path

from rlhf_trl.data.parser import to_transcript
from rlhf_trl.testbed import BUNDLED_DIR
from rlhf_trl.testbed.bank import request_key
from rlhf_trl.testbed.gold import _bank_requests, bank_request, is_harmful_request, reference_answer
from rlhf_trl.testbed.splits import topic_groups

HERE = Path(__file__).resolve().parent
REFUSAL = "I'm sorry, but I can't help with that. I'd be happy to help with something else."


def group_of(text: str) -> int | None:
    key = request_key(text, _bank_requests())
    return None if key is None else topic_groups()[_bank_requests()[key]["subject"]]


def halves(prompts: list[list[dict]]) -> dict:
    groups = topic_groups()
    first: dict[int, str] = {}
    harmful: dict[int, bool] = {}
    for p in prompts:
        req = bank_request(p)
        g = groups[req["subject"]]
        first[g] = min(first.get(g, req["subject"]), req["subject"])
        harmful[g] = is_harmful_request(p)
    size = {g: sum(groups[bank_request(p)["subject"]] == g for p in prompts) for g in first}
    count = {(h, s): 0 for h in (True, False) for s in "AB"}
    side: dict[int, str] = {}
    for g in sorted(first, key=lambda g: hashlib.sha1(first[g].encode()).hexdigest()):
        s = "A" if count[harmful[g], "A"] <= count[harmful[g], "B"] else "B"
        side[g] = s
        count[harmful[g], s] += size[g]
    out = {"A": [], "B": [], "A_train": [], "B_read": []}
    for i, p in enumerate(prompts):
        s = side[groups[bank_request(p)["subject"]]]
        out[s].append(i)
        turns = [group_of(m["content"]) for m in p if m["role"] == "user"]
        if all(t is not None and side.get(t) == s for t in turns):
            out[f"{s}_train" if s == "A" else "B_read"].append(i)
    out["groups"] = {s: sorted(first[g] for g in side if side[g] == s) for s in "AB"}
    return out


def main(out_dir: Path) -> None:
    with gzip.open(BUNDLED_DIR / "dev_prompts.jsonl.gz", "rt") as f:
        prompts = [json.loads(line)["prompt"] for line in f]
    split = halves(prompts)
    (HERE / "halves.json").write_text(json.dumps(split, indent=1) + "\n")
    rows = []
    for i in split["A_train"]:
        p = prompts[i]
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
    n = {s: len(split[s]) for s in ("A", "B", "A_train")}
    print(f"{out_dir}: {len(rows)} training pairs on half A's dev prompts; halves {n}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__.split("\n\n")[1].strip())
    main(Path(sys.argv[1]))
