"""Keep freed memory in the process instead of handing it back to the kernel (glibc ``malloc``).

glibc serves every allocation above 32 MB (an embedding gradient of SmolLM2 is 113 MB; a ``[B, L, vocab]``
logits tensor is hundreds) with a fresh ``mmap`` and returns it with ``munmap`` when freed. The next step
allocates it again and the kernel zero-fills it page by page: measured on the 2-core CPU, filling a new
113 MB tensor took 26-34 ms against 4 ms for one already mapped, and a PPO update (4 prompts x 32 tokens
x 4 epochs, bf16) spent a fifth of its time in such page faults. :func:`keep_freed_memory` tells glibc to
serve large blocks from its heap and to keep up to 1 GiB of freed memory there, so a training loop that
frees and re-allocates the same sizes every step reuses them once the heap has grown to a step's size
(a few steps). Peak memory does not change (the same tensors are alive at the peak); memory freed below
the top of the heap stays with the process until it exits.

Every recipe calls it first (``parse_recipe_args``), and so do ``rlhf-trl evaluate`` and each stage of
``rlhf-trl demo``, which parse their config the same way. ``RLHF_TRL_MALLOC=default`` leaves glibc's
defaults; on other C libraries (musl, macOS) it does nothing. ``bench/ppo_vs_trl112.py`` measures the
effect on both sides.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

from rlhf_trl.errors import UserError

__all__ = ["keep_freed_memory"]

M_TRIM_THRESHOLD = -1  # glibc malloc.h: free memory at the top of the heap kept before trimming
M_MMAP_MAX = -4  # glibc malloc.h: the most blocks served by mmap at once; 0 = none
TRIM_THRESHOLD_BYTES = 1 << 30
ENV = "RLHF_TRL_MALLOC"

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Configure glibc malloc as the module docstring says (once per process); True if it now is."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    setting = os.environ.get(ENV, "keep").strip().lower()
    if setting not in {"keep", "default"}:
        raise UserError(f"{ENV}={setting!r}: use 'keep' (the default) or 'default' (glibc's own settings)")
    if setting == "default" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    _applied = mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    return _applied
