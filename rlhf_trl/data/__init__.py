"""HH-RLHF preference data: parser, loaders (Hub, local file/folder, bundled), gold rubric.

Public API (imports are lazy so ``import rlhf_trl.data`` stays light):

* :func:`parse_hh_pair` — one raw ``{"chosen", "rejected"}`` pair -> TRL conversational format
* :func:`load_preference_splits` — ``DatasetDict(train, test)`` of ``prompt``/``chosen``/``rejected``
* :func:`load_prompts` — prompt-only view (``eval``: held-out prompts; ``train``/``test``)
* :func:`gold_score`, :func:`has_gold` — the bundled set's deterministic rubric
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "parse_hh_pair": "rlhf_trl.data.parser",
    "DropReason": "rlhf_trl.data.parser",
    "load_preference_splits": "rlhf_trl.data.loaders",
    "load_prompts": "rlhf_trl.data.loaders",
    "has_gold": "rlhf_trl.data.loaders",
    "gold_score": "rlhf_trl.data.gold",
    "gold_terms": "rlhf_trl.data.gold",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rlhf_trl.data' has no attribute {name!r}")
