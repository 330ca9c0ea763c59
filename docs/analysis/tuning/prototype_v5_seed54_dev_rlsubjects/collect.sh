# copy dev run 27's small outputs here (after run27.sh's evaluation), then read them by the plan; the control arm's
# outputs are copied by rebuild27c.sh (README.md), and read_rlsubjects.py checks its reference replies; room.py once (it samples: ~5 min)
set -euo pipefail
cd /work/main
R=outputs/v5dev_seed54; D=docs/analysis/tuning/prototype_v5_seed54_dev_rlsubjects; S=$R/checkpoints
E=$R/dev_eval_run27; models="sft27 ppo27"
mkdir -p $D/stages
cp $E/evaluation/metrics.json $E/evaluation/report.md $D/
gzip -9n -c $E/evaluation/samples.jsonl > $D/samples.jsonl.gz
for m in $models; do cp $S/$m/metrics.json $D/stages/$m.json; done
# PPO's training curves (every logged step): the last checkpoint's log
for m in $models; do
  case $m in ppo*) .venv/bin/python -c "import json, sys; from pathlib import Path; \
from rlhf_trl.checkpoints import latest_checkpoint; \
log = json.loads((latest_checkpoint(sys.argv[1]) / 'trainer_state.json').read_text())['log_history']; \
Path(sys.argv[2]).write_text(json.dumps(log, indent=1))" $S/$m $D/${m}_log_history.json;; esac
done
.venv/bin/python -c "from rlhf_trl.hardware import machine_summary; print(machine_summary())" > $D/machine.txt
test -f $D/room.txt || HF_HUB_OFFLINE=1 .venv/bin/python $D/room.py $R/run27_data $S > $D/room.txt
.venv/bin/python $D/read_rlsubjects.py $D > $D/read_rlsubjects.txt
cat $D/room.txt $D/read_rlsubjects.txt
