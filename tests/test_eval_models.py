"""Evaluating any models (`--models LABEL=PATH`, `--compare-runs`, `--output_dir`): labels, paths,
tokenizers and LoRA adapters are checked before any model loads; two runs' checkpoints in one report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_eval_harness import PROMPTS, fake_gold, make_perturbed_copy, make_reward_model, write_config  # noqa: F401

from rlhf_trl.config import parse_recipe_args
from rlhf_trl.errors import UserError

# ---------------------------------------------------------------------------------- config and labels


def test_models_from_cli_yaml_list_and_yaml_mapping_agree(tmp_path):
    expected = ["ppo=outputs/a/checkpoints/ppo", "runB/dpo=outputs/b/checkpoints/dpo", "hub=owner/name"]
    cli = parse_recipe_args(
        "evaluation",
        ["--models", *expected, "--output_dir", "cmp", "--reference", "outputs/a/checkpoints/sft"],
    )
    assert cli.stage.models == expected and cli.stage.output_dir == "cmp"
    assert cli.stage.reference_model == "outputs/a/checkpoints/sft"  # --reference is reference_model
    listed = tmp_path / "list.yaml"
    listed.write_text(
        "evaluation:\n  output_dir: cmp\n  models:\n" + "".join(f"    - {m}\n" for m in expected)
    )
    assert parse_recipe_args("evaluation", ["--config", str(listed)]).stage.models == expected
    mapping = tmp_path / "map.yaml"
    mapping.write_text(
        "evaluation:\n  output_dir: cmp\n  reference: ref\n  models:\n"
        + "".join("    {}: {}\n".format(*m.split("=")) for m in expected)
    )
    args = parse_recipe_args("evaluation", ["--config", str(mapping)])
    assert args.stage.models == expected and args.stage.reference_model == "ref"
    # the command line beats the file; the run-folder default stays without either
    assert parse_recipe_args("evaluation", ["--config", str(mapping), "--models", "x=y"]).stage.models == [
        "x=y"
    ]
    default = parse_recipe_args("evaluation", [])
    assert (
        default.stage.models == [] and default.stage.compare_runs == [] and default.stage.output_dir is None
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--models", "outputs/a/checkpoints/ppo"], "is not LABEL=PATH"),
        (["--models", "=outputs/a"], "a label must not be empty"),
        (["--models", "reference=outputs/a"], "'reference' is the reference model's label"),
        (["--models", "a|b=outputs/a"], "holds '|', '=' or a control character"),
        (["--models", "a=x", "a=y"], "label 'a' is given twice"),
        (["--models", "e=baseline:echo"], "baselines are chosen with baselines and best_of_n"),
        (["--models", "a=x"], "models, compare_runs and checkpoints_of need output_dir"),
        (["--compare-runs", "outputs/a"], "models, compare_runs and checkpoints_of need output_dir"),
    ],
)
def test_model_list_mistakes_are_one_line_errors(argv, expected):
    argv = argv if "need output_dir" in expected else [*argv, "--output_dir", "cmp"]
    with pytest.raises(UserError) as err:
        parse_recipe_args("evaluation", argv)
    assert expected in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith("command line: --models") or "compare" in str(err.value)


def test_yaml_mapping_mistake_names_the_file_line(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("evaluation:\n  output_dir: cmp\n  models:\n    ppo:\n")
    with pytest.raises(UserError, match=r"c.yaml:3: evaluation.models: .*ppo: the path must be a string"):
        parse_recipe_args("evaluation", ["--config", str(cfg)])


def test_cache_names_are_safe_distinct_and_keep_stage_names():
    from rlhf_trl.evaluation.model_specs import cache_name

    assert [cache_name(n) for n in ("ppo", "bon16", "keyword_sentence")] == [
        "ppo",
        "bon16",
        "keyword_sentence",
    ]
    labels = ["runA/ppo", "runa/ppo", "runa_ppo", "../x", "a b", ".hidden", "Ünï/cödé", "x" * 300]
    names = [cache_name(n) for n in labels]
    assert len(set(names)) == len(labels)  # also case-insensitively distinct:
    assert len({n.lower() for n in names}) == len(labels)
    for name in names:
        assert "/" not in name and " " not in name and not name.startswith(".") and len(name) <= 60
        assert name.isascii()


# ------------------------------------------------------------------------------- selecting the models


def fake_checkpoint(folder: Path, vocab_size: int | None = None) -> Path:
    """A folder that looks like a model to every check that does not load weights."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(
        json.dumps({"model_type": "llama", "vocab_size": vocab_size or 49152})
    )
    return folder


