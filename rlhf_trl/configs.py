"""Stage configs: TRL's config dataclasses, subclassed to add only what is new (STYLE.md rule 3).

Every field is documented where it is defined; `rlhf-trl keys STAGE` prints them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import DPOConfig as _TRLDPOConfig
from trl import GRPOConfig as _TRLGRPOConfig
from trl import RewardConfig as _TRLRewardConfig
from trl import SFTConfig as _TRLSFTConfig


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

    def __post_init__(self):
        if self.bf16 is None:
            self.bf16 = auto_bf16() and not self.fp16
        super().__post_init__()


@dataclass
class SFTConfig(RecipeDefaults, _TRLSFTConfig):
    """TRL's SFTConfig (supervised fine-tuning on the chosen responses)."""


@dataclass
class RewardConfig(RecipeDefaults, _TRLRewardConfig):
    """TRL's RewardConfig (Bradley–Terry reward model)."""


@dataclass
class DPOConfig(RecipeDefaults, _TRLDPOConfig):
    """TRL's DPOConfig."""


@dataclass
class GRPOConfig(RecipeDefaults, _TRLGRPOConfig):
    """TRL's GRPOConfig."""


@dataclass
class DemoConfig:
    """The `rlhf-trl demo` chain: which stages run, in order."""

    stages: list[str] = field(
        default_factory=lambda: ["reward", "ppo", "grpo", "dpo", "evaluation"],
        metadata={"help": "Stages to run in order (sft, reward, ppo, grpo, dpo, evaluation)."},
    )
