# dev run 27 (README.md here): SFT on part of the training subjects, PPO on prompts of the others
set -euo pipefail
cd /work/main
export HF_HUB_OFFLINE=1
R=outputs/v5dev_seed54; C=docs/analysis/tuning/prototype_v5_seed54_dev/config.yaml; S=$R/checkpoints
D=docs/analysis/tuning/prototype_v5_seed54_dev_rlsubjects
resume() { if ls "$1"/checkpoint-*/trainer_state.json >/dev/null 2>&1; then echo --resume_from_checkpoint true; fi; }
date
test -d $R/run27_data/rl || .venv/bin/python $D/make_data.py outputs/testbed_advice_x3 $R/run27_data
# run 22's SFT stage on the SFT side's 1,555 pairs, each chosen reply once (195 steps of 8; run 22: 286 for 2,288)
test -f $S/sft27/config.json || .venv/bin/python recipes/sft.py --config $C --dataset_name $R/run27_data/sft \
  --max_steps 195 --run_dir $R/run27 --output_dir $S/sft27
date
# run 22's PPO stage (its reward model as reward and critic, every setting) on the RL side's prompts
test -f $S/ppo27/metrics.json || .venv/bin/python recipes/ppo.py --config $C --model_name_or_path $S/sft27 \
  --reward_funcs $S/reward --value_model_path $S/reward --dataset_name $R/run27_data/rl --run_dir $R/run27 \
  --output_dir $S/ppo27 $(resume $S/ppo27)
date
# run 22's evaluation (dev prompts, 2 replies each, seed 54) with sft27 as the reference; no best-of-n
.venv/bin/rlhf-trl evaluate --config recipes/configs/prototype_v4.yaml --dataset_name bundled --seed 54 \
  --run_dir $R --prompt_set dev --samples_per_prompt 2 --best_of_n --reference $S/sft27 \
  --output_dir $R/dev_eval_run27 --models ppo27=$S/ppo27
date
echo RUN27 DONE
