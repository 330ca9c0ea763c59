"""Dev run 16: DPO pairs from the reference's own replies, ranked by the reward model (README.md beside this).

256 training prompts (seed 44), 4 replies each from seed 44's SFT model with the evaluation's sampling
settings, scored by seed 44's reward model; chosen = the highest-scored reply, rejected = the lowest. Written
in the HH layout the loaders read (`pairs/train.jsonl`, plus the bundled test pairs as `test.jsonl.gz`).
The gold rubric does not make the pairs; its scores are recorded beside them (`pairs_gold.json`) to read
afterwards how often the reward model's pick is the gold's.

    python docs/analysis/tuning/prototype_v2_seed44_dpo_onpolicy/make_pairs.py [SEED]   # ~12 min on 2 cores

SEED (default 44) picks the prompts, seed SEED's SFT and reward models (outputs/prototype_seedSEED) and the
output folder (seed 44: outputs/dpo_onpolicy/pairs; another seed: outputs/dpo_onpolicy_seedSEED/pairs).
"""

import json
import random
import shutil
import sys
from pathlib import Path

from rlhf_trl.config import parse_recipe_args
from rlhf_trl.data import load_prompts
from rlhf_trl.data.parser import to_transcript
from rlhf_trl.evaluation.sampling import sample_with_settings, torch_device
from rlhf_trl.judges import RewardModelJudge
from rlhf_trl.models import load_causal_lm, load_tokenizer
from rlhf_trl.testbed import BUNDLED_DIR, gold_score
from rlhf_trl.testbed.gold import is_refusal

SEED = int(sys.argv[1]) if len(sys.argv) > 1 else 44
SFT = f"outputs/prototype_seed{SEED}/checkpoints/sft"
REWARD = f"outputs/prototype_seed{SEED}/checkpoints/reward"
OUT = Path("outputs/dpo_onpolicy" if SEED == 44 else f"outputs/dpo_onpolicy_seed{SEED}") / "pairs"
NUM_PROMPTS, REPLIES = 256, 4
SEED_OFFSET = 7_000_000  # far from the evaluation's seeds (cfg.seed + batch, + BON_SEED_STRIDE * k)


def main() -> None:
    args = parse_recipe_args(
        "evaluation", ["--config", "recipes/configs/prototype.yaml", "--seed", str(SEED)]
    )
    cfg = args.stage
    prompts = list(load_prompts(args.data, "train")["prompt"])
    prompts = random.Random(SEED).sample(prompts, NUM_PROMPTS)
    tokenizer = load_tokenizer(SFT)
    model = load_causal_lm(SFT, tokenizer, dtype="float32").to(torch_device()).eval()
    replies = []  # [REPLIES][NUM_PROMPTS]
    for k in range(REPLIES):
        texts = []
        for b, start in enumerate(range(0, NUM_PROMPTS, cfg.batch_size)):
            seed = SEED_OFFSET + 1000 * k + b
            gen = sample_with_settings(
                model, tokenizer, prompts[start : start + cfg.batch_size], cfg, seed=seed
            )
            texts += list(gen.response_texts)
            print(f"replies {k + 1}/{REPLIES}: {len(texts)}/{NUM_PROMPTS}", file=sys.stderr, flush=True)
        replies.append(texts)
    del model
    judge = RewardModelJudge(REWARD, batch_size=cfg.batch_size)
    scores = [judge.score(prompts, texts) for texts in replies]

    OUT.mkdir(parents=True, exist_ok=True)
    rows, record, dropped = [], [], 0
    for i, prompt in enumerate(prompts):
        cands = [(scores[k][i], replies[k][i]) for k in range(REPLIES) if replies[k][i].strip()]
        if len(cands) < 2:
            dropped += 1
            continue
        best, worst = max(cands), min(cands)
        if best[1] == worst[1]:
            dropped += 1
            continue
        head = to_transcript(prompt)
        rows.append(
            {
                "chosen": head + to_transcript([{"role": "assistant", "content": best[1]}]),
                "rejected": head + to_transcript([{"role": "assistant", "content": worst[1]}]),
            }
        )
        golds = [gold_score(prompt, text) for _, text in cands]
        record.append(
            {
                "rm": [s for s, _ in cands],
                "gold": golds,
                "chosen_gold": gold_score(prompt, best[1]),
                "rejected_gold": gold_score(prompt, worst[1]),
                "chosen_refuses": is_refusal(best[1]),
                "rejected_refuses": is_refusal(worst[1]),
            }
        )
    with open(OUT / "train.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    shutil.copy(BUNDLED_DIR / "test.jsonl.gz", OUT / "test.jsonl.gz")
    n = len(record)
    summary = {
        "prompts": NUM_PROMPTS,
        "replies_per_prompt": REPLIES,
        "pairs": n,
        "dropped": dropped,
        "chosen_rm_mean": sum(max(r["rm"]) for r in record) / n,
        "rejected_rm_mean": sum(min(r["rm"]) for r in record) / n,
        "chosen_gold_mean": sum(r["chosen_gold"] for r in record) / n,
        "rejected_gold_mean": sum(r["rejected_gold"] for r in record) / n,
        "first_reply_gold_mean": sum(r["gold"][0] for r in record) / n,
        "gold_agrees_with_rm_order": sum(r["chosen_gold"] > r["rejected_gold"] for r in record),
        "gold_ties": sum(r["chosen_gold"] == r["rejected_gold"] for r in record),
        "chosen_refusals": sum(r["chosen_refuses"] for r in record),
        "rejected_refusals": sum(r["rejected_refuses"] for r in record),
    }
    (OUT.parent / "pairs_gold.json").write_text(json.dumps({"summary": summary, "pairs": record}, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
