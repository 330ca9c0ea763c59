# dev run 23 (README.md here): gold-ranked on-policy pairs from run 22's SFT model, DPO on them, dev evaluation
set -euo pipefail
cd /work/main
export HF_HUB_OFFLINE=1
R=outputs/v5dev_seed54; C=docs/analysis/tuning/prototype_v5_seed54_dev/config.yaml; S=$R/checkpoints
date
test -f $R/pairs_gold/pairs.json || .venv/bin/python recipes/pairs.py --config $C --reference_model $S/sft \
  --output_dir $R/pairs_gold --train_prompts 512 --replies 4 --rank_by gold
N=$(.venv/bin/python -c "import json, math; print(math.ceil(json.load(open('$R/pairs_gold/pairs.json'))['pairs'] / 4))")
echo "dpo_gold: max_steps $N"; date
if [ ! -f $S/dpo_gold/metrics.json ]; then
  resume=(); ls -d $S/dpo_gold/checkpoint-* >/dev/null 2>&1 && resume=(--resume_from_checkpoint true)
  # its own run_dir: its logs go to $R/run23/logs/dpo, not beside run 22's DPO logs
  .venv/bin/python recipes/dpo.py --config $C --model_name_or_path $S/sft --dataset_name $R/pairs_gold \
    --run_dir $R/run23 --output_dir $S/dpo_gold --max_steps $N "${resume[@]}"
fi
date
test -d $R/dev_eval_gold || cp -r $R/dev_eval $R/dev_eval_gold
.venv/bin/rlhf-trl evaluate --config recipes/configs/prototype_v4.yaml --dataset_name bundled --seed 54 \
  --run_dir $R --prompt_set dev --samples_per_prompt 2 --best_of_n 4 --reference $S/sft \
  --output_dir $R/dev_eval_gold --models ppo=$S/ppo grpo=$S/grpo dpo=$S/dpo dpo_gold=$S/dpo_gold
date
echo RUN23 DONE
