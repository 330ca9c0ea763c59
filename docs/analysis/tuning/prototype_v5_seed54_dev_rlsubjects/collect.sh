# copy dev run 27's small outputs here (after run27.sh's evaluation), then read them by the plan
set -euo pipefail
cd /work/main
R=outputs/v5dev_seed54; D=docs/analysis/tuning/prototype_v5_seed54_dev_rlsubjects
mkdir -p $D/stages
cp $R/dev_eval_run27/evaluation/metrics.json $R/dev_eval_run27/evaluation/report.md $D/
gzip -9n -c $R/dev_eval_run27/evaluation/samples.jsonl > $D/samples.jsonl.gz
for m in sft27 ppo27; do cp $R/checkpoints/$m/metrics.json $D/stages/$m.json; done
# PPO's training curve (every logged step): the last checkpoint's log
.venv/bin/python -c "import json, sys; from pathlib import Path; from rlhf_trl.checkpoints import latest_checkpoint; \
log = json.loads((latest_checkpoint(sys.argv[1]) / 'trainer_state.json').read_text())['log_history']; \
Path(sys.argv[2]).write_text(json.dumps(log, indent=1))" $R/checkpoints/ppo27 $D/ppo27_log_history.json
.venv/bin/python -c "from rlhf_trl.hardware import machine_summary; print(machine_summary())" > $D/machine.txt
.venv/bin/python $D/read_rlsubjects.py $D > $D/read_rlsubjects.txt
cat $D/read_rlsubjects.txt
