"""The evaluation harness end to end on tiny random policies in a fake run folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rlhf_trl.evaluation.baselines import TRIVIAL

PROMPTS = [
    [{"role": "user", "content": "How do I boil an egg?"}],
    [{"role": "user", "content": "Name a colour."}],
    [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Tell me a fact."},
    ],
    [{"role": "user", "content": "What is 2 + 2?"}],
    [{"role": "user", "content": "Write one word."}],
]


def toy_gold(prompt_messages, response) -> float:
    """A stand-in rubric: prefers responses of about 20 characters."""
    return -abs(len(response) - 20) / 20.0


@pytest.fixture
def fake_gold(monkeypatch):
    import rlhf_trl.data as data
    import rlhf_trl.testbed as testbed

    monkeypatch.setattr(testbed, "gold_score", toy_gold, raising=False)  # where GoldJudge reads it
    monkeypatch.setattr(data, "has_gold", lambda data_args: True, raising=False)


def make_perturbed_copy(src: str, dst: Path, scale: float = 0.5) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(src)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn_like(p))
    model.save_pretrained(dst)
    AutoTokenizer.from_pretrained(src).save_pretrained(dst)


def make_reward_model(src: str, dst: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoTokenizer, LlamaForSequenceClassification

    config = AutoConfig.from_pretrained(src)
    config.num_labels = 1
    torch.manual_seed(2)
    LlamaForSequenceClassification(config).save_pretrained(dst)
    AutoTokenizer.from_pretrained(src).save_pretrained(dst)


TRAIN_PAIRS = [  # (question, chosen, rejected): the nearest_train_chosen baseline reads these
    ("What is the weather like on Mars?", "Cold and dusty.", "Hot."),
    ("How long should I boil an egg?", "About seven minutes for a firm yolk.", "An hour."),
    ("Name a colour of the sky.", "Blue.", "Plaid."),
    ("Tell me a fact about cats.", "Cats sleep most of the day.", "Cats are fish."),
]


def write_hh_folder(folder: Path) -> Path:
    """A local HH-format dataset (train.jsonl + test.jsonl), independent of the bundled testbed."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {"chosen": f"\n\nHuman: {q}\n\nAssistant: {good}", "rejected": f"\n\nHuman: {q}\n\nAssistant: {bad}"}
        for q, good, bad in TRAIN_PAIRS
    ]
    for split in ("train", "test"):
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def write_config(tmp_path: Path, model: str, extra: str = "") -> Path:
    cfg = tmp_path / "eval.yaml"
    data = write_hh_folder(tmp_path / "hh")
    cfg.write_text(
        f"run_dir: {tmp_path / 'run'}\nmodel_name_or_path: {model}\nseed: 7\ndataset_name: {data}\n"
        "evaluation:\n  max_new_tokens: 8\n  batch_size: 2\n  bootstrap_samples: 200\n"
        "  judges: [reward_model, gold]\n" + extra
    )
    return cfg


def test_prompt_sets_load_their_own_prompts_and_write_apart(tmp_path):
    """dev/test: the held-out halves of the test split's prompts; train: the training pairs' prompts, in order,
    capped by num_prompts; each writes its own folder; an unknown set is refused."""
    from rlhf_trl.config import DataArguments
    from rlhf_trl.evaluation.config import EvaluationConfig
    from rlhf_trl.evaluation.harness import load_eval_prompts
    from rlhf_trl.evaluation.outputs import evaluation_dir, side_by_side

    data = DataArguments(dataset_name=str(write_hh_folder(tmp_path / "hh")))
    last = {
        s: [p[-1]["content"] for p in load_eval_prompts(data, EvaluationConfig(prompt_set=s))]
        for s in ("dev", "test", "train")
    }
    questions = [q for q, _, _ in TRAIN_PAIRS]
    assert last["train"] == questions
    assert sorted(last["dev"] + last["test"]) == sorted(questions)  # this folder's test split = its train
    assert not set(last["dev"]) & set(last["test"])
    capped = load_eval_prompts(data, EvaluationConfig(prompt_set="train", num_prompts=2))
    assert [p[-1]["content"] for p in capped] == questions[:2]
    dirs = {s: evaluation_dir(tmp_path, s) for s in ("dev", "test", "train")}
    assert dirs == {
        s: tmp_path / d for s, d in zip(dirs, ("evaluation", "evaluation_test", "evaluation_train"))
    }
    with pytest.raises(ValueError, match="prompt_set must be one of dev, test, train; got 'heldout'"):
        EvaluationConfig(prompt_set="heldout")
    # the reports say which prompts they are
    assert "The same training prompt (not held out)," in side_by_side([], [], {}, {}, {}, 0, "train")
    assert "The same held-out prompt," in side_by_side([], [], {}, {}, {}, 0, "test")


