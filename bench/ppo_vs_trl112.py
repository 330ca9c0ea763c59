"""Our PPO update against TRL 1.12's last ``PPOTrainer``, side by side on this machine, as a ratio.

    .venv/bin/python bench/ppo_vs_trl112.py [--repeats 2 --updates 3 --prompts 4 --tokens 32 --epochs 4]

TRL removed ``PPOTrainer`` after 1.12, so its side runs in a virtualenv of its own,
``bench/.venv-trl112``, created on first use: ``trl==1.12.0`` installed without dependencies, every other
package (torch, transformers, accelerate, datasets) shared with ``.venv`` through a ``.pth`` file, so both
sides run the same torch and transformers and nothing large is downloaded.

Same setting on both sides: the embedded SmolLM2-135M policy (fp32), a reward model and a critic of the
same size (random score heads, seeded: speed does not depend on what they learned), ``--prompts`` prompts
per update, ``--tokens`` new tokens at temperature 0.7 stopping at EOS, ``--epochs`` PPO epochs over one
mini-batch, no missing-EOS penalty. Each side runs ``--updates`` updates in a fresh process; the first
is a warm-up, the rest are averaged. Sides alternate (ours first on odd repeats, TRL first on even ones)
and the fastest repeat of each is kept. Mean response lengths are printed: they change the cost.
Our side runs as a recipe does, with glibc malloc set to keep freed memory (rlhf_trl/allocator.py); TRL
runs twice, with glibc's defaults (as a user runs it) and with that same setting.
Not a test: the table goes into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TRL_VENV = HERE / ".venv-trl112"
TRL_VERSION = "1.12.0"
QUESTIONS = [
    "How do I keep basil alive indoors?",
    "What is a good way to learn to juggle?",
    "Can you explain what a mortgage is?",
    "How should I prepare for a job interview?",
]


def trl_python() -> Path:
    """The TRL 1.12 virtualenv's python, created on first use (a minute; needs the package index once)."""
    python = TRL_VENV / "bin" / "python"
    marker = TRL_VENV / f"trl-{TRL_VERSION}.ok"
    if marker.exists():
        return python
    print(f"creating {TRL_VENV} with trl=={TRL_VERSION} (first use)", file=sys.stderr, flush=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(TRL_VENV)], check=True)
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # torch, transformers, ... come from .venv (its site-packages after this venv's own, so trl 1.12 wins)
    Path(site, "_shared_with_dot_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            site,
            f"trl=={TRL_VERSION}",
        ],
        check=True,
    )
    marker.write_text("")
    return python


def _models(tokenizer):
    import torch

    from rlhf_trl.models import load_causal_lm, load_sequence_classifier

    policy = load_causal_lm("embedded:smollm2-135m-instruct", tokenizer)
    torch.manual_seed(0)
    reward_model = load_sequence_classifier("embedded:smollm2-135m-instruct", tokenizer)
    torch.manual_seed(1)
    value_model = load_sequence_classifier("embedded:smollm2-135m-instruct", tokenizer)
    return policy, reward_model, value_model


