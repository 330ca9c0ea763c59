"""PPO with a learned critic (TRL removed its PPOTrainer after 1.12).

``PPOConfig`` and ``PPOTrainer`` load lazily (they import transformers); ``rlhf_trl.ppo.core`` is the math.
"""

__all__ = ["PPOConfig", "PPOTrainer"]


def __getattr__(name):
    if name == "PPOConfig":
        from rlhf_trl.ppo.config import PPOConfig

        return PPOConfig
    if name == "PPOTrainer":
        from rlhf_trl.ppo.trainer import PPOTrainer

        return PPOTrainer
    raise AttributeError(name)
