# dev run 26 (README.md here): PPO with gold as its reward, trained on half A of the dev prompts, evaluated on all of them
set -euo pipefail
cd /work/main
export HF_HUB_OFFLINE=1
R=outputs/v5dev_seed54; C=docs/analysis/tuning/prototype_v5_seed54_dev/config.yaml; S=$R/checkpoints
export PYTHONPATH=docs/analysis/tuning/prototype_v5_seed54_gold_reward   # run 24's reward: 30 x gold - 18.6
resume() { if ls "$1"/checkpoint-*/trainer_state.json >/dev/null 2>&1; then echo --resume_from_checkpoint true; fi; }
date
test -d $R/run26_data || .venv/bin/python docs/analysis/tuning/prototype_v5_seed54_dev_transfer/make_data.py $R/run26_data
# run 25's PPO command but for --dataset_name (half A's prompts) and its own folders
test -f $S/ppo_gold_devA/metrics.json || .venv/bin/python recipes/ppo.py --config $C --model_name_or_path $S/sft \
  --reward_funcs oracle_reward:gold_in_rm_units --run_dir $R/run26 --value_model_path $S/reward \
  --dataset_name $R/run26_data --output_dir $S/ppo_gold_devA $(resume $S/ppo_gold_devA)
date
# run 25's evaluation and its cache: only the new policy is sampled and scored
test -d $R/dev_eval_run26 || cp -r $R/dev_eval_run25 $R/dev_eval_run26
.venv/bin/rlhf-trl evaluate --config recipes/configs/prototype_v4.yaml --dataset_name bundled --seed 54 \
  --run_dir $R --prompt_set dev --samples_per_prompt 2 --best_of_n 4 --reference $S/sft \
  --output_dir $R/dev_eval_run26 \
  --models ppo=$S/ppo grpo=$S/grpo dpo=$S/dpo dpo_gold=$S/dpo_gold ppo_gold=$S/ppo_gold grpo_gold=$S/grpo_gold \
  ppo_gold_dev=$S/ppo_gold_dev grpo_gold_dev=$S/grpo_gold_dev ppo_gold_devA=$S/ppo_gold_devA
date
echo RUN26 DONE
