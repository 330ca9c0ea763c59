"""rlhf-trl: align small language models with PPO, GRPO and DPO on HH-RLHF, and compare them.

The package imports light: heavy dependencies (torch, transformers, trl) load in the modules that
use them, so ``import rlhf_trl`` and ``rlhf-trl --help`` stay fast.
"""

__version__ = "0.1.0"

EMBEDDED_MODEL = "embedded:smollm2-135m-instruct"
