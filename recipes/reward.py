"""Reward model: TRL's RewardTrainer (Bradley–Terry) on preference pairs, then a test-split report.

    python recipes/reward.py --config recipes/configs/demo.yaml [--learning_rate 1e-4 ...]
    accelerate launch recipes/reward.py --config recipes/configs/demo.yaml

Writes run_dir/checkpoints/reward/ (sequence classifier + tokenizer + metrics.json) and TensorBoard
logs under run_dir/logs/reward/. The test report (rlhf_trl.rewards.preference_report) reads the reward
at the last real token: accuracy, mean margin, accuracy by length-difference bucket, reward–length
correlation; beside it, the accuracy of a bag-of-words logistic regression fitted on the same train
pairs (rlhf_trl.lexical_baseline), so a reader can tell a learned preference from a lexical rule.
"""

from __future__ import annotations

from rlhf_trl import data
from rlhf_trl.checkpoints import prepare_output_dir, train_resumable, with_atomic_checkpoints
from rlhf_trl.checks import check_recipe_inputs
from rlhf_trl.config import parse_recipe_args
from rlhf_trl.errors import run_cli
from rlhf_trl.models import load_sequence_classifier, peft_config_from
from rlhf_trl.training import (
    save_final,
    seed_model_init,
    setup_tokenizer,
    stopwatch,
    train_summary,
    write_stage_metrics,
)


def main(argv: list[str] | None = None) -> dict:
    args = parse_recipe_args("reward", argv)
    check_recipe_inputs(args)
    prepare_output_dir(args)  # non-empty output_dir / resume: decided before any model loads
    cfg = args.stage
    splits = data.load_preference_splits(args.data)

    from trl import RewardTrainer

    from rlhf_trl.evaluation.metrics import harmful_flags
    from rlhf_trl.guards import NonFiniteGuard
    from rlhf_trl.lexical_baseline import bag_of_words_accuracy
    from rlhf_trl.rewards import RewardModelScorer, preference_report

    tokenizer = setup_tokenizer(args.model)  # converts the embedded model on first use
    seed_model_init(args.stage.seed)  # new heads and LoRA weights: the same on a cold or warm cache
    model = load_sequence_classifier(args.model.model_name_or_path, tokenizer, dtype=args.model.dtype)
    trainer = with_atomic_checkpoints(RewardTrainer)(
        model=model,
        args=cfg,
        train_dataset=splits["train"],
        eval_dataset=splits["test"] if cfg.eval_strategy != "no" else None,
        processing_class=tokenizer,
        peft_config=peft_config_from(args.model, task_type="SEQ_CLS"),
        callbacks=[NonFiniteGuard()],
    )
    metrics: dict = {}
    with stopwatch(metrics):
        result = train_resumable(trainer, args)
    metrics.update(train_summary(result, trainer))

    out_dir = save_final(trainer, tokenizer, cfg.output_dir)
    if trainer.accelerator.is_main_process:
        scorer = RewardModelScorer.from_pretrained(
            str(out_dir),
            dtype=args.model.dtype,
            device=trainer.accelerator.device,
            batch_size=cfg.per_device_eval_batch_size,
            max_length=cfg.max_length,
        )
        metrics.update(
            {
                f"test/{k}": v
                for k, v in preference_report(
                    scorer,
                    splits["test"],
                    cfg.similar_length_tokens,
                    harmful=harmful_flags(splits["test"]["prompt"]),
                ).items()
            }
        )
        # the lexical baseline the RM's accuracy is read against (same train pairs, same test pairs)
        bow = bag_of_words_accuracy(splits["train"], splits["test"])
        metrics.update({f"test/bag_of_words_{k}": v for k, v in bow.items()})
        write_stage_metrics(out_dir, "reward", metrics)
        print(
            f"reward: test accuracy {metrics['test/accuracy']:.3f} (bag-of-words logistic regression "
            f"{bow['accuracy']:.3f}), margin {metrics['test/mean_margin']:.3f}"
            + (
                f"; harmful requests {metrics['test/accuracy_by_request/harmful']:.3f}, benign "
                f"{metrics['test/accuracy_by_request/benign']:.3f}"
                if metrics.get("test/accuracy_by_request/harmful") is not None
                and metrics.get("test/accuracy_by_request/benign") is not None
                else ""
            )
            + f" -> {out_dir}"
        )
    return metrics


if __name__ == "__main__":
    run_cli(main)
