"""PPOTrainer correctness on tiny models: (a) a toy task is learned and the ablation is not,
(b) ratio 1 / approxkl 0 at the first minibatch, (c) values alone == inside a padded batch,
(d) gradient accumulation is exact, (e) reference and reward models stay bit-identical."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import tiny_llama_config, tiny_ppo_config
from datasets import Dataset

from rlhf_trl.ppo.policy_and_value import token_values
from rlhf_trl.ppo.trainer import PPOTrainer

WORDS = ["cats", "dogs", "rain", "tea", "code", "maps", "stars", "bread"]
PROMPTS = [[{"role": "user", "content": f"Say something about {w}" + "!" * i}] for i, w in enumerate(WORDS)]


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    from rlhf_trl.models import load_tokenizer

    return load_tokenizer(tiny_model_dir)


pytestmark = pytest.mark.usefixtures("one_thread")
_config = tiny_ppo_config


def _policy(tiny_model_dir, tok):
    from rlhf_trl.models import load_causal_lm

    return load_causal_lm(tiny_model_dir, tok)


def _reward_model(tiny_model_dir, tok):
    from rlhf_trl.models import load_sequence_classifier

    torch.manual_seed(1)
    return load_sequence_classifier(tiny_model_dir, tok)


def test_values_and_logprobs_alone_equal_inside_a_left_padded_batch(tiny_model_dir, tok):  # (c)
    from rlhf_trl.generation import generate_responses, response_logprobs

    policy = _policy(tiny_model_dir, tok)
    value = _reward_model(tiny_model_dir, tok)
    batch = generate_responses(policy, tok, PROMPTS[:4], max_new_tokens=5, seed=0)
    assert (batch.query_mask == 0).any()
    with torch.no_grad():
        v_all = token_values(
            value, batch.query_ids, batch.response_ids, batch.query_mask, batch.response_mask
        )
        lp_all = response_logprobs(
            policy,
            batch.query_ids,
            batch.response_ids,
            -1,
            1.0,
            query_mask=batch.query_mask,
            response_mask=batch.response_mask,
        )
        for i in range(4):
            keep = batch.query_mask[i].bool()
            n = int(batch.lengths[i])
            q, r = batch.query_ids[i : i + 1, keep], batch.response_ids[i : i + 1, :n]
            ones_q, ones_r = torch.ones_like(q), torch.ones_like(r)
            v = token_values(value, q, r, ones_q, ones_r)
            lp = response_logprobs(policy, q, r, -1, 1.0, query_mask=ones_q, response_mask=ones_r)
            torch.testing.assert_close(v_all[i, :n], v[0], atol=1e-5, rtol=0)
            torch.testing.assert_close(lp_all[i, :n], lp[0], atol=1e-5, rtol=0)
    assert v_all.abs().sum() > 0


def test_first_minibatch_ratio_is_one_and_frozen_models_do_not_move(
    tiny_model_dir, tok, tmp_path
):  # (b), (e)
    policy, rm = _policy(tiny_model_dir, tok), _reward_model(tiny_model_dir, tok)
    before_policy = copy.deepcopy(policy.state_dict())
    before_rm = copy.deepcopy(rm.state_dict())
    args = _config(tmp_path, ppo_epochs=1, num_mini_batches=1, max_steps=2)
    trainer = PPOTrainer(args, tok, policy, Dataset.from_dict({"prompt": PROMPTS}), reward_model=rm)
    before_value = copy.deepcopy(trainer.model.value_model.state_dict())
    trainer.train()
    first = trainer.state.log_history[0]
    # one epoch, one minibatch: the logged averages are the first minibatch's
    assert first["val/ratio"] == pytest.approx(1.0, abs=1e-6)
    assert first["policy/approxkl_avg"] == pytest.approx(0.0, abs=1e-10)
    assert first["objective/kl"] == 0.0  # the policy is the reference before the first step
    # the second update sees a moved policy: the check above could fail
    assert trainer.state.log_history[1]["objective/kl"] != 0.0
    for name, p in trainer.ref_model.state_dict().items():
        assert torch.equal(p, before_policy[name]), name
    for name, p in trainer.reward_model.state_dict().items():
        assert torch.equal(p, before_rm[name]), name
    moved = trainer.model.policy.state_dict()
    assert all(not torch.equal(moved[k], before_policy[k]) for k in moved if "norm" not in k), (
        "policy weights frozen"
    )
    moved_v = trainer.model.value_model.state_dict()
    assert not torch.equal(moved_v["score.weight"], before_value["score.weight"])
    # value model initialised from the reward model (N-details)
    assert torch.equal(before_value["score.weight"], before_rm["score.weight"])
    expected = {
        "objective/kl",
        "objective/entropy",
        "objective/non_score_reward",
        "objective/rlhf_reward",
        "objective/scores",
        "policy/approxkl_avg",
        "policy/clipfrac_avg",
        "loss/policy_avg",
        "loss/value_avg",
        "val/clipfrac_avg",
        "val/ratio",
        "val/explained_variance",
        "eps",
        "lr",
        "episode",
        "response/eos_share",
        "response/length_mean",
        "grad_norm",
    }
    assert expected <= set(first)
    assert first["grad_norm"] > 0  # policy and critic together, before clipping


def _train_once(tiny_model_dir, tok, tmp_path, **kw):
    policy = _policy(tiny_model_dir, tok)
    args = _config(
        tmp_path, optim="sgd", **{"ppo_epochs": 2, "num_mini_batches": 1, "max_grad_norm": 0.0, **kw}
    )
    trainer = PPOTrainer(
        args,
        tok,
        policy,
        Dataset.from_dict({"prompt": PROMPTS}),
        reward_funcs=[
            lambda prompts, completions, completion_ids, **_: [
                len(i) / 6 + (i[0] % 7) for i in completion_ids
            ]
        ],
    )
    trainer.train()
    return trainer.model


def test_gradient_accumulation_equals_one_big_micro_batch(tiny_model_dir, tok, tmp_path):  # (d)
    a = _train_once(
        tiny_model_dir, tok, tmp_path / "a", per_device_train_batch_size=4, gradient_accumulation_steps=1
    )
    b = _train_once(
        tiny_model_dir, tok, tmp_path / "b", per_device_train_batch_size=2, gradient_accumulation_steps=2
    )
    c = _train_once(
        tiny_model_dir, tok, tmp_path / "c", per_device_train_batch_size=1, gradient_accumulation_steps=4
    )
    init = _policy(tiny_model_dir, tok).state_dict()
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert not torch.equal(sa["policy.lm_head.weight"], init["lm_head.weight"])
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], atol=1e-6, rtol=1e-5, msg=k)
        torch.testing.assert_close(sa[k], sc[k], atol=1e-6, rtol=1e-5, msg=k)


def _toy(tok, tmp_path, policy_loss_enabled, updates=12):
    """Tiny Llama whose LM head favours 32 token ids; reward = share of response tokens among the
    first 16 of them (optimum 1.0, start ~0.15)."""
    from transformers import LlamaForCausalLM

    cfg = tiny_llama_config(
        tok, max_position_embeddings=256, tie_word_embeddings=False, pad_token_id=tok.pad_token_id
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    active = torch.arange(1000, 1032)
    with torch.no_grad():
        model.lm_head.weight.zero_()
        model.lm_head.weight[active] = torch.randn(32, 16)
    target = set(active[:16].tolist())

    def reward(prompts, completions, completion_ids, **_):
        return [sum(t in target for t in ids) / max(len(ids), 1) for ids in completion_ids]

    args = _config(
        tmp_path,
        max_steps=updates,
        num_mini_batches=2,
        response_length=8,
        missing_eos_penalty=None,
        kl_coef=0.02,
        policy_loss_enabled=policy_loss_enabled,
    )
    trainer = PPOTrainer(args, tok, model, Dataset.from_dict({"prompt": PROMPTS}), reward_funcs=[reward])
    trainer.train()
    scores = [h["objective/scores"] for h in trainer.state.log_history]
    kls = [h["objective/kl"] for h in trainer.state.log_history]
    return scores, kls


@pytest.mark.slow
def test_toy_task_is_learned_and_the_ablation_is_not(tok, tmp_path):  # (a)
    scores, kls = _toy(tok, tmp_path / "ppo", policy_loss_enabled=True)
    ablated, ablated_kls = _toy(tok, tmp_path / "ablation", policy_loss_enabled=False)
    start = scores[0]
    assert ablated[0] == start  # same first rollout: only the update differs
    late, late_ablated = sum(scores[-4:]) / 4, sum(ablated[-4:]) / 4
    assert late > start + 0.08, scores
    assert late > late_ablated + 0.08, (scores, ablated)
    assert abs(late_ablated - start) < 0.06, ablated
    assert max(kls) < 10.0, kls  # bounded: the KL penalty holds the policy near the reference
    assert max(abs(k) for k in ablated_kls) == 0.0  # without a policy loss the policy never moves


def test_lora_reference_is_the_adapter_disabled_policy(tiny_model_dir, tok, tmp_path):
    from peft import LoraConfig

    policy = _policy(tiny_model_dir, tok)
    base = copy.deepcopy(policy.state_dict())
    args = _config(tmp_path, ppo_epochs=2, max_steps=2, learning_rate=1e-2)
    trainer = PPOTrainer(
        args,
        tok,
        policy,
        Dataset.from_dict({"prompt": PROMPTS}),
        reward_funcs=[lambda prompts, completions, **_: [float(len(c[0]["content"])) for c in completions]],
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
    )
    assert trainer.ref_model is None
    trainer.train()
    logs = trainer.state.log_history
    assert logs[0]["objective/kl"] == 0.0 and logs[1]["objective/kl"] != 0.0
    peft_model = trainer.model.policy
    for name, p in peft_model.get_base_model().state_dict().items():
        if "lora_" not in name:
            assert torch.equal(p, base[name.replace("base_layer.", "")]), name
    out = tmp_path / "saved"
    trainer.save_model(str(out))
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(out)
    assert (out / "adapter" / "adapter_config.json").is_file()


# ------------------------------------------------------------------------------ precision, sync, EOS


def _record_autocast(module, name, seen):
    """Forward pre-hook: whether CPU autocast (bf16) was on when ``module`` ran."""
    module.register_forward_pre_hook(
        lambda *_: seen.setdefault(name, set()).add(torch.is_autocast_enabled("cpu"))
    )


def test_bf16_runs_every_forward_pass_in_one_precision_first_update_exact(
    tiny_model_dir, tok, tmp_path, monkeypatch
):
    """bf16 autocast on CPU: sampling, the reference, the reward model, rollout scoring and the update all
    autocast, so while policy == reference the KL is exactly 0 and the first minibatch's ratio exactly 1
    (before: generate and the reference ran in fp32 beside a bf16 policy, KL 0.23 nats on the demo).
    Every attention of the run is computed in fp32 (models.cpu_autocast_attention_in_fp32)."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    from tests.test_models import _attention_spy

    calls: list = []
    monkeypatch.setitem(ALL_ATTENTION_FUNCTIONS._global_mapping, "sdpa", _attention_spy(calls))
    policy, rm = _policy(tiny_model_dir, tok), _reward_model(tiny_model_dir, tok)
    args = _config(tmp_path, ppo_epochs=1, num_mini_batches=1, max_steps=2, bf16=True, use_cpu=True)
    trainer = PPOTrainer(args, tok, policy, Dataset.from_dict({"prompt": PROMPTS}), reward_model=rm)
    assert trainer.accelerator.mixed_precision == "bf16"
    seen: dict[str, set] = {}
    _record_autocast(trainer.model.policy.model, "policy", seen)  # generate() and the scoring passes
    _record_autocast(trainer.ref_model, "reference", seen)
    _record_autocast(trainer.reward_model.model, "reward", seen)
    _record_autocast(trainer.model.value_model.model, "critic", seen)
    trainer.train()
    assert seen == {name: {True} for name in ("policy", "reference", "reward", "critic")}
    first, second = trainer.state.log_history[:2]
    assert first["objective/kl"] == 0.0
    assert first["val/ratio"] == 1.0 and first["policy/approxkl_avg"] == 0.0
    assert second["objective/kl"] != 0.0  # the policy moved: the checks above could fail
    assert {(frozenset(dtypes), on) for _, dtypes, on, _ in calls} == {(frozenset({torch.float32}), False)}
    assert {n > 1 for n, _, _, _ in calls} == {True, False}  # prompts and decode steps
    reached = {id(module) for *_, module in calls}
    for name, model in [
        ("policy", trainer.model.policy),
        ("reference", trainer.ref_model),
        ("reward", trainer.reward_model.model),
        ("critic", trainer.model.value_model),
    ]:
        layers = {id(m) for m in model.modules() if type(m).__name__.endswith("Attention")}
        assert layers and layers <= reached, name


