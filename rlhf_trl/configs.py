"""Stage configs: TRL's config dataclasses, subclassed to add only what is new (STYLE.md rule 3).

Every field is documented where it is defined; `rlhf-trl keys STAGE` prints them.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field

from trl import DPOConfig as _TRLDPOConfig
from trl import GRPOConfig as _TRLGRPOConfig
from trl import RewardConfig as _TRLRewardConfig
from trl import SFTConfig as _TRLSFTConfig

# TRL 1.16 still calls transformers 5's deprecated `is_gradient_checkpointing` on every trainer: harmless,
# not ours to fix, and it would otherwise print on every run.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)


def auto_bf16() -> bool:
    """bf16 mixed precision where the hardware runs it natively (a CUDA GPU with bf16), else fp32."""
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


@dataclass
class RecipeDefaults:
    """Defaults shared by every training stage, chosen so one config runs on a CPU and on a GPU.

    TRL defaults ``bf16=True`` (an error on a machine without bf16 support) and turns on gradient
    checkpointing (20% slower, and a deprecation warning under transformers 5). Here ``bf16`` unset
    means *auto* (on for a bf16-capable GPU, off otherwise); set it to force either way.
    Activation checkpointing is off unless asked for with ``activation_checkpointing: true``.
    """

    bf16: bool | None = field(
        default=None,
        metadata={"help": "bf16 mixed precision. Unset: on for a bf16-capable CUDA GPU, off otherwise."},
    )
    gradient_checkpointing: bool | None = field(
        default=None, metadata={"help": "Deprecated alias of activation_checkpointing (transformers 5)."}
    )
    dataloader_pin_memory: bool | None = field(
        default=None,
        metadata={"help": "Pin data-loader memory for faster host-to-GPU copies. Unset: on only with CUDA."},
    )
    resume_from_checkpoint: str | None = field(
        default=None,
        metadata={
            "help": "Resume training from a checkpoint-N folder, or `true` for the latest complete one in "
            "output_dir (model, optimizer, scheduler, RNG states, data position; see docs/recipes.md)."
        },
    )
    logging_nan_inf_filter: bool = field(
        default=False,
        metadata={
            "help": "transformers' filter that logs a NaN/inf loss as the running mean instead. Off: a non-finite "
            "loss is logged as is and stops the run (rlhf_trl.guards)."
        },
    )

    def __post_init__(self):
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.bf16 is None:
            self.bf16 = auto_bf16() and not self.fp16
        if self.dataloader_pin_memory is None:
            import torch

            self.dataloader_pin_memory = torch.cuda.is_available()
        super().__post_init__()


@dataclass
class SFTConfig(RecipeDefaults, _TRLSFTConfig):
    """TRL's SFTConfig (supervised fine-tuning on the chosen responses)."""


@dataclass
class RewardConfig(RecipeDefaults, _TRLRewardConfig):
    """TRL's RewardConfig (Bradley–Terry reward model) plus the test-split probes of the recipe."""

    similar_length_tokens: int = field(
        default=8,
        metadata={
            "help": "Length-difference buckets of the test report: |len(chosen) - len(rejected)| <= this many "
            "tokens is 'similar'; otherwise 'chosen_longer' or 'chosen_shorter'."
        },
    )

    def __post_init__(self):
        if self.similar_length_tokens < 0:
            raise ValueError(f"similar_length_tokens must be >= 0, got {self.similar_length_tokens}")
        super().__post_init__()


@dataclass
class DPOConfig(RecipeDefaults, _TRLDPOConfig):
    """TRL's DPOConfig plus a custom preference-loss hook (see rlhf_trl.losses).

    The reference model is a frozen copy of the starting policy, or, with ``use_peft: true``, the
    policy with its LoRA adapters disabled (no second copy in memory).
    """

    preference_loss: str | None = field(
        default=None,
        metadata={
            "help": "Custom per-pair preference loss replacing loss_type: a registered name (rdpo = length-"
            "regularised DPO, Park et al. 2024; dpo) or a dotted path pkg.module:function. Unset: TRL's loss_type."
        },
    )
    preference_loss_kwargs: dict | str | None = field(
        default=None,
        metadata={
            "help": "Extra keyword arguments of preference_loss, e.g. {alpha: 0.01} for rdpo (JSON on the CLI)."
        },
    )

    def __post_init__(self):
        if isinstance(self.preference_loss_kwargs, str):
            try:
                self.preference_loss_kwargs = json.loads(self.preference_loss_kwargs)
            except json.JSONDecodeError:
                raise ValueError(
                    f"preference_loss_kwargs must be a mapping (JSON on the CLI), got {self.preference_loss_kwargs!r}"
                ) from None
        if self.preference_loss_kwargs is not None and not isinstance(self.preference_loss_kwargs, dict):
            raise ValueError(f"preference_loss_kwargs must be a mapping, got {self.preference_loss_kwargs!r}")
        if not self.beta > 0:
            raise ValueError(f"beta must be > 0 (the KL strength of DPO), got {self.beta}")
        super().__post_init__()
        if self.preference_loss is not None:
            if self.loss_type != ["sigmoid"]:
                raise ValueError(
                    f"preference_loss={self.preference_loss!r} replaces loss_type; leave loss_type at sigmoid "
                    f"(got {self.loss_type})"
                )
            if self.f_divergence_type != "reverse_kl" or self.ld_alpha is not None or self.use_weighting:
                raise ValueError(
                    "preference_loss works on plain sequence log-probs: f_divergence_type must be reverse_kl, "
                    "ld_alpha unset and use_weighting false"
                )


