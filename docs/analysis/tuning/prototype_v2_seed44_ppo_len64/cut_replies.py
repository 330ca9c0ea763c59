"""Does seed 44's reward model score a reply lower when it is cut short, as PPO's 48-token rollouts cut it?

    .venv/bin/python docs/analysis/tuning/prototype_v2_seed44_ppo_len64/cut_replies.py   # writes cut_replies.txt

Same reply, scored whole and cut: the SFT reference's replies that ended (EOS) on the dev prompts (run 14's
evaluation) and on the test prompts (seed 44's), (a) those longer than 48 tokens cut to their first 48 tokens,
the cut PPO's rollouts make, and (b) every reply of at least 16 tokens cut to its first three quarters. The
reward model scores a cut reply as a finished assistant turn, as it scores PPO's rollouts. Paired on the same
reply: mean difference (cut − whole), how many fall, exact sign test. A tuning aid, not part of the toolkit.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from rlhf_trl.evaluation.stats import paired_difference, sign_test
from rlhf_trl.models import load_tokenizer
from rlhf_trl.rewards import RewardModelScorer
from rlhf_trl.testbed.gold import bank_request

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
SEED44 = ROOT / "outputs" / "prototype_seed44" / "checkpoints"
SAMPLES = {
    "dev": HERE.parent / "prototype_v2_seed44_ppo_batch32" / "samples.jsonl.gz",
    "test": ROOT / "docs" / "analysis" / "seeds" / "seed44" / "samples.jsonl.gz",
}


def main() -> None:
    tok = load_tokenizer(str(SEED44 / "sft"))
    rm = RewardModelScorer.from_pretrained(str(SEED44 / "reward"), batch_size=16)
    lines = []
    for split, path in SAMPLES.items():
        with gzip.open(path, "rt") as f:
            ref = [r for r in map(json.loads, f) if r["model"] == "reference" and r["ended_with_eos"]]
        ids = [tok(r["response"], add_special_tokens=False)["input_ids"] for r in ref]
        for label, keep in (
            ("longer than 48 tokens, cut at 48", lambda n: 48 if n > 48 else None),
            ("at least 16 tokens, cut to 3/4", lambda n: (3 * n) // 4 if n >= 16 else None),
        ):
            rows = [(r, t, keep(len(t))) for r, t in zip(ref, ids) if keep(len(t))]
            prompts = [r["prompt"] for r, _, _ in rows]
            whole = rm(prompts, [r["response"] for r, _, _ in rows])
            cut = rm(prompts, [tok.decode(t[:k]) for _, t, k in rows])
            for kind in ("benign", "harmful", "all"):
                idx = [
                    i
                    for i, (r, _, _) in enumerate(rows)
                    if kind == "all"
                    or (bank_request(r["prompt"])["kind"] == "harmful") == (kind == "harmful")
                ]
                if not idx:
                    continue
                c, w = [float(cut[i]) for i in idx], [float(whole[i]) for i in idx]
                d = paired_difference(c, w)
                down = sum(a < b for a, b in zip(c, w))
                up = sum(a > b for a, b in zip(c, w))
                lines.append(
                    f"{split}, {label}, {kind} (n {len(idx)}): whole {sum(w) / len(w):+.2f}, cut {sum(c) / len(c):+.2f}, "
                    f"cut - whole {d['mean_diff']:+.2f} [{d['ci95'][0]:+.2f}, {d['ci95'][1]:+.2f}], "
                    f"{down} lower / {up} higher, sign p {sign_test(up, down):.3g}"
                )
    text = "\n".join(lines) + "\n"
    (HERE / "cut_replies.txt").write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