@pytest.mark.slow
def test_harness_end_to_end(tiny_model_dir, tmp_path, fake_gold):
    from rlhf_trl.config import parse_recipe_args
    from rlhf_trl.evaluation.harness import evaluate

    ckpt = tmp_path / "run" / "checkpoints"
    shutil.copytree(tiny_model_dir, ckpt / "ppo")  # identical to the reference
    make_perturbed_copy(tiny_model_dir, ckpt / "dpo")
    make_reward_model(tiny_model_dir, ckpt / "reward")
    cfg = write_config(tmp_path, tiny_model_dir)

    metrics = evaluate(parse_recipe_args("evaluation", ["--config", str(cfg)]), prompts=PROMPTS)

    out = tmp_path / "run" / "evaluation"
    assert set(metrics["models"]) == {"reference", "ppo", "dpo", *TRIVIAL}  # baselines on by default
    ppo, dpo = metrics["models"]["ppo"], metrics["models"]["dpo"]
    # identical policy: identical samples (same seeds), KL 0, every judgement a tie
    assert abs(ppo["metrics"]["kl"]["mean"]) < 1e-4
    for judge in ("reward_model", "gold"):
        assert ppo["win_rate"][judge]["win_rate"] == 0.5
        assert ppo["win_rate"][judge]["ties"] == len(PROMPTS)
    # a different policy: positive mean KL on its own samples
    assert dpo["metrics"]["kl"]["mean"] > 0.01
    assert set(dpo["metrics"]) >= {
        "proxy_reward",
        "gold_score",
        "kl",
        "length_tokens",
        "eos_rate",
        "distinct_1",
        "distinct_2",
    }
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk["models"]["dpo"]["win_rate"]["gold"]["n"] == len(PROMPTS)
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(records) == (3 + len(TRIVIAL)) * len(PROMPTS)
    ref = {r["prompt_id"]: r["response"] for r in records if r["model"] == "reference"}
    assert all(r["response"] == ref[r["prompt_id"]] for r in records if r["model"] == "ppo")
    assert "## Prompt 0" in (out / "side_by_side.md").read_text()
    assert "| dpo |" in (out / "report.md").read_text()
    for png in ("reward_vs_kl.png", "reward_distributions.png", "win_rates.png"):
        assert (out / png).stat().st_size > 1000


@pytest.mark.slow
def test_several_replies_per_prompt_end_to_end(tiny_model_dir, tmp_path, fake_gold):
    """samples_per_prompt 2: each prompt sampled twice (two different draws), verdicts over prompts."""
    from rlhf_trl.config import parse_recipe_args
    from rlhf_trl.evaluation.harness import evaluate

    ckpt = tmp_path / "run" / "checkpoints"
    shutil.copytree(tiny_model_dir, ckpt / "ppo")  # identical to the reference
    make_reward_model(tiny_model_dir, ckpt / "reward")
    cfg = write_config(tmp_path, tiny_model_dir, "  samples_per_prompt: 2\n  baselines: []\n")

    metrics = evaluate(parse_recipe_args("evaluation", ["--config", str(cfg)]), prompts=PROMPTS)

    out = tmp_path / "run" / "evaluation"
    assert metrics["num_prompts"] == len(PROMPTS) and metrics["settings"]["samples_per_prompt"] == 2
    ppo = metrics["models"]["ppo"]
    assert ppo["metrics"]["gold_score"]["n"] == 2 * len(PROMPTS)
    for judge in ("reward_model", "gold"):  # identical policy: every prompt a tie
        w = ppo["win_rate"][judge]
        assert (w["wins"], w["ties"], w["losses"], w["n"], w["replies"]) == (0, 5, 0, 5, 10)
        assert w["paired"]["p_sign"] == 1.0 and w["paired"]["mean_diff"] == 0.0
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    ref = [r for r in records if r["model"] == "reference"]
    assert [(r["prompt_id"], r["sample"]) for r in ref] == [(i, j) for i in range(5) for j in (0, 1)]
    assert any(a["response"] != b["response"] for a, b in zip(ref[::2], ref[1::2]))  # two draws, not one
    assert "5 held-out prompts of `" in (out / "report.md").read_text()
    assert "`, 2 replies per prompt and model; reference" in (out / "report.md").read_text()
    assert "## Prompt 1 (the first of its 2 replies)" in (out / "side_by_side.md").read_text()
    from rlhf_trl.evaluation.report import render  # `rlhf-trl report --run` pairs replies, not prompts

    analysis = render(tmp_path / "run", tmp_path / "ANALYSIS.md")
    assert "5 prompts and 2 replies per prompt from one training seed" in analysis


