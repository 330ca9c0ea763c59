"""Judges of a policy's response against the reference's response on the same prompt.

Two kinds:

* **score judges** give each (prompt, response) a number; policy vs reference is a win when the
  policy's number is higher (a tie within ``tie_margin``): :class:`RewardModelJudge` (the run's trained
  Bradley–Terry model, i.e. the *proxy* reward) and :class:`GoldJudge` (the dataset's deterministic
  rubric, the *gold* reward of the synthetic-gold setup, Gao et al. 2022);
* **pairwise judges** are shown both answers and name the better one: :class:`LocalLMJudge` (any causal
  LM, the embedded one by default) and :class:`HTTPJudge` (any OpenAI-compatible chat-completions API:
  GPT-4o-mini, vLLM, llama.cpp server...). Each pair is asked in both orders (position swap) and a
  disagreement counts as a tie, which cancels the judge's position bias.

The HTTP judge must answer with one JSON object, ``{"winner": "A"}``, ``{"winner": "B"}`` or
``{"winner": "tie"}``; :func:`parse_verdict` accepts that and a few unambiguous bare forms and nothing
else. An answer it cannot read is *unparseable*: the pair then counts as a tie and is counted in
:attr:`PairVerdict.unparseable`, which the evaluation reports (docs/evaluation.md).

Every judgement is from the policy's point of view: 1.0 win, 0.5 tie, 0.0 loss (rlhf_trl.evaluation.stats).
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import math
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from rlhf_trl.errors import UserError
from rlhf_trl.evaluation.stats import LOSS, TIE, WIN, combine_swapped, outcome_from_scores

_TASK = (
    "You are comparing two assistant replies to the same conversation. Pick the reply that is more "
    "helpful, honest and harmless for the user."
)
_BODY = "### Conversation\n{conversation}\n\n### Reply A\n{reply_a}\n\n### Reply B\n{reply_b}\n\n"
# local_lm reads its verdict from the next-token logits of "A" and "B", so its prompt asks for a bare
# letter (this exact text is what every earlier local_lm verdict was given).
LETTER_TEMPLATE = (
    _TASK + " Answer with a single letter: A or B.\n\n" + _BODY + "Which reply is better? Answer A or B."
)
# http: a JSON object is self-delimiting, so a strict parser can tell an answer from prose about one;
# "tie" lets the judge say so instead of picking at random.
JSON_TEMPLATE = (
    _TASK
    + " If neither is better, call it a tie.\n\n"
    + _BODY
    + "Which reply is better? Answer with exactly one JSON object and nothing else: "
    + '{{"winner": "A"}}, {{"winner": "B"}} or {{"winner": "tie"}}.'
)


def render_conversation(prompt_messages: Sequence[dict]) -> str:
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in prompt_messages)


def pairwise_prompt(
    prompt_messages: Sequence[dict], response_a: str, response_b: str, template: str = LETTER_TEMPLATE
) -> str:
    """The text shown to a pairwise judge: ``template`` filled with the conversation and both replies."""
    return template.format(
        conversation=render_conversation(prompt_messages), reply_a=response_a, reply_b=response_b
    )


def template_hash(template: str) -> str:
    """Part of every cached pairwise answer's key: an edited prompt asks again."""
    return hashlib.sha256(template.encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------ verdict parsing

VERDICTS = ("A", "B", "tie")
# A whole bare answer: "A", "b.", "Tie", "Answer: B", "Winner = A", "Reply B" ("Reply B" names one of
# the two headings the prompt shows). Matched against the *whole* answer, so "A or B", "Both" or
# "B, because reply A ..." are unparseable, never a guess.
_BARE = re.compile(r"(?:(?:final\s+)?(?:answer|winner|verdict|reply)\s*[:=]?\s*)?(a|b|tie)\s*\.?", re.I)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)\s*```", re.S | re.I)


def _canonical(word: str) -> str:
    return "tie" if word.lower() == "tie" else word.upper()


def _no_duplicate_keys(pairs):
    if len({k for k, _ in pairs}) != len(pairs):
        raise ValueError("duplicate key")  # {"winner": "A", "winner": "B"} names both
    return dict(pairs)


def parse_verdict(text: str | None) -> str | None:
    """ "A", "B" or "tie" from a judge's answer; None when the answer is not unambiguous.

    Accepted, after stripping surrounding whitespace and one Markdown code fence: a JSON object whose
    ``"winner"`` is "A", "B" or "tie" (any case; other keys are ignored, a repeated key is rejected, nothing
    may follow the object), or a bare answer as a whole (:data:`_BARE`; Markdown emphasis and quotes are
    ignored, so "**A**" is A). Anything else, including the empty answer, is None (unparseable).
    """
    if not isinstance(text, str):
        return None
    answer = text.strip()
    fenced = _FENCE.fullmatch(answer)
    if fenced:
        answer = fenced.group(1)
    if answer.startswith(("{", "[")):
        try:
            obj = json.loads(answer, object_pairs_hook=_no_duplicate_keys)
        except ValueError:
            return None
        winner = obj.get("winner") if isinstance(obj, dict) else None
        match = re.fullmatch(r"\s*(a|b|tie)\s*", winner, re.I) if isinstance(winner, str) else None
        return _canonical(match.group(1)) if match else None
    match = _BARE.fullmatch(re.sub(r"[*_`\"']", "", answer).strip())
    return _canonical(match.group(1)) if match else None


