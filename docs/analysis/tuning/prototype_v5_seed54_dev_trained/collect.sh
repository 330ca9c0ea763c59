# copy dev run 25's small outputs here (after run25.sh's evaluations), then read them by the plan
set -euo pipefail
cd /work/main
R=outputs/v5dev_seed54; D=docs/analysis/tuning/prototype_v5_seed54_dev_trained
mkdir -p $D/stages
cp $R/dev_eval_run25/evaluation/metrics.json $R/dev_eval_run25/evaluation/report.md $D/
gzip -9n -c $R/dev_eval_run25/evaluation/samples.jsonl > $D/samples.jsonl.gz
for m in ppo_gold_dev grpo_gold_dev; do
  test -f $R/checkpoints/$m/metrics.json || continue   # GRPO's arm only if it was trained
  cp $R/checkpoints/$m/metrics.json $D/stages/$m.json
  # the training curves (every logged step; metrics.json keeps first/last/mean): the last checkpoint's log
  .venv/bin/python -c "import json, sys; from pathlib import Path; from rlhf_trl.checkpoints import latest_checkpoint; \
log = json.loads((latest_checkpoint(sys.argv[1]) / 'trainer_state.json').read_text())['log_history']; \
Path(sys.argv[2]).write_text(json.dumps(log, indent=1))" $R/checkpoints/$m $D/${m}_log_history.json
done
.venv/bin/python -c "from rlhf_trl.hardware import machine_summary; print(machine_summary())" > $D/machine.txt
.venv/bin/python $D/read_dev_trained.py $D > $D/read_dev_trained.txt
cat $D/read_dev_trained.txt