@pytest.mark.slow
def test_bf16_evaluation_samples_in_bf16_and_scores_kl_in_fp32(
    tiny_model_dir, tmp_path, fake_gold, monkeypatch
):
    """Under ``bf16: true`` sampling runs under bf16 autocast and KL is scored in fp32 (bf16 rounding of
    two nearly equal models would read as KL); a policy equal to the reference draws the reference's
    samples, with KL exactly 0 and every judgement a tie; the report says which precision sampled."""
    import torch

    import rlhf_trl.generation as generation
    from rlhf_trl.config import parse_recipe_args
    from rlhf_trl.evaluation.harness import evaluate

    seen = {"sample": set(), "kl": set()}
    real_generate, real_kl = generation.generate_responses, generation.response_token_kl

    def generate(*a, **k):
        seen["sample"].add(torch.is_autocast_enabled("cpu"))
        return real_generate(*a, **k)

    def kl(*a, **k):
        seen["kl"].add(torch.is_autocast_enabled("cpu"))
        return real_kl(*a, **k)

    monkeypatch.setattr(generation, "generate_responses", generate)
    monkeypatch.setattr(generation, "response_token_kl", kl)
    ckpt = tmp_path / "run" / "checkpoints"
    shutil.copytree(tiny_model_dir, ckpt / "ppo")
    make_perturbed_copy(tiny_model_dir, ckpt / "dpo")
    make_reward_model(tiny_model_dir, ckpt / "reward")
    cfg = write_config(tmp_path, tiny_model_dir, extra="  bf16: true\n  baselines: []\n")

    metrics = evaluate(parse_recipe_args("evaluation", ["--config", str(cfg)]), prompts=PROMPTS)

    assert seen == {"sample": {True}, "kl": {False}}
    assert metrics["settings"]["bf16"] is True
    ppo, dpo = metrics["models"]["ppo"], metrics["models"]["dpo"]
    assert ppo["metrics"]["kl"]["mean"] == 0.0 and ppo["metrics"]["kl_analytic"]["mean"] == 0.0
    for judge in ("reward_model", "gold"):
        assert ppo["win_rate"][judge]["ties"] == len(PROMPTS)
    assert dpo["metrics"]["kl_analytic"]["mean"] > 0.01
    report = (tmp_path / "run" / "evaluation" / "report.md").read_text()
    assert "seed=7, bf16 autocast (identical for every model)" in report


