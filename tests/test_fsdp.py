"""FSDP2 (torch.distributed.fsdp.fully_shard) on 2 CPU processes over gloo, for PPO's policy+critic module.

accelerate 1.15 turns FSDP on only for GPU-like process types (MULTI_GPU/XPU/NPU/...), never for
MULTI_CPU, so `accelerate launch --config_file accelerate_configs/fsdp.yaml` cannot run on a CPU (the
config layer refuses it, see tests/test_accelerate_configs.py). What can be checked here is our side of FSDP: sharding
PolicyAndValue the way accelerate's FSDP2 does (each decoder layer, then the root) and sampling from the
policy, whose embeddings, LM head and final norm live in the root's shards that ``policy.generate`` alone
never gathers (PPO samples through the root's forward instead).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from test_accelerate_configs import free_port

SCRIPT = """
import sys, torch, torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard

from rlhf_trl.generation import generate_responses, response_logprobs
from rlhf_trl.models import load_causal_lm, load_tokenizer
from rlhf_trl.ppo.policy_and_value import PolicyAndValue, value_model_from_policy

dist.init_process_group("gloo")
rank = dist.get_rank()
torch.set_num_threads(1)
tok = load_tokenizer(sys.argv[1])
prompts = [[{"role": "user", "content": "Hi"}], [{"role": "user", "content": "Tell me about bread and tea."}]]
plain = load_causal_lm(sys.argv[1], tok).eval()
expected = generate_responses(plain, tok, prompts, max_new_tokens=6, seed=rank)
with torch.no_grad():
    expected_lp = response_logprobs(plain, expected.query_ids, expected.response_ids, -1, 1.0,
                                    query_mask=expected.query_mask, response_mask=expected.response_mask)

mesh = init_device_mesh("cpu", (dist.get_world_size(),))

def sharded():
    policy = load_causal_lm(sys.argv[1], tok)
    module = PolicyAndValue(policy, value_model_from_policy(policy)).eval()
    for model in (module.policy, module.value_model):  # as accelerate's TRANSFORMER_BASED_WRAP: layers, root
        for layer in model.model.layers:
            fully_shard(layer, mesh=mesh)
    return fully_shard(module, mesh=mesh)

try:
    generate_responses(sharded().policy, tok, prompts, max_new_tokens=6, seed=rank)
    ungathered = "ran"
except Exception as err:  # sharded root parameters (DTensor) meet plain tensors, or FSDP's root check
    ungathered = type(err).__name__
module = sharded()
# PPO samples through the root's forward (PolicyAndValue.forward(sample=...))
batch = module(sample=dict(tokenizer=tok, prompts=prompts, max_new_tokens=6, seed=rank))
with torch.no_grad():  # the update's path: the root's forward gathers by itself
    lp, _, values = module(batch.query_ids, batch.response_ids, batch.query_mask, batch.response_mask, 1.0)
ok = torch.equal(batch.response_ids, expected.response_ids) and torch.allclose(lp, expected_lp, atol=1e-5)
from torch.distributed.tensor import DTensor
sharded_at_start = isinstance(sharded().policy.model.embed_tokens.weight, DTensor)
# PPOTrainer.save_model under FSDP2: the full state dict as accelerate gathers it, saved by rank 0
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from pathlib import Path
full = get_model_state_dict(module, options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True,
                                                              cpu_offload=True))
saved = "n/a"
if rank == 0:
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification
    out = f"{sys.argv[2]}/saved"
    module.save(Path(out), tok, False, full)
    reloaded = AutoModelForCausalLM.from_pretrained(out).state_dict()
    value = AutoModelForSequenceClassification.from_pretrained(out + "/value_model").state_dict()
    saved = all(torch.equal(v, reloaded[k]) for k, v in plain.state_dict().items()) and all(
        torch.equal(v, full["value_model." + k]) for k, v in value.items())
with open(f"{sys.argv[2]}/rank{rank}.txt", "w") as f:
    f.write(f"RANK {rank} ungathered={ungathered} same={ok} sharded_at_start={sharded_at_start} saved={saved}")
dist.barrier()
dist.destroy_process_group()
"""


@pytest.mark.slow
def test_fsdp2_policy_samples_with_gathered_root_weights_on_two_cpu_processes(tmp_path, tiny_model_dir):
    script = tmp_path / "fsdp_probe.py"
    script.write_text(SCRIPT)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    proc = subprocess.run(
        [*torchrun, "--master_port", str(free_port()), str(script), tiny_model_dir, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    for line in [(tmp_path / f"rank{rank}.txt").read_text() for rank in (0, 1)]:
        # policy.generate() on the sharded module fails; sampling through the root's forward gives the
        # unsharded model's tokens and log-probs (the root's own parameters really are sharded)
        assert "ungathered=ran" not in line, line
        assert "same=True" in line and "sharded_at_start=True" in line, line
    # save_model's path under FSDP2: the gathered full state dict, saved by rank 0, reloads as the weights
    assert "saved=True" in (tmp_path / "rank0.txt").read_text()
