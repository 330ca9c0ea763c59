# dev run 29c (README.md here): run 27's PPO (from sft27, on the RL side's prompts) with dev run 29b's rm29 as its reward
set -euo pipefail
cd /work/main
export HF_HUB_OFFLINE=1
R=outputs/v5dev_seed54; C=docs/analysis/tuning/prototype_v5_seed54_dev/config.yaml; S=$R/checkpoints
T=docs/analysis/tuning/prototype_v5_seed54_dev_rlsubjects_gold   # run 28: trained_side.py
resume() { if ls "$1"/checkpoint-*/trainer_state.json >/dev/null 2>&1; then echo --resume_from_checkpoint true; fi; }
date
# the reward model and the critic that starts from it are rm29 (run 27: run 22's reward model for both)
test -f $S/ppo29/metrics.json || .venv/bin/python recipes/ppo.py --config $C --model_name_or_path $S/sft27 \
  --reward_funcs $S/rm29 --value_model_path $S/rm29 --dataset_name $R/run27_data/rl \
  --run_dir $R/run29 --output_dir $S/ppo29 $(resume $S/ppo29)
date
# run 28's evaluation and its cache: only the new policy is sampled and scored
test -d $R/dev_eval_run29 || cp -r $R/dev_eval_run28 $R/dev_eval_run29
.venv/bin/rlhf-trl evaluate --config recipes/configs/prototype_v4.yaml --dataset_name bundled --seed 54 \
  --run_dir $R --prompt_set dev --samples_per_prompt 2 --best_of_n --reference $S/sft27 \
  --output_dir $R/dev_eval_run29 --models ppo27c=$S/ppo27c ppo27g=$S/ppo27g ppo29=$S/ppo29
date
.venv/bin/python $T/trained_side.py $R/run27_data/rl $S sft27 ppo29 > $R/run29/trained_side.jsonl
date
echo RUN29C DONE