@pytest.mark.slow
def test_harness_uses_cache_unless_recompute(tiny_model_dir, tmp_path, fake_gold, monkeypatch):
    from rlhf_trl.config import parse_recipe_args
    from rlhf_trl.evaluation import harness

    shutil.copytree(tiny_model_dir, tmp_path / "run" / "checkpoints" / "grpo")
    cfg = write_config(tmp_path, tiny_model_dir)
    harness.evaluate(parse_recipe_args("evaluation", ["--config", str(cfg)]), prompts=PROMPTS[:2])

    calls = []
    real = harness.sample_model
    monkeypatch.setattr(harness, "sample_model", lambda *a, **k: calls.append(k["desc"]) or real(*a, **k))
    metrics = harness.evaluate(parse_recipe_args("evaluation", ["--config", str(cfg)]), prompts=PROMPTS[:2])
    assert calls == []
    assert "reward_model judge skipped" in " ".join(metrics["notes"])
    harness.evaluate(
        parse_recipe_args("evaluation", ["--config", str(cfg), "--recompute"]), prompts=PROMPTS[:2]
    )
    assert calls == ["sample reference", "sample grpo"]
    # a change to the sampling code is a change of the samples: the cache must not be reused
    calls.clear()
    monkeypatch.setattr(harness, "sampling_code_hash", lambda: "another-version")
    harness.evaluate(parse_recipe_args("evaluation", ["--config", str(cfg)]), prompts=PROMPTS[:2])
    assert calls == ["sample reference", "sample grpo"]
    # ...and so is a change of a generation setting or of the precision
    # (each time against a cache that holds the plain settings' samples: those must not be reused)
    for flags in (["--temperature", "0.9"], ["--dtype", "bfloat16"], ["--bf16", "true"]):
        harness.evaluate(parse_recipe_args("evaluation", ["--config", str(cfg)]), prompts=PROMPTS[:2])
        calls.clear()
        harness.evaluate(parse_recipe_args("evaluation", ["--config", str(cfg), *flags]), prompts=PROMPTS[:2])
        assert calls == ["sample reference", "sample grpo"], flags


def test_gold_scores_are_recomputed_when_the_rubric_changes(monkeypatch, tmp_path):
    """The gold judge's cache stamp holds the rubric's source hash: a changed rubric is a new judge."""
    from types import SimpleNamespace

    from rlhf_trl.evaluation import harness
    from rlhf_trl.testbed import gold

    cfg = SimpleNamespace(judges=["gold"], tie_margin=0.0)
    data_args = SimpleNamespace(dataset_name="bundled")
    stamp = harness.build_score_judges(cfg, tmp_path, data_args, [])["gold"][1]
    monkeypatch.setattr(gold, "rubric_hash", lambda: "edited-rubric")
    assert harness.build_score_judges(cfg, tmp_path, data_args, [])["gold"][1] != stamp


@pytest.mark.slow
def test_harness_http_judge_flags_reuse_cached_samples(tiny_model_dir, tmp_path, fake_gold, monkeypatch):
    from test_judges import JudgeServer

    from rlhf_trl.config import parse_recipe_args
    from rlhf_trl.evaluation import harness

    shutil.copytree(tiny_model_dir, tmp_path / "run" / "checkpoints" / "dpo")
    cfg = write_config(tmp_path, tiny_model_dir)
    harness.evaluate(parse_recipe_args("evaluation", ["--config", str(cfg)]), prompts=PROMPTS[:3])
    monkeypatch.setattr(harness, "sample_model", lambda *a, **k: pytest.fail("samples should be cached"))
    with JudgeServer() as server:
        argv = ["--config", str(cfg), "--judges", "gold", "http", "--judge-base-url", server.url]
        metrics = harness.evaluate(parse_recipe_args("evaluation", argv), prompts=PROMPTS[:3])
    http = metrics["models"]["dpo"]["win_rate"]["http"]
    assert http["n"] == 3 and http["ties"] == 3  # identical answers: the same letter in both orders -> tie
    # the baselines are judged too (cached samples, new judge): both orders per prompt and model, each
    # distinct question once (dpo's replies equal the reference's, so both its orders are one question)
    assert metrics["models"]["echo"]["win_rate"]["http"]["n"] == 3
    questions = {json.dumps(r["body"]["messages"]) for r in server.requests}
    assert len(server.requests) == len(questions) <= 2 * 3 * (1 + len(TRIVIAL))
    assert any(note.startswith("http judge: every answer parsed") for note in metrics["notes"])


