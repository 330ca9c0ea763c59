"""SFT: TRL's SFTTrainer on the chosen responses (prompt -> chosen), loss on the response only.

    python recipes/sft.py --config recipes/configs/demo.yaml
    accelerate launch recipes/sft.py --config recipes/configs/demo.yaml

For base models (GPT-2) that have never seen the HH dialogue format; point the other stages'
``model_name_or_path`` at run_dir/checkpoints/sft to start from it. Writes the model + tokenizer +
metrics.json there.
"""

from __future__ import annotations

from rlhf_trl import data
from rlhf_trl.checkpoints import prepare_output_dir, train_resumable, with_atomic_checkpoints
from rlhf_trl.checks import check_recipe_inputs
from rlhf_trl.config import parse_recipe_args
from rlhf_trl.errors import run_cli
from rlhf_trl.models import peft_config_from
from rlhf_trl.training import (
    save_final,
    seed_model_init,
    setup_policy,
    setup_tokenizer,
    stopwatch,
    train_summary,
    write_stage_metrics,
)


def to_prompt_completion(split):
    """Preference rows -> TRL's prompt-completion format, the chosen reply as the target."""
    return split.map(
        lambda row: {"prompt": row["prompt"], "completion": row["chosen"]},
        remove_columns=[c for c in split.column_names if c not in ("prompt",)],
    )


def main(argv: list[str] | None = None) -> dict:
    args = parse_recipe_args("sft", argv)
    check_recipe_inputs(args)
    prepare_output_dir(args)  # non-empty output_dir / resume: decided before any model loads
    cfg = args.stage
    splits = data.load_preference_splits(args.data)

    from trl import SFTTrainer

    from rlhf_trl.guards import NonFiniteGuard

    tokenizer = setup_tokenizer(args.model)  # converts the embedded model on first use
    seed_model_init(args.stage.seed)  # new heads and LoRA weights: the same on a cold or warm cache
    trainer = with_atomic_checkpoints(SFTTrainer)(
        model=setup_policy(args.model, tokenizer),
        args=cfg,
        train_dataset=to_prompt_completion(splits["train"]),
        eval_dataset=to_prompt_completion(splits["test"]),
        processing_class=tokenizer,
        peft_config=peft_config_from(args.model),
        callbacks=[NonFiniteGuard()],
    )
    metrics: dict = {}
    with stopwatch(metrics):
        result = train_resumable(trainer, args)
    metrics.update(train_summary(result, trainer))
    test = trainer.evaluate(metric_key_prefix="test")
    metrics["test/loss"] = test.get("test_loss")

    out_dir = save_final(trainer, tokenizer, cfg.output_dir)
    if trainer.accelerator.is_main_process:
        write_stage_metrics(out_dir, "sft", metrics)
        print(f"sft: test loss {metrics['test/loss']:.3f} -> {out_dir}")
    return metrics


if __name__ == "__main__":
    run_cli(main)
