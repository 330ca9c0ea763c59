"""PPO's optimizer groups and learning-rate schedule: the policy's and the critic's parameters in groups of
their own (``role``), so the critic can have its own learning rate (``critic_learning_rate``) and the policy a
schedule that starts after the critic's warm-up (``critic_warmup_steps``). docs/ppo.md."""

from __future__ import annotations

import torch

from rlhf_trl.errors import UserError


def split_by_role(optimizer, critic_params, critic_lr: float | None) -> dict[str, int]:
    """Split each of ``optimizer``'s groups (weight decay or not) into the policy's and the critic's
    parameters, in place, the critic's at ``critic_lr`` when given; returns each role's first group index
    (whose learning rate the log reports)."""
    critic = {id(p) for p in critic_params}
    groups = list(optimizer.param_groups)
    optimizer.param_groups.clear()
    for group in groups:
        for role in ("policy", "critic"):
            params = [p for p in group["params"] if (id(p) in critic) == (role == "critic")]
            if params:
                lr = critic_lr if role == "critic" and critic_lr is not None else group["lr"]
                optimizer.add_param_group({**group, "params": params, "lr": lr, "role": role})
    roles = [group["role"] for group in optimizer.param_groups]
    return {role: roles.index(role) for role in set(roles)}


def warmup_schedule(args, optimizer, num_training_steps: int, warm: int):
    """A LambdaLR over ``optimizer``'s role groups: the critic's groups follow the configured schedule over
    all ``num_training_steps`` optimizer steps; the policy's are 0 for the first ``warm`` and then follow
    the schedule over the rest."""
    from torch.optim.lr_scheduler import LambdaLR
    from transformers import get_scheduler

    def multiplier(steps: int):
        """The configured schedule's learning-rate multiplier over ``steps`` optimizer steps."""
        # at the configured learning rate: min_lr (cosine_with_min_lr) and lr_end (polynomial) are read
        # against it, as Trainer.create_scheduler reads them against the optimizer's
        probe = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=args.learning_rate)
        schedule = get_scheduler(
            args.lr_scheduler_type,
            optimizer=probe,
            num_warmup_steps=args.get_warmup_steps(steps),
            num_training_steps=steps,
            scheduler_specific_kwargs=args.lr_scheduler_kwargs,
        )
        if not isinstance(schedule, LambdaLR):
            raise UserError(
                f"critic_warmup_steps={args.critic_warmup_steps} with lr_scheduler_type "
                f"{args.lr_scheduler_type!r}: allowed: a step-indexed schedule (linear, cosine, constant, ...)"
            )
        return schedule.lr_lambdas[0]

    critic, policy = multiplier(num_training_steps), multiplier(num_training_steps - warm)

    def policy_after_warmup(step: int) -> float:
        return 0.0 if step < warm else policy(step - warm)

    return LambdaLR(
        optimizer, [policy_after_warmup if g["role"] == "policy" else critic for g in optimizer.param_groups]
    )
