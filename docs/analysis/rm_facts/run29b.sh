# dev run 29b (README.md here): rm29 = run 22's reward stage on the bundled pairs + run 23's gold-ranked on-policy pairs
set -euo pipefail
cd /work/main
export HF_HUB_OFFLINE=1
R=outputs/v5dev_seed54; C=docs/analysis/tuning/prototype_v5_seed54_dev/config.yaml; S=$R/checkpoints
D=$R/run29_data; G=docs/analysis/tuning/prototype_v5_seed54_gold_pairs/pairs_train_gold.jsonl.gz
date
if [ ! -f $D/train.jsonl.gz ]; then
  mkdir -p $D
  cp outputs/testbed_advice_x3/test.jsonl.gz $D/
  (zcat outputs/testbed_advice_x3/train.jsonl.gz; zcat $G) | gzip -n > $D/train.jsonl.gz
fi
N=$(zcat $D/train.jsonl.gz | wc -l); STEPS=$(( (N + 7) / 8 ))
echo "rm29: $N pairs, max_steps $STEPS"
# the chain's reward stage starts from its SFT model (rlhf_trl/demo.py, FROM_SFT), as run 22's did
test -f $S/rm29/metrics.json || .venv/bin/python recipes/reward.py --config $C --model_name_or_path $S/sft --dataset_name $D \
  --run_dir $R/run29 --output_dir $S/rm29 --max_steps $STEPS
date
.venv/bin/python docs/analysis/rm_facts/rm_facts.py $S/reward $S/rm29 > $R/run29/rm_facts_29b.txt
date
echo RUN29B DONE
