# dev run 24 (README.md here): PPO and GRPO from run 22's SFT model with the gold rubric as their reward, dev evaluation
set -euo pipefail
cd /work/main
export HF_HUB_OFFLINE=1
R=outputs/v5dev_seed54; C=docs/analysis/tuning/prototype_v5_seed54_dev/config.yaml; S=$R/checkpoints
# 30 x gold - 18.6: gold in the reward model's units (README: the reward; oracle_reward.py); its own run_dir
export PYTHONPATH=docs/analysis/tuning/prototype_v5_seed54_gold_reward
ORACLE=(--config $C --model_name_or_path $S/sft --reward_funcs oracle_reward:gold_in_rm_units --run_dir $R/run24)
resume() { if ls "$1"/checkpoint-*/trainer_state.json >/dev/null 2>&1; then echo --resume_from_checkpoint true; fi; }
date
test -f $S/grpo_gold/metrics.json || .venv/bin/python recipes/grpo.py "${ORACLE[@]}" \
  --output_dir $S/grpo_gold $(resume $S/grpo_gold)
date
# the critic starts from run 22's reward model, as run 22's PPO's did (with gold there is no reward model to copy)
test -f $S/ppo_gold/metrics.json || .venv/bin/python recipes/ppo.py "${ORACLE[@]}" --value_model_path $S/reward \
  --output_dir $S/ppo_gold $(resume $S/ppo_gold)
date
# run 23's evaluation and its cache (run 22's models and dpo_gold): only the two new policies are sampled and scored
test -d $R/dev_eval_oracle || cp -r $R/dev_eval_gold $R/dev_eval_oracle
.venv/bin/rlhf-trl evaluate --config recipes/configs/prototype_v4.yaml --dataset_name bundled --seed 54 \
  --run_dir $R --prompt_set dev --samples_per_prompt 2 --best_of_n 4 --reference $S/sft \
  --output_dir $R/dev_eval_oracle \
  --models ppo=$S/ppo grpo=$S/grpo dpo=$S/dpo dpo_gold=$S/dpo_gold ppo_gold=$S/ppo_gold grpo_gold=$S/grpo_gold
date
echo RUN24 DONE