_POLICY_FIRST = {"A": WIN, "B": LOSS, "tie": TIE}  # the policy was shown as reply A
_POLICY_SECOND = {"A": LOSS, "B": WIN, "tie": TIE}  # the policy was shown as reply B


@dataclass(frozen=True)
class PairVerdict:
    """One prompt judged in both orders. ``policy_first``/``policy_second``: the parsed answer ("A", "B",
    "tie", or None = unparseable) with the policy shown as reply A / as reply B."""

    policy_first: str | None
    policy_second: str | None

    @property
    def unparseable(self) -> bool:
        return self.policy_first is None or self.policy_second is None

    @property
    def outcome(self) -> float:
        """The policy's judgement: the verdict when both orders agree; a tie when they disagree
        (position bias), when the judge said tie, or when either answer is unparseable (counted
        apart in :attr:`unparseable`: such a pair pulls the win rate toward ½, never toward a side)."""
        return combine_swapped(_POLICY_FIRST.get(self.policy_first), _POLICY_SECOND.get(self.policy_second))


# ------------------------------------------------------------------------------------ score judges


class ScoreJudge:
    """Scores (prompt, response) pairs; judges policy vs reference by comparing scores."""

    name = "score"

    def __init__(self, tie_margin: float = 0.0):
        self.tie_margin = tie_margin

    def score(self, prompts: Sequence[list[dict]], responses: Sequence[str]) -> list[float]:
        raise NotImplementedError

    def compare(self, policy_scores: Sequence[float], reference_scores: Sequence[float]) -> list[float]:
        return [outcome_from_scores(p, r, self.tie_margin) for p, r in zip(policy_scores, reference_scores)]


class GoldJudge(ScoreJudge):
    """The dataset's gold rubric (``rlhf_trl.testbed.gold_score``) as a judge."""

    name = "gold"

    def score(self, prompts, responses):
        from rlhf_trl.testbed import gold_score

        return [float(gold_score(p, r)) for p, r in zip(prompts, responses)]


class RewardModelJudge(ScoreJudge):
    """A trained reward model scoring prompt + response (``rlhf_trl.rewards.RewardModelScorer``: the
    chat template over the prompt turns plus the response as the final assistant turn, read at the
    last real token; exactly how PPO/GRPO were rewarded)."""

    name = "reward_model"

    def __init__(self, path: str, batch_size: int = 16, tie_margin: float = 0.0, dtype: str = "float32"):
        super().__init__(tie_margin)
        from rlhf_trl.rewards import RewardModelScorer

        self.path = path
        self.scorer = RewardModelScorer.from_pretrained(path, dtype=dtype, batch_size=batch_size)

    def score(self, prompts, responses):
        return [float(x) for x in self.scorer(list(prompts), list(responses))]


# --------------------------------------------------------------------------------- pairwise judges


