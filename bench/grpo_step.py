"""Time GRPO steps (TRL GRPOTrainer as recipes/grpo.py builds it): generation / scoring / update, peak memory.

    .venv/bin/python bench/grpo_step.py [--prompts 2 --group 4 --tokens 32 --steps 3]

The embedded SmolLM2-135M as policy, a same-size reward model with a random score head (speed does
not depend on what it learned), ``--prompts`` x ``--group`` completions of ``--tokens`` tokens per
step. Generation is the time inside ``model.generate``, scoring the time inside the reward function;
update is the rest of the step (reference log-probs, loss, backward, optimizer). Mean over the steps
after the first (warm-up). Not a test: the row goes into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_step_result  # noqa: E402


def timed(fn, totals: dict, key: str):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[key] += time.perf_counter() - start

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--model", default="embedded:smollm2-135m-instruct")
    parser.add_argument("--prompts", type=int, default=2)
    parser.add_argument("--group", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="the first one is a warm-up")
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args()

    from rlhf_trl.allocator import keep_freed_memory

    keep_freed_memory()  # as recipes/grpo.py does (RLHF_TRL_MALLOC=default: glibc's own settings)
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from transformers.utils import logging as hf_logging
    from trl import GRPOTrainer

    from rlhf_trl.models import load_causal_lm, load_sequence_classifier, load_tokenizer
    from rlhf_trl.rewards import RewardModelScorer
    from rlhf_trl.stage_configs import GRPOConfig
    from rlhf_trl.training import TokenCountingReward, peak_rss_mb

    hf_logging.set_verbosity_error()
    tokenizer = load_tokenizer(opts.model)
    policy = load_causal_lm(opts.model, tokenizer)
    torch.manual_seed(0)
    scorer = RewardModelScorer(load_sequence_classifier(opts.model, tokenizer), tokenizer)
    questions = [
        "How do I keep basil alive indoors?",
        "What is a good way to learn to juggle?",
        "Can you explain what a mortgage is?",
        "How should I prepare for a job interview?",
    ]
    prompts = [[{"role": "user", "content": questions[i % 4]}] for i in range(opts.prompts * opts.steps * 2)]
    totals = {"generation": 0.0, "scoring": 0.0}
    steps: list[dict] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            self.start = time.perf_counter()
            totals.update(generation=0.0, scoring=0.0)

        def on_step_end(self, args, state, control, **kw):
            steps.append({"total": time.perf_counter() - self.start, **totals})

    counter = TokenCountingReward(timed(scorer, totals, "scoring"))
    counter.__name__ = "reward_model"
    with tempfile.TemporaryDirectory() as out:
        args = GRPOConfig(
            output_dir=out,
            report_to="none",
            disable_tqdm=True,
            max_steps=opts.steps,
            per_device_train_batch_size=opts.prompts * opts.group,
            num_generations=opts.group,
            max_completion_length=opts.tokens,
            temperature=0.7,
            beta=0.05,
            logging_steps=1,
            seed=0,
        )
        trainer = GRPOTrainer(
            model=policy,
            reward_funcs=[counter],
            args=args,
            train_dataset=Dataset.from_dict({"prompt": prompts}),
            processing_class=tokenizer,
            callbacks=[StepTimer()],
        )
        policy.generate = timed(policy.generate, totals, "generation")
        with contextlib.redirect_stdout(sys.stderr):  # trainer logs: not the table
            trainer.train()
    after = steps[1:] or steps
    mean = {k: sum(s[k] for s in after) / len(after) for k in ("total", "generation", "scoring")}
    n_completions = opts.prompts * opts.group
    result = {
        "setting": f"{opts.prompts} prompts x {opts.group} completions x {opts.tokens} tokens",
        "generation_s": round(mean["generation"], 2),
        "scoring_s": round(mean["scoring"], 2),
        "update_s": round(mean["total"] - mean["generation"] - mean["scoring"], 2),
        "total_s": round(mean["total"], 2),
        "mean_response_tokens": round(counter.tokens / (len(steps) * opts.prompts * opts.group), 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "completions_per_step": n_completions,
    }
    print_step_result("GRPO step (TRL GRPOTrainer)", result, opts.json)


if __name__ == "__main__":
    main()
