"""PPO's checkpoint state: what a ``checkpoint-N`` folder holds beyond transformers' Trainer files, and
how :class:`rlhf_trl.ppo.trainer.PPOTrainer` restores a run from one.

A checkpoint-N folder (written atomically by :class:`rlhf_trl.checkpoints.AtomicCheckpointMixin`, which
adds its ``checkpoint_complete.json`` marker last) holds ``PolicyAndValue.save``'s files (the policy and
tokenizer; under LoRA also the adapter in ``adapter/``; the critic under ``value_model/``), from Trainer
``optimizer.pt``, ``scheduler.pt``, ``rng_state[_RANK].pth`` (python, numpy, torch) and
``trainer_state.json`` (update counter, log history), and :data:`PPO_STATE_FILE` (the KL controller's β,
episodes, tokens sampled). Restoring it makes updates N+1.. see what an uninterrupted run would.
"""

from __future__ import annotations

import json
from pathlib import Path

from accelerate.utils import DistributedType
from transformers import TrainerState

from rlhf_trl.errors import UserError
from rlhf_trl.ppo.policy_and_value import VALUE_MODEL_DIR

PPO_STATE_FILE = "ppo_state.json"


def write_ppo_state(checkpoint_dir: Path, kl_coef: float, episode: int, tokens_generated: int) -> None:
    """PPO's own counters into ``checkpoint_dir`` (main process only)."""
    state = {"kl_coef": kl_coef, "episode": episode, "tokens_generated": tokens_generated}
    (checkpoint_dir / PPO_STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")


def restore(trainer, checkpoint: str) -> int:
    """Weights, optimizer, scheduler, TrainerState and PPO state of ``trainer`` from ``checkpoint`` (its
    RNG states are restored by ``PPOTrainer.train`` after start-up); returns the number of updates done."""
    accel = trainer.accelerator
    # FSDP/ZeRO-3: the weights below are copied into whole tensors, not shards. DeepSpeed (any stage): its
    # engine holds the optimizer state and fp32 master weights, which this does not restore.
    if trainer._sharded() or accel.distributed_type == DistributedType.DEEPSPEED:
        raise UserError(
            f"resume_from_checkpoint={checkpoint}: resuming PPO under FSDP or DeepSpeed is not "
            "supported; resume with accelerate_configs/multi_gpu.yaml (DDP)"
        )
    folder = Path(checkpoint)
    module = accel.unwrap_model(trainer.model)
    if trainer.is_peft:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        adapter = load_file(folder / "adapter" / "adapter_model.safetensors")
        set_peft_model_state_dict(module.policy, adapter)
    else:
        load_weights(module.policy, folder)
    load_weights(module.value_model, folder / VALUE_MODEL_DIR)
    try:
        trainer._load_optimizer_and_scheduler(str(folder))
    except ValueError as e:
        if "number of parameter groups" not in str(e):
            raise
        raise UserError(  # before 2026-12-06 one group per weight-decay setting, now also per role
            f"{folder}: its optimizer state has another layout of parameter groups than this version's "
            "(policy and critic apart): a checkpoint of an older rlhf-trl; start over with "
            "--overwrite_output_dir true"
        ) from None
    saved = TrainerState.load_from_json(str(folder / "trainer_state.json"))
    for key in ("global_step", "epoch", "log_history", "total_flos"):
        setattr(trainer.state, key, getattr(saved, key))
    extra = json.loads((folder / PPO_STATE_FILE).read_text())
    trainer.kl_ctl.value = extra["kl_coef"]
    trainer.state.episode = extra["episode"]
    # the count is reported summed over processes: keep the total on one of them
    trainer.tokens_generated = extra["tokens_generated"] if accel.is_main_process else 0
    return saved.global_step


def load_weights(model, folder: Path) -> None:
    """Copy the weights of a ``save_pretrained`` folder into ``model`` in place (bit-exact); a weight tied
    to a loaded one (``lm_head`` = embeddings) may be absent from the files."""
    from safetensors.torch import load_file

    index = folder / "model.safetensors.index.json"
    files = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.is_file() else None
    state = {}
    for name in files or ["model.safetensors"]:
        state.update(load_file(folder / name))
    missing, unexpected = model.load_state_dict(state, strict=False)
    current = model.state_dict()
    loaded = {current[k].data_ptr() for k in state if k in current}
    untied = [k for k in missing if current[k].data_ptr() not in loaded]
    if untied or unexpected:
        raise RuntimeError(
            f"checkpoint {folder} does not match the model: missing {untied[:5]}, unexpected {unexpected[:5]}"
        )
