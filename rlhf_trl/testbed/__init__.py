"""The bundled synthetic testbed: an offline HH-format preference set whose "human" is a gold rubric.

Kept apart from :mod:`rlhf_trl.data` (the HH-RLHF library that reads it like any other source):

* :mod:`~rlhf_trl.testbed.bank` — subjects, their good answers, failure styles (plain data);
* :mod:`~rlhf_trl.testbed.splits` — subjects held out by topic: ``train``/``pairs_test`` pairs,
  ``dev``/``test`` evaluation prompts;
* :mod:`~rlhf_trl.testbed.gold` — gold rubric v2 (:func:`gold_score`, :func:`gold_terms`);
* :mod:`~rlhf_trl.testbed.generate` — the seeded generator of ``bundled/`` (byte-for-byte reproducible).
"""

from __future__ import annotations

import importlib
from pathlib import Path

BUNDLED_DIR = Path(__file__).parent / "bundled"

_EXPORTS = {
    "covers": "rlhf_trl.testbed.gold",
    "gold_score": "rlhf_trl.testbed.gold",
    "gold_terms": "rlhf_trl.testbed.gold",
    "is_harmful_request": "rlhf_trl.testbed.gold",
    "is_refusal": "rlhf_trl.testbed.gold",
}

__all__ = ["BUNDLED_DIR", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rlhf_trl.testbed' has no attribute {name!r}")
