"""Dev run 24's reward (README.md here): the gold rubric, scaled and shifted to the reward model's units.

``reward_funcs: [oracle_reward:gold_in_rm_units]`` with this folder on PYTHONPATH (run24.sh). 30 x gold puts
gold's spread in the reward model's (README: the weight); minus 18.6 puts its mean on the reward model's mean at
run 22's first PPO update (6.47; 30 x 0.837, the reference's dev gold, is 25.1), where PPO's critic, a copy of
that reward model, starts: its value loss is clipped to +-0.2 per update around the rollout's values, so it
could not close a gap of ~19. A constant added to every reply's final reward changes neither PPO's optimum
(gamma = 1: each reply gets it once) nor GRPO's advantages (group mean subtracted).
"""

from rlhf_trl.rewards import gold_reward

SCALE, SHIFT = 30.0, 18.6


def gold_in_rm_units(prompts, completions, **kwargs) -> list[float]:
    return [SCALE * g - SHIFT for g in gold_reward(prompts, completions)]
