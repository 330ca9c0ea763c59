"""User-facing errors: one line, a non-zero exit, no traceback. Our own bugs keep their tracebacks."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

EXIT_USER_ERROR = 2


class UserError(Exception):
    """A mistake in what the user gave us (config, data, path, flag).

    The message must say what was wrong, where (file, line, key) and what would be right.
    """


def run_cli(fn: Callable[..., T], *args, **kwargs) -> T:
    """Call ``fn``; turn a :class:`UserError` into ``error: <message>`` on stderr and exit 2."""
    try:
        return fn(*args, **kwargs)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
