"""PPOConfig (placeholder until the PPO trainer lands)."""

from dataclasses import dataclass

from transformers import TrainingArguments


@dataclass
class PPOConfig(TrainingArguments):
    """PPO hyperparameters."""