@pytest.mark.slow
def test_harness_scores_and_judges_baselines(tiny_model_dir, tmp_path, fake_gold):
    """Trivial baselines and best-of-n are in metrics.json as role "baseline", judged by every score
    judge like a policy; each best-of-n answer is the reward model's favourite of its candidates."""
    from rlhf_trl.config import parse_recipe_args
    from rlhf_trl.evaluation.baselines import bon_kl
    from rlhf_trl.evaluation.harness import evaluate
    from rlhf_trl.judges import RewardModelJudge

    make_reward_model(tiny_model_dir, tmp_path / "run" / "checkpoints" / "reward")
    cfg = write_config(tmp_path, tiny_model_dir, "  best_of_n: [2, 4]\n")
    prompts = PROMPTS[:4]

    metrics = evaluate(parse_recipe_args("evaluation", ["--config", str(cfg)]), prompts=prompts)

    out = tmp_path / "run" / "evaluation"
    models = metrics["models"]
    assert list(models) == ["reference", *TRIVIAL, "bon2", "bon4"]
    for name in [*TRIVIAL, "bon2", "bon4"]:
        assert models[name]["role"] == "baseline" and models[name]["path"] == f"baseline:{name}"
        for judge in ("reward_model", "gold"):
            assert models[name]["win_rate"][judge]["n"] == len(prompts)
        assert {"proxy_reward", "gold_score"} <= set(models[name]["metrics"])
    # a fixed string rule has no KL; best-of-n has the analytic one
    assert models["echo"]["metrics"]["kl"]["mean"] is None
    assert models["bon4"]["metrics"]["kl"]["mean"] == pytest.approx(bon_kl(4))

    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    by = {(r["model"], r["prompt_id"]): r for r in records}
    for i, p in enumerate(prompts):
        echo = by[("echo", i)]
        assert echo["response"] == p[-1]["content"] and echo["kl"] is None and not echo["ended_with_eos"]
        assert echo["scores"]["gold"] == pytest.approx(toy_gold(p, echo["response"]))  # the gold judge ran
        ref_gold = by[("reference", i)]["scores"]["gold"]
        expected = (
            1.0 if echo["scores"]["gold"] > ref_gold else 0.0 if echo["scores"]["gold"] < ref_gold else 0.5
        )
        assert echo["judgements"]["gold"] == expected
    assert by[("nearest_train_chosen", 0)]["response"] == "About seven minutes for a firm yolk."
    assert by[("keyword_sentence", 0)]["response"] == "Here is what I know about boil egg."

    # best-of-n: 4 cached candidates per prompt, none sampled with the reference's own seeds, and each
    # bon<n> answer is the argmax of an independent reward-model scoring of its first n candidates
    cands = [json.loads((out / "cache" / f"bon_candidate_{k}.json").read_text())["value"] for k in range(4)]
    assert [r["response"] for r in cands[0]] != [by[("reference", i)]["response"] for i in range(4)]
    rm = RewardModelJudge(str(tmp_path / "run" / "checkpoints" / "reward"), batch_size=2)
    rm_scores = [rm.score(prompts, [r["response"] for r in rows]) for rows in cands]
    for n in (2, 4):
        for i in range(len(prompts)):
            chosen = by[(f"bon{n}", i)]
            own = [rm_scores[k][i] for k in range(n)]
            k = [cands[j][i]["response"] for j in range(n)].index(chosen["response"])
            assert own[k] == pytest.approx(max(own), abs=1e-5)
            assert chosen["scores"]["reward_model"] == pytest.approx(max(own), abs=1e-5)
            assert chosen["length"] == cands[k][i]["length"]
            assert chosen["ended_with_eos"] == cands[k][i]["ended_with_eos"]
    assert "| bon4 |" in (out / "report.md").read_text()


def test_best_of_n_without_reward_model_stops_before_any_model_loads(tmp_path, monkeypatch):
    import rlhf_trl.models as models
    from rlhf_trl.config import parse_recipe_args
    from rlhf_trl.errors import UserError
    from rlhf_trl.evaluation.harness import evaluate

    monkeypatch.setattr(models, "load_tokenizer", lambda *a, **k: pytest.fail("loaded a model"))
    cfg = write_config(tmp_path, "unused-model", "  best_of_n: [4]\n")
    with pytest.raises(
        UserError, match=r"best_of_n \[4\]: needs a reward model, none at .*checkpoints/reward"
    ):
        evaluate(parse_recipe_args("evaluation", ["--config", str(cfg)]), prompts=PROMPTS)
    with pytest.raises(UserError, match="needs the reward_model judge"):
        evaluate(parse_recipe_args("evaluation", ["--config", str(cfg), "--judges", "gold"]), prompts=PROMPTS)