@pytest.mark.parametrize(
    ("bf16", "shift", "weight", "capped"),
    [(False, 1.0, 1.0, 0.0), (True, 1.0, 1.0, 0.0), (False, 4.0, 0.25, 0.0), (False, 0.25, 2.0, 1.0)],
)
def test_truncated_importance_sampling_weights_by_the_sampler_gap(
    bf16, shift, weight, capped, tiny_model_dir, tok, tmp_path, monkeypatch
):
    """The sampler's own log-probs are recorded (in fp32 and under bf16 autocast they match the training
    forward); a sampler that gave the tokens ``shift`` x the training probability gets weight 1/shift,
    capped at rollout_is_cap."""
    import math

    from rlhf_trl.ppo import policy_and_value as sampling_module  # PolicyAndValue samples the rollouts

    generate = sampling_module.generate_responses

    def shifted(*a, **kw):
        batch = generate(*a, **kw)
        batch.sampler_logprobs = (batch.sampler_logprobs + math.log(shift)) * batch.response_mask
        return batch

    monkeypatch.setattr(sampling_module, "generate_responses", shifted)
    policy = _policy(tiny_model_dir, tok)
    args = _config(tmp_path, ppo_epochs=1, max_steps=1, rollout_is_cap=2.0, bf16=bf16, use_cpu=True)
    reward = [lambda prompts, completions, **_: [float(len(c[0]["content"])) for c in completions]]
    trainer = PPOTrainer(args, tok, policy, Dataset.from_dict({"prompt": PROMPTS}), reward_funcs=reward)
    trainer.train()
    log = trainer.state.log_history[0]
    assert log["rollout/logprob_diff_max"] == pytest.approx(abs(math.log(shift)), abs=1e-4)
    assert log["rollout/is_weight_mean"] == pytest.approx(weight, rel=1e-3)
    assert log["rollout/is_capped_frac"] == capped
    assert log["val/ratio"] == pytest.approx(1.0, abs=1e-6)


