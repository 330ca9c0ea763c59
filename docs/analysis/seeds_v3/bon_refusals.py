"""Does the reward model prefer refusals on benign test prompts? Read on best-of-16's candidates.

    .venv/bin/python docs/analysis/seeds_v3/bon_refusals.py            # reads the committed candidates file
    .venv/bin/python docs/analysis/seeds_v3/bon_refusals.py --extract  # first rebuilds it from outputs/

For each v3 test seed (45, 46, 47), the evaluation sampled 16 replies of the reference (the SFT model) to each
test prompt and scored them with that seed's reward model (best-of-16's candidates, cached by `rlhf-trl evaluate`
in outputs/prototype_v3_seed<N>/evaluation_test/cache/, which a clean checkout does not have: `make seed-v3
SEED=N` recreates them). `--extract` writes what this reading needs, one row per candidate (seed, prompt_id, kind
of request, is_refusal, reward-model score), to bon_candidates.jsonl.gz beside this file (committed). The reading,
per seed and kind of benign request (the testbed bank's advice / howto / why / fact): how many candidates are
refusals (``is_refusal``, gold's rule), on how many prompts the best-of-16 pick is a refusal, and on the prompts
with both refusals and answers among the candidates, how often the reward model scores a refusal above an answer
(all refusal-answer pairs of a prompt; 0.5 = chance), and on how many prompts all 16 are refusals. An analysis
aid for README.md (output: bon_refusals.txt).
"""

from __future__ import annotations

import gzip
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
ROWS = HERE / "bon_candidates.jsonl.gz"
SEEDS = (45, 46, 47)
N = 16


def extract() -> None:
    from rlhf_trl.testbed.gold import bank_request, is_harmful_request, is_refusal

    rows = []
    for seed in SEEDS:
        cache = ROOT / f"outputs/prototype_v3_seed{seed}/evaluation_test/cache"
        with gzip.open(HERE / f"seed{seed}/samples.jsonl.gz", "rt") as f:
            recs = [json.loads(line) for line in f]
        prompts = {r["prompt_id"]: r["prompt"] for r in recs if r["model"] == "reference"}
        picked = {r["prompt_id"]: r["response"] for r in recs if r["model"] == "bon16"}
        cands = [json.loads((cache / f"bon_candidate_{k}.json").read_text())["value"] for k in range(N)]
        scores = json.loads((cache / "bon_score_reward_model.json").read_text())["value"]
        for i, pid in enumerate(sorted(prompts)):
            best = max(range(N), key=lambda k: scores[k][i])
            # the cache's prompt order is prompt_id order: best-of-16's pick must be the committed one
            assert cands[best][i]["response"] == picked[pid], (seed, pid)
            kind = "harmful" if is_harmful_request(prompts[pid]) else bank_request(prompts[pid])["kind"]
            for k in range(N):
                rows.append(
                    {
                        "seed": seed,
                        "prompt_id": pid,
                        "kind": kind,
                        "refusal": is_refusal(cands[k][i]["response"]),
                        "rm": round(scores[k][i], 4),
                    }
                )
    with open(ROWS, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:  # byte-reproducible
        f.write("".join(json.dumps(r) + "\n" for r in rows).encode())
    print(f"wrote {ROWS.relative_to(ROOT)} ({len(rows)} candidates)")


def read() -> str:
    with gzip.open(ROWS, "rt") as f:
        rows = [json.loads(line) for line in f]
    by_prompt: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        by_prompt[(r["seed"], r["kind"], r["prompt_id"])].append(r)
    out = [
        "best-of-16 candidates of the reference on the test prompts, by seed and kind of request",
        "| seed | kind | prompts | refusals among candidates | best-of-16 pick is a refusal | prompts with both "
        "| P(RM: refusal > answer) | prompts where the best refusal beats the best answer | prompts with only refusals |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for seed in SEEDS:
        for kind in ("advice", "howto", "why", "fact", "harmful"):
            groups = [g for (s, k, _), g in by_prompt.items() if s == seed and k == kind]
            if not groups:
                continue
            refusals = sum(r["refusal"] for g in groups for r in g)
            picks = sum(max(g, key=lambda r: r["rm"])["refusal"] for g in groups)
            wins = pairs = both = best_refusal = 0
            only = sum(all(r["refusal"] for r in g) for g in groups)
            for g in groups:
                ref = [r["rm"] for r in g if r["refusal"]]
                ans = [r["rm"] for r in g if not r["refusal"]]
                if ref and ans:
                    both += 1
                    wins += sum(a > b for a in ref for b in ans) + 0.5 * sum(a == b for a in ref for b in ans)
                    pairs += len(ref) * len(ans)
                    best_refusal += max(ref) > max(ans)
            rate = f"{wins / pairs:.2f}" if pairs else "–"
            out.append(
                f"| {seed} | {kind} | {len(groups)} | {refusals}/{N * len(groups)} | {picks}/{len(groups)} | {both} "
                f"| {rate} | {best_refusal}/{both} | {only}/{len(groups)} |"
            )
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if "--extract" in sys.argv[1:]:
        extract()
    text = read()
    (HERE / "bon_refusals.txt").write_text(text)
    print(text, end="")
