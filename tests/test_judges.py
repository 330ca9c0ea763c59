"""Judges: verdict parsing, the OpenAI-compatible HTTP judge over real HTTP on 127.0.0.1 (well-formed,
unparseable, malformed, slow, 429 with Retry-After, 5xx, a server that wants max_tokens), the local LM
judge, config."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rlhf_trl.errors import UserError
from rlhf_trl.evaluation.stats import LOSS, TIE, WIN
from rlhf_trl.judges import (
    HTTPJudge,
    LocalLMJudge,
    PairVerdict,
    parse_verdict,
    redact_url,
    retry_after_seconds,
    split_url_credentials,
)

PROMPT = [{"role": "user", "content": "Say something nice."}]


def reply_a_of(text: str) -> str:
    return text.split("### Reply A")[1].split("### Reply B")[0]


def json_winner(letter: str) -> str:
    return json.dumps({"winner": letter})


class JudgeServer:
    """A tiny chat-completions server on 127.0.0.1.

    By default it answers ``{"winner": "A"}`` when reply A contains GOOD, else ``{"winner": "B"}``
    (``mode="always_a"``: always A, pure position bias). ``answer(prompt_text)`` overrides the answer
    text. ``script``: one action per request, in order, before the default takes over: ``{"status": 503,
    "headers": {...}, "body": "..."}`` answers that; ``{"sleep": s}`` waits ``s`` seconds, then answers
    normally; ``{"body": "..."}`` with no status is a 200 with that raw body. ``fail_first`` requests get
    HTTP 503; ``status`` forces every answer to that status; ``reject_field`` answers a 400 naming it
    whenever a request carries that field. Each request is recorded with its arrival time.
    """

    def __init__(self, mode="content", fail_first=0, status=None, script=(), answer=None, reject_field=None):
        self.mode, self.fail_first, self.status = mode, fail_first, status
        self.script, self.answer, self.reject_field = list(script), answer, reject_field
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def reply(self, status: int, body: str, headers=None):
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                n = len(outer.requests)
                outer.requests.append(
                    {
                        "path": self.path,
                        "body": body,
                        "auth": self.headers.get("Authorization"),
                        "t": time.monotonic(),
                    }
                )
                action = outer.script[n] if n < len(outer.script) else {}
                if "sleep" in action:
                    time.sleep(action["sleep"])
                if outer.reject_field and outer.reject_field in body:
                    msg = f"Unrecognized request argument supplied: {outer.reject_field}"
                    return self.reply(400, json.dumps({"error": {"message": msg}}))
                if "status" in action:
                    return self.reply(action["status"], action.get("body", "{}"), action.get("headers"))
                if "body" in action:
                    return self.reply(200, action["body"])
                if outer.status or n < outer.fail_first:
                    return self.reply(outer.status or 503, '{"error": "nope"}')
                text = body["messages"][0]["content"]
                if outer.answer is not None:
                    content = outer.answer(text)
                else:
                    good_first = outer.mode == "always_a" or "GOOD" in reply_a_of(text)
                    content = json_winner("A" if good_first else "B")
                payload = {"choices": [{"message": {"role": "assistant", "content": content}}]}
                self.reply(200, json.dumps(payload))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port() -> int:
    with socket.socket() as s:  # a port nobody listens on once closed
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------ verdict parsing


@pytest.mark.parametrize(
    "answer, verdict",
    [
        ("A", "A"),
        ("B", "B"),
        (" b.\n", "B"),
        ("Tie", "tie"),
        ("Answer: B", "B"),  # read as A by the old first-character parser
        ("**A**", "A"),
        ("**Answer:** B", "B"),
        ("Reply B", "B"),  # names one of the prompt's two headings
        ("Winner = A", "A"),
        ("Both", None),  # read as B by the old parser
        ("A or B", None),
        ("", None),
        ("   ", None),
        (None, None),
        ("The answer is B", None),
        ("B\n\nbecause reply A rambles", None),
        ("Answer: Reply B", None),
        ('{"winner": "A"}', "A"),
        ('{"winner":"b"}', "B"),
        ('{"winner": "tie"}', "tie"),
        ('{"winner": " A "}', "A"),
        ('{"winner": "B", "reason": "shorter"}', "B"),
        ('```json\n{"winner": "A"}\n```', "A"),
        ('```\n{"winner": "B"}\n```', "B"),
        ('{"winner": "A"} because it is kind', None),
        ('{"winner": "A", "winner": "B"}', None),
        ('{"winner": "C"}', None),
        ('{"winner": "A or B"}', None),
        ('{"winner": ["A"]}', None),
        ('{"winner": null}', None),
        ('{"verdict": "A"}', None),
        ('[{"winner": "A"}]', None),
        ('{"winner": A}', None),
    ],
)
def test_parse_verdict_accepts_only_unambiguous_answers(answer, verdict):
    assert parse_verdict(answer) == verdict


@pytest.mark.parametrize(
    "first, second, outcome, unparseable",
    [
        ("A", "B", WIN, False),  # policy preferred in both positions
        ("B", "A", LOSS, False),
        ("A", "A", TIE, False),  # position bias
        ("tie", "B", TIE, False),
        ("tie", "tie", TIE, False),
        (None, "B", TIE, True),
        ("A", None, TIE, True),
    ],
)
def test_pair_verdict_outcome(first, second, outcome, unparseable):
    v = PairVerdict(first, second)
    assert v.outcome == outcome and v.unparseable is unparseable


# ---------------------------------------------------------------------------------------- HTTP judge


def test_http_judge_both_orders_over_real_http(monkeypatch):
    monkeypatch.setenv("TEST_JUDGE_KEY", "sk-test\n")  # the trailing newline is stripped, not sent
    with JudgeServer() as server:
        judge = HTTPJudge(server.url, model="judge-x", api_key_env="TEST_JUDGE_KEY", backoff_s=0)
        verdicts = judge.judge(
            [PROMPT] * 3, ["GOOD answer", "meh", "GOOD too"], ["meh", "GOOD answer", "GOOD as well"]
        )
    # policy better; reference better; both GOOD -> judge answers A both times -> position bias -> tie
    assert verdicts == [WIN, LOSS, TIE]
    assert judge.unparseable == 0
    assert len(server.requests) == 6 and judge.requests_made == 6
    first = server.requests[0]
    assert first["path"] == "/v1/chat/completions"
    assert first["auth"] == "Bearer sk-test"
    body = first["body"]
    assert body["model"] == "judge-x" and body["temperature"] == 0
    assert body["max_completion_tokens"] == 16 and "max_tokens" not in body
    assert '{"winner": "A"}, {"winner": "B"} or {"winner": "tie"}' in body["messages"][0]["content"]


def test_http_judge_position_bias_is_a_tie(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with JudgeServer(mode="always_a") as server:
        verdicts = HTTPJudge(server.url, backoff_s=0).judge([PROMPT] * 4, ["GOOD"] * 4, ["bad"] * 4)
    assert verdicts == [TIE] * 4
    assert server.requests[0]["auth"] is None  # no key in the environment: no header


def test_http_judge_counts_unparseable_answers():
    answers = iter(["Both", json_winner("B"), "**A**", "Reply B", "", "A or B"])
    with JudgeServer(answer=lambda text: next(answers)) as server:
        judge = HTTPJudge(server.url, backoff_s=0)
        pairs = [judge.judge_pair(PROMPT, f"policy {i}", f"reference {i}") for i in range(3)]
    assert pairs == [PairVerdict(None, "B"), PairVerdict("A", "B"), PairVerdict(None, None)]
    assert [p.unparseable for p in pairs] == [True, False, True]
    assert [p.outcome for p in pairs] == [TIE, WIN, TIE]
    assert len(server.requests) == 6


def test_http_judge_null_content_is_unparseable():
    body = json.dumps({"choices": [{"message": {"role": "assistant", "content": None, "refusal": "no"}}]})
    with JudgeServer(script=[{"body": body}]) as server:
        assert HTTPJudge(server.url, backoff_s=0).choose(PROMPT, "a", "b") is None


@pytest.mark.parametrize(
    "body, match",
    [
        ("<html>\nnot an API\n</html>", "not JSON"),
        ('{"id": "x"}', r"without choices\[0\]\.message\.content"),
        ('{"choices": [{"message": {"content": ["A"]}}]}', "list as message content"),
    ],
)
def test_http_judge_malformed_reply_is_a_one_line_error(body, match):
    with JudgeServer(script=[{"body": body}]) as server:
        with pytest.raises(UserError, match=match) as err:
            HTTPJudge(server.url, backoff_s=0).choose(PROMPT, "a", "b")
    assert "\n" not in str(err.value)


def test_http_judge_retries_5xx_then_succeeds():
    with JudgeServer(fail_first=2) as server:
        judge = HTTPJudge(server.url, retries=3, backoff_s=0)
        assert judge.judge([PROMPT], ["GOOD"], ["bad"]) == [WIN]
    assert len(server.requests) == 4  # 2 failures + 2 answers


def test_http_judge_waits_for_retry_after_on_429():
    script = [{"status": 429, "headers": {"Retry-After": "1"}}]
    with JudgeServer(script=script) as server:
        judge = HTTPJudge(server.url, retries=1, backoff_s=0)  # any wait comes from Retry-After
        assert judge.choose(PROMPT, "GOOD", "bad") == "A"
    assert len(server.requests) == 2
    assert server.requests[1]["t"] - server.requests[0]["t"] >= 0.9


def test_http_judge_retry_after_beyond_the_cap_stops_at_once():
    script = [{"status": 503, "headers": {"Retry-After": "3600"}}]
    with JudgeServer(script=script) as server:
        judge = HTTPJudge(server.url, retries=3, backoff_s=0, max_wait_s=5)
        with pytest.raises(UserError, match="retry after 3600 s, more than the 5 s"):
            judge.choose(PROMPT, "a", "b")
    assert len(server.requests) == 1


def test_retry_after_header_forms():
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds(" 0 ", now) == 0.0
    assert retry_after_seconds("Wed, 01 Jan 2025 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Wed, 01 Jan 2025 11:00:00 GMT", now) == 0.0  # in the past: no wait
    for bad in (None, "", "soon", "-3", "nan", "inf"):
        assert retry_after_seconds(bad, now) is None


def test_http_judge_slow_reply_times_out_and_is_retried():
    with JudgeServer(script=[{"sleep": 1.0}]) as server:
        judge = HTTPJudge(server.url, retries=1, backoff_s=0, timeout_s=0.3)
        assert judge.choose(PROMPT, "GOOD", "bad") == "A"
    assert judge.requests_made == 2


def test_http_judge_always_slow_is_a_one_line_error():
    with JudgeServer(script=[{"sleep": 1.0}] * 2) as server:
        judge = HTTPJudge(server.url, retries=1, backoff_s=0, timeout_s=0.2)
        with pytest.raises(UserError, match=r"no answer from .* after 2 attempts \(.*Timeout") as err:
            judge.choose(PROMPT, "a", "b")
    assert "\n" not in str(err.value)


def test_http_judge_switches_to_max_tokens_once():
    with JudgeServer(reject_field="max_completion_tokens") as server:
        judge = HTTPJudge(server.url, retries=0, backoff_s=0)
        assert judge.requests_needed(4) == 4 + 1  # one request kept for the switch
        assert judge.judge([PROMPT] * 2, ["GOOD", "bad"], ["bad", "GOOD"]) == [WIN, LOSS]
        assert judge.token_field == "max_tokens"
        assert judge.requests_needed(4) == 4  # switched: nothing more to keep
    bodies = [r["body"] for r in server.requests]
    assert len(bodies) == 5  # one rejected, then the 4 questions; retries=0 was not used up
    assert "max_completion_tokens" in bodies[0]
    assert all(b.get("max_tokens") == 16 and "max_completion_tokens" not in b for b in bodies[1:])


def test_http_judge_switches_field_at_most_once():
    with JudgeServer(script=[{"status": 400, "body": "max_completion_tokens too small"}] * 2) as server:
        with pytest.raises(UserError, match="HTTP 400: max_completion_tokens too small"):
            HTTPJudge(server.url, backoff_s=0).choose(PROMPT, "a", "b")
    assert len(server.requests) == 2


def test_http_judge_budget_counts_retries_so_an_accepted_job_finishes():
    # every first try of a question fails with 503: the worst case the budget planned for
    with JudgeServer(script=[{"status": 503}, {}] * 4) as server:
        judge = HTTPJudge(server.url, retries=1, backoff_s=0, max_requests=9)
        with pytest.raises(UserError, match=r"5 unanswered questions .* need up to 11 requests"):
            judge.check_budget(5)
        judge.check_budget(4)  # 4 questions x (1 + 1 retry) + 1 for a max_tokens switch
        assert judge.judge([PROMPT] * 2, ["GOOD"] * 2, ["x"] * 2) == [WIN, WIN]
    assert judge.requests_made == 8 <= judge.max_requests


def test_http_judge_request_cap_is_never_exceeded():
    with JudgeServer() as server:
        judge = HTTPJudge(server.url, max_requests=5, retries=0, backoff_s=0)
        judge.judge([PROMPT] * 2, ["GOOD"] * 2, ["x"] * 2)
        with pytest.raises(UserError, match="judge_max_requests=5 reached"):
            judge.judge([PROMPT], ["GOOD"], ["x"])
    assert len(server.requests) == 5


def test_http_judge_bad_key_is_a_user_error():
    with JudgeServer(status=401) as server:
        with pytest.raises(UserError, match="judge_api_key_env"):
            HTTPJudge(server.url, backoff_s=0).judge([PROMPT], ["a"], ["b"])
    assert len(server.requests) == 1  # not retried


def test_http_judge_unreachable_port_is_a_clear_error():
    port = free_port()
    judge = HTTPJudge(f"http://127.0.0.1:{port}/v1", retries=1, backoff_s=0, timeout_s=2)
    with pytest.raises(
        UserError, match=rf"no answer from http://127.0.0.1:{port}/v1/chat/completions after 2 attempts"
    ):
        judge.judge([PROMPT], ["a"], ["b"])
    assert judge.requests_made == 2


@pytest.mark.parametrize(
    "key, position",
    [("sk-abc def", 7), ("sk-abc\ndef", 7), ("sk-abcé", 7), ("sk-\x07abc", 4)],
)
def test_http_judge_invalid_key_is_a_one_line_error_without_the_key(monkeypatch, key, position):
    monkeypatch.setenv("TEST_JUDGE_KEY", key)
    with pytest.raises(UserError, match=rf"\$TEST_JUDGE_KEY .* position {position} of") as err:
        HTTPJudge("http://127.0.0.1:9/v1", api_key_env="TEST_JUDGE_KEY")
    message = str(err.value)
    assert "\n" not in message and "abc" not in message and "def" not in message


def test_http_judge_blank_key_sends_no_header(monkeypatch):
    monkeypatch.setenv("TEST_JUDGE_KEY", " \n")
    with JudgeServer() as server:
        HTTPJudge(server.url, api_key_env="TEST_JUDGE_KEY").choose(PROMPT, "a", "b")
    assert server.requests[0]["auth"] is None


def test_url_credentials_are_split_off_and_redacted():
    assert split_url_credentials("https://al%40ice:p%3Ass@host:8443/v1") == (
        "https://host:8443/v1",
        ("al@ice", "p:ss"),
    )
    assert split_url_credentials("http://127.0.0.1:8000/v1") == ("http://127.0.0.1:8000/v1", None)
    assert redact_url("see https://u:pw@h/v1 and http://x:y@z") == "see https://***@h/v1 and http://***@z"
    assert redact_url("u:pw@host/v1") == "***@host/v1"


def test_http_judge_rejects_a_bad_url_without_echoing_credentials():
    with pytest.raises(UserError, match="http://") as err:
        HTTPJudge("user:hunter22@127.0.0.1:8000/v1")
    assert "hunter22" not in str(err.value)
    with pytest.raises(UserError, match="port is not a number") as err:
        HTTPJudge("http://user:hunter22@127.0.0.1:eighty/v1")
    assert "hunter22" not in str(err.value)


def test_http_judge_sends_url_credentials_as_basic_auth():
    import base64

    with JudgeServer() as server:
        url = server.url.replace("http://", "http://alice:s%3Acret@")
        judge = HTTPJudge(url, backoff_s=0)
        judge.choose(PROMPT, "a", "b")
    assert judge.url == server.url + "/chat/completions"
    assert server.requests[0]["auth"] == "Basic " + base64.b64encode(b"alice:s:cret").decode()
    assert "alice" not in json.dumps(judge.cache_identity)


def test_short_url_credentials_do_not_rewrite_answers():
    with JudgeServer() as server:
        judge = HTTPJudge(server.url.replace("http://", "http://n:i@"), backoff_s=0)
        assert judge.ask(PROMPT, "GOOD", "bad") == json_winner("A")  # "winner" keeps its n and i


@pytest.mark.slow
def test_local_lm_judge_identical_answers_tie(tiny_model_dir):
    judge = LocalLMJudge(tiny_model_dir)
    # same text in both positions: the judge's pick depends only on the position -> always a tie
    assert judge.judge([PROMPT] * 2, ["Hello there", "Sure."], ["Hello there", "Sure."]) == [TIE, TIE]
    verdicts = judge.judge([PROMPT] * 3, ["Yes", "No", "Maybe"], ["No", "Yes", "Maybe not"])
    assert all(v in (WIN, TIE, LOSS) for v in verdicts)
    assert judge.choose(PROMPT, "a", "b") in ("A", "B")


def test_evaluation_config_validation_and_cli_flags(tmp_path):
    from rlhf_trl.config import parse_recipe_args
    from rlhf_trl.evaluation.config import EvaluationConfig

    with pytest.raises(ValueError, match="judges"):
        EvaluationConfig(judges=["gold", "gpt"])
    with pytest.raises(ValueError, match="judge_base_url"):
        EvaluationConfig(judges=["http"])
    args = parse_recipe_args(
        "evaluation",
        [
            "--judges",
            "http",
            "--judge-base-url",
            "http://127.0.0.1:9/v1",
            "--judge-model",
            "m",
            "--max_new_tokens",
            "5",
        ],
    )
    assert args.stage.judge_base_url == "http://127.0.0.1:9/v1" and args.stage.judge_model == "m"
    assert args.stage.max_new_tokens == 5
    cfg = tmp_path / "c.yaml"
    cfg.write_text("evaluation:\n  temprature: 0.5\n")
    with pytest.raises(UserError, match="temperature"):
        parse_recipe_args("evaluation", ["--config", str(cfg)])
