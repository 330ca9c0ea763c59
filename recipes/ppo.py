"""PPO with a learned critic: rlhf_trl.ppo.PPOTrainer (TRL removed its own after 1.12).

    python recipes/ppo.py --config recipes/configs/demo.yaml [--kl_coef 0.05 --ppo_epochs 4 ...]
    accelerate launch recipes/ppo.py --config recipes/configs/demo.yaml

``reward_funcs``: ``reward_model`` (this run's run_dir/checkpoints/reward), a reward-model folder,
``gold`` or a dotted path; the critic starts from the first reward model (or ``value_model_path``).
Writes run_dir/checkpoints/ppo/ (policy + tokenizer, critic in value_model/, metrics.json).
Knobs and implementation details: docs/ppo.md.
"""

from __future__ import annotations

import copy

from rlhf_trl import data
from rlhf_trl.checkpoints import prepare_output_dir, train_resumable
from rlhf_trl.checks import check_ppo_prompt_count, check_recipe_inputs
from rlhf_trl.config import parse_recipe_args
from rlhf_trl.errors import run_cli
from rlhf_trl.models import peft_config_from
from rlhf_trl.training import (
    seed_model_init,
    setup_policy,
    setup_tokenizer,
    step_timing,
    stopwatch,
    trained_in_bf16,
    write_stage_metrics,
)

FINAL_KEYS = (
    "objective/scores",
    "objective/kl",
    "objective/rlhf_reward",
    "objective/entropy",
    "val/explained_variance",
    "response/eos_share",
    "response/length_mean",
)


def ppo_history(trainer) -> dict:
    """Steps and time (as training.train_summary for the TRL stages: per update run by this process, so a
    resume counts its own), and the first and last logged values of the headline metrics."""
    out = {
        "global_step": trainer.state.global_step,
        "updates": trainer.state.global_step,
        "episodes": trainer.state.episode,
    }
    runtime = getattr(trainer, "train_runtime", None)
    if runtime is not None:
        out["trainer_runtime_s"] = round(runtime, 3)
        out.update(step_timing(trainer, runtime))
    logs = [h for h in trainer.state.log_history if "objective/scores" in h]
    if logs:
        out["scores_first"] = logs[0]["objective/scores"]
        out["scores_last"] = logs[-1]["objective/scores"]
        out.update({k: logs[-1][k] for k in FINAL_KEYS if k in logs[-1]})
    return out


def main(argv: list[str] | None = None) -> dict:
    args = parse_recipe_args("ppo", argv)
    check_recipe_inputs(args)
    prepare_output_dir(args)  # non-empty output_dir / resume: decided before any model loads
    cfg = args.stage
    prompts = data.load_prompts(args.data, "train")
    check_ppo_prompt_count(len(prompts), args)

    from rlhf_trl.models import load_sequence_classifier
    from rlhf_trl.ppo import PPOTrainer
    from rlhf_trl.rewards import RewardModelScorer, reward_funcs_from_recipe

    tokenizer = setup_tokenizer(args.model)  # converts the embedded model on first use
    seed_model_init(args.stage.seed)  # new heads and LoRA weights: the same on a cold or warm cache
    funcs, weights = reward_funcs_from_recipe(args, tokenizer)
    if cfg.value_model_path:
        value_model = load_sequence_classifier(cfg.value_model_path, tokenizer, dtype=args.model.dtype)
    else:  # N-details: the critic starts from the reward model when there is one
        scorer = next((f for f in funcs if isinstance(f, RewardModelScorer)), None)
        value_model = copy.deepcopy(scorer.model) if scorer is not None else None
    trainer = PPOTrainer(
        args=cfg,
        processing_class=tokenizer,
        model=setup_policy(args.model, tokenizer),
        train_dataset=prompts,
        reward_funcs=funcs,
        reward_weights=weights,
        value_model=value_model,
        peft_config=peft_config_from(args.model),
    )
    metrics: dict = {"reward_funcs": list(cfg.reward_funcs), "reward_weights": weights}
    with stopwatch(metrics):
        train_resumable(trainer, args)
    metrics.update(ppo_history(trainer))
    metrics["tokens_generated"] = trainer.total_tokens_generated()
    metrics["bf16"] = trained_in_bf16(trainer)
    trainer.save_model(cfg.output_dir)
    if trainer.accelerator.is_main_process:
        out_dir = write_stage_metrics(cfg.output_dir, "ppo", metrics).parent
        print(
            f"ppo: score {metrics.get('scores_first', float('nan')):.3f} -> {metrics.get('scores_last', float('nan')):.3f}, "
            f"KL {metrics.get('objective/kl', float('nan')):.2f} nats -> {out_dir}"
        )
    return metrics


if __name__ == "__main__":
    run_cli(main)
