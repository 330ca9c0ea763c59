# dev run 27's control arm (README.md here): run27.sh's PPO from sft27, on SFT-side prompts matched to the RL side's
set -euo pipefail
cd /work/main
export HF_HUB_OFFLINE=1
R=outputs/v5dev_seed54; C=docs/analysis/tuning/prototype_v5_seed54_dev/config.yaml; S=$R/checkpoints
D=docs/analysis/tuning/prototype_v5_seed54_dev_rlsubjects
resume() { if ls "$1"/checkpoint-*/trainer_state.json >/dev/null 2>&1; then echo --resume_from_checkpoint true; fi; }
date
test -d $R/run27_data/sft_matched || .venv/bin/python $D/make_control.py $R/run27_data
test -f $S/ppo27c/metrics.json || .venv/bin/python recipes/ppo.py --config $C --model_name_or_path $S/sft27 \
  --reward_funcs $S/reward --value_model_path $S/reward --dataset_name $R/run27_data/sft_matched \
  --run_dir $R/run27c --output_dir $S/ppo27c $(resume $S/ppo27c)
date
# run27.sh's evaluation and its cache: only the new policy is sampled and scored
test -d $R/dev_eval_run27c || cp -r $R/dev_eval_run27 $R/dev_eval_run27c
.venv/bin/rlhf-trl evaluate --config recipes/configs/prototype_v4.yaml --dataset_name bundled --seed 54 \
  --run_dir $R --prompt_set dev --samples_per_prompt 2 --best_of_n --reference $S/sft27 \
  --output_dir $R/dev_eval_run27c --models ppo27=$S/ppo27 ppo27c=$S/ppo27c
date
echo RUN27C DONE