def select(tmp_path, reference="ref-model", notes=None, **cfg):
    from rlhf_trl.evaluation.config import EvaluationConfig
    from rlhf_trl.evaluation.model_specs import select_models

    config = EvaluationConfig(output_dir=str(tmp_path / "cmp"), **cfg)
    specs = select_models(
        config, tmp_path / "run", reference, [] if notes is None else notes, reserved=["echo"]
    )
    return [(s.name, s.path) for s in specs]


def test_compare_runs_labels_each_stage_checkpoint_run_slash_stage(tmp_path):
    a, b = tmp_path / "outputs" / "lr1e-5", tmp_path / "outputs" / "lr3e-5"
    for run, stages in ((a, ("sft", "ppo", "dpo")), (b, ("ppo",))):
        for stage in stages:
            fake_checkpoint(run / "checkpoints" / stage)
    (a / "checkpoints" / "grpo").mkdir()  # an empty stage folder (a crashed run) is not a checkpoint
    notes: list[str] = []
    specs = select(
        tmp_path, reference=str(a / "checkpoints" / "sft"), notes=notes, compare_runs=[str(a), f"{b}/"]
    )
    assert specs == [
        ("reference", str(a / "checkpoints" / "sft")),
        ("lr1e-5/ppo", str(a / "checkpoints" / "ppo")),
        ("lr1e-5/dpo", str(a / "checkpoints" / "dpo")),
        ("lr3e-5/ppo", str(b / "checkpoints" / "ppo")),
    ]
    assert notes == [f"lr1e-5/sft is the reference ({a / 'checkpoints' / 'sft'}): not judged against itself"]
    # with models too: both lists, in order
    both = select(
        tmp_path, compare_runs=[str(b)], models=["hub=owner/name", f"mine={a / 'checkpoints' / 'dpo'}"]
    )
    assert [n for n, _ in both] == ["reference", "hub", "mine", "lr3e-5/ppo"]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", r"models: a=.*missing: model path .*missing does not exist"),
        (
            "empty_folder",
            r"models: a=.*empty_folder holds no model \(no config.json, nor adapter_config.json",
        ),
        (
            "adapter_without_base",
            r"models: a=.*adapter.*: LoRA adapter whose base_model_name_or_path: model path .*gone does not exist",
        ),
        ("baseline_label", r"model label 'echo' names both a baseline and .*; drop that baseline"),
        (
            "label_clash",
            r"model label 'r1/ppo' names both .*other and .*x/r1/checkpoints/ppo; labels must be unique",
        ),
        ("is_reference", r"models: a=.* is the reference .*set --reference"),
        ("same_run_names", r"compare_runs: .*x/r1 and .*y/r1 are both called 'r1'"),
        (
            "run_without_checkpoints",
            r"compare_runs: .*empty_run has no checkpoint of sft, ppo, grpo, dpo under",
        ),
        ("not_a_folder", r"compare_runs: .*nowhere is not a folder"),
        ("unknown_embedded", r"models: a=embedded:nope: unknown embedded model embedded:nope"),
    ],
)
def test_path_and_label_mistakes_are_one_line_errors(tmp_path, case, expected):
    ref = fake_checkpoint(tmp_path / "ref")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": str(tmp_path / "gone")})
    )
    (tmp_path / "empty_folder").mkdir()
    (tmp_path / "empty_run").mkdir()
    fake_checkpoint(tmp_path / "x" / "r1" / "checkpoints" / "ppo")
    fake_checkpoint(tmp_path / "y" / "r1" / "checkpoints" / "ppo")
    fake_checkpoint(tmp_path / "other")
    cfg = {
        "missing": {"models": [f"a={tmp_path / 'missing'}"]},
        "empty_folder": {"models": [f"a={tmp_path / 'empty_folder'}"]},
        "adapter_without_base": {"models": [f"a={adapter}"]},
        "baseline_label": {"models": [f"echo={tmp_path / 'other'}"]},
        "label_clash": {
            "models": [f"r1/ppo={tmp_path / 'other'}"],
            "compare_runs": [str(tmp_path / "x" / "r1")],
        },
        "is_reference": {"models": [f"a={tmp_path / 'ref'}/"]},
        "same_run_names": {"compare_runs": [str(tmp_path / "x" / "r1"), str(tmp_path / "y" / "r1")]},
        "run_without_checkpoints": {"compare_runs": [str(tmp_path / "empty_run")]},
        "not_a_folder": {"compare_runs": [str(tmp_path / "nowhere")]},
        "unknown_embedded": {"models": ["a=embedded:nope"]},
    }[case]
    with pytest.raises(UserError, match=expected) as err:
        select(tmp_path, reference=str(ref), **cfg)
    assert "\n" not in str(err.value)


