"""Our recipes vs the raw TRL trainers: time per training step (overhead ratio) and MFU, fp32 and bf16.

    .venv/bin/python bench/recipe_overhead.py [--steps 4 --repeats 2 --recipes reward,dpo,grpo]

For each recipe, the same model (embedded SmolLM2-135M), data (the bundled set), batch and
hyper-parameters are trained for ``--steps`` steps twice: once through ``recipes/<name>.py`` (our config
layer, trainer subclasses, callbacks, reward wrappers) and once through the bare TRL trainer built by
hand. Runs alternate (raw, ours, raw, ours …) and the fastest of ``--repeats`` counts, so a noisy
neighbour hurts both sides alike. Only ``trainer.train()`` is timed (model loading and the recipes'
test reports are outside it). Both sides run in this one process, so both get the allocator setting
our recipes apply (rlhf_trl/allocator.py): the ratio is the layer's cost alone.

MFU: model FLOPs counted per forward call (a hook on every model's input embedding: 2·P·tokens
without grad, 6·P·tokens with grad, P = the parameters the forward multiplies by, attention score
FLOPs ignored — small at these lengths), divided by the time and by the matmul peak measured by
bench/matmul_peak.py in the same precision. bf16 = ``--bf16 true`` (autocast; fp32 master weights).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

DEFAULT_MODEL = MODEL = "embedded:smollm2-135m-instruct"
# Per recipe: the CLI overrides both sides share (small, so a step takes seconds on a CPU).
SETTINGS = {
    "reward": ["--per_device_train_batch_size", "4", "--max_length", "192", "--max_test_samples", "8"],
    "dpo": ["--per_device_train_batch_size", "4", "--max_length", "192", "--max_test_samples", "4"],
    "grpo": [
        "--per_device_train_batch_size",
        "4",
        "--group_size",
        "4",
        "--max_completion_length",
        "32",
        "--reward_funcs",
        "reward_model",
    ],
}


def precision_flags(bf16: bool) -> list[str]:
    """bf16 autocast; transformers wants ``use_cpu`` to allow it on a machine without a GPU."""
    import torch

    flags = ["--bf16", str(bf16).lower()]
    return flags + ["--use_cpu", "true"] if bf16 and not torch.cuda.is_available() else flags


RUNS: list[dict] = []  # filled by the patched Trainer.train


def compute_params(model) -> int:
    """Parameters a forward pass multiplies by: all, minus the input embedding (a lookup), plus the
    LM head's matrix when the model has one (tied to the embedding in SmolLM2)."""
    total = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    emb = model.get_input_embeddings().weight.numel()
    head = model.get_output_embeddings()
    return total - emb + (head.weight.numel() if head is not None else 0)


def count_flops():
    """Hook every live model's input embedding; returns (counter dict, remove())."""
    import torch
    from transformers import PreTrainedModel

    counter = {"flops": 0.0}
    handles = []
    import warnings

    with warnings.catch_warnings():  # isinstance() on some lazily-imported objects warns
        warnings.simplefilter("ignore")
        models = [o for o in gc.get_objects() if isinstance(o, PreTrainedModel)]
    seen = set()
    for model in models:
        emb = model.get_input_embeddings()
        if emb is None or id(emb) in seen:
            continue
        seen.add(id(emb))
        params = compute_params(model)

        def hook(module, inputs, _params=params):
            tokens = inputs[0].numel()
            counter["flops"] += (6 if torch.is_grad_enabled() else 2) * _params * tokens

        handles.append(emb.register_forward_pre_hook(hook))

    def remove():
        for h in handles:
            h.remove()

    return counter, remove


def patch_trainer_train() -> None:
    import transformers

    original = transformers.Trainer.train

    def timed_train(self, *args, **kwargs):
        counter, remove = count_flops()
        start = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            RUNS.append(
                {
                    "seconds": time.perf_counter() - start,
                    "flops": counter["flops"],
                    "steps": self.state.global_step,
                }
            )
            remove()

    transformers.Trainer.train = timed_train


def load_recipe(name: str):
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", ROOT / "recipes" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def random_reward_model(run_dir: Path, tokenizer) -> Path:
    """A 1-label classifier with a random head at run_dir/checkpoints/reward (speed does not depend on
    what a reward model learned)."""
    import torch

    from rlhf_trl.models import load_sequence_classifier, resolve_model_path

    folder = run_dir / "checkpoints" / "reward"
    if not (folder / "config.json").exists():
        torch.manual_seed(0)
        model = load_sequence_classifier(resolve_model_path(MODEL), tokenizer)
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    return folder


def shared_flags(name: str, run_dir: Path, steps: int, bf16: bool) -> list[str]:
    """The recipe flags both sides resolve their hyper-parameters from."""
    return [
        "--config",
        str(ROOT / "recipes" / "configs" / "demo.yaml"),
        "--run_dir",
        str(run_dir),
        "--model_name_or_path",
        MODEL,
        "--max_steps",
        str(steps),
        "--report_to",
        "none",
        "--disable_tqdm",
        "true",
        *precision_flags(bf16),
        *SETTINGS[name],
    ]


