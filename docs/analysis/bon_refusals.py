"""Does the reward model prefer refusals on benign test prompts? Read on best-of-16's candidates.

    .venv/bin/python docs/analysis/bon_refusals.py v3            # reads the committed candidates file
    .venv/bin/python docs/analysis/bon_refusals.py v4 --extract  # first rebuilds it from outputs/

For each test seed of a configuration (v3: 45, 46, 47; v4: 48, 49, 50), the evaluation sampled 16 replies of the
reference (the SFT model) to each test prompt and scored them with that seed's reward model (best-of-16's
candidates, cached by `rlhf-trl evaluate` in outputs/prototype_<version>_seed<N>/evaluation_test/cache/, which a
clean checkout does not have: `make seed-v3 SEED=N` / `make seed-v4 SEED=N` recreates them). `--extract` writes
what this reading needs, one row per candidate (seed, prompt_id, kind of request, is_refusal, reward-model
score), to docs/analysis/seeds_<version>/bon_candidates.jsonl.gz (committed). The reading,
per seed and kind of benign request (the testbed bank's advice / howto / why / fact): how many candidates are
refusals (``is_refusal``, gold's rule), on how many prompts the best-of-16 pick is a refusal, and on the prompts
with both refusals and answers among the candidates, how often the reward model scores a refusal above an answer
(all refusal-answer pairs of a prompt; 0.5 = chance), and on how many prompts all 16 are refusals. An analysis
aid for that folder's README.md (output: bon_refusals.txt there).
"""

from __future__ import annotations

import gzip
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEEDS = {"v3": (45, 46, 47), "v4": (48, 49, 50)}
N = 16


def extract(version: str) -> None:
    from rlhf_trl.testbed.gold import bank_request, is_harmful_request, is_refusal

    rows = []
    here = ROOT / f"docs/analysis/seeds_{version}"
    for seed in SEEDS[version]:
        cache = ROOT / f"outputs/prototype_{version}_seed{seed}/evaluation_test/cache"
        with gzip.open(here / f"seed{seed}/samples.jsonl.gz", "rt") as f:
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
    out = here / "bon_candidates.jsonl.gz"
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:  # byte-reproducible
        f.write("".join(json.dumps(r) + "\n" for r in rows).encode())
    print(f"wrote {out.relative_to(ROOT)} ({len(rows)} candidates)")


def read(version: str) -> str:
    with gzip.open(ROOT / f"docs/analysis/seeds_{version}/bon_candidates.jsonl.gz", "rt") as f:
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
    for seed in SEEDS[version]:
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
    args = sys.argv[1:]
    version = next((a for a in args if a in SEEDS), None)
    if version is None or any(a not in (*SEEDS, "--extract") for a in args):
        sys.exit(
            f"usage: bon_refusals.py {{{'|'.join(SEEDS)}}} [--extract]; got {' '.join(args) or 'nothing'}"
        )
    if "--extract" in args:
        extract(version)
    text = read(version)
    (ROOT / f"docs/analysis/seeds_{version}/bon_refusals.txt").write_text(text)
    print(text, end="")
