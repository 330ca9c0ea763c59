"""How good a proxy of the gold a reward model is on the reference's own samples: best-of-n picked by the
reward model vs picked by the gold itself (the oracle) vs the first sample (no selection).

    .venv/bin/python docs/analysis/tuning/bon_proxy_vs_gold.py RUN_DIR [RM_FOLDER ...]

RUN_DIR is a run whose ``rlhf-trl evaluate --best_of_n ...`` cached its best-of-n candidates under
``evaluation*/cache`` (``bon_candidate_<k>.json``: the reference's k-th sample per prompt, and
``bon_score_reward_model.json``: the run's reward model on them). Each extra RM_FOLDER rescores the same
candidates, so reward models can be compared on identical replies. Per n (1, 4 and the largest cached n) and per
kind of prompt it prints the mean gold of the pick, how often the pick refuses, and the within-prompt rank
correlation of reward and gold. A tuning aid (docs/testbed.md), not part of the toolkit.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from rlhf_trl.evaluation.cache import fingerprint
from rlhf_trl.evaluation.model_specs import model_stamp
from rlhf_trl.testbed.gold import gold_score, is_harmful_request, is_refusal


def _candidates(cache: Path) -> tuple[list[list[dict]], list[list[float]]]:
    """``[prompt][k]`` candidate rows (with their prompt) and the run's reward-model scores of them."""
    files = sorted(cache.glob("bon_candidate_*.json"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    if not files:
        raise SystemExit(f"{cache}: no bon_candidate_*.json (run rlhf-trl evaluate with --best_of_n first)")
    per_sample = [json.loads(p.read_text())["value"] for p in files]  # [k][prompt]
    # the evaluation's prompts, in its order: the reference's rows of samples.jsonl
    with open(cache.parent / "samples.jsonl") as f:
        prompts = [row["prompt"] for line in f if (row := json.loads(line))["model"] == "reference"]
    if len(prompts) != len(per_sample[0]):
        raise SystemExit(
            f"{cache.parent}: {len(prompts)} reference samples but {len(per_sample[0])} candidates"
        )
    stored = json.loads((cache / "bon_score_reward_model.json").read_text())
    scores = stored["value"]  # [k][prompt]
    per_sample = per_sample[: len(scores)]  # files of an earlier, larger best_of_n were not scored now
    # the evaluation keyed these scores by the prompts, the candidates and the reward model's files: a
    # mismatch means candidates, samples.jsonl or checkpoints/reward changed since (stale cache files)
    rm = cache.parent.parent / "checkpoints" / "reward"
    if stored["fingerprint"] != fingerprint(fingerprint(prompts), per_sample, model_stamp(str(rm))):
        raise SystemExit(
            f"{cache}: the cached reward-model scores are not of these candidates, prompts and {rm}; "
            "re-run rlhf-trl evaluate with --best_of_n to refresh the cache"
        )
    candidates = [[{**rows[i], "prompt": prompts[i]} for rows in per_sample] for i in range(len(prompts))]
    return candidates, [list(s) for s in zip(*scores)]


def _spearman(x: list[float], y: list[float]) -> float | None:
    def ranks(v):  # average ranks: gold scores often tie
        return [sum(u < x for u in v) + (sum(u == x for u in v) - 1) / 2 for x in v]

    if len(set(x)) < 2 or len(set(y)) < 2:
        return None
    return statistics.correlation(ranks(x), ranks(y))


def report(label: str, candidates: list[list[dict]], rm: list[list[float]]) -> None:
    gold = [[gold_score(c["prompt"], c["response"]) for c in cands] for cands in candidates]
    harmful = [is_harmful_request(cands[0]["prompt"]) for cands in candidates]
    n_max = min(len(c) for c in candidates)
    print(f"\n{label}: {len(candidates)} prompts x {n_max} reference samples")
    print("kind    | n  | gold: first / RM pick / gold pick | refuses: first / RM pick | rank corr RM~gold")
    for kind, want in (("harmful", True), ("benign", False), ("all", None)):
        idx = [i for i, h in enumerate(harmful) if want is None or h == want]
        for n in sorted({1, 4, n_max}):
            if n > n_max:
                continue
            rm_pick = [max(range(n), key=lambda k: rm[i][k]) for i in idx]
            gold_pick = [max(gold[i][:n]) for i in idx]
            corr = [c for i in idx if (c := _spearman(rm[i][:n], gold[i][:n])) is not None]
            print(
                f"{kind:7s} | {n:2d} | {statistics.mean(gold[i][0] for i in idx):.3f} / "
                f"{statistics.mean(gold[i][k] for i, k in zip(idx, rm_pick)):.3f} / {statistics.mean(gold_pick):.3f}"
                f" | {sum(is_refusal(candidates[i][0]['response']) for i in idx):2d} / "
                f"{sum(is_refusal(candidates[i][k]['response']) for i, k in zip(idx, rm_pick)):2d} of {len(idx)}"
                f" | {statistics.mean(corr) if corr else float('nan'):+.2f}"
            )


def main(run_dir: str, rm_folders: list[str]) -> None:
    caches = sorted(Path(run_dir).glob("evaluation*/cache"))
    if not caches:
        raise SystemExit(f"{run_dir}: no evaluation*/cache folder")
    for cache in caches:
        candidates, scores = _candidates(cache)
        report(f"{cache.parent.name}, the run's reward model", candidates, scores)
        for folder in rm_folders:
            from rlhf_trl.rewards import RewardModelScorer

            scorer = RewardModelScorer.from_pretrained(folder, batch_size=16)
            flat = [c for cands in candidates for c in cands]
            values = scorer([c["prompt"] for c in flat], [c["response"] for c in flat])
            width = len(candidates[0])
            rescored = [values[i * width : (i + 1) * width] for i in range(len(candidates))]
            report(f"{cache.parent.name}, reward model {folder}", candidates, rescored)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
