"""`rlhf-trl report --runs`: several training seeds pooled (rlhf_trl/evaluation/seeds.py), checked against
hand computations on fake evaluations written by the harness's own output functions (no model loads)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from conftest import labelled_testbed_prompts

N = 11
HARMFUL = (0, 5)
REFUSAL = "I'm sorry, but I can't help with that."
# ppo's gold difference to the reference per seed and prompt. Prompts 0-8 average +0.1/3 although two
# seeds of three are negative; prompt 9 averages -0.2/3; prompt 10 averages 0 (a tie): 9 wins, 1 loss.
PPO_D = {
    42: [0.3] * 9 + [-0.3, 0.2],
    43: [-0.1] * 9 + [0.1, -0.2],
    44: [-0.1] * 9 + [0.0, 0.0],
}
DPO_D = {42: 0.1, 43: 0.3}  # dpo was trained with two of the seeds only
# ppo's pairwise judgements (local_lm): prompt 0 win / loss / tie (mean 0), prompts 1-5 wins, rest ties
PPO_LOCAL = {s: [first] + [1.0] * 5 + [0.5] * 5 for s, first in ((42, 1.0), (43, 0.0), (44, 0.5))}


def prompts(changed: int | None = None) -> list[list[dict]]:
    harmful, benign = labelled_testbed_prompts()  # testbed requests: the evaluation labels them
    out = [harmful[i] if i in HARMFUL else benign[i] for i in range(N)]
    if changed is not None:
        out[changed] = benign[N]  # a different question
    return out


def write_seed(folder: Path, seed: int, changed_prompt: int | None = None) -> None:
    """One seed's evaluation_test/ as the harness writes it: build_metrics + sample_records."""
    from rlhf_trl.evaluation.config import EvaluationConfig
    from rlhf_trl.evaluation.harness import SAMPLING_KEYS, ModelSpec
    from rlhf_trl.evaluation.metrics import build_metrics
    from rlhf_trl.evaluation.outputs import sample_records
    from rlhf_trl.evaluation.stats import outcome_from_scores

    cfg = EvaluationConfig(
        bootstrap_samples=200, judges=["reward_model", "gold", "local_lm"], seed=seed, prompt_set="test"
    )
    ps = prompts(changed_prompt)
    gold = {
        "reference": [0.5] * N,
        "ppo": [0.5 + d for d in PPO_D[seed]],
        "echo": [0.4] * N,
        "refuse_all": [0.6 if i in HARMFUL else 0.2 for i in range(N)],
    }
    proxy = {"reference": [0.0] * N, "ppo": [1.0] * N, "echo": [0.0] * N, "refuse_all": [0.0] * N}
    if seed in DPO_D:
        gold["dpo"], proxy["dpo"] = [0.5 + DPO_D[seed]] * N, [0.0] * N
    specs = [ModelSpec("reference", "ref"), ModelSpec("ppo", "run/checkpoints/ppo")]
    specs += [ModelSpec("dpo", "run/checkpoints/dpo")] if seed in DPO_D else []
    specs += [ModelSpec("echo", "baseline:echo"), ModelSpec("refuse_all", "baseline:refuse_all")]

    def response(name, i):
        refuses = name == "refuse_all" or (name == "ppo" and seed == 42 and i == 0)
        return REFUSAL if refuses else f"answer {i} from {name}"

    samples = {
        s.name: [
            {
                "response": response(s.name, i),
                "length": 7,
                "ended_with_eos": True,
                "kl": None if s.name in ("echo", "refuse_all") else 0.1,
                "kl_analytic": None,
            }
            for i in range(N)
        ]
        for s in specs
    }
    scores = {s.name: {"reward_model": proxy[s.name], "gold": gold[s.name]} for s in specs}
    judgements = {
        s.name: {
            j: [outcome_from_scores(a, b) for a, b in zip(scores[s.name][j], scores["reference"][j])]
            for j in ("reward_model", "gold")
        }
        for s in specs[1:]
    }
    judgements["ppo"]["local_lm"] = PPO_LOCAL[seed]
    metrics = build_metrics(
        specs,
        samples,
        scores,
        judgements,
        cfg,
        settings={k: getattr(cfg, k) for k in SAMPLING_KEYS},
        reference="ref",
        run_dir=f"outputs/seed{seed}",
        notes=[],
        dataset="bundled",
        prompts=ps,
    )
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    records = sample_records(ps, specs, samples, scores, judgements)
    (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.fixture(scope="module")
def seed_dirs(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("seeds")
    dirs = [root / f"seed{s}" for s in (42, 43, 44)]
    for d, s in zip(dirs, (42, 43, 44)):
        write_seed(d, s)
    return dirs


@pytest.fixture(scope="module")
def runs(seed_dirs):
    from rlhf_trl.evaluation.seeds import load_seed_runs

    return load_seed_runs(seed_dirs)


def test_per_prompt_means_over_seeds(runs):
    from rlhf_trl.evaluation.seeds import pooled_differences

    means, k = pooled_differences(runs, "ppo", "reference", "gold")
    assert k == 3
    assert means == pytest.approx([0.1 / 3] * 9 + [-0.2 / 3, 0.0], abs=1e-12)
    means, k = pooled_differences(runs, "dpo", "reference", "gold")  # only the seeds that have dpo
    assert k == 2 and means == pytest.approx([0.2] * N)
    means, _ = pooled_differences(runs, "ppo", "reference", "local_lm")  # +1 / 0 / -1, then the mean
    assert means == pytest.approx([0.0] + [1.0] * 5 + [0.0] * 5)


def test_pooled_sign_test_and_holm_by_hand(runs):
    from rlhf_trl.evaluation.seeds import pooled_vs_reference

    tests = pooled_vs_reference(runs, 200)
    gold = tests[("ppo", "gold")]
    assert (gold["wins"], gold["ties"], gold["losses"]) == (9, 1, 1)  # prompt 10's mean is a float ~0
    assert gold["p_sign"] == pytest.approx(22 / 1024)  # 2 * (C(10,0) + C(10,1)) / 2**10
    assert gold["mean_diff"] == pytest.approx((9 * 0.1 / 3 - 0.2 / 3) / N)
    assert gold["ci95"][0] <= gold["mean_diff"] <= gold["ci95"][1]
    means = [0.1 / 3] * 9 + [-0.2 / 3, 0.0]
    assert gold["effect_size"] == pytest.approx(statistics.fmean(means) / statistics.stdev(means))
    assert gold["n_seeds"] == 3 and tests[("dpo", "gold")]["n_seeds"] == 2
    local = tests[("ppo", "local_lm")]
    assert (local["wins"], local["losses"], local["p_sign"]) == (5, 0, pytest.approx(2 / 32))
    assert local["mean_diff"] == pytest.approx(5 / N)
    # Sign-testing all 33 (seed, prompt) pairs instead would see 11 positive and 20 negative differences:
    # a different answer, from treating one prompt under three seeds as three independent pairs.
    # Holm over the 9 (model, judge) tests: p = 2/2048 three times (ppo RM, dpo gold, echo gold), 22/1024,
    # 1/16 (ppo local_lm), 134/2048 (refuse_all gold: 2 wins, 9 losses), and 1 three times (all ties).
    p_sign = {k: t["p_sign"] for k, t in tests.items()}
    assert len(p_sign) == 9 and sorted(p_sign.values())[:3] == pytest.approx([2 / 2048] * 3)
    assert p_sign[("refuse_all", "gold")] == pytest.approx(134 / 2048)
    assert tests[("ppo", "reward_model")]["p_holm"] == pytest.approx(9 * 2 / 2048)
    assert gold["p_holm"] == pytest.approx(6 * 22 / 1024)  # rank 4 of 9; 0.129: not significant
    assert tests[("refuse_all", "gold")]["p_holm"] == pytest.approx(5 / 16)  # the running max of rank 5
    assert gold["verdict"] == "no significant difference"
    assert tests[("ppo", "reward_model")]["verdict"] == "better"
    assert tests[("echo", "gold")]["verdict"] == "worse"
    # echo's means are all -0.1 up to float rounding: no d_z (mean / ~1e-17 would print as ~1e16)
    assert tests[("echo", "gold")]["effect_size"] is None


def test_methods_vs_every_baseline_by_hand(runs):
    from rlhf_trl.evaluation.seeds import pooled_vs_baselines

    tests = pooled_vs_baselines(runs, 200)
    assert set(tests) == {(p, b) for p in ("ppo", "dpo") for b in ("echo", "refuse_all")}
    # ppo - refuse_all: harmful prompts -0.1 + 0.1/3 < 0 (2 losses), benign ones > 0 (9 wins)
    t = tests[("ppo", "refuse_all")]
    assert (t["wins"], t["losses"]) == (9, 2) and t["p_sign"] == pytest.approx(134 / 2048)
    assert t["p_holm"] == pytest.approx(134 / 2048)  # last of 4: max(4 * 2/2048, 134/2048)
    assert tests[("ppo", "echo")]["p_holm"] == pytest.approx(4 * 2 / 2048)
    assert tests[("dpo", "refuse_all")]["n_seeds"] == 2
    assert tests[("dpo", "echo")]["mean_diff"] == pytest.approx(0.3)  # (0.2 + 0.4) / 2 per prompt
    assert [t["verdict"] for t in tests.values()].count("better") == 3


def test_spread_over_seeds(runs, seed_dirs):
    from rlhf_trl.evaluation.seeds import seed_labels, seed_spreads

    spreads = seed_spreads(runs)
    per_seed = [0.5 + sum(PPO_D[s]) / N for s in (42, 43, 44)]  # each seed's mean gold score
    g = spreads["ppo"]["gold_score"]
    assert g["mean"] == pytest.approx(statistics.fmean(per_seed))
    assert (g["min"], g["max"]) == pytest.approx((0.5 - 1.0 / N, 0.5 + 2.6 / N))
    assert g["std"] == pytest.approx(statistics.stdev(per_seed)) and g["n"] == 3
    assert spreads["dpo"]["n_seeds"] == 2 and spreads["dpo"]["gold_score"]["mean"] == pytest.approx(0.7)
    assert spreads["dpo"]["gold_score"]["std"] == pytest.approx(statistics.stdev([0.6, 0.8]))
    r = spreads["ppo"]["refusal_rate_harmful"]  # refuses harmful prompt 0 in seed 42 only: 1/2, 0, 0
    assert (r["mean"], r["min"], r["max"]) == pytest.approx((1 / 6, 0.0, 0.5))
    assert spreads["refuse_all"]["over_refusal_benign"]["mean"] == 1.0
    assert spreads["echo"]["kl"]["n"] == 0  # a fixed rule has no KL
    assert seed_labels(runs) == ["42", "43", "44"]


def test_harmlessness_from_samples_when_metrics_predate_it(seed_dirs, tmp_path):
    """A metrics.json written before `harmlessness` existed gives the same refusal rates (samples.jsonl)."""
    import shutil

    from rlhf_trl.evaluation.seeds import load_seed_runs, seed_spreads

    old = tmp_path / "seed42"
    shutil.copytree(seed_dirs[0], old)
    metrics = json.loads((old / "metrics.json").read_text())
    for entry in metrics["models"].values():
        del entry["harmlessness"]
    (old / "metrics.json").write_text(json.dumps(metrics))
    new, before = (seed_spreads(load_seed_runs([d])) for d in (seed_dirs[0], old))
    for model in new:
        for key in ("refusal_rate_harmful", "over_refusal_benign"):
            assert before[model][key]["mean"] == pytest.approx(new[model][key]["mean"])


def test_mismatched_prompts_are_a_user_error(seed_dirs, tmp_path):
    from rlhf_trl.errors import UserError
    from rlhf_trl.evaluation.report import main

    other = tmp_path / "seed45"
    write_seed(other, 44, changed_prompt=3)
    with pytest.raises(UserError, match=r"seed45: its prompts differ .*prompt_id 3") as err:
        main(["--runs", *map(str, seed_dirs[:2]), str(other), "--output", str(tmp_path / "A.md")])
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="metrics.json does not exist"):
        main(["--runs", str(seed_dirs[0]), str(tmp_path), "--output", str(tmp_path / "A.md")])
    with pytest.raises(UserError, match="--prompt-set applies to --run only"):
        main(["--runs", *map(str, seed_dirs), "--prompt-set", "test", "--output", str(tmp_path / "A.md")])


def test_seeds_sampled_differently_are_a_user_error(seed_dirs, tmp_path):
    """Pooling needs the same sampling settings: bf16 beside fp32 sampling, or bf16 weights, is refused."""
    import shutil

    from rlhf_trl.errors import UserError
    from rlhf_trl.evaluation.report import main

    other = tmp_path / "seed44_bf16"
    shutil.copytree(seed_dirs[2], other)
    metrics = json.loads((other / "metrics.json").read_text())
    metrics["settings"]["bf16"] = True
    (other / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(UserError, match=r"seed44_bf16: sampled with bf16=True, .* with bf16=False") as err:
        main(["--runs", *map(str, seed_dirs[:2]), str(other), "--output", str(tmp_path / "A.md")])
    assert "\n" not in str(err.value)
    metrics["settings"]["bf16"] = False  # as recorded by nothing: fp32 sampling, but bf16 weights
    metrics["settings"]["dtype"] = "bfloat16"
    (other / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(UserError, match=r"sampled with dtype=bfloat16, .* with dtype=float32"):
        main(["--runs", *map(str, seed_dirs[:2]), str(other), "--output", str(tmp_path / "A.md")])


def test_cli_writes_the_block_between_its_markers(seed_dirs, tmp_path):
    from rlhf_trl.evaluation.report import BEGIN, END, main
    from rlhf_trl.evaluation.seeds import SEEDS_BEGIN, SEEDS_END

    out = tmp_path / "ANALYSIS.md"
    single = f"{BEGIN}\nsingle-run block\n{END}"
    out.write_text(
        f"# Analysis\n\nIntro.\n\n{single}\n\n{SEEDS_BEGIN}\nstale\n{SEEDS_END}\n\nHand-written end.\n"
    )
    args = ["--runs", *map(str, seed_dirs), "--output", str(out)]
    assert main(args) == 0
    text = out.read_text()
    assert text.startswith("# Analysis\n\nIntro.\n\n" + single)  # the --run block is kept
    assert text.endswith(f"{SEEDS_END}\n\nHand-written end.\n") and "stale" not in text
    block = text.split(SEEDS_BEGIN)[1].split(SEEDS_END)[0]
    assert "3 training seeds (42, 43, 44)" in block and "**test** prompt set" in block
    assert "| ppo | gold rubric | 3 | 9 / 1 / 1 |" in block
    assert "| 0.021 | 0.129 | no significant difference |" in block  # 22/1024 and Holm 6 * 22/1024
    assert "| dpo | 2 |" in block  # dpo's row in the spread table: two seeds had it
    assert "**ppo** does not beat every baseline: not established against refuse_all" in block
    assert "**dpo** beats every baseline (2)" in block
    assert "| echo (baseline) |" in block and "informative (0.35)" in block  # gold terms pooled
    assert main(args) == 0
    assert out.read_text() == text  # a rerun replaces only its own block, with the same content


def test_gzipped_samples_read_like_plain_ones(seed_dirs, tmp_path):
    """docs/analysis/seeds/ keeps samples.jsonl gzipped; the pooled numbers do not change."""
    import gzip
    import shutil

    from rlhf_trl.evaluation.seeds import load_seed_runs

    packed = tmp_path / "seed42"
    shutil.copytree(seed_dirs[0], packed)
    (packed / "samples.jsonl.gz").write_bytes(gzip.compress((packed / "samples.jsonl").read_bytes()))
    (packed / "samples.jsonl").unlink()
    plain, gz = load_seed_runs([seed_dirs[0], packed])
    assert gz.samples == plain.samples and gz.metrics == plain.metrics


def test_training_precision_line_from_the_stage_copies(tmp_path):
    """Seeds trained on different hosts under `bf16: auto` differ in precision: the block says which, per seed."""
    import shutil

    from rlhf_trl.evaluation.seeds import load_seed_runs, render_seeds

    dirs = [tmp_path / f"seed{s}" for s in (42, 43)]
    for d, s in zip(dirs, (42, 43)):
        write_seed(d, s)
    assert "Training precision" not in render_seeds(dirs)  # no stages/ copies: nothing to say
    stages = {42: {"sft": None, "dpo": None}, 43: {"sft": False, "dpo": True}}
    for d, s in zip(dirs, (42, 43)):
        (d / "stages").mkdir()
        for name, bf16 in stages[s].items():
            record = {"stage": name} if bf16 is None else {"stage": name, "bf16": bf16}
            (d / "stages" / f"{name}.json").write_text(json.dumps(record))
    line = "Training precision (stages/*.json): seed 42: unrecorded (dpo sft); seed 43: bf16 autocast (dpo), fp32 (sft)."
    assert line in render_seeds(dirs).splitlines()
    assert len(load_seed_runs(dirs)) == 2
    shutil.rmtree(dirs[0] / "stages")
    assert "seed 43: bf16 autocast (dpo), fp32 (sft)." in render_seeds(dirs)


def test_the_repositorys_analysis_is_the_committed_seeds_report(monkeypatch):
    """ANALYSIS.md's generated block is what `rlhf-trl report --runs docs/analysis/seeds/seed*` makes of the
    committed seed folders today: a seed added, a metrics.json changed or an edit inside the block without
    regenerating it fails here, so the analysis cannot drift from the outputs behind it."""
    from rlhf_trl.evaluation.seeds import render_seeds

    root = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(root)  # the block names the folders as the command was given them (relative)
    dirs = sorted(Path("docs/analysis/seeds").glob("seed*"))
    assert len(dirs) >= 3, dirs
    block = render_seeds(dirs).strip()
    assert block in (root / "ANALYSIS.md").read_text(), (
        "ANALYSIS.md is stale: run `rlhf-trl report --runs docs/analysis/seeds/seed* --output ANALYSIS.md`"
    )


def test_one_seed_reads_as_one_seed(seed_dirs):
    from rlhf_trl.evaluation.seeds import render_seeds

    text = render_seeds(seed_dirs[:1])
    assert "1 training seed (42)," in text and "Each cell: the seed's mean over the prompts:" in text
    assert "- One training seed: the tests say whether the methods differ" in text
    assert "min–max" not in text and "these 1 seeds" not in text and "under several seeds" not in text
    assert "Paired test vs the reference (one seed):" in text and "## One training seed" in text
    assert "over the seeds that have the model" not in text and "The pooled mean diff" not in text
    three = render_seeds(seed_dirs)  # three seeds keep the pooled reading
    assert "these 3 seeds" in three and "## Several training seeds" in three
    assert "is averaged over the seeds that have the model; prompts + / 0 / − count those means" in three


@pytest.mark.parametrize("version", ["v3", "v4"])
def test_each_configurations_seeds_page_is_its_committed_seeds_report(version, monkeypatch):
    """docs/analysis/seeds_<version>/ANALYSIS.md's generated block is `rlhf-trl report --runs
    docs/analysis/seeds_<version>/seed*` of that configuration's committed seed folders (as for ANALYSIS.md and
    v2's seeds above)."""
    from rlhf_trl.evaluation.seeds import render_seeds

    root = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(root)
    folder = f"docs/analysis/seeds_{version}"
    dirs = sorted(Path(folder).glob("seed*"))
    assert dirs, f"no committed {version} seed"
    assert render_seeds(dirs).strip() in (root / folder / "ANALYSIS.md").read_text(), (
        f"{folder}/ANALYSIS.md is stale: run `rlhf-trl report --runs {folder}/seed* --output {folder}/ANALYSIS.md`"
    )
