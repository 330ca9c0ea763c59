"""Judges: the OpenAI-compatible HTTP judge over real HTTP on 127.0.0.1, the local LM judge, config."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rlhf_trl.errors import UserError
from rlhf_trl.evaluation.stats import LOSS, TIE, WIN
from rlhf_trl.judges import HTTPJudge, LocalLMJudge

PROMPT = [{"role": "user", "content": "Say something nice."}]


class JudgeServer:
    """A tiny chat-completions server. ``mode``: "content" answers the letter of the reply containing
    GOOD; "always_a" always answers A (pure position bias); ``fail_first`` requests get HTTP 503;
    ``status`` forces every answer to that HTTP status."""

    def __init__(self, mode="content", fail_first=0, status=None):
        self.mode, self.fail_first, self.status = mode, fail_first, status
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(
                    {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
                )
                if outer.status or len(outer.requests) <= outer.fail_first:
                    self.send_response(outer.status or 503)
                    self.end_headers()
                    self.wfile.write(b'{"error": "nope"}')
                    return
                text = body["messages"][0]["content"]
                reply_a = text.split("### Reply A")[1].split("### Reply B")[0]
                letter = "A" if outer.mode == "always_a" or "GOOD" in reply_a else "B"
                payload = {"choices": [{"message": {"role": "assistant", "content": f" {letter}"}}]}
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_http_judge_both_orders_over_real_http(monkeypatch):
    monkeypatch.setenv("TEST_JUDGE_KEY", "sk-test")
    with JudgeServer() as server:
        judge = HTTPJudge(server.url, model="judge-x", api_key_env="TEST_JUDGE_KEY", backoff_s=0)
        verdicts = judge.judge(
            [PROMPT] * 3, ["GOOD answer", "meh", "GOOD too"], ["meh", "GOOD answer", "GOOD as well"]
        )
    # policy better; reference better; both GOOD -> judge answers A both times -> position bias -> tie
    assert verdicts == [WIN, LOSS, TIE]
    assert len(server.requests) == 6 and judge.requests_made == 6
    first = server.requests[0]
    assert first["path"] == "/v1/chat/completions"
    assert first["auth"] == "Bearer sk-test"
    assert first["body"]["model"] == "judge-x" and first["body"]["temperature"] == 0


def test_http_judge_position_bias_is_a_tie(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with JudgeServer(mode="always_a") as server:
        verdicts = HTTPJudge(server.url, backoff_s=0).judge([PROMPT] * 4, ["GOOD"] * 4, ["bad"] * 4)
    assert verdicts == [TIE] * 4
    assert server.requests[0]["auth"] is None  # no key in the environment: no header


def test_http_judge_retries_then_succeeds():
    with JudgeServer(fail_first=2) as server:
        judge = HTTPJudge(server.url, retries=3, backoff_s=0)
        assert judge.judge([PROMPT], ["GOOD"], ["bad"]) == [WIN]
    assert len(server.requests) == 4  # 2 failures + 2 answers


def test_http_judge_request_cap():
    with JudgeServer() as server:
        judge = HTTPJudge(server.url, max_requests=5, backoff_s=0)
        with pytest.raises(UserError, match="need 6 requests"):
            judge.check_budget(3)
        judge.check_budget(2)
        judge.judge([PROMPT] * 2, ["GOOD"] * 2, ["x"] * 2)
        with pytest.raises(UserError, match="judge_max_requests=5"):
            judge.judge([PROMPT], ["GOOD"], ["x"])
    assert len(server.requests) == 5  # the cap was never exceeded


def test_http_judge_bad_key_is_a_user_error():
    with JudgeServer(status=401) as server:
        with pytest.raises(UserError, match="judge_api_key_env"):
            HTTPJudge(server.url, backoff_s=0).judge([PROMPT], ["a"], ["b"])
    assert len(server.requests) == 1  # not retried


def test_http_judge_unreachable_port_is_a_clear_error():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    judge = HTTPJudge(f"http://127.0.0.1:{port}/v1", retries=1, backoff_s=0, timeout_s=2)
    with pytest.raises(
        UserError, match=rf"cannot reach http://127.0.0.1:{port}/v1/chat/completions after 2 attempts"
    ):
        judge.judge([PROMPT], ["a"], ["b"])
    assert judge.requests_made == 2


def test_http_judge_rejects_a_url_without_scheme():
    with pytest.raises(UserError, match="http://"):
        HTTPJudge("127.0.0.1:8000/v1")


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
