"""GRPO: TRL's GRPOTrainer with reward functions from the config (rlhf_trl.rewards).

    python recipes/grpo.py --config recipes/configs/demo.yaml [--group_size 4 --kl_coef 0.05 ...]
    accelerate launch recipes/grpo.py --config recipes/configs/demo.yaml

``reward_funcs``: ``reward_model`` (this run's run_dir/checkpoints/reward), a reward-model folder,
``gold``, or a dotted path; ``reward_weights`` combines several. The assignment's knobs map to TRL's:
group_size -> num_generations, kl_coef -> beta, clip_ratio -> epsilon, ppo_epochs -> num_iterations.
Writes run_dir/checkpoints/grpo/ (model + tokenizer + metrics.json with the mean reward and tokens sampled).
"""

from __future__ import annotations

from rlhf_trl import data
from rlhf_trl.checkpoints import prepare_output_dir, train_resumable, with_atomic_checkpoints
from rlhf_trl.checks import check_recipe_inputs
from rlhf_trl.config import parse_recipe_args
from rlhf_trl.errors import run_cli
from rlhf_trl.models import disable_dropout, peft_config_from
from rlhf_trl.training import (
    TokenCountingReward,
    prompts_within_context,
    reference_loaded_like_policy,
    save_final,
    seed_model_init,
    setup_policy,
    setup_tokenizer,
    stopwatch,
    train_summary,
    write_stage_metrics,
)


def reward_history(trainer) -> dict:
    """Mean reward of the first and last logged steps and over all logged steps."""
    values = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    if not values:
        return {}
    return {"reward_first": values[0], "reward_last": values[-1], "reward_mean": sum(values) / len(values)}


def main(argv: list[str] | None = None) -> dict:
    args = parse_recipe_args("grpo", argv)
    check_recipe_inputs(args)
    prepare_output_dir(args)  # non-empty output_dir / resume: decided before any model loads
    cfg = args.stage

    from datasets import Dataset
    from trl import GRPOTrainer

    from rlhf_trl.guards import FiniteReward, NonFiniteGuard
    from rlhf_trl.rewards import reward_funcs_from_recipe

    prompts = data.load_prompts(args.data, "train")
    tokenizer = setup_tokenizer(args.model)  # converts the embedded model on first use
    seed_model_init(args.stage.seed)  # new heads and LoRA weights: the same on a cold or warm cache
    kept, fitted = prompts_within_context(
        prompts["prompt"], tokenizer, args.model.model_name_or_path, cfg.max_completion_length
    )
    prompts = Dataset.from_dict({"prompt": kept})
    funcs, cfg.reward_weights = reward_funcs_from_recipe(args, tokenizer)
    funcs = [FiniteReward(f) for f in funcs]
    funcs[0] = counter = TokenCountingReward(funcs[0])
    with reference_loaded_like_policy(tokenizer):
        trainer = with_atomic_checkpoints(GRPOTrainer)(
            model=setup_policy(args.model, tokenizer),
            reward_funcs=funcs,
            args=cfg,
            train_dataset=prompts,
            processing_class=tokenizer,
            peft_config=peft_config_from(args.model),
            callbacks=[NonFiniteGuard()],
        )
    if cfg.disable_dropout:  # TRL's own pass misses Llama-style attention dropout (rlhf_trl.models)
        disable_dropout(trainer.model)
    metrics: dict = {"reward_funcs": list(cfg.reward_funcs), "reward_weights": cfg.reward_weights}
    metrics.update({f"prompts_{k}_to_fit_context": n for k, n in fitted.items()})
    with stopwatch(metrics):
        result = train_resumable(trainer, args)
    metrics.update(train_summary(result, trainer))
    metrics.update(reward_history(trainer))
    metrics["tokens_generated"] = counter.total(trainer.accelerator)

    out_dir = save_final(trainer, tokenizer, cfg.output_dir)
    if trainer.accelerator.is_main_process:
        write_stage_metrics(out_dir, "grpo", metrics)
        print(
            f"grpo: mean reward {metrics.get('reward_mean', float('nan')):.3f} "
            f"(first {metrics.get('reward_first', float('nan')):.3f}, last {metrics.get('reward_last', float('nan')):.3f}) -> {out_dir}"
        )
    return metrics


if __name__ == "__main__":
    run_cli(main)
