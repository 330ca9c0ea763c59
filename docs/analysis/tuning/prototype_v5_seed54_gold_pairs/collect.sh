# copy dev run 23's small outputs here (after run23.sh printed RUN23 DONE), then read them by the plan
set -euo pipefail
cd /work/main
R=outputs/v5dev_seed54; D=docs/analysis/tuning/prototype_v5_seed54_gold_pairs
mkdir -p $D/stages
cp $R/dev_eval_gold/evaluation/metrics.json $R/dev_eval_gold/evaluation/report.md $D/
gzip -9n -c $R/dev_eval_gold/evaluation/samples.jsonl > $D/samples.jsonl.gz
cp $R/checkpoints/dpo_gold/metrics.json $D/stages/dpo_gold.json
cp $R/pairs_gold/pairs.json $D/pairs.json
gzip -9n -c $R/pairs_gold/train.jsonl > $D/pairs_train_gold.jsonl.gz
gzip -9n -c $R/pairs/train.jsonl > $D/pairs_train_rm.jsonl.gz
.venv/bin/python -c "from rlhf_trl.hardware import machine_summary; print(machine_summary())" > $D/machine.txt
.venv/bin/python $D/read_gold_pairs.py $D > $D/read_gold_pairs.txt
cat $D/read_gold_pairs.txt
