# dev run 27's control arm after outputs/ was lost with its checkout (README.md here, "The control arm, rebuilt"):
# retrain what ppo27c needs by the committed commands (run 22's SFT and reward model, sft27), check each against
# its committed record, then run27c.sh's PPO; evaluate ppo27c alone (sft27 as reference, run 27's settings) and
# read it beside run 27's committed evaluation (read_rlsubjects.py: the new reference replies must equal those).
# Resumable: finished stages are skipped, PPO resumes from its last complete checkpoint.
set -euo pipefail
cd /work/main
export HF_HUB_OFFLINE=1
R=outputs/v5dev_seed54; C=docs/analysis/tuning/prototype_v5_seed54_dev/config.yaml; S=$R/checkpoints
D=docs/analysis/tuning/prototype_v5_seed54_dev_rlsubjects; P=docs/analysis/tuning/prototype_v5_seed54_dev
py=.venv/bin/python
resume() { if ls "$1"/checkpoint-*/trainer_state.json >/dev/null 2>&1; then echo --resume_from_checkpoint true; fi; }
# same: the committed stage record's test metric and step count equal the new one's (to the last digit)
same() { $py -c "import json, sys; a, b = (json.load(open(p)) for p in sys.argv[1:3]); k = sys.argv[3]; \
print(f'{sys.argv[2]}: {k} {b[k]!r} (committed {a[k]!r})'); \
sys.exit(None if (a[k], a['global_step']) == (b[k], b['global_step']) else 'differs from the committed run')" "$@"; }
date
test -f outputs/testbed_advice_x3/train.jsonl.gz || $py docs/analysis/tuning/upweight_kind.py advice 3 outputs/testbed_advice_x3
test -d $R/run27_data/rl || $py $D/make_data.py outputs/testbed_advice_x3 $R/run27_data
test -d $R/run27_data/sft_matched || $py $D/make_control.py $R/run27_data
git diff --exit-code -- $D/split.json $D/control.json  # the same split and matched prompts as run 27's
# run 22's SFT and reward stages (the reward model starts from that SFT model), as its README's command
.venv/bin/rlhf-trl demo --config $C --stages sft reward
same $P/stages/sft.json $S/sft/metrics.json test/loss
same $P/stages/reward.json $S/reward/metrics.json test/accuracy
test -f $S/sft27/config.json || $py recipes/sft.py --config $C --dataset_name $R/run27_data/sft \
  --max_steps 195 --run_dir $R/run27 --output_dir $S/sft27
same $D/stages/sft27.json $S/sft27/metrics.json test/loss
date
test -f $S/ppo27c/metrics.json || $py recipes/ppo.py --config $C --model_name_or_path $S/sft27 \
  --reward_funcs $S/reward --value_model_path $S/reward --dataset_name $R/run27_data/sft_matched \
  --run_dir $R/run27c --output_dir $S/ppo27c $(resume $S/ppo27c)
date
# run 27's evaluation command with ppo27c as its only model (ppo27's checkpoint went with outputs/)
.venv/bin/rlhf-trl evaluate --config recipes/configs/prototype_v4.yaml --dataset_name bundled --seed 54 \
  --run_dir $R --prompt_set dev --samples_per_prompt 2 --best_of_n --reference $S/sft27 \
  --output_dir $R/dev_eval_run27c --models ppo27c=$S/ppo27c
E=$R/dev_eval_run27c/evaluation
cp $E/metrics.json $D/metrics_control.json; cp $E/report.md $D/report_control.md
gzip -9n -c $E/samples.jsonl > $D/samples_control.jsonl.gz
cp $S/ppo27c/metrics.json $D/stages/ppo27c.json
$py -c "import json, sys; from pathlib import Path; from rlhf_trl.checkpoints import latest_checkpoint; \
log = json.loads((latest_checkpoint(sys.argv[1]) / 'trainer_state.json').read_text())['log_history']; \
Path(sys.argv[2]).write_text(json.dumps(log, indent=1))" $S/ppo27c $D/ppo27c_log_history.json
$py $D/read_rlsubjects.py $D > $D/read_rlsubjects.txt
cat $D/read_rlsubjects.txt
date
echo REBUILD27C DONE
