"""Stage configs: TRL's config dataclasses, subclassed to add only what is new (STYLE.md rule 3).

Every field is documented where it is defined; `rlhf-trl keys STAGE` prints them.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trl import DPOConfig as _TRLDPOConfig
from trl import GRPOConfig as _TRLGRPOConfig
from trl import RewardConfig as _TRLRewardConfig
from trl import SFTConfig as _TRLSFTConfig

from rlhf_trl import hardware

# TRL 1.16 still calls transformers 5's deprecated `is_gradient_checkpointing` on every trainer: harmless,
# not ours to fix, and it would otherwise print on every run.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)


# ------------------------------------------------------------------------------------------ value rules
# A value TRL, transformers or torch would only reject once training starts (after the models load), or would
# quietly misuse, is rejected here, in `__post_init__`: the config layer reports it at the YAML line or flag.


@dataclass(frozen=True)
class Rule:
    """What one field accepts: ``test(value)``, and ``allowed``, the words an error shows."""

    test: Callable[[Any], bool]
    allowed: str

    def given(self, context: str) -> Rule:
        """The same rule, its words saying when it applies."""
        return Rule(self.test, f"{self.allowed} with {context}")


def at_least(low) -> Rule:
    return Rule(lambda v: v >= low, f">= {low}")


def above(low) -> Rule:
    return Rule(lambda v: v > low, f"> {low}")


def within(low, high) -> Rule:
    return Rule(lambda v: low <= v <= high, f"[{low}, {high}]")


def one_of(*names: str) -> Rule:
    return Rule(lambda v: v in names, ", ".join(names))


def each(rule: Rule) -> Rule:
    """A list (or one value) whose every entry passes ``rule``."""
    return Rule(
        lambda v: all(rule.test(x) for x in ([v] if isinstance(v, str) else v)), f"a list of {rule.allowed}"
    )


def unset_or(rule: Rule) -> Rule:
    return Rule(lambda v: v is None or rule.test(v), f"{rule.allowed} or unset")


def check_value(cfg, name: str, rule: Rule) -> None:
    """``ValueError("field=value is invalid; allowed: ...")`` unless the field's value passes ``rule``."""
    value = getattr(cfg, name)
    if not rule.test(value):
        raise ValueError(f"{name}={value!r} is invalid; allowed: {rule.allowed}")


def check_values(cfg, rules: dict[str, Rule]) -> None:
    for name, rule in rules.items():
        check_value(cfg, name, rule)


SEED = Rule(lambda v: 0 <= v < 2**32, "[0, 2**32 - 1]")  # numpy's range; transformers seeds numpy too

# transformers' TrainingArguments fields, checked for every training stage (PPOConfig included).
TRAINING_RULES: dict[str, Rule] = {
    "learning_rate": above(0),
    "per_device_train_batch_size": at_least(1),
    "per_device_eval_batch_size": at_least(1),
    "gradient_accumulation_steps": at_least(1),
    # transformers reads any max_steps <= 0 as "use num_train_epochs": 0 would train whole epochs
    "max_steps": Rule(lambda v: v == -1 or v >= 1, "-1 (train num_train_epochs) or >= 1"),
    "num_train_epochs": above(0),
    "weight_decay": at_least(0),  # transformers puts it in parameter groups, which torch does not check
    # transformers skips clipping at <= 0; a negative norm in clip_grad_norm_ flips the gradients' sign
    "max_grad_norm": unset_or(Rule(lambda v: v >= 0, ">= 0 (0 disables clipping)")),
    "adam_beta1": Rule(lambda v: 0 <= v < 1, "[0, 1)"),
    "adam_beta2": Rule(lambda v: 0 <= v < 1, "[0, 1)"),
    "adam_epsilon": at_least(0),
    "optim_args": unset_or(
        Rule(lambda v: all(p.count("=") == 1 for p in v.replace(" ", "").split(",")), "key=value,key=value")
    ),
    "seed": SEED,
    "data_seed": unset_or(SEED),
    "dataloader_num_workers": at_least(0),
    "save_total_limit": unset_or(at_least(1)),  # transformers keeps every checkpoint at <= 0
}
# Fields TRL's SFT, reward and DPO configs share.
LENGTH_RULES: dict[str, Rule] = {"max_length": unset_or(at_least(1))}  # 0 drops every example
# TR-DPO reference syncing (DPO and GRPO); a sync every 0 steps divides by zero.
REF_SYNC_RULES: dict[str, Rule] = {"ref_model_sync_steps": at_least(1), "ref_model_mixup_alpha": within(0, 1)}