def run_trl(opts) -> dict:
    """One TRL 1.12 PPOTrainer run in this process (the TRL virtualenv): seconds per update, lengths."""
    if opts.keep_freed_memory:  # the allocator setting our recipes apply (rlhf_trl/allocator.py)
        from rlhf_trl.allocator import keep_freed_memory

        assert keep_freed_memory()
    import torch
    import trl
    from datasets import Dataset
    from transformers import TrainerCallback

    assert trl.__version__ == TRL_VERSION, trl.__version__
    import trl.experimental.ppo.ppo_trainer as impl
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    from rlhf_trl.models import load_tokenizer

    tokenizer = load_tokenizer("embedded:smollm2-135m-instruct")
    policy, reward_model, value_model = _models(tokenizer)
    prompts = [[{"role": "user", "content": QUESTIONS[i % 4]}] for i in range(opts.prompts * opts.updates)]
    texts = [tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts]
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    lengths, stamps = [], []
    generate = impl.batch_generation

    def counting_generation(model, queries, *args, **kwargs):  # response lengths up to the first EOS
        out = generate(model, queries, *args, **kwargs)
        responses = out[0][:, queries.shape[1] :]
        eos = responses == tokenizer.eos_token_id
        first = torch.where(
            eos.any(1), eos.long().argmax(1) + 1, torch.full_like(eos[:, 0], eos.shape[1], dtype=torch.long)
        )
        lengths.append(first.float().mean().item())
        return out

    impl.batch_generation = counting_generation

    class Stamp(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            stamps.append(time.perf_counter())

    import tempfile

    with tempfile.TemporaryDirectory() as out:
        args = PPOConfig(
            output_dir=out,
            report_to="none",
            disable_tqdm=True,
            per_device_train_batch_size=opts.prompts,
            gradient_accumulation_steps=1,
            num_mini_batches=1,
            total_episodes=opts.prompts * opts.updates,
            local_rollout_forward_batch_size=opts.prompts,
            response_length=opts.tokens,
            num_ppo_epochs=opts.epochs,
            temperature=0.7,
            stop_token="eos",
            missing_eos_penalty=None,
            num_sample_generations=0,
            save_strategy="no",
            seed=0,
            bf16=False,  # TRL's config defaults to bf16, which a CPU refuses; its Accelerator ran fp32 anyway
        )
        trainer = PPOTrainer(
            args=args,
            processing_class=tokenizer,
            model=policy,
            ref_model=None,
            reward_model=reward_model,
            train_dataset=Dataset.from_dict({"input_ids": ids}),
            value_model=value_model,
            callbacks=[Stamp()],
        )
        start = time.perf_counter()
        trainer.train()
    times = [b - a for a, b in zip([start, *stamps], stamps)][1:]  # the first update is a warm-up
    return {"total_s": sum(times) / len(times), "mean_response_tokens": sum(lengths[1:]) / len(lengths[1:])}


def run_ours(opts, bf16: bool = False) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            str(HERE / "ppo_step.py"),
            "--json",
            "--prompts",
            str(opts.prompts),
            "--tokens",
            str(opts.tokens),
            "--epochs",
            str(opts.epochs),
            "--updates",
            str(opts.updates),
            *(["--bf16"] if bf16 else []),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--updates", type=int, default=3, help="per run; the first is a warm-up")
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--trl-side", action="store_true", help=argparse.SUPPRESS)  # inside the TRL venv
    parser.add_argument("--keep-freed-memory", action="store_true", help=argparse.SUPPRESS)  # TRL side
    opts = parser.parse_args()
    if opts.trl_side:
        sys.path.insert(0, str(ROOT))
        print(json.dumps(run_trl(opts)))
        return

    python = trl_python()
    trl_args = [str(python), __file__, "--trl-side"] + [
        f"--{k}={getattr(opts, k)}" for k in ("updates", "prompts", "tokens", "epochs")
    ]

    def trl_run(keep: bool = False) -> dict:
        out = subprocess.run(
            trl_args + ["--keep-freed-memory"] * keep, capture_output=True, text=True, cwd=ROOT
        )
        if out.returncode != 0:
            sys.exit(f"TRL {TRL_VERSION} side failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import BF16_SKIPPED, bf16_native

    sides = {
        "ours": lambda: run_ours(opts),
        "ours_bf16": lambda: run_ours(opts, bf16=True),
        "trl": trl_run,
        "trl_keep": lambda: trl_run(keep=True),
    }
    if not bf16_native():
        del sides["ours_bf16"]
    runs = {side: [] for side in sides}
    for repeat in range(opts.repeats):
        order = list(sides) if repeat % 2 == 0 else list(reversed(sides))
        for side in order:
            runs[side].append(sides[side]())
    best = {side: min(results, key=lambda r: r["total_s"]) for side, results in runs.items()}
    trl, trl_keep = best["trl"], best["trl_keep"]
    setting = f"{opts.prompts} prompts x {opts.tokens} tokens x {opts.epochs} epochs"
    print(
        f"{setting}, embedded SmolLM2-135M (policy, reward model and critic); fastest of {opts.repeats} "
        f"alternating runs per side, each the mean of {opts.updates - 1} updates after a warm-up. TRL 1.12's "
        "PPOTrainer builds its own Accelerator without mixed precision: it runs fp32 only; ours runs fp32 "
        "and with `bf16: true` (bf16 autocast, fp32 master weights). Our recipes set glibc malloc to keep "
        "freed memory (rlhf_trl/allocator.py); TRL runs once as a user runs it (glibc defaults) and once "
        "with that same setting, so the table separates the allocator from the trainer.\n"
    )
    print(
        "| PPO update | seconds | ours / TRL | ours / TRL with our allocator | mean response tokens | split |"
    )
    print("|---|---|---|---|---|---|")
    for r, name in ((trl, "glibc defaults"), (trl_keep, "our allocator setting")):
        print(
            f"| TRL {TRL_VERSION} PPOTrainer, fp32, {name} | {r['total_s']:.2f} | – | – | {r['mean_response_tokens']:.1f} | – |"
        )
    for side, name in (("ours", "ours, fp32"), ("ours_bf16", "ours, bf16")):
        if side not in best:
            continue
        r = best[side]
        print(
            f"| {name} | {r['total_s']:.2f} | **{r['total_s'] / trl['total_s']:.2f}** | "
            f"{r['total_s'] / trl_keep['total_s']:.2f} | {r['mean_response_tokens']:.1f} | generation "
            f"{r['generation_s']:.2f}, scoring {r['scoring_s']:.2f}, update {r['update_s']:.2f} |"
        )
    print("\nTarget: ours / TRL ≤ 0.5 (time per update).")
    if "ours_bf16" not in best:
        print(f"\n{BF16_SKIPPED}")


if __name__ == "__main__":
    main()
