"""PPOConfig: transformers' TrainingArguments plus the PPO fields (TRL 1.12's PPOConfig, reworked).

Batch arithmetic (per process):

* one **update** (a "step" in the logs) = generate ``rollout_batch_size`` responses, score them,
  then run ``ppo_epochs`` passes over them in ``num_mini_batches`` minibatches;
* ``rollout_batch_size = per_device_train_batch_size × gradient_accumulation_steps × num_mini_batches``;
* a minibatch is ``per_device_train_batch_size × gradient_accumulation_steps`` responses, one
  optimizer step each: ``ppo_epochs × num_mini_batches`` optimizer steps per update;
* TRL 1.12 differed: its rollout per process was ``per_device_train_batch_size ×
  gradient_accumulation_steps`` and its minibatch that divided by ``num_mini_batches``;
* the number of updates is ``max_steps`` when > 0, else ``ceil(num_train_epochs × floor(prompts /
  (rollout_batch_size × processes)))`` (each pass over the prompts drops its incomplete last rollout), at least 1.

Knob names: ``kl_coef``, ``clip_ratio``, ``ppo_epochs``, ``entropy_coef`` are the assignment's names;
TRL 1.12 called them ``kl_coef``, ``cliprange``, ``num_ppo_epochs`` and had no entropy bonus. The
rest keep TRL's names (``vf_coef``, ``cliprange_value``, ``gamma``, ``lam``, ``whiten_rewards``,
``num_mini_batches``, ``response_length``, ``missing_eos_penalty``, ``kl_estimator``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments

from rlhf_trl.stage_configs import RecipeDefaults


@dataclass
class PPOConfig(RecipeDefaults, TrainingArguments):
    """PPO with a learned critic for RLHF. Every field's help says its unit or its source."""

    # ---- rollout ----
    response_length: int = field(
        default=32, metadata={"help": "Max new tokens per response (TRL: response_length)."}
    )
    max_prompt_length: int | None = field(
        default=512,
        metadata={
            "help": "Keep the last N prompt tokens (left truncation: latest turns); unset: whole prompts."
        },
    )
    temperature: float = field(
        default=0.7,
        metadata={
            "help": "Sampling temperature; log-probs use logits / temperature (temperature-consistent)."
        },
    )
    top_k: int = field(
        default=0,
        metadata={
            "help": "Must stay 0: the ratio and the KL penalty are of the untruncated policy, so top-k samples "
            "would be off-policy (lower the temperature to sharpen instead)."
        },
    )
    top_p: float = field(default=1.0, metadata={"help": "Must stay 1.0, for the reason given under top_k."})
    rollout_is_cap: float | None = field(
        default=None,
        metadata={
            "help": "Truncated importance sampling (Yao et al. 2025): weight each token's policy loss by "
            "min(π_train/π_sampler, cap), π_sampler being the probability the sampling pass (generate, KV-cache "
            "decode) gave the token and π_train the training forward's. For a sampler in another precision or "
            "engine (bf16 decode, vLLM); costs B x vocab floats per generated token. Unset: off (in fp32 the two "
            "agree to ~1e-5 nats; in bf16 they differed by up to 0.26 nats per token on the embedded model). Logs rollout/logprob_diff_max, rollout/is_weight_mean, rollout/is_capped_frac."
        },
    )
    rollout_forward_batch_size: int = field(
        default=16,
        metadata={
            "help": "Sequences per forward pass when generating rollouts and scoring them with the policy, critic and "
            "reference (a reward model passed to PPOTrainer directly too; the recipe's reward_funcs score in batches "
            "of 8)."
        },
    )
    # ---- reward ----
    reward_funcs: list[str] = field(
        default_factory=lambda: ["reward_model"],
        metadata={
            "help": "Rewards summed into the score: `reward_model` (this run's checkpoints/reward), a reward-model "
            "folder, `gold` (the bundled rubric), `length` (characters / 100), `missing_eos` (-1 without EOS; "
            "missing_eos_penalty is the built-in form), or a dotted path `pkg.module:fn` with GRPO's signature "
            "(rlhf_trl.rewards). A reward model is read at the last real token of the templated transcript."
        },
    )
    reward_weights: list[float] | None = field(
        default=None, metadata={"help": "One weight per reward function (default: all 1)."}
    )
    missing_eos_penalty: float | None = field(
        default=1.0,
        metadata={"help": "Subtracted from the score of a response with no EOS; unset: no penalty."},
    )
    whiten_rewards: bool = field(
        default=False, metadata={"help": "Whiten the per-token rewards (shift_mean=False) before GAE."}
    )
    # ---- KL ----
    kl_coef: float = field(
        default=0.05, metadata={"help": "β of the per-token KL penalty −β·KL_t in the reward."}
    )
    kl_estimator: str = field(
        default="k1",
        metadata={
            "help": "KL estimator in the reward: k1 = logπ − logπ_ref, k3 = (r−1) − log r.",
            "choices": ["k1", "k3"],
        },
    )
    kl_target: float | None = field(
        default=None,
        metadata={
            "help": "Adaptive KL controller target (nats per response, Ziegler et al. 2019); unset: fixed β."
        },
    )
    kl_horizon: int = field(default=10000, metadata={"help": "Adaptive KL controller horizon (episodes)."})
    # ---- advantages ----
    gamma: float = field(default=1.0, metadata={"help": "Discount γ of GAE, in [0, 1]."})
    lam: float = field(default=0.95, metadata={"help": "GAE λ, in [0, 1]."})
    whiten_advantages: bool = field(
        default=True, metadata={"help": "Whiten advantages over the rollout batch."}
    )
    # ---- update ----
    ppo_epochs: int = field(
        default=4, metadata={"help": "Passes over each rollout batch (TRL: num_ppo_epochs)."}
    )
    num_mini_batches: int = field(
        default=1, metadata={"help": "Minibatches per rollout batch (one optimizer step each)."}
    )
    clip_ratio: float = field(default=0.2, metadata={"help": "PPO ratio clip ε (TRL: cliprange)."})
    cliprange_value: float | None = field(
        default=0.2,
        metadata={
            "help": "Value clip around the rollout values; null (YAML or --cliprange_value null): unclipped value loss."
        },
    )
    vf_coef: float = field(default=0.1, metadata={"help": "Weight of the value loss in the total loss."})
    entropy_coef: float = field(
        default=0.0, metadata={"help": "Entropy bonus weight (loss −= coef · mean entropy)."}
    )
    policy_loss_enabled: bool = field(
        default=True,
        metadata={
            "help": "Train the policy. false trains only the critic (an ablation: nothing should improve)."
        },
    )
    critic_warmup_steps: int = field(
        default=0,
        metadata={
            "help": "The first N of the run's updates (max_steps) train only the critic: the policy samples but "
            "keeps its weights, so the critic learns the start policy's values before they steer it (OpenRLHF's "
            "freezing_actor_steps). The policy's learning-rate schedule then spans its own remaining updates; "
            "the critic's spans all of them. Not under DeepSpeed."
        },
    )
    critic_learning_rate: float | None = field(
        default=None,
        metadata={
            "help": "AdamW learning rate of the critic, on the same schedule as the policy's; unset: learning_rate."
        },
    )
    # ---- models ----
    value_model_path: str | None = field(
        default=None,
        metadata={
            "help": "Critic initialisation (a folder); default: the first reward model in reward_funcs "
            "(N-details), else the policy's backbone with a new one-output head."
        },
    )
    disable_dropout: bool = field(
        default=True,
        metadata={
            "help": "Turn dropout off in policy, reference, reward, value: every nn.Dropout and the float "
            "attention_dropout of Llama-family attention (rlhf_trl.models.disable_dropout)."
        },
    )
    # ---- TrainingArguments defaults changed for PPO ----
    learning_rate: float = field(
        default=3e-6,
        metadata={
            "help": "AdamW learning rate of the policy (and of the critic unless critic_learning_rate)."
        },
    )
    logging_steps: float = field(default=1, metadata={"help": "Log every N updates."})
    save_strategy: str = field(
        default="no",
        metadata={
            "help": "Periodic checkpoints: `steps` saves output_dir/checkpoint-N every save_steps updates (policy, "
            "critic, optimizer, scheduler, KL controller, RNG, data position); `no`: only the final model and a "
            "checkpoint on SIGINT/SIGTERM.",
            "choices": ["no", "steps"],
        },
    )
    remove_unused_columns: bool = field(default=False, metadata={"help": "Keep the `prompt` column."})

    def __post_init__(self):
        def need(cond, name, allowed):
            if not cond:
                raise ValueError(f"{name}={getattr(self, name)!r} is invalid; allowed: {allowed}")

        need(self.response_length >= 1, "response_length", ">= 1")
        need(
            self.max_prompt_length is None or self.max_prompt_length >= 1,
            "max_prompt_length",
            ">= 1 or unset",
        )
        need(self.temperature > 0, "temperature", "> 0")
        # The old log-probs, the ratio and the KL penalty are all of the untruncated policy at `temperature`:
        # samples from a top-k/top-p truncated one would make each of them wrong without a sign of it.
        untruncated = (
            "0 and 1.0: PPO's ratio and KL are of the untruncated policy (lower temperature instead)"
        )
        need(self.top_k == 0, "top_k", untruncated)
        need(self.top_p == 1, "top_p", untruncated)
        need(self.rollout_forward_batch_size >= 1, "rollout_forward_batch_size", ">= 1")
        need(self.rollout_is_cap is None or self.rollout_is_cap >= 1, "rollout_is_cap", ">= 1 or unset")
        need(self.kl_coef >= 0, "kl_coef", ">= 0")
        need(self.kl_estimator in ("k1", "k3"), "kl_estimator", "k1, k3")
        need(self.kl_target is None or self.kl_target > 0, "kl_target", "> 0 or unset")
        need(self.kl_horizon >= 1, "kl_horizon", ">= 1")
        need(0 <= self.gamma <= 1, "gamma", "[0, 1]")
        need(0 <= self.lam <= 1, "lam", "[0, 1]")
        need(self.ppo_epochs >= 1, "ppo_epochs", ">= 1")
        need(self.num_mini_batches >= 1, "num_mini_batches", ">= 1")
        need(self.clip_ratio > 0, "clip_ratio", "> 0")
        need(self.cliprange_value is None or self.cliprange_value > 0, "cliprange_value", "> 0 or unset")
        need(self.vf_coef >= 0, "vf_coef", ">= 0")
        need(self.entropy_coef >= 0, "entropy_coef", ">= 0")
        need(self.critic_warmup_steps >= 0, "critic_warmup_steps", ">= 0")
        need(
            self.max_steps <= 0 or self.critic_warmup_steps < self.max_steps,
            "critic_warmup_steps",
            f"fewer than max_steps ({self.max_steps}): the policy must get updates too",
        )
        need(
            self.critic_learning_rate is None or self.critic_learning_rate > 0,
            "critic_learning_rate",
            "> 0 or unset",
        )
        need(len(self.reward_funcs) >= 1, "reward_funcs", "at least one reward")
        if self.reward_weights is not None and len(self.reward_weights) != len(self.reward_funcs):
            raise ValueError(
                f"reward_weights has {len(self.reward_weights)} values; allowed: one per reward_funcs entry "
                f"({len(self.reward_funcs)})"
            )
        super().__post_init__()

    @property
    def mini_batch_size(self) -> int:
        """Responses per optimizer step, per process."""
        return self.per_device_train_batch_size * self.gradient_accumulation_steps

    @property
    def rollout_batch_size(self) -> int:
        """Responses generated per update, per process (minibatches divide it by construction)."""
        return self.mini_batch_size * self.num_mini_batches