@pytest.mark.slow
def test_top_k_sampling_reports_no_kl(tiny_model_dir, tmp_path, fake_gold):
    """Under top-k the samples come from truncated distributions, which estimate no KL(π‖π_ref): kl and
    kl_analytic are null for the policy and best-of-n (0 for the reference), with a note; the rest of
    the evaluation, the plots and the report still work. A sample cache from before (KL numbers under
    truncation) is read without its KL."""
    from rlhf_trl.config import parse_recipe_args
    from rlhf_trl.evaluation.harness import evaluate
    from rlhf_trl.evaluation.report import main as report_main

    ckpt = tmp_path / "run" / "checkpoints"
    make_perturbed_copy(tiny_model_dir, ckpt / "ppo")
    make_reward_model(tiny_model_dir, ckpt / "reward")
    cfg = write_config(tmp_path, tiny_model_dir, "  top_k: 5\n  baselines: [echo]\n  best_of_n: [2]\n")
    args = ["--config", str(cfg)]
    metrics = evaluate(parse_recipe_args("evaluation", args), prompts=PROMPTS[:3])

    models = metrics["models"]
    for name in ("ppo", "bon2", "echo"):
        for key in ("kl", "kl_analytic"):
            assert models[name]["metrics"][key]["mean"] is None and models[name]["metrics"][key]["n"] == 0
    assert models["reference"]["metrics"]["kl"]["mean"] == 0.0
    assert models["ppo"]["win_rate"]["gold"]["n"] == 3 and "proxy_reward" in models["bon2"]["metrics"]
    assert any(n.startswith("kl and kl_analytic not computed: with top_k/top_p") for n in metrics["notes"])
    out = tmp_path / "run" / "evaluation"
    assert (out / "reward_vs_kl.png").stat().st_size > 1000
    assert report_main(["--run", str(tmp_path / "run"), "--output", str(tmp_path / "A.md")]) == 0

    cached = out / "cache" / "samples_ppo.json"
    data = json.loads(cached.read_text())
    data["value"] = [{**r, "kl": 1.5, "kl_analytic": 1.0} for r in data["value"]]
    cached.write_text(json.dumps(data))
    again = evaluate(parse_recipe_args("evaluation", args), prompts=PROMPTS[:3])
    assert again["models"]["ppo"]["metrics"]["kl"]["mean"] is None


def test_no_secret_in_anything_a_full_evaluation_writes_or_prints(
    tiny_model_dir, tmp_path, fake_gold, monkeypatch, capsys, caplog
):
    """``rlhf-trl evaluate`` end to end with the HTTP judge, a key with a trailing newline and a base URL
    with user:password, against a server that echoes the Authorization header as its answer: no file the
    run wrote (metrics.json, report.md, samples, caches, plots) and no output holds either secret."""
    import base64
    import logging

    from test_eval_pairwise import PASSWORD, SECRET_KEY
    from test_judges import JudgeServer

    from rlhf_trl.evaluation import harness

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("TEST_JUDGE_KEY", SECRET_KEY + "\n")
    shutil.copytree(tiny_model_dir, tmp_path / "run" / "checkpoints" / "dpo")
    cfg = write_config(tmp_path, tiny_model_dir)
    echo = lambda text: f"B. Authorization: {server.requests[-1]['auth']}"  # noqa: E731
    with JudgeServer(answer=echo) as server:
        url = server.url.replace("http://", f"http://alice:{PASSWORD}@")
        argv = ["--config", str(cfg), "--judges", "gold", "http", "--judge-base-url", url]
        assert harness.main([*argv, "--judge_api_key_env", "TEST_JUDGE_KEY", "--num_prompts", "3"]) == 0
    assert server.requests and server.requests[0]["auth"].startswith("Basic ")
    out_dir = tmp_path / "run" / "evaluation"
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["models"]["dpo"]["win_rate"]["http"]["n"] >= 2  # the 3 first test prompts, deduplicated
    assert (out_dir / "report.md").is_file()
    written = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    out = capsys.readouterr()
    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    for secret in (SECRET_KEY, "SECRETKEY", PASSWORD, "SECRETPASS", basic):
        assert not any(secret.encode() in blob for blob in written), secret
        assert secret not in out.out + out.err + caplog.text, secret
