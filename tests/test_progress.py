"""Compact progress lines: one short line per log, for each stage's own metrics."""

from rlhf_trl.progress import format_log


def test_grpo_log_is_one_short_line_of_the_metrics_that_matter():
    logs = {
        "loss": 0.0021, "grad_norm": 1.3, "learning_rate": 2.1e-5, "num_tokens": 9000.0, "reward": 0.4123,
        "reward_std": 0.2, "kl": 0.0312, "entropy": 1.214, "completions/mean_length": 38.5,
        "clip_ratio/low_mean": 0.0, "frac_reward_zero_std": 0.0, "step_time": 20.1, "epoch": 0.1,
    }  # fmt: skip
    line = format_log("grpo", logs, 10, 30)
    assert (
        line
        == "[grpo] step 10/30  reward 0.4123  kl 0.0312  length 38.5  entropy 1.214  loss 0.0021  lr 2.1e-05"
    )
    assert "grad_norm" not in line and "{" not in line


def test_ppo_dpo_reward_sft_eval_and_summary_lines():
    ppo = {"objective/scores": -0.52, "objective/kl": 0.31, "objective/entropy": 20.5, "lr": 1e-5, "eps": 0.2}
    assert format_log("ppo", ppo, 4, 24) == "[ppo] step 4/24  score -0.52  kl 0.31  entropy 20.5  lr 1e-05"
    dpo = {"loss": 0.69, "rewards/accuracies": 0.75, "rewards/margins": 0.01, "logps/chosen": -80.0}
    assert format_log("dpo", dpo, 5, 32) == "[dpo] step 5/32  acc 0.75  margin 0.01  loss 0.69"
    evaluated = {"eval_loss": 0.4, "eval_accuracy": 0.9, "eval_runtime": 3.0, "epoch": 1.0}
    assert format_log("reward", evaluated, 32, 32) == "[reward] eval at step 32  acc 0.9  loss 0.4"
    summary = {"train_runtime": 607.8, "train_samples_per_second": 0.4, "train_loss": 1.74, "epoch": 0.12}
    assert format_log("sft", summary, 30, 30) == "[sft] trained 30 steps in 608 s, mean training loss 1.74"
    # keys no list knows are shown rather than dropped
    assert format_log("x", {"foo": 3}, 1, 2) == "[x] step 1/2  foo 3"
