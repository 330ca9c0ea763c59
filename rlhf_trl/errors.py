"""User-facing errors: one line, a non-zero exit, no traceback. Our own bugs keep their tracebacks."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

EXIT_USER_ERROR = 2
EXIT_NON_FINITE = 3


class UserError(Exception):
    """A mistake in what the user gave us (config, data, path, flag).

    The message must say what was wrong, where (file, line, key) and what would be right.
    """


class NonFiniteError(Exception):
    """Training produced a NaN/inf loss, reward or gradient: the run stops before the optimizer step that
    would corrupt the weights, and nothing more is saved. The message names the step and the value."""


def _close_process_group() -> None:
    """After a successful multi-process run: wait for every rank, then tear the process group down.

    Rank 0 hosts the rendezvous store; exiting while another rank still talks to it can abort that rank
    (``terminate called without an active exception``).
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def run_cli(fn: Callable[..., T], *args, **kwargs) -> T:
    """Call ``fn``; turn a :class:`UserError` into ``error: <message>`` on stderr and exit 2, a
    :class:`NonFiniteError` into the same one line and exit 3."""
    try:
        result = fn(*args, **kwargs)
        _close_process_group()
        return result
    except UserError as err:
        _error_line(f"error: {err}\n")
        sys.exit(EXIT_USER_ERROR)
    except NonFiniteError as err:  # mid-training: start a new line after the progress bar
        _error_line(f"\nerror: {err}\n")
        sys.exit(EXIT_NON_FINITE)


def _error_line(text: str) -> None:
    """One write: launched processes run with unbuffered stderr (PYTHONUNBUFFERED), where print() writes the
    message and its newline separately and two ranks' lines could run into one."""
    sys.stderr.write(text)
    sys.stderr.flush()
