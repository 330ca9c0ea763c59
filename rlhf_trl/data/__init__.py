"""HH-RLHF preference data: parser and loaders (Hub, local file/folder, the bundled testbed).

Public API (imports are lazy so ``import rlhf_trl.data`` stays light):

* :func:`parse_hh_pair` — one raw ``{"chosen", "rejected"}`` pair -> TRL conversational format
* :func:`load_preference_splits` — ``DatasetDict(train, test)`` of ``prompt``/``chosen``/``rejected``
* :func:`load_prompts` — prompt-only view (``eval``: held-out dev/test prompts; ``train``/``test``)
* :func:`has_gold` — whether the source has a gold rubric (the bundled testbed or a local copy of it,
  :mod:`rlhf_trl.testbed`)
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "parse_hh_pair": "rlhf_trl.data.parser",
    "DropReason": "rlhf_trl.data.parser",
    "load_preference_splits": "rlhf_trl.data.loaders",
    "load_prompts": "rlhf_trl.data.loaders",
    "has_gold": "rlhf_trl.data.loaders",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rlhf_trl.data' has no attribute {name!r}")
