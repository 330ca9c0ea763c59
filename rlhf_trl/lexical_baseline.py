"""A bag-of-words logistic-regression preference model: the lexical baseline a reward model is read against.

If a linear model on word presence separates chosen from rejected as well as the reward model does, the
data carries a lexical rule, and the reward model's test accuracy says little about learning the
preference. The reward stage reports this baseline's test accuracy beside the reward model's.

Model: P(chosen ≻ rejected) = σ(w · (φ(chosen) − φ(rejected))), φ = binary word presence over the
training responses' vocabulary (words seen in at least ``min_count`` responses), fitted by Newton's
method (IRLS) with an L2 penalty ``l2`` on w. No bias: swapping the two sides flips the prediction.
"""

from __future__ import annotations

import re
from collections import Counter

_WORD = re.compile(r"[a-z0-9']+")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _reply(messages) -> str:
    """A TRL conversational completion (list of messages) or a plain string -> its text."""
    if isinstance(messages, str):
        return messages
    return " ".join(m["content"] for m in messages)


def bag_of_words_accuracy(
    train, test, min_count: int = 2, l2: float = 1.0, iterations: int = 25
) -> dict[str, float | int]:
    """Fit on ``train`` pairs, score on ``test`` pairs (each a ``Dataset`` or list of rows with ``chosen`` and
    ``rejected``). Returns ``{"accuracy", "train_accuracy", "features", "train_pairs", "test_pairs"}``;
    a test pair with w·Δφ = 0 (no known word differs) counts ½."""
    import numpy as np

    train_c = [_words(_reply(r)) for r in train["chosen"]]
    train_r = [_words(_reply(r)) for r in train["rejected"]]
    counts = Counter(w for doc in train_c + train_r for w in doc)
    vocab = {w: i for i, w in enumerate(sorted(w for w, n in counts.items() if n >= min_count))}

    def diff(chosen: list[set[str]], rejected: list[set[str]]):
        x = np.zeros((len(chosen), len(vocab)))
        for row, (c, r) in enumerate(zip(chosen, rejected)):
            for w in c:
                if w in vocab:
                    x[row, vocab[w]] += 1.0
            for w in r:
                if w in vocab:
                    x[row, vocab[w]] -= 1.0
        return x

    x = diff(train_c, train_r)
    w = np.zeros(len(vocab))
    for _ in range(iterations):  # IRLS: every label is 1 (chosen wins)
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (p - 1.0) + l2 * w
        hess = (x.T * (p * (1.0 - p))) @ x + l2 * np.eye(len(vocab))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-6:
            break

    def accuracy(margins) -> float:
        return float(((margins > 0) + 0.5 * (margins == 0)).mean()) if len(margins) else float("nan")

    xt = diff([_words(_reply(r)) for r in test["chosen"]], [_words(_reply(r)) for r in test["rejected"]])
    return {
        "accuracy": accuracy(xt @ w),
        "train_accuracy": accuracy(x @ w),
        "features": len(vocab),
        "train_pairs": len(train_c),
        "test_pairs": xt.shape[0],
    }