def test_micro_batches_sync_gradients_only_after_the_last_one(tiny_model_dir, tok, tmp_path, monkeypatch):
    """accelerate's DeepSpeed wrapper steps the engine inside backward() whenever sync_gradients is true
    (and DDP all-reduces): with 3 micro-batches per minibatch only the third may sync."""
    policy = _policy(tiny_model_dir, tok)
    args = _config(
        tmp_path,
        per_device_train_batch_size=1,
        gradient_accumulation_steps=3,
        num_mini_batches=2,
        ppo_epochs=2,
    )
    reward = [lambda prompts, completions, **_: [float(len(c[0]["content"])) for c in completions]]
    trainer = PPOTrainer(args, tok, policy, Dataset.from_dict({"prompt": PROMPTS}), reward_funcs=reward)
    syncs = []
    original = trainer.accelerator.backward
    monkeypatch.setattr(
        trainer.accelerator,
        "backward",
        lambda loss, **kw: (syncs.append(trainer.accelerator.sync_gradients), original(loss, **kw)),
    )
    trainer.train()
    assert syncs == [False, False, True] * (2 * 2)  # 2 epochs x 2 minibatches of 3 micro-batches


def test_without_policy_loss_an_entropy_bonus_does_not_move_the_policy(tiny_model_dir, tok, tmp_path):
    policy = _policy(tiny_model_dir, tok)
    before = copy.deepcopy(policy.state_dict())
    args = _config(tmp_path, max_steps=2, policy_loss_enabled=False, entropy_coef=0.5)
    reward = [lambda prompts, completions, **_: [float(len(c[0]["content"])) for c in completions]]
    trainer = PPOTrainer(args, tok, policy, Dataset.from_dict({"prompt": PROMPTS}), reward_funcs=reward)
    trainer.train()
    after = trainer.model.policy.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in before)
    assert [h["objective/kl"] for h in trainer.state.log_history] == [0.0, 0.0]