@pytest.fixture
def no_model_loads(monkeypatch):
    """Any weights loading fails the test: every check must come first."""
    import rlhf_trl.models as models
    from rlhf_trl.evaluation import harness

    monkeypatch.setattr(models, "load_causal_lm", lambda *a, **k: pytest.fail("loaded a model"))
    monkeypatch.setattr(harness, "load_policy", lambda *a, **k: pytest.fail("loaded a model"))


@pytest.mark.usefixtures("no_model_loads")
def test_a_wrong_judge_model_path_stops_before_any_model_loads(tmp_path):
    from rlhf_trl.evaluation.harness import evaluate

    cfg = write_config(tmp_path, "unused-model", "  judges: [gold, local_lm]\n")
    argv = ["--config", str(cfg), "--judge_model", str(tmp_path / "no-judge")]
    with pytest.raises(UserError, match=r"^judge_model: model path .*no-judge does not exist"):
        evaluate(parse_recipe_args("evaluation", argv), prompts=PROMPTS[:2])


@pytest.mark.usefixtures("fake_gold")
def test_tokenizer_mismatches_stop_before_any_model_loads(tiny_model_dir, tmp_path, no_model_loads):
    """A folder whose tokenizer differs from the reference's, and one without tokenizer files whose
    vocabulary size differs: each a one-line error naming its label, raised before any weights load."""
    from transformers import AutoTokenizer

    from rlhf_trl.evaluation.harness import evaluate

    other_tok = fake_checkpoint(tmp_path / "other_tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.add_tokens(["<extra-token>"])
    tokenizer.save_pretrained(other_tok)
    small_vocab = fake_checkpoint(tmp_path / "small_vocab", vocab_size=1000)
    cfg = write_config(tmp_path, tiny_model_dir, f"  output_dir: {tmp_path / 'cmp'}\n")
    cases = [
        (
            f"other tok={other_tok}",
            r"model other tok \(.*\): its tokenizer differs from the reference's "
            r"\(49153 vs 49152 tokens, 1 entries differ, .*\); .*--reference PATH",
        ),
        (
            f"small={small_vocab}",
            r"model small \(.*\): no tokenizer files, and its vocabulary \(1000 tokens\) "
            r"differs from the reference's \(49152, .*tokenizer.save_pretrained",
        ),
    ]
    for entry, expected in cases:
        args = parse_recipe_args("evaluation", ["--config", str(cfg), "--models", entry])
        with pytest.raises(UserError, match=expected) as err:
            evaluate(args, prompts=PROMPTS[:2])
        assert "\n" not in str(err.value)


def test_same_tokenizer_under_another_chat_template_is_noted(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    from rlhf_trl.evaluation.model_specs import ModelSpec, check_tokenizer
    from rlhf_trl.models import load_tokenizer

    folder = fake_checkpoint(tmp_path / "templated")
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    tokenizer.save_pretrained(folder)
    notes: list[str] = []
    check_tokenizer(ModelSpec("t", str(folder)), tiny_model_dir, load_tokenizer(tiny_model_dir), notes)
    assert notes == ["t: its chat template differs from the reference's; its prompts use the reference's"]


# ----------------------------------------------------------------------------------------- end to end


def make_lora_adapter(base: str, dst: Path) -> None:
    """A LoRA adapter on ``base`` whose update is not zero (peft starts B at 0), saved without a tokenizer."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base),
        LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    torch.manual_seed(4)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    model.save_pretrained(dst)


@pytest.mark.slow
@pytest.mark.usefixtures("fake_gold")
def test_models_from_two_runs_in_one_report(tiny_model_dir, tmp_path, monkeypatch):
    """`--models` with checkpoints of two runs (a full model, a LoRA adapter, a folder without tokenizer
    files) and `--compare-runs` write one evaluation into output_dir, with free labels in every table,
    plot and cache file name, baselines beside them; `rlhf-trl report --run OUTPUT_DIR` reads it."""
    from rlhf_trl.evaluation import harness
    from rlhf_trl.evaluation.model_specs import cache_name
    from rlhf_trl.evaluation.report import main as report_main

    run_a, run_b = tmp_path / "outputs" / "a", tmp_path / "outputs" / "b"
    make_perturbed_copy(tiny_model_dir, run_a / "checkpoints" / "ppo")
    make_lora_adapter(tiny_model_dir, run_a / "checkpoints" / "dpo")
    shutil.copytree(  # the reference's weights without its tokenizer: samples identical to the reference's
        tiny_model_dir,
        run_b / "checkpoints" / "ppo",
        ignore=shutil.ignore_patterns("tokenizer*", "chat_template*", "special_tokens_map.json"),
    )
    (run_a / "checkpoints" / "ppo" / "metrics.json").write_text(json.dumps({"train_runtime_s": 12.5}))
    make_reward_model(tiny_model_dir, run_a / "checkpoints" / "reward")
    out = tmp_path / "comparisons" / "a_vs_b"
    cfg = write_config(tmp_path, tiny_model_dir, "  baselines: [echo]\n")
    argv = [
        "--config", str(cfg),
        "--models", f"ppo (a)={run_a / 'checkpoints' / 'ppo'}", f"lora/dpo={run_a / 'checkpoints' / 'dpo'}",
        f"no-tokenizer={run_b / 'checkpoints' / 'ppo'}",
        "--compare-runs", str(run_a),
        "--reward_model_path", str(run_a / "checkpoints" / "reward"),
        "--output_dir", str(out),
    ]  # fmt: skip
    sampled = []
    real = harness.sample_model
    monkeypatch.setattr(harness, "sample_model", lambda *a, **k: sampled.append(k["desc"]) or real(*a, **k))
    metrics = harness.evaluate(parse_recipe_args("evaluation", argv), prompts=PROMPTS[:3])

    models = metrics["models"]
    assert list(models) == ["reference", "ppo (a)", "lora/dpo", "no-tokenizer", "a/ppo", "a/dpo", "echo"]
    assert [models[m]["role"] for m in models] == ["reference", *["policy"] * 5, "baseline"]
    assert models["lora/dpo"]["path"].endswith("a/checkpoints/dpo")
    # the adapter was merged: not the base (analytic KL: never negative, unlike the 3-sample estimate)
    assert models["lora/dpo"]["metrics"]["kl_analytic"]["mean"] > 0.01
    assert abs(models["no-tokenizer"]["metrics"]["kl"]["mean"]) < 1e-4  # the reference's tokenizer read it
    assert models["no-tokenizer"]["win_rate"]["gold"]["ties"] == 3
    # the same checkpoint under two labels: sampled twice, identical samples
    records = [json.loads(line) for line in (out / "evaluation" / "samples.jsonl").read_text().splitlines()]
    by = {(r["model"], r["prompt_id"]): r["response"] for r in records}
    assert all(by[("ppo (a)", i)] == by[("a/ppo", i)] for i in range(3))
    assert metrics["judges"]["reward_model"]["path"] == str(run_a / "checkpoints" / "reward")
    assert any(
        n.startswith("proxy reward: every model is scored by the reward model at") for n in metrics["notes"]
    )
    # everything under output_dir, nothing in the runs; cache files named safely
    assert not (run_a / "evaluation").exists() and not (run_b / "evaluation").exists()
    cache = sorted(p.name for p in (out / "evaluation" / "cache").iterdir())
    assert "samples_reference.json" in cache and "score_gold_echo.json" in cache
    assert "samples_lora_dpo-" + cache_name("lora/dpo").split("-")[-1] + ".json" in cache
    assert all("/" not in n and " " not in n for n in cache)
    assert len([n for n in cache if n.startswith("samples_")]) == 6  # reference + 5 labels
    report = (out / "evaluation" / "report.md").read_text()
    for label in ("ppo (a)", "lora/dpo", "no-tokenizer", "a/ppo", "a/dpo", "echo (baseline)"):
        assert f"| {label} |" in report
    # a rerun reuses every sample under the same labels
    sampled.clear()
    harness.evaluate(parse_recipe_args("evaluation", argv), prompts=PROMPTS[:3])
    assert sampled == []

    analysis = tmp_path / "ANALYSIS.md"
    assert report_main(["--run", str(out), "--output", str(analysis)]) == 0
    text = analysis.read_text()
    assert "| lora/dpo | reward model |" in text and "| a/ppo | gold rubric |" in text
    assert "| ppo (a) | 12.5 |" in text  # cost read from the model's own folder in another run


@pytest.mark.slow
@pytest.mark.usefixtures("fake_gold")
def test_local_lm_judge_is_the_reference_and_its_accuracy_is_measured(tiny_model_dir, tmp_path, monkeypatch):
    """The local LM judge given as the reference's folder (another spelling of it): metrics.json and the
    report say the judge is the reference (self-preference) and give its accuracy on the first
    judge_accuracy_pairs preference test pairs, asked in both orders; a rerun asks it nothing (cached).

    The judge's answers follow a rule ("the longer reply"), so the right count is known: in the first
    three test pairs the chosen reply is longer twice and shorter once."""
    from test_eval_harness import TRAIN_PAIRS

    from rlhf_trl import judges
    from rlhf_trl.evaluation.harness import evaluate

    asked = []

    def longer(self, prompt, a, b):
        asked.append((a, b))
        return "A" if len(a) > len(b) else "B"

    monkeypatch.setattr(judges.LocalLMJudge, "ask", longer)
    shutil.copytree(tiny_model_dir, tmp_path / "run" / "checkpoints" / "ppo")
    extra = f"  baselines: []\n  judges: [gold, local_lm]\n  judge_model: {tiny_model_dir}/\n  judge_accuracy_pairs: 3\n"
    cfg = write_config(tmp_path, tiny_model_dir, extra)
    metrics = evaluate(parse_recipe_args("evaluation", ["--config", str(cfg)]), prompts=PROMPTS[:2])

    info = metrics["judges"]["local_lm"]
    assert info["model"] == f"{tiny_model_dir}/" and info["is_reference"] is True
    assert [len(good) > len(bad) for _, good, bad in TRAIN_PAIRS[:3]] == [True, True, False]
    acc = info["accuracy"]
    assert (acc["right"], acc["inconsistent"], acc["wrong"], acc["n"]) == (2, 0, 1, 3)
    assert acc["accuracy"] == pytest.approx(2 / 3) and acc["p_chance"] == 1.0
    for _, good, bad in TRAIN_PAIRS[:3]:  # both orders of every test pair
        assert (good, bad) in asked and (bad, good) in asked
    # ppo's replies equal the reference's: "A" in both orders, a tie
    assert metrics["models"]["ppo"]["win_rate"]["local_lm"]["ties"] == 2
    report = (tmp_path / "run" / "evaluation" / "report.md").read_text()
    assert "**the reference model itself**" in report
    assert (
        "accuracy on 3 pairs of the preference test split" in report
        and "(2 right / 0 inconsistent / 1 wrong)" in report
    )
    assert "| ppo | local LM (the reference itself, test accuracy 0.67) |" in report

    monkeypatch.setattr(judges.LocalLMJudge, "__init__", lambda *a, **k: pytest.fail("judge loaded again"))
    again = evaluate(parse_recipe_args("evaluation", ["--config", str(cfg)]), prompts=PROMPTS[:2])
    assert again["judges"]["local_lm"]["accuracy"] == acc


def test_local_lm_judge_that_is_not_the_reference_is_not_called_one():
    from rlhf_trl.evaluation.model_specs import same_model
    from rlhf_trl.evaluation.outputs import judge_label, judge_lines

    assert same_model("embedded:smollm2-135m-instruct", "embedded:smollm2-135m-instruct")
    assert not same_model("embedded:smollm2-135m-instruct", "owner/other-judge")
    acc = {
        "accuracy": 0.8125,
        "ci95": [0.7, 0.9],
        "right": 25,
        "inconsistent": 2,
        "wrong": 5,
        "n": 32,
        "p_chance": 0.0005,
    }
    metrics = {
        "settings": {},
        "judges": {"local_lm": {"model": "owner/judge", "is_reference": False, "accuracy": acc}},
    }
    (line,) = judge_lines(metrics)
    assert "reference model itself" not in line and "`owner/judge`" in line
    assert (
        "0.812 [0.700, 0.900] (25 right / 2 inconsistent / 5 wrong), +0.312 from chance: better than chance"
        in line
    )
    assert judge_label(metrics, "local_lm") == "local LM (test accuracy 0.81)"
    assert judge_lines({"settings": {}}) == [] and judge_label({}, "gold") == "gold rubric"


# ------------------------------------------------------------------------ checkpoints along training


def fake_stage(folder: Path, steps, final_step: int | None) -> Path:
    """A stage folder: complete checkpoint-N folders for ``steps`` and, when ``final_step``, the final
    model with the metrics.json every recipe writes last."""
    from rlhf_trl.checkpoints import COMPLETE_MARKER

    for step in steps:
        fake_checkpoint(folder / f"checkpoint-{step}")
        (folder / f"checkpoint-{step}" / COMPLETE_MARKER).write_text("{}")
    if final_step is not None:
        fake_checkpoint(folder)
        (folder / "metrics.json").write_text(json.dumps({"global_step": final_step}))
    return folder


def test_checkpoints_of_labels_every_saved_model_by_stage_and_step(tmp_path):
    from rlhf_trl.evaluation.model_specs import checkpoint_specs

    ppo = fake_stage(tmp_path / "a" / "checkpoints" / "ppo", [16, 8, 24], final_step=24)
    fake_checkpoint(ppo / "checkpoint-30")  # no completion marker: an interrupted save, not a point
    fake_checkpoint(ppo / "tmp-checkpoint-32")
    dpo = fake_stage(tmp_path / "a" / "checkpoints" / "dpo", [11], final_step=None)  # still training
    specs = checkpoint_specs([str(ppo), str(dpo)])
    assert [(s.name, s.curve, s.step) for s in specs] == [
        ("ppo@8", "ppo", 8),
        ("ppo@16", "ppo", 16),
        ("ppo", "ppo", 24),  # checkpoint-24 is the final model: judged once, under the stage's name
        ("dpo@11", "dpo", 11),
    ]
    assert specs[2].path == str(ppo) and specs[0].path == str(ppo / "checkpoint-8")
    # the same stage of two runs: the curves are told apart by their run
    other = fake_stage(tmp_path / "b" / "checkpoints" / "ppo", [8], final_step=16)
    names = [s.name for s in checkpoint_specs([str(ppo), str(other)])]
    assert names == ["a/ppo@8", "a/ppo@16", "a/ppo", "b/ppo@8", "b/ppo"]
    # with select_models: after models, labels checked against baselines like any other
    both = select(tmp_path, models=["hub=owner/name"], checkpoints_of=[str(dpo)])
    assert [n for n, _ in both] == ["reference", "hub", "dpo@11"]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (
            "missing",
            r"checkpoints_of: .*nowhere is not a folder \(a stage's outputs/<run>/checkpoints/<stage>\)",
        ),
        (
            "empty",
            r"checkpoints_of: .*empty holds no model and no complete checkpoint-N folder; .*save_strategy: steps",
        ),
        ("no_output_dir", r"checkpoints_of need output_dir \(--output_dir FOLDER\)"),
    ],
)
def test_checkpoints_of_mistakes_are_one_line_errors(tmp_path, case, expected):
    from rlhf_trl.evaluation.config import EvaluationConfig

    (tmp_path / "empty").mkdir()
    folder = str(tmp_path / {"missing": "nowhere", "empty": "empty", "no_output_dir": "empty"}[case])
    with pytest.raises((UserError, ValueError), match=expected) as err:
        if case == "no_output_dir":
            EvaluationConfig(checkpoints_of=[folder])
        else:
            select(tmp_path, checkpoints_of=[folder])
    assert "\n" not in str(err.value)


@pytest.mark.slow
@pytest.mark.usefixtures("fake_gold")
def test_checkpoints_along_training_are_judged_and_drawn_as_curves(tiny_model_dir, tmp_path):
    """`--checkpoints-of`: each saved model is a point with its step and KL; kl_curves.png and the report
    show the curve."""
    from rlhf_trl.checkpoints import COMPLETE_MARKER
    from rlhf_trl.evaluation import harness

    ppo = tmp_path / "run" / "checkpoints" / "ppo"
    make_perturbed_copy(tiny_model_dir, ppo / "checkpoint-2", scale=0.05)
    (ppo / "checkpoint-2" / COMPLETE_MARKER).write_text("{}")
    make_perturbed_copy(tiny_model_dir, ppo, scale=0.5)
    (ppo / "metrics.json").write_text(json.dumps({"global_step": 4}))
    make_reward_model(tiny_model_dir, tmp_path / "run" / "checkpoints" / "reward")
    out = tmp_path / "curves"
    cfg = write_config(tmp_path, tiny_model_dir, "  baselines: []\n  best_of_n: [2]\n")
    argv = ["--config", str(cfg), "--checkpoints-of", str(ppo), "--output_dir", str(out)]
    metrics = harness.evaluate(parse_recipe_args("evaluation", argv), prompts=PROMPTS[:3])

    models = metrics["models"]
    assert list(models) == ["reference", "ppo@2", "ppo", "bon2"]
    assert (models["ppo@2"]["curve"], models["ppo@2"]["step"]) == ("ppo", 2)
    assert (models["ppo"]["curve"], models["ppo"]["step"]) == ("ppo", 4)
    assert "curve" not in models["bon2"] and "curve" not in models["reference"]
    # a smaller perturbation stays closer to the reference
    assert (
        0
        <= models["ppo@2"]["metrics"]["kl_analytic"]["mean"]
        < models["ppo"]["metrics"]["kl_analytic"]["mean"]
    )
    assert (out / "evaluation" / "kl_curves.png").stat().st_size > 0
    assert "kl_curves.png" in (out / "evaluation" / "report.md").read_text()
