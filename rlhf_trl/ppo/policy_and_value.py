"""The module PPO trains: policy and critic in one ``nn.Module`` (one ``accelerator.prepare``, one optimizer),
the critic's per-token values, and a critic initialised from the policy when no reward model is given."""

from __future__ import annotations

import copy

import torch
from torch import nn

from rlhf_trl.generation import generate_responses, position_ids_from_mask, response_logprobs

VALUE_MODEL_DIR = "value_model"  # the critic's folder inside a saved PPO policy


def token_values(value_model, query_ids, response_ids, query_mask, response_mask) -> torch.Tensor:
    """Critic values ``[B, Lr]``: entry ``t`` is V(prompt + response[:t]), the state in which
    response token ``t`` is chosen (read from the hidden state just before it), 0 on padding."""
    input_ids = torch.cat([query_ids, response_ids], dim=1)
    attention_mask = torch.cat([query_mask, response_mask], dim=1).long()
    backbone = getattr(value_model, value_model.base_model_prefix)
    hidden = backbone(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids_from_mask(attention_mask),
        use_cache=False,
    ).last_hidden_state
    lq = query_ids.shape[1]
    values = value_model.score(hidden[:, lq - 1 : -1]).squeeze(-1).float()
    return values * response_mask


def value_model_from_policy(policy):
    """A sequence classifier (one label) with the policy's backbone weights and a fresh score head."""
    from transformers import AutoModelForSequenceClassification

    base = policy.get_base_model() if hasattr(policy, "get_base_model") else policy
    config = copy.deepcopy(base.config)
    config.num_labels = 1
    model = AutoModelForSequenceClassification.from_config(config, dtype=base.dtype)
    missing, _ = model.load_state_dict(base.state_dict(), strict=False)
    if [k for k in missing if not k.startswith("score.")]:
        raise RuntimeError(f"value model init from the policy left weights untouched: {missing[:5]}")
    return model.to(base.device)


class PolicyAndValue(nn.Module):
    """Policy and critic in one module, so one ``accelerator.prepare`` and one optimizer cover both."""

    def __init__(self, policy, value_model):
        super().__init__()
        self.policy = policy
        self.value_model = value_model
        self.config = policy.config  # Trainer reads model.config

    def tie_weights(self, **kwargs):
        """Re-tie each model's shared weights (SmolLM2's LM head is its input embedding). accelerate's
        FSDP2 loading (``fsdp_cpu_ram_efficient_loading``) moves the module to ``meta``, which unties
        them, and re-ties only through this method: without it the head would be a separate, frozen copy."""
        self.policy.tie_weights(**kwargs)
        self.value_model.tie_weights(**kwargs)

    def save(self, output_dir, tokenizer, is_peft: bool, state_dict: dict | None = None) -> None:
        """The policy (``from_pretrained``-loadable; merged when LoRA, adapter under ``adapter/``), tokenizer,
        and the critic under ``value_model/``. ``state_dict``: this module's full (gathered) state dict when
        its own tensors are shards (FSDP, ZeRO-3), keys ``policy.*`` and ``value_model.*``; None saves the
        tensors as they are."""

        def part(prefix):
            if state_dict is None:
                return None
            return {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}

        policy = self.policy
        if is_peft:  # never sharded: PPOTrainer refuses LoRA under FSDP/ZeRO-3
            policy.save_pretrained(output_dir / "adapter")
            policy = copy.deepcopy(policy).merge_and_unload()
        policy.save_pretrained(output_dir, state_dict=part("policy."))
        self.value_model.save_pretrained(output_dir / VALUE_MODEL_DIR, state_dict=part("value_model."))
        if tokenizer is not None:
            tokenizer.save_pretrained(output_dir)
            tokenizer.save_pretrained(output_dir / VALUE_MODEL_DIR)

    def forward(
        self,
        query_ids=None,
        response_ids=None,
        query_mask=None,
        response_mask=None,
        temperature=1.0,
        *,
        sample=None,
        entropy_grad=True,
    ):
        """-> ``(logprobs [B, Lr], entropy [B, Lr], values [B, Lr])``; the entropy without autograd when
        ``entropy_grad`` is False (no entropy bonus: it is only logged).

        With ``sample`` (keyword arguments of :func:`~rlhf_trl.generation.generate_responses` but the
        model): sample responses from the policy instead and return the ``GenerationBatch``. Sampling
        enters through this forward so that a sharding wrapper around this module (FSDP) gathers the
        root's own parameters (embeddings, LM head, final norm) first; ``policy.generate`` called
        directly would meet them sharded.
        """
        if sample is not None:
            return generate_responses(self.policy, **sample)
        logprobs, entropy = response_logprobs(
            self.policy,
            query_ids,
            response_ids,
            pad_token_id=-1,
            temperature=temperature,
            query_mask=query_mask,
            response_mask=response_mask,
            return_entropy=True,
            entropy_grad=entropy_grad,
        )
        values = token_values(self.value_model, query_ids, response_ids, query_mask, response_mask)
        return logprobs, entropy, values
