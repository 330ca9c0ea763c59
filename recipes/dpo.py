"""DPO: TRL's DPOTrainer, with an optional custom preference loss (registered name or dotted path).

    python recipes/dpo.py --config recipes/configs/demo.yaml [--beta 0.1 --preference_loss rdpo ...]
    accelerate launch recipes/dpo.py --config recipes/configs/demo.yaml

Reference model: a frozen copy of the starting policy, or with ``use_peft: true`` the policy with its
LoRA adapters disabled. ``loss_type`` picks a TRL loss; ``preference_loss`` (e.g. ``rdpo``, Park et al.
2024) replaces it through rlhf_trl.losses.PreferenceLossDPOTrainer. Writes run_dir/checkpoints/dpo/
(merged model + tokenizer + metrics.json with the test split's reward accuracy and margins).
"""

from __future__ import annotations

from rlhf_trl import data
from rlhf_trl.checkpoints import prepare_output_dir, train_resumable, with_atomic_checkpoints
from rlhf_trl.checks import check_recipe_inputs
from rlhf_trl.config import parse_recipe_args
from rlhf_trl.errors import run_cli
from rlhf_trl.models import disable_dropout, peft_config_from
from rlhf_trl.training import (
    save_final,
    seed_model_init,
    setup_policy,
    setup_reference,
    setup_tokenizer,
    stopwatch,
    train_summary,
    write_stage_metrics,
)

TEST_KEYS = ("rewards/accuracies", "rewards/margins", "rewards/chosen", "rewards/rejected", "loss")


def main(argv: list[str] | None = None) -> dict:
    args = parse_recipe_args("dpo", argv)
    check_recipe_inputs(args)
    prepare_output_dir(args)  # non-empty output_dir / resume: decided before any model loads
    cfg = args.stage

    from rlhf_trl.guards import NonFiniteGuard
    from rlhf_trl.losses import PreferenceLossDPOTrainer, resolve_loss

    loss_fn = resolve_loss(cfg.preference_loss) if cfg.preference_loss else None  # fail before loading models
    splits = data.load_preference_splits(args.data)
    tokenizer = setup_tokenizer(args.model)  # converts the embedded model on first use
    seed_model_init(args.stage.seed)  # new heads and LoRA weights: the same on a cold or warm cache
    model = setup_policy(args.model, tokenizer)
    trainer = with_atomic_checkpoints(PreferenceLossDPOTrainer)(
        model=model,
        ref_model=setup_reference(args.model, tokenizer),
        args=cfg,
        train_dataset=splits["train"],
        eval_dataset=splits["test"] if cfg.eval_strategy != "no" else None,
        processing_class=tokenizer,
        peft_config=peft_config_from(args.model),
        preference_loss=loss_fn,
        preference_loss_kwargs=cfg.preference_loss_kwargs,
        callbacks=[NonFiniteGuard()],
    )
    if cfg.disable_dropout:  # TRL's own pass misses Llama-style attention dropout (rlhf_trl.models)
        disable_dropout(trainer.model)
    metrics: dict = {"preference_loss": cfg.preference_loss or ",".join(cfg.loss_type), "beta": cfg.beta}
    with stopwatch(metrics):
        result = train_resumable(trainer, args)
    metrics.update(train_summary(result, trainer))
    # Evaluate before saving: the save merges LoRA into the base, which would also change the reference.
    test = trainer.evaluate(splits["test"], metric_key_prefix="test")
    logged = trainer.state.log_history[-1]  # TRL logs its DPO metrics as eval_<name> whatever the prefix
    metrics.update({f"test/{k}": test.get(f"test_{k}", logged.get(f"eval_{k}")) for k in TEST_KEYS})

    out_dir = save_final(trainer, tokenizer, cfg.output_dir)
    if trainer.accelerator.is_main_process:
        write_stage_metrics(out_dir, "dpo", metrics)
        print(
            f"dpo: test reward accuracy {metrics['test/rewards/accuracies']:.3f}, "
            f"margin {metrics['test/rewards/margins']:.3f} -> {out_dir}"
        )
    return metrics


if __name__ == "__main__":
    run_cli(main)
