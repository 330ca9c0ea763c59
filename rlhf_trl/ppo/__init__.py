"""PPO with a learned critic (TRL removed its PPOTrainer after 1.12)."""