def test_activation_checkpointing_is_applied_and_gives_the_same_update(tiny_model_dir, tok, tmp_path):
    results = []
    for on in (False, True):
        policy = _policy(tiny_model_dir, tok)
        args = _config(tmp_path / str(on), optim="sgd", max_grad_norm=0.0, activation_checkpointing=on)
        reward = [lambda prompts, completions, **_: [float(len(c[0]["content"])) for c in completions]]
        trainer = PPOTrainer(args, tok, policy, Dataset.from_dict({"prompt": PROMPTS}), reward_funcs=reward)
        module = trainer.model
        assert module.policy.is_activation_checkpointing == on
        assert module.value_model.is_activation_checkpointing == on
        trainer.train()
        results.append(module.state_dict())
    plain, checkpointed = results
    for k in plain:
        torch.testing.assert_close(plain[k], checkpointed[k], atol=1e-6, rtol=1e-5, msg=k)


def _eos_policy(tiny_model_dir, tok, bias: float):
    """The tiny policy with an untied LM head whose EOS logit is raised by ``bias`` (the random tiny model
    never emits EOS by itself, so post-EOS code paths would go untested)."""
    policy = _policy(tiny_model_dir, tok)
    head = torch.nn.Linear(policy.config.hidden_size, policy.lm_head.out_features, bias=True)
    with torch.no_grad():
        head.weight.copy_(policy.lm_head.weight)
        head.bias.zero_()
        head.bias[tok.eos_token_id] = bias
    policy.lm_head = head
    policy.config.tie_word_embeddings = False
    return policy