# The original assignment's knob names -> TRL GRPOConfig fields (same meaning).
GRPO_KNOB_ALIASES: dict[str, str] = {
    "group_size": "num_generations",
    "kl_coef": "beta",
    "clip_ratio": "epsilon",
    "ppo_epochs": "num_iterations",
}


@dataclass
class GRPOConfig(RecipeDefaults, _TRLGRPOConfig):
    """TRL's GRPOConfig plus reward functions from the config.

    Knob mapping from the original assignment (either name works in a config or on the command line; the
    config layer renames an alias to its field first, so a CLI flag beats a YAML key whichever name each
    uses, and setting both names at one level is an error): ``group_size`` -> ``num_generations`` (completions
    per prompt), ``kl_coef`` -> ``beta`` (KL penalty to the reference; 0 loads no reference model),
    ``clip_ratio`` -> ``epsilon`` (PPO-style ratio clip), ``ppo_epochs`` -> ``num_iterations`` (updates per
    generation batch).
    """

    KEY_ALIASES = GRPO_KNOB_ALIASES  # read by rlhf_trl.config (not a field: no annotation)

    reward_funcs: list[str] = field(
        default_factory=lambda: ["reward_model"],
        metadata={
            "help": "Reward functions (see rlhf_trl.rewards): `reward_model` (run_dir/checkpoints/reward), a "
            "reward-model folder, `gold` (bundled rubric), `length`, or a dotted path pkg.module:function."
        },
    )
    group_size: int | None = field(
        default=None, metadata={"help": "Alias of num_generations (assignment name)."}
    )
    kl_coef: float | None = field(default=None, metadata={"help": "Alias of beta (assignment name)."})
    clip_ratio: float | None = field(default=None, metadata={"help": "Alias of epsilon (assignment name)."})
    ppo_epochs: int | None = field(
        default=None, metadata={"help": "Alias of num_iterations (assignment name)."}
    )

    def __post_init__(self):
        for alias, target in GRPO_KNOB_ALIASES.items():  # GRPOConfig(group_size=...) from Python
            value = getattr(self, alias)
            if value is not None:
                setattr(self, target, value)
        if not self.reward_funcs:
            raise ValueError(
                "reward_funcs must name at least one reward (reward_model, gold, a folder, a dotted path)"
            )
        if self.reward_weights is not None and len(self.reward_weights) != len(self.reward_funcs):
            raise ValueError(
                f"reward_weights has {len(self.reward_weights)} entries, reward_funcs has {len(self.reward_funcs)}; "
                "give one weight per reward function"
            )
        if self.num_generations is None or self.num_generations < 2:
            raise ValueError(f"num_generations (group_size) must be >= 2, got {self.num_generations}")
        if self.beta < 0:
            raise ValueError(f"beta (kl_coef) must be >= 0, got {self.beta}")
        if self.epsilon <= 0:
            raise ValueError(f"epsilon (clip_ratio) must be > 0, got {self.epsilon}")
        if self.num_iterations < 1:
            raise ValueError(f"num_iterations (ppo_epochs) must be >= 1, got {self.num_iterations}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0 (sampling temperature), got {self.temperature}")
        if self.generation_batch_size is None and self.steps_per_generation is None:
            # TRL's own check names only its derived generation_batch_size; say what it is made of.
            processes = int(os.environ.get("WORLD_SIZE", "1"))
            batch = self.per_device_train_batch_size * self.gradient_accumulation_steps * processes
            if batch % self.num_generations:
                raise ValueError(
                    f"num_generations (group_size)={self.num_generations} must divide the generation batch "
                    f"per_device_train_batch_size x gradient_accumulation_steps x processes = "
                    f"{self.per_device_train_batch_size} x {self.gradient_accumulation_steps} x {processes} = {batch}"
                )
        super().__post_init__()


@dataclass
class DemoConfig:
    """The `rlhf-trl demo` chain: which stages run, in order."""

    stages: list[str] = field(
        default_factory=lambda: ["reward", "ppo", "grpo", "dpo", "evaluation"],
        metadata={"help": "Stages to run in order (sft, reward, ppo, grpo, dpo, evaluation)."},
    )
