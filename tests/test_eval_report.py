"""`rlhf-trl report` and notebooks/comparison.ipynb on a small fake run's outputs (no models involved)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from conftest import labelled_testbed_prompts

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ("ppo", "grpo", "dpo")
REFUSAL = "I'm sorry, but I can't help with that."


def make_fake_run(run_dir: Path, n: int = 24) -> dict:
    """A run folder as the recipes + harness leave it: evaluation outputs, per-stage cost files, TB logs."""
    from torch.utils.tensorboard import SummaryWriter

    from rlhf_trl.evaluation.config import EvaluationConfig
    from rlhf_trl.evaluation.harness import ModelSpec
    from rlhf_trl.evaluation.metrics import build_metrics
    from rlhf_trl.evaluation.outputs import write_all
    from rlhf_trl.evaluation.stats import outcome_from_scores

    rng = random.Random(0)
    cfg = EvaluationConfig(bootstrap_samples=200, judges=["reward_model", "gold"])
    # every 4th prompt is a harmful testbed request; ppo refuses half of them, dpo one benign one
    harmful, benign = labelled_testbed_prompts()
    prompts = [harmful[i // 4] if i % 4 == 0 else benign[i - i // 4 - 1] for i in range(n)]
    refuses = {"ppo": {i for i in range(n) if i % 8 == 0}, "dpo": {1}}
    specs = [ModelSpec("reference", "ref")] + [ModelSpec(p, f"{run_dir}/checkpoints/{p}") for p in POLICIES]
    shift = {
        "reference": (0.0, 0.0, 0.0),
        "ppo": (0.8, -0.3, 3.0),
        "grpo": (0.5, 0.4, 1.5),
        "dpo": (0.2, 0.2, 0.8),
    }
    samples, scores = {}, {}
    for spec in specs:
        proxy, gold, kl = shift[spec.name]
        samples[spec.name] = [
            {
                "response": REFUSAL
                if i in refuses.get(spec.name, ())
                else f"answer {i} from {spec.name} " + "very " * rng.randint(0, 12),
                "length": rng.randint(3, 30),
                "ended_with_eos": rng.random() > 0.2,
                "kl": 0.0 if spec.name == "reference" else kl + rng.gauss(0, 0.5),
                "kl_analytic": 0.0 if spec.name == "reference" else kl * rng.uniform(0.8, 1.2),
            }
            for i in range(n)
        ]
        scores[spec.name] = {
            "reward_model": [proxy + rng.gauss(0, 1) for _ in range(n)],
            "gold": [gold + rng.gauss(0, 1) for _ in range(n)],
        }
    judgements = {
        s.name: {
            j: [outcome_from_scores(a, b) for a, b in zip(scores[s.name][j], scores["reference"][j])]
            for j in ("reward_model", "gold")
        }
        for s in specs[1:]
    }
    settings = {
        k: getattr(cfg, k)
        for k in ("max_new_tokens", "temperature", "top_k", "top_p", "do_sample", "batch_size", "seed")
    }
    for i, stage in enumerate(("reward", *POLICIES)):
        ckpt = run_dir / "checkpoints" / stage
        ckpt.mkdir(parents=True)
        (ckpt / "metrics.json").write_text(
            json.dumps(
                {
                    "stage": stage,
                    "train_runtime_s": 111.5 + i,
                    "peak_rss_mb": 2048.0 + i,
                    "tokens_generated": 1000 * i,
                }
            )
        )
        writer = SummaryWriter(str(run_dir / "logs" / stage))
        for step in range(10):
            writer.add_scalar("train/loss", 1.0 / (step + 1 + i), step)
            writer.add_scalar("train/reward" if stage != "reward" else "train/accuracy", step * 0.1 + i, step)
        writer.close()
    metrics = build_metrics(
        specs,
        samples,
        scores,
        judgements,
        cfg,
        settings=settings,
        reference="ref",
        run_dir=run_dir,
        notes=[],
        dataset="bundled",
        prompts=prompts,
    )
    write_all(run_dir / "evaluation", prompts, specs, samples, scores, judgements, metrics, cfg)
    return metrics


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory) -> tuple[Path, dict]:
    run = tmp_path_factory.mktemp("fake") / "run"
    return run, make_fake_run(run)


def test_fake_run_outputs(fake_run):
    run, metrics = fake_run
    ev = run / "evaluation"
    for name in (
        "metrics.json",
        "samples.jsonl",
        "side_by_side.md",
        "report.md",
        "reward_vs_kl.png",
        "reward_distributions.png",
        "win_rates.png",
        "training_curves.png",
    ):
        assert (ev / name).is_file(), name
    gold = metrics["models"]["ppo"]["win_rate"]["gold"]
    assert gold["wins"] + gold["ties"] + gold["losses"] == gold["n"] == 24
    assert gold["ci95"][0] <= gold["win_rate"] <= gold["ci95"][1]


def test_without_matplotlib_no_plot_is_drawn_stale_ones_go_and_stderr_says_why(
    fake_run, tmp_path, monkeypatch, capsys
):
    """A bare environment (the GPU image had neither in the issue's first check): one stderr line, no
    plot and no stale plot left from an earlier evaluation; without tensorboard only the curves go."""
    import json
    import shutil

    from rlhf_trl.evaluation import plots

    run, metrics = fake_run
    out = tmp_path / "evaluation"
    shutil.copytree(run / "evaluation", out)
    assert (out / "win_rates.png").is_file()
    monkeypatch.setattr(plots, "missing_plot_packages", lambda: ["tensorboard"])
    assert "training_curves.png" not in plots.plot_all(out, metrics, {}, run_dir=run)
    assert not (out / "training_curves.png").exists()
    assert "tensorboard not installed: training curves not drawn" in capsys.readouterr().err
    monkeypatch.setattr(plots, "missing_plot_packages", lambda: ["matplotlib", "tensorboard"])
    assert (
        plots.plot_all(out, json.loads((run / "evaluation" / "metrics.json").read_text()), {}, run_dir=run)
        == []
    )
    assert not list(out.glob("*.png"))
    assert "matplotlib, tensorboard not installed: no plots drawn" in capsys.readouterr().err


def test_harmlessness_per_model_by_hand(fake_run, tmp_path):
    """Refusal rates on the 6 harmful and 18 benign prompts of the fake run, the gold score on each kind,
    and the report's table with a row per model."""
    from rlhf_trl.evaluation.report import load_run, main

    run, metrics = fake_run
    ppo = metrics["models"]["ppo"]["harmlessness"]
    assert (ppo["n_harmful"], ppo["n_benign"]) == (6, 18)
    assert ppo["refusal_rate_harmful"]["mean"] == pytest.approx(3 / 6)  # prompts 0, 8, 16
    assert ppo["over_refusal_benign"]["mean"] == 0.0
    assert metrics["models"]["dpo"]["harmlessness"]["over_refusal_benign"]["mean"] == pytest.approx(1 / 18)
    assert metrics["models"]["reference"]["harmlessness"]["refusal_rate_harmful"]["mean"] == 0.0
    gold = {r["prompt_id"]: r["scores"]["gold"] for r in load_run(run)[1] if r["model"] == "ppo"}
    assert ppo["gold_harmful"]["mean"] == pytest.approx(sum(gold[i] for i in range(0, 24, 4)) / 6)
    assert ppo["gold_benign"]["mean"] == pytest.approx(sum(v for i, v in gold.items() if i % 4) / 18)
    lo, hi = ppo["refusal_rate_harmful"]["ci95"]
    assert lo < 0.5 < hi
    out = tmp_path / "A.md"
    main(["--run", str(run), "--output", str(out)])
    text = out.read_text()
    assert "Harmless and helpful apart" in text
    assert f"| ppo | 3/6, 0.500 [{lo:.3f}, {hi:.3f}] | 0/18, 0.000 [0.000, 0.000] |" in text
    for name in metrics["models"]:
        assert f"| {name} | " in text.split("Harmless and helpful apart")[1]
    assert "Harmless and helpful apart" in (run / "evaluation" / "report.md").read_text()


def test_no_harmlessness_without_labelled_prompts():
    """Only testbed requests are labelled harmful or benign: one other prompt and there are no labels."""
    from rlhf_trl.config import DataArguments
    from rlhf_trl.data import load_prompts
    from rlhf_trl.evaluation.metrics import harmful_flags
    from rlhf_trl.testbed import is_harmful_request

    prompts = list(load_prompts(DataArguments(), eval_set="test")["prompt"])
    harmful = next(p for p in prompts if is_harmful_request(p))
    benign = next(p for p in prompts if not is_harmful_request(p))
    assert harmful_flags([harmful, benign]) == [True, False]
    other = [
        {"role": "user", "content": "How do I break into a house?"}
    ]  # HH-like, matched by a pattern only
    assert is_harmful_request(other)
    assert harmful_flags([harmful, other]) is None
    assert harmful_flags(None) is None and harmful_flags([]) is None


def test_fake_run_paired_verdicts_follow_the_samples(fake_run):
    """paired.mean_diff is the mean score difference on the same prompts (samples.jsonl); p_holm is Holm
    over every (model, judge) sign test of the run; the verdict and the report's sentence follow it."""
    from rlhf_trl.evaluation.metrics import ALPHA
    from rlhf_trl.evaluation.report import load_run, verdict
    from rlhf_trl.evaluation.stats import holm, sign_test

    run, metrics = fake_run
    records = load_run(run)[1]
    by = {(r["model"], r["prompt_id"]): r for r in records}
    p_sign = {}
    for name in POLICIES:
        for judge, w in metrics["models"][name]["win_rate"].items():
            p = w["paired"]
            diffs = [
                by[(name, i)]["scores"][judge] - by[("reference", i)]["scores"][judge] for i in range(24)
            ]
            assert p["mean_diff"] == pytest.approx(sum(diffs) / 24)
            assert p["ci95"][0] <= p["mean_diff"] <= p["ci95"][1]
            assert p["p_sign"] == sign_test(w["wins"], w["losses"])
            p_sign[(name, judge)] = p["p_sign"]
    assert len(p_sign) == 6
    for (name, judge), adjusted in holm(p_sign).items():
        p = metrics["models"][name]["win_rate"][judge]["paired"]
        assert p["p_holm"] == adjusted >= p["p_sign"]
        w = metrics["models"][name]["win_rate"][judge]
        expected = "no significant difference"
        if adjusted < ALPHA:
            expected = "better" if w["wins"] > w["losses"] else "worse"
        assert p["verdict"] == expected
        assert verdict(w).startswith(
            {"better": "better", "worse": "worse"}.get(expected, "not distinguishable")
        )
    assert metrics["models"]["reference"]["metrics"]["kl"]["ci95"] is not None  # the KL row has its CI
    report = (run / "evaluation" / "report.md").read_text()
    assert "| paired diff [95% CI] | effect size d_z | p (sign) | p (Holm) | verdict |" in report
    assert "KL analytic" in report


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"-?\d+\.\d+", text))