# TRL 1.16's DPOTrainer losses (its loss branches; tests/test_bad_input.py checks the list against TRL's source) and
# the ones an f-divergence other than reverse_kl generalises (the others are rejected when the trainer is built).
DPO_LOSS_TYPES = (
    "sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot", "aot_unpaired",
    "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm",
)  # fmt: skip
F_DIVERGENCE_LOSS_TYPES = ("sigmoid", "sigmoid_norm", "hinge", "ipo", "exo_pair", "robust", "discopop", "sft")
DPO_RULES: dict[str, Rule] = {
    **LENGTH_RULES,
    **REF_SYNC_RULES,
    "loss_type": each(one_of(*DPO_LOSS_TYPES)),
    "f_divergence_type": one_of("reverse_kl", "forward_kl", "js_divergence", "alpha_divergence"),
    "label_smoothing": Rule(lambda v: 0 <= v < 1, "[0, 1)"),
    "ld_alpha": unset_or(within(0, 1)),  # LD-DPO's weight of the verbose tail (TRL documents, does not check)
    "discopop_tau": above(0),
}
# TRL 1.16's GRPOTrainer losses (tests/test_bad_input.py checks the list against TRL's source).
GRPO_LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo")
GRPO_RULES: dict[str, Rule] = {
    **REF_SYNC_RULES,
    "loss_type": one_of(*GRPO_LOSS_TYPES),
    "importance_sampling_level": one_of("token", "sequence"),
    "scale_rewards": one_of("group", "batch", "none"),
    "multi_objective_aggregation": one_of("sum_then_normalize", "normalize_then_sum"),
    "max_completion_length": unset_or(at_least(1)),
    "top_p": Rule(lambda v: 0 < v <= 1, "(0, 1]"),  # above 1 generation silently ignores it
    "top_k": Rule(lambda v: v >= 0, ">= 0 (0 disables)"),
    "min_p": unset_or(within(0, 1)),
    "repetition_penalty": above(0),
    "epsilon_high": unset_or(above(0)),  # the upper clip 1 + epsilon_high; <= 0 clips every ratio below 1
    "delta": unset_or(Rule(lambda v: v > 1, "> 1 (TRL recommends > 1 + epsilon)")),  # two-sided clip's cap
    "top_entropy_quantile": within(0, 1),
    "generation_batch_size": unset_or(at_least(1)),
    "steps_per_generation": unset_or(at_least(1)),
}


def _check_optimizer_and_scheduler(cfg) -> None:
    """Resolve ``optim`` and build the LR schedule the way the trainer will, on a dummy parameter: an optimizer
    whose package is missing, or ``lr_scheduler_kwargs`` its schedule does not take, fails now."""
    import torch
    from transformers import Trainer, get_scheduler

    try:
        Trainer.get_optimizer_cls_and_kwargs(cfg)
    except ImportError as err:
        raise ValueError(f"optim={cfg.optim.value!r} needs a package that is not installed: {err}") from None
    except ValueError:
        pass  # GaLore, APOLLO and LOMO also need the model: the trainer checks the rest
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.learning_rate)
    steps = 1000  # any length: only the schedule's arguments are on trial
    try:
        get_scheduler(
            cfg.lr_scheduler_type,
            optimizer,
            num_warmup_steps=cfg.get_warmup_steps(steps),
            num_training_steps=steps,
            scheduler_specific_kwargs=cfg.lr_scheduler_kwargs,
        )
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"lr_scheduler_type={cfg.lr_scheduler_type.value!r} with lr_scheduler_kwargs={cfg.lr_scheduler_kwargs!r} "
            f"is invalid: {err}"
        ) from None