class PairwiseJudge:
    """Asks "A or B?" twice per prompt (policy first, then reference first); disagreement = tie."""

    name = "pairwise"
    template = LETTER_TEMPLATE

    def ask(self, prompt_messages, response_a: str, response_b: str) -> str:
        """The judge's raw answer for one order (one model call or request)."""
        raise NotImplementedError

    def choose(self, prompt_messages, response_a: str, response_b: str) -> str | None:
        """ "A", "B", "tie", or None when the answer is unparseable (:func:`parse_verdict`)."""
        return parse_verdict(self.ask(prompt_messages, response_a, response_b))

    def judge_pair(self, prompt_messages, policy: str, reference: str) -> PairVerdict:
        return PairVerdict(
            self.choose(prompt_messages, policy, reference), self.choose(prompt_messages, reference, policy)
        )

    def judge(self, prompts, policy_responses, reference_responses, progress=None) -> list[float]:
        """Outcomes (:attr:`PairVerdict.outcome`) per prompt; ``self.unparseable`` is then the number of
        pairs with an unparseable answer. The evaluation caches each answer instead
        (rlhf_trl.evaluation.pairwise)."""
        pairs = []
        for p, pol, ref in zip(prompts, policy_responses, reference_responses):
            pairs.append(self.judge_pair(p, pol, ref))
            if progress is not None:
                progress.update(1)
        self.unparseable = sum(v.unparseable for v in pairs)
        return [v.outcome for v in pairs]

    def check_budget(self, n_questions: int) -> None:
        """Refuse a job of ``n_questions`` answers (two per pair) that could not finish; local: no limit."""


class LocalLMJudge(PairwiseJudge):
    """A local causal LM as pairwise judge: compares its next-token log-probability of "A" and "B"
    after the judge prompt (chat template + generation prompt), so it always answers A or B."""

    name = "local_lm"
    template = LETTER_TEMPLATE

    def __init__(self, model_name_or_path: str, dtype: str = "float32"):
        from rlhf_trl.models import load_causal_lm, load_tokenizer

        self.tokenizer = load_tokenizer(model_name_or_path)
        self.model = load_causal_lm(model_name_or_path, self.tokenizer, dtype=dtype).eval()
        self.letter_ids = [self._letter_id(c) for c in ("A", "B")]

    def _letter_id(self, letter: str) -> int:
        ids = self.tokenizer.encode(letter, add_special_tokens=False)
        if len(ids) != 1:
            raise UserError(f"local_lm judge: the tokenizer splits {letter!r} into {len(ids)} tokens")
        return ids[0]

    def ask(self, prompt_messages, response_a, response_b):
        import torch

        text = self.tokenizer.apply_chat_template(
            [
                {
                    "role": "user",
                    "content": pairwise_prompt(prompt_messages, response_a, response_b, self.template),
                }
            ],
            tokenize=False,
            add_generation_prompt=True,
        )
        enc = self.tokenizer(text, return_tensors="pt", add_special_tokens=False)
        enc = enc.to(next(self.model.parameters()).device)
        with torch.no_grad():
            logits = self.model(**enc).logits[0, -1]
        a, b = logits[self.letter_ids[0]].item(), logits[self.letter_ids[1]].item()
        return "A" if a >= b else "B"


# ------------------------------------------------------------------------------------- HTTP judge


def redact_url(text: str) -> str:
    """``text`` with the ``user:pass@`` of every URL in it replaced by ``***@`` (also without a scheme)."""
    text = re.sub(r"(//)[^/@\s]*@", r"\1***@", text)
    return re.sub(r"^[^/@\s:]*:[^/@\s]*@", "***@", text)


