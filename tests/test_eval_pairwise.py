"""The evaluation's pairwise step without a language model: answers cached one by one (resume after a
failure, nothing paid twice), cache keys that follow the judge and its prompt, unparseable counts in the
notes, and no secret in anything written or printed."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest
from test_judges import JudgeServer, json_winner

from rlhf_trl.errors import UserError, run_cli
from rlhf_trl.evaluation.pairwise import AnswerStore, judge_against_reference, question_key
from rlhf_trl.evaluation.stats import TIE, WIN
from rlhf_trl.judges import HTTPJudge

PROMPTS = [[{"role": "user", "content": f"Question {i}?"}] for i in range(3)]
REFERENCE = ["ref 0", "ref 1", "ref 2"]


def replies_of(prompt_text: str) -> tuple[str, str]:
    a = prompt_text.split("### Reply A\n")[1].split("\n\n### Reply B")[0]
    return a, prompt_text.split("### Reply B\n")[1].split("\n\nWhich reply")[0]


def run_http(server_url, store, responses, **judge_kwargs):
    judge = HTTPJudge(server_url, backoff_s=0, **judge_kwargs)
    verdicts = judge_against_reference(
        lambda: judge, judge.cache_identity, store, PROMPTS, responses, REFERENCE, label="http"
    )
    return judge, verdicts


def test_answers_are_cached_one_by_one_and_a_failed_run_resumes(tmp_path):
    store_path = tmp_path / "cache" / "judge_http_answers.jsonl"
    responses = {"ppo": ["GOOD 0", "GOOD 1", "GOOD 2"]}
    # the server fails after 3 answers: the run stops with a one-line error mid-way...
    with JudgeServer(script=[{}] * 3 + [{"status": 500}]) as server:
        with pytest.raises(UserError, match="no answer"):
            run_http(server.url, AnswerStore(store_path), responses, retries=0)
        assert len(server.requests) == 4
        assert len(store_path.read_text().splitlines()) == 3  # ...with the 3 answers already on disk
        # ...and the rerun asks only the 3 questions left
        _, verdicts = run_http(server.url, AnswerStore(store_path), responses)
        assert len(server.requests) == 4 + 3
    assert [v.outcome for v in verdicts["ppo"]] == [WIN] * 3
    # everything cached: no judge is even built
    verdicts = judge_against_reference(
        lambda: pytest.fail("nothing to ask"),
        HTTPJudge(server.url).cache_identity,
        AnswerStore(store_path),
        PROMPTS,
        responses,
        REFERENCE,
        label="http",
    )
    assert [v.outcome for v in verdicts["ppo"]] == [WIN] * 3


def test_a_question_two_models_share_is_asked_once(tmp_path):
    responses = {"a": ["GOOD 0", "x", "ref 2"], "b": ["GOOD 0", "y", "z"]}
    with JudgeServer() as server:
        _, verdicts = run_http(server.url, AnswerStore(tmp_path / "s.jsonl"), responses)
    # a and b share prompt 0's pair (2 questions); a's prompt 2 equals the reference (1 question)
    assert len(server.requests) == 2 + 2 + 1 + 2 + 2
    assert verdicts["a"][0] == verdicts["b"][0]
    assert verdicts["a"][2].outcome == TIE  # identical replies: same answer in both positions


def test_cache_key_follows_model_url_and_prompt_template(tmp_path, monkeypatch):
    store = AnswerStore(tmp_path / "s.jsonl")
    responses = {"ppo": ["GOOD 0", "GOOD 1", "GOOD 2"]}
    with JudgeServer() as server:
        run_http(server.url, store, responses)
        run_http(server.url, store, responses)
        assert len(server.requests) == 6  # the second run was all cached
        run_http(server.url, store, responses, model="another-judge")
        assert len(server.requests) == 12
        monkeypatch.setattr(HTTPJudge, "template", HTTPJudge.template.replace("helpful", "useful"))
        run_http(server.url, store, responses)
        assert len(server.requests) == 18
    a = HTTPJudge("http://u:pw1@h/v1").cache_identity
    assert a == HTTPJudge("http://other:pw2@h/v1").cache_identity  # a new password is no new judge
    assert a != HTTPJudge("http://h2/v1").cache_identity
    assert question_key(a, PROMPTS[0], "x", "y") != question_key(a, PROMPTS[0], "y", "x")  # order


def test_recompute_asks_again_and_the_newest_answer_wins(tmp_path):
    path = tmp_path / "s.jsonl"
    responses = {"ppo": ["GOOD 0", "GOOD 1", "GOOD 2"]}
    with JudgeServer() as server:
        run_http(server.url, AnswerStore(path), responses)
        server.mode = "always_a"  # the judge changed its mind: only a recompute can tell
        _, verdicts = run_http(server.url, AnswerStore(path), responses)
        assert len(server.requests) == 6 and all(v.outcome == WIN for v in verdicts["ppo"])
        _, verdicts = run_http(server.url, AnswerStore(path, enabled=False), responses)
        assert len(server.requests) == 12
    assert all(v.outcome == TIE for v in verdicts["ppo"])
    reread = AnswerStore(path)
    assert len(reread.answers) == 6 and set(reread.answers.values()) == {json_winner("A")}


def test_answer_store_survives_a_torn_last_line(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({"key": "k1", "answer": "A"}) + '\n{"key": "k2", "ans')
    store = AnswerStore(path)
    assert store.answers == {"k1": "A"}
    store.put("k3", "B")
    assert AnswerStore(path).answers == {"k1": "A", "k3": "B"}


def test_local_lm_identity_has_weights_stamp_and_template_without_loading(tmp_path, monkeypatch):
    from rlhf_trl import judges
    from rlhf_trl.evaluation.config import EvaluationConfig
    from rlhf_trl.evaluation.pairwise import build_pairwise_judge

    folder = tmp_path / "judge_model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"1234")
    cfg = EvaluationConfig(judges=["local_lm"], judge_model=str(folder))
    make_judge, identity = build_pairwise_judge("local_lm", cfg)  # loads nothing
    assert identity["template"] == judges.template_hash(judges.LocalLMJudge.template)
    (folder / "model.safetensors").write_bytes(b"123456")  # new weights
    assert build_pairwise_judge("local_lm", cfg)[1]["weights"] != identity["weights"]
    monkeypatch.setattr(judges.LocalLMJudge, "template", "Which is better, {reply_a} or {reply_b}?")
    assert build_pairwise_judge("local_lm", cfg)[1]["template"] != identity["template"]


# ------------------------------------------------------------------------- harness step, key leaks


SECRET_KEY = "sk-SECRETKEY-0123456789"
PASSWORD = "pw-SECRETPASS-42"


def harness_inputs(tmp_path, base_url, **cfg_overrides):
    from rlhf_trl.evaluation.cache import Cache
    from rlhf_trl.evaluation.config import EvaluationConfig
    from rlhf_trl.evaluation.harness import REFERENCE as REF
    from rlhf_trl.evaluation.harness import ModelSpec

    cfg = EvaluationConfig(
        judges=["http"], judge_base_url=base_url, judge_api_key_env="TEST_JUDGE_KEY", **cfg_overrides
    )
    specs = [ModelSpec(REF, "ref"), ModelSpec("ppo", "p"), ModelSpec("echo", "baseline:echo")]
    samples = {
        REF: [{"response": r} for r in REFERENCE],
        "ppo": [{"response": r} for r in ("GOOD 0", "GOOD 1", "ppo 2")],
        "echo": [{"response": r} for r in ("echo 0", "echo 1", "echo 2")],
    }
    judgements = {"ppo": {}, "echo": {}}
    cache = Cache(tmp_path / "evaluation" / "cache", enabled=True)
    return cfg, specs, samples, judgements, cache


def test_harness_pairwise_counts_unparseable_answers_in_notes(tmp_path, monkeypatch):
    from rlhf_trl.evaluation.pairwise import pairwise_step

    monkeypatch.delenv("TEST_JUDGE_KEY", raising=False)

    def answer(text):  # GOOD beats the reference, which beats anything else; one non-answer
        a, b = replies_of(text)
        if "echo 1" in a:
            return "Both are fine"
        rank = lambda r: 2 if "GOOD" in r else 1 if r.startswith("ref") else 0  # noqa: E731
        return json_winner("A" if rank(a) > rank(b) else "B")

    with JudgeServer(answer=answer) as server:
        cfg, specs, samples, judgements, cache = harness_inputs(tmp_path, server.url)
        notes: list[str] = []
        counts = pairwise_step("http", cfg, specs, PROMPTS, samples, judgements, cache, notes)
    assert counts == {"ppo": 0, "echo": 1}
    assert judgements["ppo"]["http"] == [WIN, WIN, 0.0]
    assert judgements["echo"]["http"] == [0.0, TIE, 0.0]
    assert notes == [
        "http judge: 1 of 6 pairs had an unparseable answer, counted as a tie (echo 1/3); the raw "
        "answers are in cache/judge_http_answers.jsonl"
    ]
    assert (cache.folder / "judge_http_answers.jsonl").is_file()


def test_no_key_or_url_credentials_anywhere(tmp_path, monkeypatch, capsys, caplog):
    """A key with a trailing newline and a base URL with user:password, a server that echoes the
    Authorization header back (as an answer and in an error body): nothing written under tmp_path,
    printed, logged or raised holds the key or the password, plain or encoded."""
    from rlhf_trl.evaluation.pairwise import pairwise_step

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("TEST_JUDGE_KEY", SECRET_KEY + "\n")
    echo = lambda text: f"Authorization: {server.requests[-1]['auth']}"  # noqa: E731
    messages = []
    # 1. the harness step with URL credentials (sent as Basic auth): answers echo the header
    with JudgeServer(answer=echo) as server:
        url = server.url.replace("http://", f"http://alice:{PASSWORD}@")
        cfg, specs, samples, judgements, cache = harness_inputs(tmp_path, url)
        notes: list[str] = []
        pairwise_step("http", cfg, specs, PROMPTS, samples, judgements, cache, notes)
        messages += notes
    assert server.requests[0]["auth"].startswith("Basic ")
    assert judgements["ppo"]["http"] == [TIE] * 3  # echoed headers are no verdicts
    # 2. the key as Bearer: a 400 that echoes it, a server that is down, through run_cli as the CLI does
    for script in (
        [{"status": 400, "body": "bad request\nAuthorization: Bearer " + SECRET_KEY}],
        [{"status": 503, "body": SECRET_KEY}] * 3,
    ):
        with JudgeServer(script=script) as server:
            judge = HTTPJudge(server.url, api_key_env="TEST_JUDGE_KEY", retries=1, backoff_s=0)
            with pytest.raises(SystemExit) as exc:
                run_cli(judge.choose, PROMPTS[0], "a", "b")
            assert exc.value.code == 2
        assert server.requests[0]["auth"] == f"Bearer {SECRET_KEY}"
    # 3. a key that requests would reject as a header value, and a URL without a scheme
    monkeypatch.setenv("TEST_JUDGE_KEY", SECRET_KEY + "\nX")
    for url in ("http://127.0.0.1:9/v1", f"alice:{PASSWORD}@127.0.0.1:9/v1"):
        with pytest.raises(UserError) as err:
            HTTPJudge(url, api_key_env="TEST_JUDGE_KEY")
        messages.append(str(err.value))

    out = capsys.readouterr()
    errors = [line for line in out.err.splitlines() if "error" in line.lower()]
    assert len(errors) == 2 and all(e.startswith("error: http judge: ") for e in errors)
    assert "Traceback" not in out.err
    written = [p.read_bytes().decode() for p in Path(tmp_path).rglob("*") if p.is_file()]
    assert written  # the answers file at least
    haystack = "\n".join([*written, out.out, out.err, caplog.text, *messages])
    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    for secret in (SECRET_KEY, "SECRETKEY", PASSWORD, "SECRETPASS", basic):
        assert secret not in haystack