def test_report_writes_sections_with_numbers_from_the_run(fake_run, tmp_path):
    from rlhf_trl.evaluation.report import BEGIN, main

    run, metrics = fake_run
    out = tmp_path / "ANALYSIS.md"
    out.write_text("# Analysis\n\nHand-written intro.\n")
    assert main(["--run", str(run), "--output", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# Analysis\n\nHand-written intro.")
    for section in (
        "Quantitative comparison",
        "Pareto view",
        "Qualitative failure modes",
        "Computational cost per method",
        "Discussion",
    ):
        assert section in text
    # every decimal number in the report is a number of this run (metrics.json, a stage's cost file, or
    # the gold rubric's terms of the run's own samples), a documented rubric weight, or the documented
    # floor under which p-values print as "<0.001"
    from rlhf_trl.evaluation.outputs import P_DISPLAY_FLOOR
    from rlhf_trl.evaluation.report import gold_term_means, load_run
    from rlhf_trl.testbed.gold import WEIGHTS

    terms = gold_term_means(load_run(run)[1])
    produced = {f"{v:.3f}" for model in terms.values() for v in model.values()}
    produced |= {f"{w:.2f}" for w in WEIGHTS.values()} | {f"{P_DISPLAY_FLOOR}"}
    blobs = [
        (run / "evaluation" / "metrics.json").read_text(),
        (run / "evaluation" / "samples.jsonl").read_text(),
    ]
    blobs += [p.read_text() for p in (run / "checkpoints").glob("*/metrics.json")]
    for blob in blobs:
        for x in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", blob):
            v = float(x)
            produced |= {f"{v:.{d}f}" for d in (0, 1, 2, 3)}
    assert _numbers(text) - produced == set()
    assert "111.5" in text or "112" in text  # wall time of the reward stage
    assert "![reward vs KL](" in text
    # rerun replaces only the generated block
    main(["--run", str(run), "--output", str(out)])
    assert out.read_text().count(BEGIN) == 1


def test_report_run_writes_into_the_run_folder_by_default(fake_run, tmp_path, monkeypatch):
    """Without --output, `report --run` never touches ./ANALYSIS.md (the repository's own analysis)."""
    from rlhf_trl.evaluation.report import BEGIN, main

    run, _ = fake_run
    cwd = tmp_path / "repo"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert main(["--run", str(run)]) == 0
    assert (run / "ANALYSIS.md").read_text().count(BEGIN) == 1
    assert not (cwd / "ANALYSIS.md").exists()


def test_report_without_evaluation_is_a_user_error(tmp_path):
    from rlhf_trl.errors import UserError
    from rlhf_trl.evaluation.report import main

    (tmp_path / "run").mkdir()
    with pytest.raises(UserError, match="rlhf-trl evaluate"):
        main(["--run", str(tmp_path / "run"), "--output", str(tmp_path / "A.md")])


def test_pareto_front():
    from rlhf_trl.evaluation.report import pareto_front

    pts = {"ref": (0.0, 0.0), "a": (1.0, 1.0), "b": (2.0, 0.5), "c": (3.0, 2.0)}
    assert pareto_front(pts) == ["ref", "a", "c"]


def run_notebook(run: Path, cwd: Path) -> str:
    """Execute notebooks/comparison.ipynb headless on ``run``; every code cell's output as one string."""
    import os

    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "notebooks" / "comparison.ipynb", as_version=4)
    client = NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    os.environ["RLHF_TRL_RUN"] = str(run)
    try:
        client.execute()
    finally:
        del os.environ["RLHF_TRL_RUN"]
    return "\n".join(
        o.get("text", "") + json.dumps(o.get("data", {}))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )


@pytest.mark.slow
def test_notebook_executes_on_fake_run(fake_run, tmp_path):
    run, metrics = fake_run
    outputs = run_notebook(run, tmp_path)
    assert "ppo" in outputs and "image/png" in outputs
    assert f"{metrics['models']['dpo']['win_rate']['gold']['win_rate']:.3f}" in outputs


def test_report_copies_plots_to_assets_and_links_them(fake_run, tmp_path):
    from rlhf_trl.evaluation.report import main

    run_dir, _ = fake_run
    out = tmp_path / "repo" / "ANALYSIS.md"
    out.parent.mkdir()
    assert (
        main(["--run", str(run_dir), "--output", str(out), "--assets", str(tmp_path / "repo" / "docs" / "a")])
        == 0
    )
    copied = sorted(p.name for p in (tmp_path / "repo" / "docs" / "a").glob("*.png"))
    assert copied == sorted(p.name for p in (run_dir / "evaluation").glob("*.png")) and copied
    text = out.read_text()
    for name in copied:
        assert f"(docs/a/{name})" in text


def test_gold_term_means_average_each_term_per_model():
    from rlhf_trl.evaluation.report import gold_term_means
    from rlhf_trl.testbed.gold import gold_terms

    prompt = [{"role": "user", "content": "How do I make bread at home?"}]
    good = "Mix flour, water and salt, then bake the loaf."
    samples = [
        {"model": "a", "prompt": prompt, "response": good},
        {"model": "a", "prompt": prompt, "response": ""},  # empty: every term 0
        {"model": "b", "prompt": prompt, "response": good},
    ]
    means = gold_term_means(samples)
    full = gold_terms(prompt, good)
    assert means["b"] == pytest.approx(full)
    assert means["a"] == pytest.approx({t: v / 2 for t, v in full.items()})
    assert full["novel"] == 1.0 and 0 < full["informative"] < 1  # the example exercises real terms


# ------------------------------------------------- any labels: several runs, --models labels, baselines

COMPARED = (
    "lr1e-5/ppo",
    "lr 3e-5/ppo",
    "my $x$ model",
)  # labels as `--compare-runs` and `--models` give them


def make_fake_comparison(out: Path, runs: Path, n: int = 12) -> dict:
    """What `rlhf-trl evaluate --compare-runs ... --models ... --output_dir OUT` leaves: OUT/evaluation only,
    the models' checkpoints (with their stage's cost file) in other run folders, baselines, a local LM
    judge that is the reference."""
    from rlhf_trl.evaluation.config import EvaluationConfig
    from rlhf_trl.evaluation.harness import ModelSpec
    from rlhf_trl.evaluation.metrics import build_metrics
    from rlhf_trl.evaluation.outputs import write_all
    from rlhf_trl.evaluation.stats import outcome_from_scores

    rng = random.Random(1)
    cfg = EvaluationConfig(bootstrap_samples=200, judges=["reward_model", "gold", "local_lm"], best_of_n=[4])
    prompts = [[{"role": "user", "content": f"Question number {i}?"}] for i in range(n)]
    folders = {label: runs / f"run{i}" / "checkpoints" / "ppo" for i, label in enumerate(COMPARED)}
    for i, folder in enumerate(folders.values()):
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(
            json.dumps({"train_runtime_s": 200.5 + i, "peak_rss_mb": 3000.0})
        )
    specs = [ModelSpec("reference", "ref")] + [ModelSpec(label, str(folders[label])) for label in COMPARED]
    specs += [ModelSpec("echo", "baseline:echo"), ModelSpec("bon4", "baseline:bon4")]
    samples, scores = {}, {}
    for k, spec in enumerate(specs):
        samples[spec.name] = [
            {
                "response": f"answer {i} of {spec.name} " + "more " * rng.randint(0, 6),
                "length": rng.randint(3, 20),
                "ended_with_eos": rng.random() > 0.3,
                "kl": None if spec.name == "echo" else 0.0 if k == 0 else 0.5 * k + rng.gauss(0, 0.2),
                "kl_analytic": None if spec.name == "echo" else 0.0 if k == 0 else 0.5 * k,
            }
            for i in range(n)
        ]
        scores[spec.name] = {
            j: [0.1 * k + rng.gauss(0, 1) for _ in range(n)] for j in ("reward_model", "gold")
        }
    judgements = {
        s.name: {
            **{j: [outcome_from_scores(a, b) for a, b in zip(scores[s.name][j], scores["reference"][j])]
               for j in ("reward_model", "gold")},
            "local_lm": [rng.choice([0.0, 0.5, 1.0]) for _ in range(n)],
        }
        for s in specs[1:]
    }  # fmt: skip
    accuracy = {
        "accuracy": 0.53125,
        "ci95": [0.4, 0.66],
        "right": 15,
        "inconsistent": 4,
        "wrong": 13,
        "n": 32,
    }
    metrics = build_metrics(
        specs,
        samples,
        scores,
        judgements,
        cfg,
        settings={
            k: getattr(cfg, k)
            for k in ("max_new_tokens", "temperature", "top_k", "top_p", "do_sample", "seed")
        },
        reference="ref",
        run_dir=out,
        notes=[],
        dataset="some-data",
        prompts=prompts,
        judges={
            "local_lm": {"model": "ref", "is_reference": True, "accuracy": {**accuracy, "p_chance": 0.856}}
        },
    )
    write_all(out / "evaluation", prompts, specs, samples, scores, judgements, metrics, cfg)
    return metrics


@pytest.fixture(scope="module")
def fake_comparison(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("comparison")
    return root / "cmp", make_fake_comparison(root / "cmp", root / "outputs")


def test_report_reads_any_labels_runs_and_baselines(fake_comparison, tmp_path):
    from rlhf_trl.evaluation.report import main

    out, metrics = fake_comparison
    assert list(metrics["models"]) == ["reference", *COMPARED, "echo", "bon4"]
    for png in ("reward_vs_kl.png", "reward_distributions.png", "win_rates.png"):
        assert (out / "evaluation" / png).stat().st_size > 1000
    assert not (out / "evaluation" / "training_curves.png").exists()  # no run's logs in a comparison
    analysis = tmp_path / "A.md"
    assert main(["--run", str(out), "--output", str(analysis)]) == 0
    text = analysis.read_text()
    quantitative, rest = text.split("## 2. Pareto view")
    for label in COMPARED:
        assert f"| {label} | " in quantitative  # metric table
        assert f"| {label} | gold rubric |" in quantitative  # win-rate table
        assert f"| {label} | local LM (the reference itself, test accuracy 0.53) |" in quantitative
        assert f"| {label} | " in rest.split("## 3.")[1].split("## 4.")[0]  # failure modes
    assert "| echo (baseline) | gold rubric |" in quantitative and "| bon4 (baseline) |" in quantitative
    assert (
        "**the reference model itself**" in quantitative
        and "(15 right / 4 inconsistent / 13 wrong)" in quantitative
    )
    assert "not distinguishable from chance (sign test p = 0.856)" in quantitative
    cost = text.split("## 4. Computational cost per method")[1].split("## 5.")[0]
    assert "| lr1e-5/ppo | 200.5 | 3000 | not recorded |" in cost and "| my $x$ model | 202.5 |" in cost
    assert "This judge is the reference model itself (self-preference)" in text


@pytest.mark.slow
def test_notebook_executes_on_fake_comparison(fake_comparison, tmp_path):
    """The notebook on a comparison folder: labels with "/", spaces and "$", baselines, no checkpoints/."""
    out, metrics = fake_comparison
    text = run_notebook(out, tmp_path)
    for label in COMPARED:
        assert label in text
    assert "echo" in text and "bon4" in text and "image/png" in text
    assert "the reference model itself: self-preference" in text and "202.5" in text
    assert f"{metrics['models']['lr 3e-5/ppo']['win_rate']['gold']['win_rate']:.3f}" in text


def _verdict_metrics(entries: dict) -> dict:
    """A minimal metrics.json: ``entries`` maps model -> (role, judge -> (wins, ties, losses, p_holm))."""
    from rlhf_trl.evaluation.stats import sign_test

    models = {"reference": {"role": "reference", "metrics": {}}}
    for name, (role, judged) in entries.items():
        wr = {}
        for judge, (wins, ties, losses, p_holm) in judged.items():
            verdict = (
                "no significant difference" if p_holm >= 0.05 else "better" if wins > losses else "worse"
            )
            paired = {"p_sign": sign_test(wins, losses), "p_holm": p_holm, "verdict": verdict}
            wr[judge] = {"wins": wins, "ties": ties, "losses": losses, "paired": paired}
        models[name] = {"role": role, "metrics": {}, "win_rate": wr}
    return {"models": models, "num_prompts": 16, "settings": {}}


def test_verdict_lines_name_the_winners_or_say_plainly_what_a_win_needed():
    from rlhf_trl.evaluation.outputs import verdict_lines

    # 5 verdicts at 16 prompts, two of them baselines with p (sign) 3e-5 that Holm rejects first; a method
    # then needs 3 x 2 x 0.5^w < 0.05, first at w = 7 (Holm's first step alone, 5 x ..., would say 8)
    quiet = _verdict_metrics(
        {
            "ppo": ("policy", {"gold": (3, 12, 1, 1.0), "reward_model": (6, 8, 2, 0.9)}),
            "grpo": ("policy", {"gold": (2, 12, 2, 1.0)}),
            "refuse_all": ("baseline", {"gold": (16, 0, 0, 0.0002)}),  # a baseline's win is no method's
            "echo": ("baseline", {"gold": (0, 0, 16, 0.0002)}),
        }
    )
    (line,) = verdict_lines(quiet)
    assert line.startswith("Verdict: no method differs from the reference by any judge")
    assert "at 16 prompts a 'better' needed at least 7 wins without a loss on one judge" in line
    assert "Holm over this run's 5 verdicts" in line
    assert "Closest: ppo by the reward model, 6 wins / 8 ties / 2 losses" in line
    loud = _verdict_metrics(
        {"dpo": ("policy", {"gold": (13, 3, 0, 0.0004)}), "ppo": ("policy", {"gold": (0, 4, 12, 0.002)})}
    )
    assert verdict_lines(loud) == [
        "Verdict: dpo is better than the reference by the gold rubric (13 wins / 0 losses, p (Holm) <0.001).",
        "Verdict: ppo is worse than the reference by the gold rubric (0 wins / 12 losses, p (Holm) 0.002).",
    ]
    assert verdict_lines(_verdict_metrics({"echo": ("baseline", {"gold": (0, 0, 16, 0.001)})})) == []


def test_a_ci_that_misses_its_mean_by_a_rounding_error_still_plots(tmp_path):
    """Best-of-n's KL is one constant; under a cluster bootstrap its CI can miss the mean by 1e-16, and
    matplotlib refuses a negative error bar (a 20-minute evaluation once died there, metrics unwritten)."""
    pytest.importorskip("matplotlib")
    from rlhf_trl.evaluation.plots import plot_reward_vs_kl

    kl = 0.6362943611198906
    stat = {"mean": kl, "std": 0.0, "ci95": [kl + 1e-16, kl + 1e-16], "n": 100}
    gold = {"mean": 0.8, "std": 0.1, "ci95": [0.78, 0.82], "n": 100}
    metrics = {"num_prompts": 100, "models": {"bon4": {"metrics": {"kl": stat, "gold_score": gold}}}}
    assert plot_reward_vs_kl(metrics, tmp_path / "reward_vs_kl.png")
    assert (tmp_path / "reward_vs_kl.png").stat().st_size > 0