def split_url_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """``(url without user:pass, (user, password) or None)``; the password is percent-decoded."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=hostport)), (unquote(user), unquote(password))


def read_api_key(env: str) -> str | None:
    """The API key in environment variable ``env``, stripped (a trailing newline from ``$(cat file)``
    or an editor is the usual slip); None when unset or empty. A key that is not printable ASCII
    without spaces cannot go in an HTTP header: a one-line error that names the variable, never the key."""
    key = (os.environ.get(env) or "").strip()
    for i, ch in enumerate(key):
        if not "!" <= ch <= "~":
            raise UserError(
                f"http judge: the API key in ${env} (judge_api_key_env) has a space, control or non-ASCII "
                f"character at position {i + 1} of {len(key)}; a key is printable ASCII without spaces"
            )
    return key or None


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date (RFC 9110 §10.2.3),
    never negative; None when absent or unreadable."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


class HTTPJudge(PairwiseJudge):
    """An OpenAI-compatible ``POST {base_url}/chat/completions`` judge (temperature 0, a short answer in
    :data:`JSON_TEMPLATE`'s format, read by :func:`parse_verdict`).

    * the key is read from the environment variable ``api_key_env`` (never from a config file), stripped
      and checked (:func:`read_api_key`); unset means no ``Authorization`` header (local servers).
      Credentials in the URL (``https://user:pass@host/v1``) are taken out of it and sent as HTTP Basic
      auth, which then takes the ``Authorization`` header instead of the key (as ``requests`` does);
    * no message, cache key or cached answer holds the key or the URL's credentials: errors name
      :attr:`url` (without them) and pass server text through :meth:`_redact`;
    * the answer length is sent as ``max_completion_tokens``; a server that rejects that field with an
      HTTP 400 naming it gets ``max_tokens`` instead, from then on (one extra request at most);
    * connection errors, timeouts, 429 and 5xx are retried ``retries`` times: after the ``Retry-After``
      of a 429/503 when it gives one (a wait over ``max_wait_s`` stops the job instead), else after an
      exponential backoff ``backoff_s · 2^k``;
    * at most ``max_requests`` requests are sent (retries included); :meth:`check_budget` refuses a job
      whose worst case (every request retried, :meth:`requests_needed`) needs more, before the first one;
    * everything else a server or ``requests`` can throw is a one-line :class:`UserError`.
    """

    name = "http"
    template = JSON_TEMPLATE

    def __init__(
        self,
        base_url: str,
        model: str = "gpt-4o-mini",
        api_key_env: str = "OPENAI_API_KEY",
        max_requests: int = 1000,
        retries: int = 3,
        timeout_s: float = 60.0,
        backoff_s: float = 1.0,
        max_wait_s: float = 60.0,
        max_answer_tokens: int = 16,
    ):
        base_url = base_url.strip()
        if not base_url.startswith(("http://", "https://")):
            raise UserError(f"judge_base_url {redact_url(base_url)!r} must start with http:// or https://")
        public, self._auth = split_url_credentials(base_url)
        parts = urlsplit(public)
        try:
            parts.port  # noqa: B018 (urlsplit checks the port only when asked)
        except ValueError:
            raise UserError(f"judge_base_url {public!r}: the port is not a number") from None
        if not parts.hostname:
            raise UserError(f"judge_base_url {public!r} names no host")
        self.base_url = public.rstrip("/")
        self.url = self.base_url + "/chat/completions"
        self.model = model
        self.api_key_env = api_key_env
        self._key = read_api_key(api_key_env)
        basic = base64.b64encode(":".join(self._auth).encode()).decode() if self._auth else None
        self._secrets = sorted(
            {s for s in (self._key, basic, *(self._auth or ())) if s}, key=len, reverse=True
        )
        self.max_requests = max_requests
        self.retries = retries
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s
        self.max_wait_s = max_wait_s
        self.max_answer_tokens = max_answer_tokens
        self.token_field = "max_completion_tokens"
        self.requests_made = 0

    @property
    def cache_identity(self) -> dict:
        """What an answer depends on besides the question: part of its cache key, nothing secret."""
        return {
            "judge": self.name,
            "model": self.model,
            "base_url": self.base_url,
            "template": template_hash(self.template),
        }

    def _redact(self, text, min_len: int = 1) -> str:
        """``text`` without the key, the URL's credentials (plain, percent-encoded or as a Basic auth
        value) of at least ``min_len`` characters, or the credentials of any URL in it."""
        text = str(text)
        for secret in self._secrets:
            if len(secret) >= min_len:
                text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
        return redact_url(text)

    def _one_line(self, text, limit: int = 200) -> str:
        """Server or ``requests`` text for an error message: redacted, any ``Authorization`` value a
        server echoed masked, on one line."""
        text = re.sub(r"\b(Bearer|Basic)\s+\S+", r"\1 ***", self._redact(text))
        return " ".join(text.split())[:limit]

    def requests_needed(self, n_questions: int) -> int:
        """Worst case for ``n_questions`` answers: each one tried ``1 + retries`` times, plus the one
        request a server that rejects ``max_completion_tokens`` costs before we switch field."""
        if n_questions == 0:
            return 0
        switch = 1 if self.token_field == "max_completion_tokens" else 0
        return n_questions * (1 + self.retries) + switch

    def check_budget(self, n_questions: int) -> None:
        needed = self.requests_needed(n_questions)
        left = self.max_requests - self.requests_made
        if needed > left:
            raise UserError(
                f"http judge: {n_questions} unanswered questions (2 per pair) need up to {needed} requests "
                f"(1 + judge_retries={self.retries} tries each) but only {left} of judge_max_requests="
                f"{self.max_requests} are left; raise judge_max_requests, or lower judge_retries, num_prompts or samples_per_prompt"
            )

    def _payload(self, messages: list[dict]) -> dict:
        return {
            "model": self.model,
            "messages": messages,
            "temperature": 0,
            self.token_field: self.max_answer_tokens,
        }

    def _post(self, messages: list[dict]) -> dict:
        import requests

        # Worth another try: the server may come back. Anything else (a header or URL requests cannot
        # send, a redirect loop...) fails the same way every time.
        transient = (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        )
        headers = {"Authorization": f"Bearer {self._key}"} if self._key and not self._auth else {}
        failures = 0
        while True:
            if self.requests_made >= self.max_requests:
                raise UserError(
                    f"http judge: request cap judge_max_requests={self.max_requests} reached ({self.url}); "
                    "the answers so far are cached: rerun with a higher cap to go on"
                )
            self.requests_made += 1
            wait = self.backoff_s * 2**failures
            try:
                resp = requests.post(
                    self.url,
                    json=self._payload(messages),
                    headers=headers,
                    auth=self._auth,
                    timeout=self.timeout_s,
                )
            except transient as err:
                problem = f"{type(err).__name__}: {self._one_line(err)}"
            except requests.RequestException as err:
                raise UserError(
                    f"http judge: request to {self.url} failed: {type(err).__name__}: {self._one_line(err)}"
                ) from None
            else:
                status = resp.status_code
                if status == 200:
                    try:
                        return resp.json()
                    except ValueError:
                        raise UserError(
                            f"http judge: {self.url} answered HTTP 200 with a body that is not JSON "
                            f"({self._one_line(resp.text)!r}); is judge_base_url an OpenAI-compatible …/v1 URL?"
                        ) from None
                if status in (401, 403):
                    raise UserError(
                        f"http judge: {self.url} refused the credentials (HTTP {status}); set the environment "
                        f"variable {self.api_key_env} (judge_api_key_env) to a valid key"
                    )
                if (
                    status == 400
                    and self.token_field == "max_completion_tokens"
                    and "max_completion_tokens" in resp.text
                ):
                    self.token_field = "max_tokens"  # an older server; not a failure, no retry used
                    continue
                if status != 429 and status < 500:
                    raise UserError(
                        f"http judge: {self.url} answered HTTP {status}: {self._one_line(resp.text)}"
                    )
                problem = f"HTTP {status}"
                after = retry_after_seconds(resp.headers.get("Retry-After")) if status in (429, 503) else None
                if after is not None and after > self.max_wait_s and failures < self.retries:
                    raise UserError(
                        f"http judge: {self.url} answered HTTP {status} asking to retry after {after:.0f} s, "
                        f"more than the {self.max_wait_s:.0f} s we wait; the answers so far are cached: rerun later"
                    )
                if after is not None:
                    wait = after
            if failures >= self.retries:
                raise UserError(
                    f"http judge: no answer from {self.url} after {failures + 1} attempts ({problem}); check "
                    "--judge-base-url and that the server is running"
                )
            failures += 1
            time.sleep(wait)

    def ask(self, prompt_messages, response_a, response_b) -> str:
        content = pairwise_prompt(prompt_messages, response_a, response_b, self.template)
        data = self._post([{"role": "user", "content": content}])
        try:
            answer = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise UserError(
                f"http judge: {self.url} answered without choices[0].message.content: "
                f"{self._one_line(json.dumps(data))}"
            ) from None
        if answer is not None and not isinstance(answer, str):
            raise UserError(f"http judge: {self.url} answered a {type(answer).__name__} as message content")
        # None: no text (a refusal, or a reasoning model out of tokens), i.e. unparseable. Redacted
        # because answers are cached; a credential under 4 characters (a user name "n") would rewrite
        # ordinary answers ("winner") and guards nothing.
        return self._redact(answer or "", min_len=4)
