"""Anthropic HH-RLHF transcript parser.

A raw row is ``{"chosen": T1, "rejected": T2}``: two whole transcripts of ``"\\n\\nHuman: …"`` and
``"\\n\\nAssistant: …"`` turns that share every turn but the last. Both are split into turns at the
markers — never at a character-level common prefix, because the two final replies may begin with the
same words — and become TRL's conversational preference format::

    {"prompt":   [{"role": "user", ...}, {"role": "assistant", ...}, ..., {"role": "user", ...}],
     "chosen":   [{"role": "assistant", "content": final reply of T1}],
     "rejected": [{"role": "assistant", "content": final reply of T2}]}

Rows that cannot be a fair comparison raise :class:`HHParseError` (a ``ValueError``) whose ``reason``
is one of :class:`DropReason`; loaders count them by reason.
"""

from __future__ import annotations

import re

_MARKER = re.compile(r"(?:^|\n\n)(Human|Assistant):")
_ROLE = {"Human": "user", "Assistant": "assistant"}


class DropReason:
    """Why a raw pair is dropped (the keys of the loaders' drop counts)."""

    NO_ASSISTANT = "no_assistant_turn"
    NOT_ALTERNATING = "roles_not_alternating"
    STRICT_PREFIX = "strict_prefix"
    DIFFERENT_HISTORY = "differ_before_final_turn"
    EMPTY = "empty_final_reply"
    IDENTICAL = "identical_final_replies"

    ALL = (NO_ASSISTANT, NOT_ALTERNATING, STRICT_PREFIX, DIFFERENT_HISTORY, EMPTY, IDENTICAL)


class HHParseError(ValueError):
    """A raw pair that is dropped; ``reason`` is a :class:`DropReason` value."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def split_turns(transcript: str) -> list[dict]:
    """``"\\n\\nHuman: a\\n\\nAssistant: b"`` -> ``[{"role": "user", "content": "a"}, {...}]``.

    Text before the first marker is kept as a turn with role ``None`` (it makes the roles not
    alternate). Contents are stripped of surrounding whitespace.
    """
    turns: list[dict] = []
    matches = list(_MARKER.finditer(transcript))
    head = transcript[: matches[0].start()] if matches else transcript
    if head.strip():
        turns.append({"role": None, "content": head.strip()})
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(transcript)
        turns.append({"role": _ROLE[m.group(1)], "content": transcript[m.end() : end].strip()})
    return turns


def to_transcript(messages: list[dict]) -> str:
    """The inverse of :func:`split_turns`: ``[{"role": "user", "content": "a"}, ...]`` ->
    ``"\\n\\nHuman: a\\n\\nAssistant: …"`` (the HH-RLHF layout the loaders read)."""
    tag = {"user": "Human", "assistant": "Assistant"}
    return "".join(f"\n\n{tag[m['role']]}: {m['content']}" for m in messages)


def _check_alternates(turns: list[dict], which: str) -> None:
    for i, turn in enumerate(turns):
        expected = "user" if i % 2 == 0 else "assistant"
        if turn["role"] != expected:
            got = "text before the first marker" if turn["role"] is None else turn["role"]
            raise HHParseError(
                DropReason.NOT_ALTERNATING, f"{which} turn {i + 1} is {got}, expected {expected}"
            )


def parse_hh_pair(chosen: str, rejected: str) -> dict:
    """Parse one HH-RLHF pair into ``{"prompt", "chosen", "rejected"}`` message lists.

    Raises :class:`HHParseError` (a ``ValueError``) with the reason the pair must be dropped, checked in
    this order: no Assistant turn / transcript not ending with one, roles that do not alternate
    (Human first), one transcript a strict prefix of the other, transcripts that differ before the
    final turn, an empty final reply, identical final replies.
    """
    if not isinstance(chosen, str) or not isinstance(rejected, str):
        raise TypeError("parse_hh_pair expects two strings")
    sides = {"chosen": split_turns(chosen), "rejected": split_turns(rejected)}
    for which, turns in sides.items():
        if not any(t["role"] == "assistant" for t in turns):
            raise HHParseError(DropReason.NO_ASSISTANT, f"{which} transcript has no Assistant turn")
    for which, turns in sides.items():
        _check_alternates(turns, which)
    c, r = sides["chosen"], sides["rejected"]
    if len(c) != len(r):
        short, long_ = (c, r) if len(c) < len(r) else (r, c)
        if long_[: len(short)] == short:
            raise HHParseError(DropReason.STRICT_PREFIX, "one transcript is a strict prefix of the other")
    for which, turns in sides.items():
        if turns[-1]["role"] != "assistant":
            raise HHParseError(DropReason.NO_ASSISTANT, f"{which} transcript ends with a Human turn")
    if len(c) != len(r) or c[:-1] != r[:-1]:
        raise HHParseError(DropReason.DIFFERENT_HISTORY, "the transcripts differ before the final turn")
    c_reply, r_reply = c[-1]["content"], r[-1]["content"]
    if not c_reply or not r_reply:
        which = "chosen" if not c_reply else "rejected"
        raise HHParseError(DropReason.EMPTY, f"the {which} final reply is empty")
    if c_reply == r_reply:
        raise HHParseError(DropReason.IDENTICAL, "the final replies are identical")
    return {
        "prompt": [{"role": t["role"], "content": t["content"]} for t in c[:-1]],
        "chosen": [{"role": "assistant", "content": c_reply}],
        "rejected": [{"role": "assistant", "content": r_reply}],
    }