@dataclass
class RecipeDefaults:
    """Defaults shared by every training stage, chosen so one config runs on a CPU and on a GPU.

    TRL defaults ``bf16=True`` (an error on a machine without bf16 support) and turns on gradient
    checkpointing (20% slower, and a deprecation warning under transformers 5). Here ``bf16`` unset is
    on only for a CUDA GPU with native bf16 (off on every CPU); ``bf16: auto`` (rlhf_trl.config) also turns
    it on for a CPU with AVX-512 BF16 or AMX; true/false force either way.
    Activation checkpointing is off unless asked for with ``activation_checkpointing: true``.
    """

    bf16: bool | None = field(
        default=None,
        metadata={
            "help": "bf16 mixed precision (fp32 master weights). Unset: on for a bf16-capable CUDA GPU, off "
            "otherwise. `auto`: also on for a CPU with AVX-512 BF16 or AMX (elsewhere emulated: ~130x slower)."
        },
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
        check_values(self, TRAINING_RULES)
        for kind in ("logging", "eval", "save"):  # transformers never logs/evaluates/saves at <= 0 steps
            if getattr(self, f"{kind}_strategy") == "steps":
                check_value(
                    self,
                    f"{kind}_steps",
                    Rule(lambda v: v is None or v > 0, f"> 0 with {kind}_strategy=steps"),
                )
        if self.bf16 is None:
            self.bf16 = hardware.gpu_has_native_bf16() and not self.fp16
        if self.dataloader_pin_memory is None:
            import torch

            self.dataloader_pin_memory = torch.cuda.is_available()
        super().__post_init__()
        _check_optimizer_and_scheduler(self)


@dataclass
class SFTConfig(RecipeDefaults, _TRLSFTConfig):
    """TRL's SFTConfig (supervised fine-tuning on the chosen responses)."""

    def __post_init__(self):
        check_values(self, LENGTH_RULES)
        super().__post_init__()


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
        check_values(
            self,
            {
                **LENGTH_RULES,
                "center_rewards_coefficient": unset_or(at_least(0)),  # < 0 pushes rewards away from 0
                "similar_length_tokens": at_least(0),
            },
        )
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
        check_values(self, DPO_RULES)
        # Combinations TRL's DPOTrainer rejects (or only warns about) once it is built, after the models load.
        losses = {self.loss_type} if isinstance(self.loss_type, str) else set(self.loss_type)
        if self.f_divergence_type != "reverse_kl":
            only = each(one_of(*F_DIVERGENCE_LOSS_TYPES))
            check_value(self, "loss_type", only.given(f"f_divergence_type={self.f_divergence_type}"))
        if "exo_pair" in losses:
            check_value(
                self, "label_smoothing", Rule(lambda v: 0 < v < 1, "(0, 1)").given("loss_type exo_pair")
            )
        if "robust" in losses:  # the probability that a label is flipped; 0.5 divides by zero
            check_value(
                self, "label_smoothing", Rule(lambda v: v < 0.5, "[0, 0.5)").given("loss_type robust")
            )
        if losses & {"aot", "aot_unpaired"}:  # they sort the pairs: per-pair weights would misalign
            check_value(
                self, "use_weighting", Rule(lambda v: not v, "false").given("loss_type aot or aot_unpaired")
            )
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
            "reward-model folder, `gold` (bundled rubric), `length` (characters / 100), `missing_eos` (-1 without "
            "EOS), or a dotted path pkg.module:function."
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
        # TRL maps True/False to group/none; the CLI and YAML give it the strings
        self.scale_rewards = {"true": "group", "false": "none"}.get(
            str(self.scale_rewards).lower(), self.scale_rewards
        )
        check_values(self, GRPO_RULES)
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
        metadata={
            "help": "Stages to run in order (sft, reward, ppo, grpo, pairs, dpo, evaluation). With sft among them "
            "(first), every later stage starts from the SFT model run_dir/checkpoints/sft, as in InstructGPT (Ouyang "
            "et al. 2022): reward, ppo, grpo and dpo get --model_name_or_path, the evaluation --reference_model (the "
            "KL reference and baseline), unless that stage's own section sets the key. pairs (after reward, before "
            "dpo) samples the reference's own replies, ranks them with the reward model or the testbed's gold rubric "
            "(pairs_rank_by; rlhf-trl sample-pairs) into run_dir/pairs, and dpo trains on those pairs (on-policy "
            "DPO) unless its section sets dataset_name."
        },
    )
    pairs_prompts: int = field(
        default=256,
        metadata={"help": "The pairs stage: training prompts to sample (sample-pairs --train_prompts)."},
    )
    pairs_replies: int = field(
        default=4,
        metadata={
            "help": "The pairs stage: replies per prompt; the best against the worst (sample-pairs --replies)."
        },
    )
    pairs_rank_by: str = field(
        default="reward_model",
        metadata={
            "help": "The pairs stage: what ranks the replies, the run's reward model or, on the bundled testbed, "
            "gold (its rubric, the testbed's human labelling the replies; sample-pairs --rank_by)."
        },
    )

    def __post_init__(self):
        from rlhf_trl.data.policy_pairs import RANKERS

        if self.pairs_rank_by not in RANKERS:
            raise ValueError(f"pairs_rank_by must be one of {', '.join(RANKERS)}; got {self.pairs_rank_by!r}")
