# copy dev run 28's GRPO arm's small outputs to grpo/ here (after run28g.sh printed RUN28G DONE), then read them
set -euo pipefail
cd /work/main
R=outputs/v5dev_seed54; D=docs/analysis/tuning/prototype_v5_seed54_dev_rlsubjects_gold; G=$D/grpo; m=grpo27g
mkdir -p $G/stages
cp $R/dev_eval_run28g/evaluation/metrics.json $R/dev_eval_run28g/evaluation/report.md $G/
gzip -9n -c $R/dev_eval_run28g/evaluation/samples.jsonl > $G/samples.jsonl.gz
gzip -9n -c $R/run28g/trained_side.jsonl > $G/trained_side.jsonl.gz
cp $R/checkpoints/$m/metrics.json $G/stages/$m.json
.venv/bin/python -c "import json, sys; from pathlib import Path; from rlhf_trl.checkpoints import latest_checkpoint; \
log = json.loads((latest_checkpoint(sys.argv[1]) / 'trainer_state.json').read_text())['log_history']; \
Path(sys.argv[2]).write_text(json.dumps(log, indent=1))" $R/checkpoints/$m $G/${m}_log_history.json
.venv/bin/python $D/read_gold_rl.py $G $m > $G/read_gold_rl.txt
cat $G/read_gold_rl.txt
# beside the reading (the plan): grpo27g − ppo27g on dev, both in grpo/samples.jsonl.gz
.venv/bin/python - $G/samples.jsonl.gz >> $G/read_gold_rl.txt <<'PY'
import sys
sys.path[:0] = ["docs/analysis/tuning", "docs/analysis/tuning/prototype_v5_seed46_budget",
                "docs/analysis/tuning/prototype_v5_seed54_dev_trained"]
from compare_chains import print_paired, read
from read_budget import per_prompt_gold
from read_dev_trained import benign_informative
rows = read(sys.argv[1])
g, i = per_prompt_gold(rows), benign_informative(rows)
print("\nbeside (the plan): grpo27g − ppo27g on the dev prompts")
print_paired("  gold", [g["grpo27g"][k] - g["ppo27g"][k] for k in sorted(g["ppo27g"])])
print_paired("  benign informative", [i["grpo27g"][k] - i["ppo27g"][k] for k in sorted(i["ppo27g"])])
PY
tail -n 12 $G/read_gold_rl.txt
