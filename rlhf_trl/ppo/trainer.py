"""PPOTrainer: RLHF with PPO and a learned critic, on transformers' Trainer + accelerate.

The design follows TRL 1.12's PPOTrainer (removed in TRL 1.13): a ``Trainer`` subclass with its own
``train()`` loop; policy and value model are wrapped in one module so a single
``accelerator.prepare`` covers DDP/DeepSpeed/FSDP, and one optimizer steps both. The Trainer
machinery gives us the accelerator, the optimizer and LR scheduler, callbacks (TensorBoard), ``log``.

One update (``_train`` calls these in order; steps 1 and 2 share ``_rollout``):

1. generate ``rollout_batch_size`` responses (left-padded prompts, truncated after EOS) — ``_rollout``;
2. score: rollout log-probs and values (temperature-consistent), reference log-probs, scores at the
   last response token, missing-EOS penalty — ``_rollout``;
3. advantages: per-token KL-penalised rewards, optional reward whitening, GAE, advantage whitening —
   :func:`rlhf_trl.ppo.rollout.add_advantages`;
4. update: ``ppo_epochs`` passes over shuffled minibatches, clipped policy + clipped value loss
   − entropy bonus, gradient accumulation exact at the token level — ``_optimise``;
5. logs — :func:`rlhf_trl.ppo.rollout.update_metrics`.

The math lives in :mod:`rlhf_trl.ppo.core`; every implementation detail is listed in docs/ppo.md.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections import defaultdict
from pathlib import Path

import torch
from accelerate.utils import DistributedType
from transformers import Trainer, TrainerState
from transformers.trainer_callback import ExportableState

from rlhf_trl.checkpoints import AtomicCheckpointMixin, final_save_guard
from rlhf_trl.errors import NonFiniteError, UserError
from rlhf_trl.generation import response_logprobs
from rlhf_trl.ppo import checkpoint, core
from rlhf_trl.ppo.config import PPOConfig
from rlhf_trl.ppo.optim import split_by_role, warmup_schedule
from rlhf_trl.ppo.policy_and_value import PolicyAndValue, value_model_from_policy
from rlhf_trl.ppo.rollout import Rollout, add_advantages, update_metrics

RANK_SEED_STRIDE = 100003  # per-rank sampling seed = seed + rank x this prime (TRL 1.12, cleanrl)


class PPOTrainer(AtomicCheckpointMixin, Trainer):
    """PPO for RLHF.

    Args:
        args: :class:`PPOConfig`.
        processing_class: the tokenizer (pad != EOS, left padding; see rlhf_trl.models).
        model: the policy (a causal LM). With ``peft_config`` it becomes a peft model.
        ref_model: frozen reference; default: a frozen copy of ``model``, or, under LoRA, the policy
            with its adapters disabled (no second copy).
        reward_model: a sequence classifier scored at the last real response token, or None.
        reward_funcs: callables ``f(prompts, completions, **kw) -> list[float]`` (GRPO signature)
            instead of or in addition to ``reward_model``; weighted by ``reward_weights``.
        value_model: the critic (a one-label sequence classifier); default: a trainable copy of
            ``reward_model`` (N-details), else the policy's backbone with a new head.
        train_dataset: rows with a ``prompt`` column (a list of chat messages).
    """

    def __init__(
        self,
        args: PPOConfig,
        processing_class,
        model,
        train_dataset,
        ref_model=None,
        reward_model=None,
        reward_funcs=None,
        reward_weights=None,
        value_model=None,
        peft_config=None,
        callbacks=None,
    ):
        if reward_model is None and not reward_funcs:
            raise ValueError("PPOTrainer needs a reward_model or reward_funcs")
        from transformers import set_seed

        set_seed(args.seed)  # the critic's new score head is drawn here: reproducible runs
        if value_model is None:  # before LoRA is injected: the critic copies plain backbone weights
            value_model = (
                copy.deepcopy(reward_model) if reward_model is not None else value_model_from_policy(model)
            )
        if peft_config is not None:
            from peft import get_peft_model

            model = get_peft_model(model, peft_config)
        self.is_peft = hasattr(model, "disable_adapter")
        if ref_model is None and not self.is_peft:
            ref_model = copy.deepcopy(model)
        value_model.requires_grad_(True)
        self.tokenizer = processing_class
        self.ref_model = ref_model
        self.reward_model = reward_model
        self.reward_funcs = list(reward_funcs or [])
        self.reward_weights = list(reward_weights or [1.0] * len(self.reward_funcs))
        for frozen in (ref_model, reward_model):
            if frozen is not None:
                frozen.eval().requires_grad_(False)
        if args.disable_dropout:
            from rlhf_trl.models import disable_dropout

            for m in (model, ref_model, reward_model, value_model):
                if m is not None:
                    disable_dropout(m)
        if args.activation_checkpointing:  # Trainer.train() would enable it; our train() is our own
            kwargs = args.activation_checkpointing_kwargs or {"use_reentrant": False}
            for m in (model, value_model):
                m.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        self.tokens_generated = 0
        super().__init__(
            model=PolicyAndValue(model, value_model),
            args=args,
            train_dataset=train_dataset,
            processing_class=processing_class,
            callbacks=callbacks,
        )
        for frozen in (ref_model, reward_model):
            if frozen is not None:
                frozen.to(self.accelerator.device)
        if self.is_peft and self._sharded():
            raise UserError(
                "PPO with LoRA (peft) under FSDP or DeepSpeed ZeRO-3: the merged policy cannot be saved from "
                "sharded weights; launch with accelerate_configs/multi_gpu.yaml or deepspeed_zero2.yaml instead"
            )

    def create_optimizer(self, model=None):
        """Trainer's optimizer with each of its parameter groups (weight decay or not) split into the policy's
        and the critic's parameters (``role``), the critic's at ``critic_learning_rate`` when that is set."""
        args = self.args
        if (args.critic_warmup_steps or args.critic_learning_rate is not None) and "layerwise" in str(
            args.optim
        ):
            raise UserError(
                f"optim={args.optim} steps each parameter inside backward: critic_warmup_steps and "
                "critic_learning_rate need one optimizer step per minibatch; allowed: a non-layerwise optim"
            )
        optimizer = super().create_optimizer(model)
        if not any("role" in group for group in optimizer.param_groups):  # Trainer calls this again later
            self._first_group = split_by_role(
                optimizer, self.model.value_model.parameters(), args.critic_learning_rate
            )
        return optimizer

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        """Trainer's schedule; with ``critic_warmup_steps`` N, the policy's learning rate is 0 for the first N
        updates and then follows the schedule over its own updates, the critic's over all of them."""
        args = self.args
        warm = args.critic_warmup_steps * args.ppo_epochs * args.num_mini_batches  # optimizer steps
        if not warm or self.lr_scheduler is not None:
            return super().create_scheduler(num_training_steps, optimizer)
        self.lr_scheduler = warmup_schedule(args, optimizer or self.optimizer, num_training_steps, warm)
        return self.lr_scheduler

    def _sharded(self) -> bool:
        """Whether each process holds only shards of the weights (FSDP, DeepSpeed ZeRO-3)."""
        accel = self.accelerator
        return accel.distributed_type == DistributedType.FSDP or (
            accel.distributed_type == DistributedType.DEEPSPEED
            and accel.state.deepspeed_plugin.zero_stage == 3
        )

    # ------------------------------------------------------------------------------------ helpers

    def _prompt_batches(self):
        """Endless rollout batches of prompts (lists of messages), reshuffled every pass.

        Every process draws the same permutation from its own generator seeded with ``seed`` (never the
        global RNG, which is per rank from the first rollout on) and takes its own slice of each global
        batch: disjoint prompts per rank, a pass's remainder dropped."""
        args, accel = self.args, self.accelerator
        per_rank, world = args.rollout_batch_size, accel.num_processes
        need = per_rank * world
        if len(self.train_dataset) < need:
            raise ValueError(
                f"train_dataset has {len(self.train_dataset)} prompts; one update needs {need} "
                f"(rollout_batch_size={per_rank} on each of {world} processes)"
            )
        generator = torch.Generator().manual_seed(args.seed)
        mine = slice(accel.process_index * per_rank, (accel.process_index + 1) * per_rank)
        while True:
            order = torch.randperm(len(self.train_dataset), generator=generator).tolist()
            for start in range(0, len(order) - need + 1, need):
                yield [self.train_dataset[i]["prompt"] for i in order[start : start + need][mine]]

    def _num_updates(self) -> int:
        args = self.args
        if args.max_steps > 0:
            return args.max_steps
        per_pass = len(self.train_dataset) // (args.rollout_batch_size * self.accelerator.num_processes)
        return max(1, math.ceil(args.num_train_epochs * per_pass))

    @contextlib.contextmanager
    def _reference(self):
        """The reference policy: the frozen copy, or the policy with LoRA adapters disabled."""
        if self.ref_model is not None:
            yield self.ref_model
        else:
            policy = self.accelerator.unwrap_model(self.model).policy
            with policy.disable_adapter():
                yield policy

    @torch.no_grad()
    def _scores(self, prompts, batch) -> torch.Tensor:
        """``[B]`` scores: reward model at the last real response token plus weighted reward functions."""
        from rlhf_trl.rewards import combined_reward, score_at_last_token

        device = batch.query_ids.device
        scores = torch.zeros(len(batch), device=device)
        step = self.args.rollout_forward_batch_size
        if self.reward_model is not None:
            ids = torch.cat([batch.query_ids, batch.response_ids], dim=1)
            mask = torch.cat([batch.query_mask, batch.response_mask], dim=1)
            scores += torch.cat(
                [
                    score_at_last_token(self.reward_model, ids[i : i + step], mask[i : i + step])
                    for i in range(0, len(batch), step)
                ]
            )
        if self.reward_funcs:
            completions = [[{"role": "assistant", "content": t}] for t in batch.response_texts]
            ids = [row[:n].tolist() for row, n in zip(batch.response_ids, batch.lengths)]
            values = combined_reward(
                self.reward_funcs, self.reward_weights, prompts, completions, completion_ids=ids
            )
            scores += torch.tensor(values, device=device, dtype=scores.dtype)
        return scores

    # -------------------------------------------------------------------------------------- train

    def train(self, resume_from_checkpoint: str | None = None, **unused_kw):
        """Run ``max_steps`` PPO updates (or ``num_train_epochs`` passes over the prompts).

        ``resume_from_checkpoint``: a complete ``checkpoint-N`` folder (see rlhf_trl.checkpoints); updates
        N+1.. then see the same prompts, random numbers, weights and optimizer state as an uninterrupted run.
        Under bf16 autocast on a CPU, SDPA attention runs in fp32 in every forward of the run (sampling's
        prefill and decode steps, scoring, the update: :func:`rlhf_trl.models.cpu_autocast_attention_in_fp32`),
        so they still agree.
        """
        from rlhf_trl.models import cpu_autocast_attention_in_fp32

        with cpu_autocast_attention_in_fp32():
            return self._train(resume_from_checkpoint)

    def _train(self, resume_from_checkpoint: str | None):
        args, accel = self.args, self.accelerator
        num_updates = self._num_updates()
        if args.critic_warmup_steps and accel.distributed_type == DistributedType.DEEPSPEED:
            # its engine steps inside backward with its own gradient buffers: AdamW would count the warm-up's
            # zero steps for the policy, and its bias correction would be off for many steps after
            raise UserError(
                "critic_warmup_steps under DeepSpeed is not supported; allowed: 0 there, or launch with "
                "accelerate_configs/multi_gpu.yaml (DDP) or an FSDP config"
            )
        if args.critic_warmup_steps >= num_updates:
            raise UserError(
                f"critic_warmup_steps={args.critic_warmup_steps} is invalid; allowed: fewer than this run's "
                f"{num_updates} PPO updates (the policy must get updates too)"
            )
        opt_steps_per_update = args.ppo_epochs * args.num_mini_batches
        self.create_optimizer_and_scheduler(num_training_steps=num_updates * opt_steps_per_update)
        self.model_wrapped, self.optimizer = accel.prepare(self.model, self.optimizer)
        wrapped = self.model_wrapped
        module = accel.unwrap_model(wrapped)
        # callbacks get them as keyword arguments, as from Trainer.train()
        self.callback_handler.optimizer, self.callback_handler.lr_scheduler = (
            self.optimizer,
            self.lr_scheduler,
        )
        self.state = TrainerState(
            max_steps=num_updates,
            logging_steps=args.logging_steps,
            save_steps=args.save_steps,
            is_local_process_zero=self.is_local_process_zero(),
            is_world_process_zero=self.is_world_process_zero(),
            stateful_callbacks=[
                cb
                for cb in [*self.callback_handler.callbacks, self.control]
                if isinstance(cb, ExportableState)
            ],
        )
        kl_ctl = self.kl_ctl = (
            core.AdaptiveKLController(args.kl_coef, args.kl_target, args.kl_horizon)
            if args.kl_target is not None
            else core.FixedKLController(args.kl_coef)
        )
        done = self._load_checkpoint(resume_from_checkpoint) if resume_from_checkpoint else 0
        self._initial_global_step = done  # as transformers' Trainer: the update a resumed run starts after
        prompts_iter = self._prompt_batches()
        for _ in range(done):  # the data position: the prompts an uninterrupted run would see next
            next(prompts_iter)
        if resume_from_checkpoint:  # last: nothing after it draws random numbers before update done + 1
            self._load_rng_state(resume_from_checkpoint)
        else:  # weights are identical on every rank by now; each rank samples its own responses from here
            from transformers import set_seed

            set_seed(args.seed + accel.process_index * RANK_SEED_STRIDE)
        # taken once, before any forward: FSDP2 leaves the root module's weights unsharded (other Parameter
        # objects) after a forward, and the clip and the warm-up's gradient reset must see the optimizer's shards.
        # The policy's parameters as the optimizer holds them; DeepSpeed keeps its own gradients.
        self._trainable = (
            [p for p in wrapped.parameters() if p.requires_grad],
            [p for p in module.policy.parameters() if p.requires_grad],
        )
        episodes_per_update = args.rollout_batch_size * accel.num_processes
        self.control = self.callback_handler.on_train_begin(args, self.state, self.control)
        start = time.perf_counter()
        for update in range(done + 1, num_updates + 1):
            t0 = time.perf_counter()
            prompts = next(prompts_iter)
            rollout, t1 = self._rollout(wrapped, module, prompts, update)  # 1. generate, 2. score
            t2 = time.perf_counter()
            add_advantages(rollout, kl_ctl.value, args)  # 3. advantages
            stats = self._optimise(wrapped, rollout, update)  # 4. update
            t3 = time.perf_counter()
            # logging (TRL's historic metric names; see docs/ppo.md)
            timings = {"generation": t1 - t0, "scoring": t2 - t1, "update": t3 - t2}
            metrics = update_metrics(rollout, stats, kl_ctl.value, timings, args.rollout_is_cap)
            device = rollout.batch.query_ids.device
            logs = {
                k: accel.gather_for_metrics(v.detach().float().reshape(1).to(device)).mean().item()
                for k, v in metrics.items()
            }
            kl_ctl.update(logs["objective/kl"], episodes_per_update)
            self.state.global_step = update
            self.state.episode = update * episodes_per_update
            self.state.epoch = update / num_updates
            logs.update(
                {
                    "eps": episodes_per_update * (update - done) / (time.perf_counter() - start),
                    "lr": self.lr_scheduler.get_last_lr()[self._first_group["policy"]],
                    "episode": self.state.episode,
                }
            )
            if args.critic_learning_rate is not None or args.critic_warmup_steps:
                logs["lr_critic"] = self.lr_scheduler.get_last_lr()[self._first_group["critic"]]
            self.control = self.callback_handler.on_step_end(args, self.state, self.control)
            if self.control.should_log or update == num_updates:
                self.log(logs)
            if self.control.should_save:  # atomic: tmp-checkpoint-N, then renamed (AtomicCheckpointMixin)
                self._save_checkpoint(wrapped, trial=None)
                self.control = self.callback_handler.on_save(args, self.state, self.control)
                self.control.should_save = False
            if self.control.should_training_stop:
                break
            del rollout, stats, metrics  # before the next rollout: one batch's tensors in memory at a time
        self.control = self.callback_handler.on_train_end(args, self.state, self.control)
        self.train_runtime = time.perf_counter() - start  # this process's updates only (not a resumed run's)
        return self.state.log_history[-1] if self.state.log_history else {}

    def _rollout(self, wrapped, module, prompts, update: int) -> tuple[Rollout, float]:
        """Steps 1 and 2 of an update: sample responses to ``prompts`` with the policy, then score them:
        old log-probs and values in the same code path as the update (ratio 1 at the start), the reference's
        log-probs, the reward. Returns the rollout and the time sampling ended (``time.perf_counter``).

        One precision for every forward pass: accelerate autocasts only the prepared model's forward, so
        sampling, the reference and the reward model would otherwise run in fp32 beside a bf16 policy (KL != 0
        while policy == reference, off-policy rollouts)."""
        args, precision = self.args, self.accelerator.autocast
        wrapped.eval()  # sampling and rollout scoring without dropout (also off in the weights)
        # no_grad outside the DDP wrapper too: a grad-enabled DDP forward arms its reducer for a backward that
        # never comes, and the next backward under no_sync (gradient accumulation) would then mark every
        # parameter ready twice ("Expected to mark a variable ready only once")
        with torch.no_grad(), precision(), self._sampler(wrapped) as sampler:
            batch = sampler(
                sample=dict(
                    tokenizer=self.tokenizer,
                    prompts=prompts,
                    max_new_tokens=args.response_length,
                    temperature=args.temperature,
                    top_k=args.top_k,
                    top_p=args.top_p,
                    batch_size=args.rollout_forward_batch_size,
                    max_prompt_length=args.max_prompt_length,
                    return_sampler_logprobs=args.rollout_is_cap is not None,
                )
            )
        self.tokens_generated += batch.tokens_generated
        sampled = time.perf_counter()
        q, qm, r, rm = batch.query_ids, batch.query_mask, batch.response_ids, batch.response_mask
        with torch.no_grad(), precision():
            logprobs, values, ref_logprobs = [], [], []
            step = args.rollout_forward_batch_size
            chunks = [slice(i, i + step) for i in range(0, len(batch), step)]
            for s in chunks:
                lp, _, v = module(q[s], r[s], qm[s], rm[s], args.temperature)
                logprobs.append(lp)
                values.append(v)
            with self._reference() as ref:  # under LoRA: adapters off only inside this block
                for s in chunks:
                    ref_logprobs.append(
                        response_logprobs(
                            ref, q[s], r[s], -1, args.temperature, query_mask=qm[s], response_mask=rm[s]
                        )
                    )
            raw_scores = self._scores(prompts, batch)
            self._stop_if_non_finite(update, reward=raw_scores)
            scores = core.apply_missing_eos_penalty(
                raw_scores, batch.ended_with_eos, args.missing_eos_penalty
            )
        rollout = Rollout(
            batch, torch.cat(logprobs), torch.cat(values), torch.cat(ref_logprobs), raw_scores, scores
        )
        return rollout, sampled

    def _optimise(self, wrapped, rollout: Rollout, update: int) -> dict:
        """Step 4 of an update: ``ppo_epochs`` passes over shuffled minibatches of ``rollout``, one optimizer
        step per minibatch, gradient accumulation over micro-batches exact at the token level. Returns the
        per-micro-batch (and per-minibatch ``grad_norm``) stats for the logs.

        During the critic's warm-up the policy's learning rate is 0 and its loss is in the graph with weight
        0, so every parameter gets a gradient under DDP/FSDP; those zeros are dropped before the step, so
        AdamW's moments start with the policy's first real update."""
        args, accel = self.args, self.accelerator
        params, policy_params = self._trainable
        is_deepspeed = accel.distributed_type == "DEEPSPEED"
        # our micro-batch losses are already shares of the minibatch loss: DeepSpeed must not divide them again
        backward_kwargs = {"scale_wrt_gas": False} if is_deepspeed else {}
        policy_on = args.policy_loss_enabled and update > args.critic_warmup_steps
        m, device = rollout.mask, rollout.batch.query_ids.device
        wrapped.train()
        stats = defaultdict(list)
        perm_gen = torch.Generator().manual_seed(args.seed + update)
        for _epoch in range(args.ppo_epochs):
            perm = torch.randperm(len(rollout), generator=perm_gen).to(device)
            for mb in perm.split(args.mini_batch_size):
                n_tokens = m[mb].sum().clamp(min=1)
                mb_loss = torch.zeros((), device=device)
                micros = mb.split(args.per_device_train_batch_size)
                for i, micro in enumerate(micros):
                    # Gradients sync (DDP all-reduce; DeepSpeed's engine step, which accelerate runs inside
                    # backward()) only after the minibatch's last micro-batch.
                    last = i == len(micros) - 1
                    accel.gradient_state._set_sync_gradients(last)
                    with contextlib.nullcontext() if last else accel.no_sync(wrapped):
                        loss, pg_stats, vf_stats, parts = self._micro_batch_loss(
                            wrapped, rollout, micro, n_tokens, policy_on
                        )
                        if is_deepspeed:  # the engine steps inside backward: check before, not after
                            self._stop_if_non_finite(update, loss=loss)
                        accel.backward(loss, **backward_kwargs)
                    mb_loss += loss.detach()
                    share = m[micro].sum() / n_tokens  # micro-batch losses are shares of the minibatch loss
                    stats["policy/approxkl_avg"].append(pg_stats["approxkl"])
                    stats["policy/clipfrac_avg"].append(pg_stats["clipfrac"])
                    stats["val/ratio"].append(pg_stats["ratio"])
                    stats["val/clipfrac_avg"].append(vf_stats["clipfrac"])
                    for key, part in parts.items():
                        stats[key].append(part / share.clamp(min=1e-8))
                # the norm is computed even unclipped (max_norm inf scales by 1): a NaN must not reach the weights
                grad_norm = accel.clip_grad_norm_(params, args.max_grad_norm or float("inf"))
                self._stop_if_non_finite(update, loss=mb_loss, gradient_norm=grad_norm)
                if grad_norm is not None:  # DeepSpeed clips inside its engine and returns no norm
                    # FSDP2 returns a DTensor; the logs gather plain tensors
                    if hasattr(grad_norm, "full_tensor"):
                        grad_norm = grad_norm.full_tensor()
                    stats["grad_norm"].append(torch.as_tensor(grad_norm, dtype=torch.float32).detach())
                if not policy_on:  # AdamW then skips the policy: no moments, no step count, no weight decay
                    for p in policy_params:
                        p.grad = None
                self.optimizer.step()
                self.lr_scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
        accel.gradient_state._set_sync_gradients(True)
        return stats

    def _micro_batch_loss(self, wrapped, rollout: Rollout, micro, n_tokens, policy_on=True):
        """Loss of one micro-batch (indices ``micro`` into ``rollout``) as its share of the minibatch loss
        (token-level normaliser ``n_tokens``), the policy/value stats and the loss parts for logging.
        ``policy_on`` false: the policy loss enters with weight 0 (the critic alone learns; see
        :meth:`_optimise`)."""
        args, r, batch = self.args, rollout, rollout.batch
        new_lp, entropy, new_v = wrapped(
            batch.query_ids[micro],
            batch.response_ids[micro],
            batch.query_mask[micro],
            batch.response_mask[micro],
            args.temperature,
            entropy_grad=args.entropy_coef > 0 and policy_on,
        )
        mm = batch.response_mask[micro].float()
        pg_loss, pg_stats = core.policy_loss(
            new_lp,
            r.logprobs[micro],
            r.advantages[micro],
            mm,
            args.clip_ratio,
            normalizer=n_tokens,
            weights=None if r.is_weights is None else r.is_weights[micro],
        )
        vf_loss, vf_stats = core.value_loss(
            new_v, r.values[micro], r.returns[micro], mm, args.cliprange_value, normalizer=n_tokens
        )
        ent = (entropy * mm).sum() / n_tokens
        loss = args.vf_coef * vf_loss
        if policy_on:  # the entropy bonus moves the policy too: part of the policy loss
            loss = loss + pg_loss
            if args.entropy_coef > 0:
                loss = loss - args.entropy_coef * ent
        else:
            loss = loss + 0.0 * pg_loss
        parts = {
            "loss/policy_avg": pg_loss.detach(),
            "loss/value_avg": vf_loss.detach(),
            "policy/entropy_avg": ent.detach(),
        }
        return loss, pg_stats, vf_stats, parts

    @contextlib.contextmanager
    def _sampler(self, wrapped):
        """The module to sample through (see :meth:`PolicyAndValue.forward`): the prepared one, whose
        forward FSDP/DDP wrap; under DeepSpeed ZeRO-3 the unwrapped module with every parameter gathered
        once for the whole rollout (its hooks would gather each layer once per token)."""
        accel = self.accelerator
        if accel.distributed_type == DistributedType.DEEPSPEED and self._sharded():
            from trl.models.utils import unwrap_model_for_generation

            with unwrap_model_for_generation(wrapped, accel) as unwrapped:
                yield unwrapped
        else:
            yield wrapped

    def _stop_if_non_finite(self, update: int, **values) -> None:
        """Raise :class:`NonFiniteError` naming the update and the first NaN/inf among ``values`` (tensors).
        The processes agree first, so all of them stop together instead of waiting on each other."""
        values = {k: torch.as_tensor(v) for k, v in values.items() if v is not None}  # DeepSpeed: no norm
        bad = next((name for name, v in values.items() if not torch.isfinite(v).all()), None)
        flag = torch.tensor([0.0 if bad is None else 1.0], device=self.accelerator.device)
        if self.accelerator.num_processes > 1:
            flag = self.accelerator.reduce(flag, reduction="sum")
        if flag.item() == 0:
            return
        if bad is None:
            raise NonFiniteError(f"step {update}: a non-finite value on another process; see its error")
        v = values[bad].detach().flatten()
        first = v[~torch.isfinite(v)][0].item()
        where = (
            f" (response {int((~torch.isfinite(v)).nonzero()[0])} of {v.numel()})" if v.numel() > 1 else ""
        )
        raise NonFiniteError(
            f"step {update}: {bad.replace('_', ' ')} is {first}{where}; training stopped before the weights were "
            "updated with it and nothing more is saved. Lower learning_rate, keep max_grad_norm on, and check "
            "the reward functions"
        )

    def total_tokens_generated(self) -> int:
        """Response tokens sampled so far, summed over processes."""
        count = torch.tensor(self.tokens_generated, device=self.accelerator.device)
        return int(self.accelerator.reduce(count, reduction="sum").item())

    # --------------------------------------------------------------------------------------- save

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """What :meth:`PolicyAndValue.save` writes, from the main process."""
        output_dir = Path(output_dir or self.args.output_dir)
        self.accelerator.wait_for_everyone()
        # sharded weights (FSDP2 DTensors, ZeRO-3 partitions): gathered by every process, saved by one
        full = self.accelerator.get_state_dict(self.model_wrapped) if self._sharded() else None
        if not self.is_world_process_zero():
            return
        # the final save (a checkpoint's own write, _internal_call, has its guard in _save_checkpoint): a full
        # disk is one line and the half-written weights are removed
        guard = contextlib.nullcontext() if _internal_call else final_save_guard(output_dir)
        with guard:
            self.accelerator.unwrap_model(self.model).save(output_dir, self.tokenizer, self.is_peft, full)

    # ----------------------------------------------------------------------------------- checkpoints
    # What a checkpoint-N folder holds, and the restore: rlhf_trl.ppo.checkpoint.

    def _save_checkpoint_extras(self, checkpoint_dir: Path) -> None:
        """PPO's own state: the KL controller's β, episodes and sampled tokens (all processes call this)."""
        tokens = self.total_tokens_generated()
        if self.args.should_save:
            checkpoint.write_ppo_state(checkpoint_dir, self.kl_ctl.value, self.state.episode, tokens)

    def _load_checkpoint(self, folder: str) -> int:
        """Restore this run from a checkpoint-N folder; returns N (the updates done)."""
        return checkpoint.restore(self, folder)