def test_responses_that_stop_at_eos_are_masked_scored_and_penalised_inside_the_trainer(
    tiny_model_dir, tok, tmp_path, monkeypatch
):
    from rlhf_trl.ppo import core
    from rlhf_trl.ppo import policy_and_value as sampling_module  # PolicyAndValue samples the rollouts

    seen = {}

    def spy(name, fn):
        def wrapped(*args, **kw):
            out = fn(*args, **kw)
            seen.setdefault(name, []).append((args, out))
            return out

        monkeypatch.setattr(core if hasattr(core, name) else sampling_module, name, wrapped)

    for name in ("apply_missing_eos_penalty", "kl_penalized_rewards", "compute_gae", "generate_responses"):
        spy(name, getattr(core, name, None) or getattr(sampling_module, name))
    policy = _eos_policy(tiny_model_dir, tok, bias=9.0)  # temperature 1: P(EOS) ~ 0.2 per token
    rm = _reward_model(tiny_model_dir, tok)
    args = _config(tmp_path, max_steps=2, missing_eos_penalty=1.0, kl_coef=0.1, response_length=6)
    trainer = PPOTrainer(args, tok, policy, Dataset.from_dict({"prompt": PROMPTS}), reward_model=rm)
    trainer.train()
    batches = [out for _, out in seen["generate_responses"]]
    ended = torch.cat([b.ended_with_eos for b in batches])
    assert 0 < int(ended.sum()) < len(ended), ended  # both kinds of response
    for b, (pen_args, scores), (_kl_args, (rewards, non_score, _)), (gae_args, (adv, ret)) in zip(
        batches, seen["apply_missing_eos_penalty"], seen["kl_penalized_rewards"], seen["compute_gae"]
    ):
        lengths = b.lengths
        for i in range(len(b)):
            n = int(lengths[i])
            if b.ended_with_eos[i]:  # the mask covers the response up to and including its EOS
                assert int(b.response_ids[i, n - 1]) == tok.eos_token_id
                assert (b.response_ids[i, n:] == tok.pad_token_id).all()
            assert b.response_mask[i, :n].all() and not b.response_mask[i, n:].any()
        raw = pen_args[0]
        assert torch.equal(scores, torch.where(b.ended_with_eos, raw, raw - 1.0))  # penalty only without EOS
        rows = torch.arange(len(b))
        # the score sits on the last real token (the EOS when there is one), nothing after it
        torch.testing.assert_close(rewards[rows, lengths - 1], scores + non_score[rows, lengths - 1])
        values, mask = gae_args[1], gae_args[2]
        for t in (values, adv, ret, rewards):
            assert (t[mask == 0] == 0).all()


