"""Time PPO updates on the embedded SmolLM2-135M on this machine: generation / scoring / update, peak memory.

    python bench/ppo_step.py [--prompts 4 --tokens 32 --epochs 4 --updates 2]

The setting bench/ppo_vs_trl112.py times TRL 1.12's last PPOTrainer in: 4 prompts x 32 new
tokens x 4 PPO epochs, a reward model and a critic of the same size (random score heads here: speed
does not depend on what they learned). Reports the mean over updates after the first (warm-up).
Not a test: the row goes into bench/RESULTS.md (``--json`` for the raw numbers).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_step_result  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--model", default="embedded:smollm2-135m-instruct")
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--updates", type=int, default=2, help="the first one is a warm-up")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast for every forward (fp32 weights)")
    parser.add_argument("--json", action="store_true", help="print the raw numbers as JSON")
    opts = parser.parse_args()

    from rlhf_trl.allocator import keep_freed_memory

    keep_freed_memory()  # as every recipe does (RLHF_TRL_MALLOC=default: glibc's own settings)
    import torch
    from datasets import Dataset

    from rlhf_trl.models import load_causal_lm, load_sequence_classifier, load_tokenizer
    from rlhf_trl.ppo import PPOConfig, PPOTrainer
    from rlhf_trl.training import peak_gpu_mb, peak_rss_mb

    tokenizer = load_tokenizer(opts.model)
    policy = load_causal_lm(opts.model, tokenizer)
    torch.manual_seed(0)
    reward_model = load_sequence_classifier(opts.model, tokenizer)
    questions = [
        "How do I keep basil alive indoors?",
        "What is a good way to learn to juggle?",
        "Can you explain what a mortgage is?",
        "How should I prepare for a job interview?",
    ]
    prompts = [[{"role": "user", "content": questions[i % len(questions)]}] for i in range(opts.prompts * 4)]
    with tempfile.TemporaryDirectory() as out:
        args = PPOConfig(
            output_dir=out,
            report_to="none",
            disable_tqdm=True,
            max_steps=opts.updates,
            per_device_train_batch_size=opts.prompts,
            response_length=opts.tokens,
            ppo_epochs=opts.epochs,
            missing_eos_penalty=None,
            seed=0,
            bf16=opts.bf16,
            use_cpu=opts.bf16 and not torch.cuda.is_available(),
        )
        trainer = PPOTrainer(
            args, tokenizer, policy, Dataset.from_dict({"prompt": prompts}), reward_model=reward_model
        )
        with contextlib.redirect_stdout(sys.stderr):  # trainer logs: not the table
            trainer.train()
    logs = [h for h in trainer.state.log_history if "time/update_s" in h][1:] or trainer.state.log_history
    mean = {
        k: sum(h[k] for h in logs) / len(logs)
        for k in ("time/generation_s", "time/scoring_s", "time/update_s", "response/length_mean")
    }
    result = {
        "setting": f"{opts.prompts} prompts x {opts.tokens} tokens x {opts.epochs} epochs"
        + (", bf16" if opts.bf16 else ""),
        "threads": torch.get_num_threads(),
        "generation_s": round(mean["time/generation_s"], 2),
        "scoring_s": round(mean["time/scoring_s"], 2),
        "update_s": round(mean["time/update_s"], 2),
        "total_s": round(mean["time/generation_s"] + mean["time/scoring_s"] + mean["time/update_s"], 2),
        "mean_response_tokens": round(mean["response/length_mean"], 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "peak_gpu_mb": peak_gpu_mb(),
    }
    print_step_result("PPO update (ours)", result, opts.json)


if __name__ == "__main__":
    main()
