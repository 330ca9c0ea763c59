# copy dev run 29c's small outputs here (after run29c.sh printed RUN29C DONE), then read them by the plan
set -euo pipefail
cd /work/main
R=outputs/v5dev_seed54; D=docs/analysis/tuning/prototype_v5_seed54_dev_rm29; m=ppo29
mkdir -p $D/stages
cp $R/dev_eval_run29/evaluation/metrics.json $R/dev_eval_run29/evaluation/report.md $D/
gzip -9n -c $R/dev_eval_run29/evaluation/samples.jsonl > $D/samples.jsonl.gz
gzip -9n -c $R/run29/trained_side.jsonl > $D/trained_side.jsonl.gz
cp $R/checkpoints/$m/metrics.json $D/stages/$m.json
cp $R/checkpoints/rm29/metrics.json $D/stages/rm29.json
.venv/bin/python -c "import json, sys; from pathlib import Path; from rlhf_trl.checkpoints import latest_checkpoint; \
log = json.loads((latest_checkpoint(sys.argv[1]) / 'trainer_state.json').read_text())['log_history']; \
Path(sys.argv[2]).write_text(json.dumps(log, indent=1))" $R/checkpoints/$m $D/${m}_log_history.json
.venv/bin/python -c "from rlhf_trl.hardware import machine_summary; print(machine_summary())" > $D/machine.txt
.venv/bin/python $D/read_rm29.py $D > $D/read_rm29.txt
cat $D/read_rm29.txt