def test_policy_and_value_re_ties_the_lm_head_to_the_embedding(tiny_model_dir, tok):
    """accelerate's FSDP2 loading moves the module to meta (which unties shared weights) and re-ties only
    through ``model.tie_weights()``: PolicyAndValue must forward it, or the LM head trains as a frozen copy."""
    from rlhf_trl.models import load_causal_lm
    from rlhf_trl.ppo.policy_and_value import PolicyAndValue, value_model_from_policy

    policy = load_causal_lm(tiny_model_dir, tok)
    module = PolicyAndValue(policy, value_model_from_policy(policy))
    assert policy.lm_head.weight is policy.get_input_embeddings().weight
    policy.lm_head.weight = torch.nn.Parameter(
        policy.lm_head.weight.detach().clone()
    )  # as .to("meta") leaves it
    assert policy.lm_head.weight is not policy.get_input_embeddings().weight
    module.tie_weights()
    assert policy.lm_head.weight is policy.get_input_embeddings().weight


def test_critic_warmup_trains_only_the_critic_then_the_policy_on_its_own_schedule(
    tiny_model_dir, tok, tmp_path
):
    from transformers import TrainerCallback

    policy = _policy(tiny_model_dir, tok)
    start = copy.deepcopy(policy.state_dict())
    seen = []  # (policy unchanged since the start, critic state) after each update
    adam = []  # whether AdamW holds moments for the policy's parameters after each update

    class Watch(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, optimizer=None, **kw):
            same = all(torch.equal(v, start[k]) for k, v in model.policy.state_dict().items())
            seen.append((same, copy.deepcopy(model.value_model.state_dict())))
            adam.append(any(p in optimizer.state for p in model.policy.parameters()))

    args = _config(tmp_path, max_steps=3, critic_warmup_steps=2, critic_learning_rate=4e-3)
    reward = [lambda prompts, completions, **_: [float(len(c[0]["content"])) for c in completions]]
    trainer = PPOTrainer(
        args, tok, policy, Dataset.from_dict({"prompt": PROMPTS}), reward_funcs=reward, callbacks=[Watch()]
    )
    critic_start = copy.deepcopy(trainer.model.value_model.state_dict())
    trainer.train()
    assert [same for same, _ in seen] == [True, True, False]  # the policy moves only at update 3
    assert adam == [False, False, True]  # and its AdamW moments start there, not from warm-up gradients
    critics = [critic_start] + [c for _, c in seen]
    for before, after in zip(critics, critics[1:]):  # the critic learns at every update
        assert any(not torch.equal(before[k], after[k]) for k in before)
    logs = trainer.state.log_history[:3]
    assert [h["objective/kl"] for h in logs] == [0.0, 0.0, 0.0]  # every rollout came from the start policy
    # 4 optimizer steps per update, linear decay to 0: the critic's over 12 steps from 4e-3, the policy's 0 for
    # the first 8 and then over its own 4 from 1e-3 (logged after each update's steps)
    assert [h["lr"] for h in logs] == pytest.approx([0.0, 1e-3, 0.0])
    assert [h["lr_critic"] for h in logs] == pytest.approx([4e-3 * 2 / 3, 4e-3 / 3, 0.0])
    critic_ids = {id(p) for p in trainer.model.value_model.parameters()}
    for group in trainer.optimizer.param_groups:
        assert {id(p) in critic_ids for p in group["params"]} == {group["role"] == "critic"}
    assert sum(len(g["params"]) for g in trainer.optimizer.param_groups) == len(
        [p for p in trainer.model.parameters() if p.requires_grad]
    )