def ours(name: str, run_dir: Path, steps: int, bf16: bool) -> dict:
    out = run_dir / "ours" / name / str(len(RUNS))
    load_recipe(name).main([*shared_flags(name, run_dir, steps, bf16), "--output_dir", str(out)])
    return RUNS[-1]


def raw(name: str, run_dir: Path, steps: int, bf16: bool) -> dict:
    """The bare TRL trainer with the hyper-parameters our recipe resolved for the same flags."""
    import trl
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    from rlhf_trl import data
    from rlhf_trl.config import parse_recipe_args
    from rlhf_trl.models import load_tokenizer, resolve_model_path

    args = parse_recipe_args(name, shared_flags(name, run_dir, steps, bf16))
    cls = {"reward": trl.RewardConfig, "dpo": trl.DPOConfig, "grpo": trl.GRPOConfig}[name]
    import dataclasses

    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    # generation_batch_size is derived from steps_per_generation in GRPOConfig.__post_init__.
    values = {k: v for k, v in vars(args.stage).items() if k in fields and k != "generation_batch_size"}
    values["output_dir"] = str(run_dir / "raw" / name / str(len(RUNS)))
    config = cls(**values)
    path = resolve_model_path(MODEL)
    tokenizer = load_tokenizer(path)  # the same tokenizer (pad != EOS) on both sides: data, not layer
    if name == "reward":
        splits = data.load_preference_splits(args.data)
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
        model.config.pad_token_id = tokenizer.pad_token_id
        trainer = trl.RewardTrainer(
            model=model, args=config, train_dataset=splits["train"], processing_class=tokenizer
        )
    elif name == "dpo":
        splits = data.load_preference_splits(args.data)
        trainer = trl.DPOTrainer(
            model=AutoModelForCausalLM.from_pretrained(path),
            ref_model=AutoModelForCausalLM.from_pretrained(path),
            args=config,
            train_dataset=splits["train"],
            processing_class=tokenizer,
        )
    else:
        prompts = data.load_prompts(args.data, "train")
        trainer = trl.GRPOTrainer(
            model=AutoModelForCausalLM.from_pretrained(path),
            reward_funcs=[str(random_reward_model(run_dir, tokenizer))],
            args=config,
            train_dataset=prompts,
            processing_class=tokenizer,
        )
    trainer.train()
    return RUNS[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="any model_name_or_path (both sides use it)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--recipes", default="reward,dpo,grpo")
    parser.add_argument(
        "--precisions", default=None, help="default: fp32,bf16 where bf16 is native, else fp32"
    )
    opts = parser.parse_args()
    from common import BF16_SKIPPED, bf16_native

    skipped = opts.precisions is None and not bf16_native()
    if opts.precisions is None:
        opts.precisions = "fp32" if skipped else "fp32,bf16"
    global MODEL
    MODEL = opts.model

    from matmul_peak import measure as matmul_peak
    from transformers.utils import logging as hf_logging

    from rlhf_trl.models import load_tokenizer, resolve_model_path

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    patch_trainer_train()
    peak = matmul_peak()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        random_reward_model(run_dir, load_tokenizer(resolve_model_path(MODEL)))
        for name in opts.recipes.split(","):
            for precision in opts.precisions.split(","):
                bf16 = precision == "bf16"
                best = {"raw": None, "ours": None}
                for i in range(opts.repeats):
                    # Alternate which side goes first, so neither always pays for a cold start.
                    order = (("raw", raw), ("ours", ours)) if i % 2 == 0 else (("ours", ours), ("raw", raw))
                    for side, fn in order:
                        with contextlib.redirect_stdout(sys.stderr):  # trainer logs: not the table
                            run = fn(name, run_dir, opts.steps, bf16)
                        if best[side] is None or run["seconds"] < best[side]["seconds"]:
                            best[side] = run
                r, o = best["raw"], best["ours"]
                mfu = o["flops"] / o["seconds"] / (peak[precision] * 1e9)
                rows.append(
                    f"| {name} | {precision} | {r['seconds'] / r['steps']:.2f} | {o['seconds'] / o['steps']:.2f} "
                    f"| {o['seconds'] / r['seconds']:.3f} | {o['flops'] / r['flops']:.3f} "
                    f"| {o['flops'] / o['seconds'] / 1e9:.0f} | {mfu:.1%} |"
                )
                print(rows[-1], file=sys.stderr, flush=True)
    print(
        f"{opts.steps} steps per run, fastest of {opts.repeats} runs per side (order alternating, raw first); settings: demo.yaml "
        f"plus {SETTINGS}. Matmul peak fp32 {peak['fp32']:.0f}, bf16 {peak['bf16']:.1f} GFLOP/s.\n"
    )
    print(
        "| recipe | precision | raw TRL s/step | ours s/step | time ours/raw | FLOPs ours/raw | ours GFLOP/s | MFU |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if skipped:
        print(f"\n{BF16_SKIPPED}")


if __name__ == "__main__":
    main()
