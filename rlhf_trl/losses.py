"""Custom preference losses for DPO: a registry, dotted paths, R-DPO, and the DPOTrainer hook.

A preference loss is a function of per-pair sequence log-probabilities::

    loss_fn(*, policy_chosen_logps, policy_rejected_logps,     # (B,) sum of log π_θ over response tokens
               ref_chosen_logps, ref_rejected_logps,           # (B,) the same under the frozen reference
               chosen_lengths, rejected_lengths,               # (B,) response lengths in tokens
               beta,                                           # float, DPOConfig.beta
               **loss_kwargs) -> (B,) per-pair losses

Configure it in the ``dpo`` section with ``preference_loss: rdpo`` (a registered name) or
``preference_loss: my_pkg.losses:my_loss`` (a dotted path), and its extra arguments with
``preference_loss_kwargs: {alpha: 0.01}``. TRL's ``loss_type`` is then unused (leave it at ``sigmoid``).

TRL 1.16's ``DPOTrainer`` computes its loss inside one long ``_compute_loss`` with no hook, so
:class:`PreferenceLossDPOTrainer` overrides that method only when a custom loss is set: it runs the
same fused-LM-head forward, takes the reference log-probs from TRL's own ``compute_ref_log_probs``
(which disables the LoRA adapter or uses the frozen copy), calls the loss, and logs TRL's metric names
(``rewards/chosen``, ``rewards/margins``, ``rewards/accuracies``, ``logps/*``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from trl import DPOTrainer

from rlhf_trl.errors import UserError

PreferenceLoss = Callable[..., torch.Tensor]
LOSS_REGISTRY: dict[str, PreferenceLoss] = {}


def register_loss(name: str):
    """Decorator: make a preference loss available as ``preference_loss: <name>``."""

    def wrap(fn):
        if name in LOSS_REGISTRY:
            raise ValueError(f"preference loss {name!r} is already registered")
        LOSS_REGISTRY[name] = fn
        return fn

    return wrap


def resolve_loss(spec: str) -> PreferenceLoss:
    """A registered name or a dotted path (``pkg.mod:fn`` / ``pkg.mod.fn``) -> the loss function."""
    if spec in LOSS_REGISTRY:
        return LOSS_REGISTRY[spec]
    if "." not in spec and ":" not in spec:
        raise UserError(
            f"unknown preference_loss {spec!r}: use one of {', '.join(sorted(LOSS_REGISTRY))} "
            f"or a dotted path pkg.module:function"
        )
    from rlhf_trl.rewards import resolve_dotted

    fn = resolve_dotted(spec)
    if not callable(fn):
        raise UserError(f"preference_loss {spec!r} is not callable")
    return fn


# ------------------------------------------------------------------------------------------ losses


@register_loss("dpo")
def dpo_loss(*, policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta, **_):
    """Standard DPO (Rafailov et al. 2023): -log σ(β[(logπ_w - logπ_ref,w) - (logπ_l - logπ_ref,l)]).

    All tensors (B,); returns (B,). Same as TRL's ``loss_type: sigmoid``; here as a reference point.
    """
    logits = (policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps)
    return -F.logsigmoid(beta * logits)


@register_loss("rdpo")
def rdpo_loss(
    *,
    policy_chosen_logps,
    policy_rejected_logps,
    ref_chosen_logps,
    ref_rejected_logps,
    chosen_lengths,
    rejected_lengths,
    beta,
    alpha: float = 0.01,
    **_,
):
    """Length-regularised DPO, R-DPO (Park et al. 2024, "Disentangling Length from Quality in DPO", eq. 9).

        L = -log σ( β log π_θ(y_w|x)/π_ref(y_w|x) - β log π_θ(y_l|x)/π_ref(y_l|x) + α (|y_w| - |y_l|) )

    The implicit reward of a length-penalised objective is β log π_θ/π_ref + α|y|, so when the chosen
    reply is longer the length term already explains part of the preference and the policy is pushed
    less towards "longer is better" (the exploit HH-RLHF invites). ``alpha`` is per token; α = 0 is DPO.

    All tensors (B,) (lengths in tokens, any dtype); returns (B,) float.
    """
    logits = beta * ((policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps))
    length_term = alpha * (chosen_lengths.to(logits.dtype) - rejected_lengths.to(logits.dtype))
    return -F.logsigmoid(logits + length_term)


# ------------------------------------------------------------------------------------ trainer hook


class PreferenceLossDPOTrainer(DPOTrainer):
    """TRL's DPOTrainer with an optional custom per-pair loss (see the module docstring).

    Without ``preference_loss`` it is TRL's trainer unchanged.
    """

    def __init__(
        self, *args, preference_loss: PreferenceLoss | None = None, preference_loss_kwargs=None, **kwargs
    ):
        self.preference_loss = preference_loss
        self.preference_loss_kwargs = dict(preference_loss_kwargs or {})
        super().__init__(*args, **kwargs)

    def _compute_loss(self, model, inputs, return_outputs):
        if self.preference_loss is None:
            return super()._compute_loss(model, inputs, return_outputs)
        mode = "train" if self.model.training else "eval"
        non_model_keys = {"completion_mask", "ref_chosen_logps", "ref_rejected_logps"}
        model_kwargs = {k: v for k, v in inputs.items() if k not in non_model_keys}
        model_kwargs["use_cache"] = False
        completion_mask = inputs["completion_mask"]
        shift_mask = completion_mask[..., 1:]
        labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)

        # 1. policy log-probs of each response (sum over its tokens; TRL's fused head gives 0 elsewhere)
        outputs = model(**model_kwargs, labels=labels, fused_lm_head=True)
        logps = outputs.log_probs[:, -shift_mask.size(1) :].sum(dim=1)
        chosen_logps, rejected_logps = logps.chunk(2, dim=0)
        chosen_lengths, rejected_lengths = shift_mask.sum(dim=1).chunk(2, dim=0)

        # 2. reference log-probs: precomputed, the frozen copy, or the adapter-disabled policy (LoRA)
        if self.precompute_ref_logps:
            ref_chosen_logps, ref_rejected_logps = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
        else:
            ref_model = self.ref_model if self.ref_model is not None else model
            ref_chosen_logps, ref_rejected_logps = self.compute_ref_log_probs(ref_model, inputs)

        # 3. the user's per-pair loss
        per_pair = self.preference_loss(
            policy_chosen_logps=chosen_logps,
            policy_rejected_logps=rejected_logps,
            ref_chosen_logps=ref_chosen_logps,
            ref_rejected_logps=ref_rejected_logps,
            chosen_lengths=chosen_lengths,
            rejected_lengths=rejected_lengths,
            beta=self.beta,
            **self.preference_loss_kwargs,
        )
        if per_pair.shape != chosen_logps.shape:
            raise ValueError(
                f"preference loss returned shape {tuple(per_pair.shape)}; expected per-pair {tuple(chosen_logps.shape)}"
            )
        loss = per_pair.mean()

        # 4. TRL's metric names, so runs compare with built-in loss types
        gather = self.accelerator.gather_for_metrics
        with torch.no_grad():
            chosen_rewards = self.beta * (chosen_logps - ref_chosen_logps)
            rejected_rewards = self.beta * (rejected_logps - ref_rejected_logps)
            metrics = self._metrics[mode]
            metrics["rewards/chosen"].append(gather(chosen_rewards).mean().item())
            metrics["rewards/rejected"].append(gather(rejected_rewards).mean().item())
            metrics["rewards/accuracies"].append(
                gather((chosen_rewards > rejected_rewards).float()).mean().item()
            )
            metrics["rewards/margins"].append(gather(chosen_rewards - rejected_rewards).mean().item())
            metrics["logps/chosen"].append(gather(chosen_logps).mean().item())
            metrics["logps/rejected"].append(gather(rejected_logps).mean().item())
            metrics["length/chosen_minus_rejected"].append(
                gather((chosen_lengths - rejected_lengths).float()).mean().item()
            )
            if mode == "train":
                self._total_train_tokens += (
                    gather(inputs["attention_mask"].sum()).sum().item() // self._tp_size
                )
            metrics["num_tokens"] = [self._total_train_tokens]
        if return_outputs:
            with torch.no_grad():
                outputs = model(**model_kwargs)
            return loss, outputs
        return loss