def test_critic_warmup_and_learning_rate_are_checked(tmp_path):
    with pytest.raises(ValueError, match="critic_warmup_steps=3 is invalid; allowed: fewer than max_steps"):
        _config(tmp_path, max_steps=3, critic_warmup_steps=3)
    with pytest.raises(ValueError, match="critic_learning_rate=0.0 is invalid"):
        _config(tmp_path, critic_learning_rate=0.0)


def test_critic_warmup_keeps_a_schedules_floor(tiny_model_dir, tok, tmp_path):
    """min_lr is read against the learning rate: with the warm-up the policy still ends at the floor."""
    policy = _policy(tiny_model_dir, tok)
    args = _config(
        tmp_path,
        max_steps=2,
        critic_warmup_steps=1,
        lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr": 5e-4},
    )
    reward = [lambda prompts, completions, **_: [float(len(c[0]["content"])) for c in completions]]
    trainer = PPOTrainer(args, tok, policy, Dataset.from_dict({"prompt": PROMPTS}), reward_funcs=reward)
    trainer.train()
    last = trainer.state.log_history[1]
    assert last["lr"] == pytest.approx(5e-4) and last["lr_critic"] == pytest.approx(5e-4)


def test_an_optimizer_state_of_the_old_group_layout_is_one_clear_error(
    tiny_model_dir, tok, tmp_path, monkeypatch
):
    from rlhf_trl.errors import UserError

    args = _config(tmp_path)
    reward = [lambda prompts, completions, **_: [1.0] * len(completions)]
    trainer = PPOTrainer(
        args, tok, _policy(tiny_model_dir, tok), Dataset.from_dict({"prompt": PROMPTS}), reward_funcs=reward
    )
    monkeypatch.setattr(trainer, "_sharded", lambda: False)
    monkeypatch.setattr("rlhf_trl.ppo.checkpoint.load_weights", lambda *a: None)

    def old_layout(folder):
        raise ValueError("loaded state dict has a different number of parameter groups")

    monkeypatch.setattr(trainer, "_load_optimizer_and_scheduler", old_layout)
    with pytest.raises(UserError, match="older rlhf-trl; start over with --overwrite_output_dir true"):
        trainer._load_checkpoint(str(tmp_path / "checkpoint-1"))


def test_resuming_under_deepspeed_is_refused(tiny_model_dir, tok, tmp_path, monkeypatch):
    """ZeRO-2 too: its engine holds the optimizer state and master weights that the resume does not restore."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedType

    from rlhf_trl.errors import UserError

    reward = [lambda prompts, completions, **_: [1.0] * len(completions)]
    trainer = PPOTrainer(
        _config(tmp_path),
        tok,
        _policy(tiny_model_dir, tok),
        Dataset.from_dict({"prompt": PROMPTS}),
        reward_funcs=reward,
    )
    monkeypatch.setattr(trainer, "_sharded", lambda: False)
    monkeypatch.setattr(Accelerator, "distributed_type", property(lambda self: DistributedType.DEEPSPEED))
    with pytest.raises(UserError, match="resuming PPO under FSDP or DeepSpeed is not supported; resume with"):
        trainer._load_checkpoint(str(tmp_path / "checkpoint-1"))


def test_disable_dropout_also_turns_off_llama_attention_dropout(tok, tmp_path):
    """Llama-family attention reads its dropout rate from a float attribute, not an nn.Dropout module, so
    TRL's disable_dropout_in_model leaves it on; PPOTrainer's disable_dropout must not."""
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    policy = LlamaForCausalLM(
        tiny_llama_config(
            tok, attention_dropout=0.5, pad_token_id=tok.pad_token_id, attn_implementation="eager"
        )
    )
    ids = torch.randint(0, 1000, (2, 12))
    policy.train()
    assert not torch.equal(policy(ids).logits, policy(ids).logits)  # the rate is live before
    reward = [lambda prompts, completions, **_: [1.0] * len(completions)]
    PPOTrainer(_config(tmp_path), tok, policy, Dataset.from_dict({"prompt": PROMPTS}), reward_funcs=reward)
    policy.train()
    torch.testing.assert_close(policy(ids).logits, policy(ids).logits, atol=0, rtol=0)
