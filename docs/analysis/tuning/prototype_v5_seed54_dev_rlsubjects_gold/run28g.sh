# dev run 28's GRPO arm (README.md here): run 24's gold-rewarded GRPO from sft27 on the RL side's prompts
set -euo pipefail
cd /work/main
export HF_HUB_OFFLINE=1
R=outputs/v5dev_seed54; C=docs/analysis/tuning/prototype_v5_seed54_dev/config.yaml; S=$R/checkpoints
D=docs/analysis/tuning/prototype_v5_seed54_dev_rlsubjects_gold
export PYTHONPATH=docs/analysis/tuning/prototype_v5_seed54_gold_reward  # run 24's reward: 30 x gold - 18.6
resume() { if ls "$1"/checkpoint-*/trainer_state.json >/dev/null 2>&1; then echo --resume_from_checkpoint true; fi; }
date
test -f $S/grpo27g/metrics.json || .venv/bin/python recipes/grpo.py --config $C --model_name_or_path $S/sft27 \
  --reward_funcs oracle_reward:gold_in_rm_units --dataset_name $R/run27_data/rl --run_dir $R/run28g \
  --output_dir $S/grpo27g $(resume $S/grpo27g)
date
# run28.sh's evaluation and its cache: only the new policy is sampled and scored
test -d $R/dev_eval_run28g || cp -r $R/dev_eval_run28 $R/dev_eval_run28g
.venv/bin/rlhf-trl evaluate --config recipes/configs/prototype_v4.yaml --dataset_name bundled --seed 54 \
  --run_dir $R --prompt_set dev --samples_per_prompt 2 --best_of_n --reference $S/sft27 \
  --output_dir $R/dev_eval_run28g --models ppo27c=$S/ppo27c ppo27g=$S/ppo27g grpo27g=$S/grpo27g
date
.venv/bin/python $D/trained_side.py $R/run27_data/rl $S sft27 grpo27g > $R/run28g/trained_side.jsonl
date
echo RUN28G DONE
