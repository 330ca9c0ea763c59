# copy dev run 28's small outputs here, then read them by the plan: `collect.sh` for the PPO arm (after run28.sh
# printed RUN28 DONE), `collect.sh grpo` for the GRPO arm, into grpo/ (after run28g.sh printed RUN28G DONE)
set -euo pipefail
cd /work/main
R=outputs/v5dev_seed54; D=docs/analysis/tuning/prototype_v5_seed54_dev_rlsubjects_gold
case ${1:-ppo} in
  ppo) O=$D; m=ppo27g; run=run28;;
  grpo) O=$D/grpo; m=grpo27g; run=run28g;;
  *) echo "usage: collect.sh [ppo|grpo]" >&2; exit 2;;
esac
mkdir -p $O/stages
cp $R/dev_eval_$run/evaluation/metrics.json $R/dev_eval_$run/evaluation/report.md $O/
gzip -9n -c $R/dev_eval_$run/evaluation/samples.jsonl > $O/samples.jsonl.gz
gzip -9n -c $R/$run/trained_side.jsonl > $O/trained_side.jsonl.gz
cp $R/checkpoints/$m/metrics.json $O/stages/$m.json
# the training curve (every logged step): the last checkpoint's log
.venv/bin/python -c "import json, sys; from pathlib import Path; from rlhf_trl.checkpoints import latest_checkpoint; \
log = json.loads((latest_checkpoint(sys.argv[1]) / 'trainer_state.json').read_text())['log_history']; \
Path(sys.argv[2]).write_text(json.dumps(log, indent=1))" $R/checkpoints/$m $O/${m}_log_history.json
test $O != $D || .venv/bin/python -c "from rlhf_trl.hardware import machine_summary; print(machine_summary())" > $D/machine.txt
.venv/bin/python $D/read_gold_rl.py $O $m > $O/read_gold_rl.txt
cat $O/read_gold_rl.txt
