# dev run 28 (README.md here): run 27's PPO (from sft27, on the RL side's prompts) with gold as its reward
set -euo pipefail
cd /work/main
export HF_HUB_OFFLINE=1
R=outputs/v5dev_seed54; C=docs/analysis/tuning/prototype_v5_seed54_dev/config.yaml; S=$R/checkpoints
D=docs/analysis/tuning/prototype_v5_seed54_dev_rlsubjects_gold
# run 24's reward: 30 x gold - 18.6 (gold in the reward model's units); the critic starts from run 22's reward model
export PYTHONPATH=docs/analysis/tuning/prototype_v5_seed54_gold_reward
resume() { if ls "$1"/checkpoint-*/trainer_state.json >/dev/null 2>&1; then echo --resume_from_checkpoint true; fi; }
date
test -f $S/ppo27g/metrics.json || .venv/bin/python recipes/ppo.py --config $C --model_name_or_path $S/sft27 \
  --reward_funcs oracle_reward:gold_in_rm_units --value_model_path $S/reward --dataset_name $R/run27_data/rl \
  --run_dir $R/run28 --output_dir $S/ppo27g $(resume $S/ppo27g)
date
# run 27's evaluation and its cache (the control's copy): only the new policy is sampled and scored
test -d $R/dev_eval_run28 || cp -r $R/dev_eval_run27c $R/dev_eval_run28
.venv/bin/rlhf-trl evaluate --config recipes/configs/prototype_v4.yaml --dataset_name bundled --seed 54 \
  --run_dir $R --prompt_set dev --samples_per_prompt 2 --best_of_n --reference $S/sft27 \
  --output_dir $R/dev_eval_run28 --models ppo27c=$S/ppo27c ppo27g=$S/ppo27g
date
# where it trained: sft27 and ppo27g on the RL side's distinct prompts, two replies each, scored by gold
.venv/bin/python $D/trained_side.py $R/run27_data/rl $S > $R/run28/trained_side.jsonl
date
echo RUN28 DONE
