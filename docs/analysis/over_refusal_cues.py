"""Which benign held-out requests do the policies refuse, and what in the training data could teach that?

    .venv/bin/python docs/analysis/over_refusal_cues.py [SAMPLES.jsonl.gz ...]

Default samples: the committed test evaluations (docs/analysis/seeds/seed*/samples.jsonl.gz), two dev
evaluations (docs/analysis/tuning/prototype_v2_seed42_run9/, prototype_v2_seed44_grpo_budget/) and seeds 43 and
44 on their training prompts (docs/analysis/train_prompts/seed*/, not held out). For every benign
prompt (``is_harmful_request`` false) it counts the refusals (``is_refusal``) of the reference and the trained
policies (not the trivial baselines or best-of-n), per kind of request (the testbed bank's ``kind``: advice,
howto, why, fact) and per subject of the last request. Beside each subject: the probability that a bag-of-words
logistic regression fitted on the training requests alone (last user turn, harmful vs benign, word presence,
L2 1.0) gives it of being harmful, and the request's words with the highest share of harmful requests in
training; then the Spearman correlation between that probability and the refusal rate. First, how many
training requests there are of each kind. Reads committed files only (no model); an analysis aid for
ANALYSIS.md (output: over_refusal_cues.txt beside it), not part of the toolkit.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from rlhf_trl.data.parser import parse_hh_pair
from rlhf_trl.evaluation.baselines import TRIVIAL, last_user_turn
from rlhf_trl.testbed import BUNDLED_DIR
from rlhf_trl.testbed.gold import bank_request, is_harmful_request, is_refusal

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = [
    *sorted((ROOT / "docs/analysis/seeds").glob("seed*/samples.jsonl.gz")),
    ROOT / "docs/analysis/tuning/prototype_v2_seed42_run9/samples.jsonl.gz",
    ROOT / "docs/analysis/tuning/prototype_v2_seed44_grpo_budget/samples.jsonl.gz",
    *sorted((ROOT / "docs/analysis/train_prompts").glob("seed*/samples.jsonl.gz")),
]
WORD = re.compile(r"[a-z']+")
MIN_COUNT = 3  # a word's harmful share is shown when it occurs in at least this many training requests


def words(text: str) -> set[str]:
    return set(WORD.findall(text.lower().replace("’", "'")))


def training_requests() -> tuple[list[set[str]], np.ndarray, list[str]]:
    """Word sets of the unique last user turns of the training pairs, whether each is harmful, its kind."""
    seen: dict[str, tuple[bool, str]] = {}
    with gzip.open(BUNDLED_DIR / "train.jsonl.gz", "rt") as f:
        for line in f:
            row = json.loads(line)
            prompt = parse_hh_pair(row["chosen"], row["rejected"])["prompt"]
            seen.setdefault(
                last_user_turn(prompt), (is_harmful_request(prompt), bank_request(prompt)["kind"])
            )
    harmful = np.array([h for h, _ in seen.values()], dtype=float)
    return [words(t) for t in seen], harmful, [k for _, k in seen.values()]


def fit(docs: list[set[str]], y: np.ndarray, l2: float = 1.0):
    """Logistic regression on word presence (with a bias), by Newton's method; returns a scorer."""
    vocab = {w: i for i, w in enumerate(sorted(set().union(*docs)))}

    def features(ds):
        x = np.zeros((len(ds), len(vocab) + 1))
        x[:, -1] = 1.0
        for row, d in enumerate(ds):
            for w in d & vocab.keys():
                x[row, vocab[w]] = 1.0
        return x

    x, w = features(docs), np.zeros(len(vocab) + 1)
    penalty = l2 * np.eye(len(w))
    penalty[-1, -1] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        step = np.linalg.solve((x.T * (p * (1 - p))) @ x + penalty, x.T @ (p - y) + penalty @ w)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    accuracy = float(((x @ w > 0) == (y > 0.5)).mean())
    return (lambda ds: 1.0 / (1.0 + np.exp(-(features(ds) @ w)))), accuracy


def spearman(a, b) -> float:
    ra, rb = (np.argsort(np.argsort(v, kind="stable")).astype(float) for v in (a, b))
    return float(np.corrcoef(ra, rb)[0, 1])


def main(paths: list[Path]) -> None:
    docs, harmful, kinds = training_requests()
    score, accuracy = fit(docs, harmful)
    print("training requests by kind: " + ", ".join(f"{k} {n}" for k, n in sorted(Counter(kinds).items())))
    df, harmful_df = Counter(), Counter()
    for d, h in zip(docs, harmful):
        df.update(d)
        if h:
            harmful_df.update(d)
    print(
        f"training requests: {len(docs)} unique last user turns, {int(harmful.sum())} harmful; "
        f"bag-of-words harmfulness classifier, training accuracy {accuracy:.3f}"
    )
    by_set: dict[str, list[dict]] = defaultdict(list)
    for path in paths:
        rows = [json.loads(line) for line in gzip.open(path, "rt")]
        with open(path.parent / "metrics.json") as f:
            prompt_set = json.load(f)["settings"].get("prompt_set", "dev")
        by_set[prompt_set] += [r for r in rows if not is_harmful_request(r["prompt"])]
    for prompt_set, every_model in by_set.items():
        per_model: dict[str, Counter] = defaultdict(Counter)
        for r in every_model:
            advice = bank_request(r["prompt"])["kind"] == "advice"
            per_model[r["model"]]["advice" if advice else "other"] += 1
            per_model[r["model"]]["refused " + ("advice" if advice else "other")] += is_refusal(r["response"])
        rows = [r for r in every_model if r["model"] not in TRIVIAL and not r["model"].startswith("bon")]
        refused, total, text, kind = Counter(), Counter(), {}, {}
        for r in rows:
            request = bank_request(r["prompt"])
            subject = request["subject"]
            total[subject] += 1
            refused[subject] += is_refusal(r["response"])
            text.setdefault(subject, last_user_turn(r["prompt"]))
            kind[subject] = request["kind"]
        subjects = sorted(total, key=lambda s: (-refused[s] / total[s], s))
        p_harm = dict(zip(subjects, score([words(text[s]) for s in subjects])))
        print(
            f"\n{prompt_set}: {len(subjects)} benign subjects, {sum(refused.values())} refusals in "
            f"{sum(total.values())} replies of the reference and the trained policies"
        )
        for k in sorted(set(kind.values())):
            of_kind = [s for s in total if kind[s] == k]
            print(
                f"  {k}: {sum(refused[s] for s in of_kind)}/{sum(total[s] for s in of_kind)} refused "
                f"({len(of_kind)} subjects)"
            )
        print(
            "  refused by model (advice / other benign): "
            + "; ".join(
                f"{m} {c['refused advice']}/{c['advice']}, {c['refused other']}/{c['other']}"
                for m, c in per_model.items()
                if m not in TRIVIAL or m == "nearest_train_chosen"
            )
        )
        print(
            "| subject | kind | refused | P(harmful), bag of words | most harmful-looking words (share in training) |"
        )
        print("|---|---|---|---|---|")
        for s in subjects:
            cues = sorted(
                (w for w in words(text[s]) if df[w] >= MIN_COUNT),
                key=lambda w: (-harmful_df[w] / df[w], w),
            )[:3]
            shown = ", ".join(f"{w} {harmful_df[w]}/{df[w]}" for w in cues)
            print(f"| {s} | {kind[s]} | {refused[s]}/{total[s]} | {p_harm[s]:.2f} | {shown} |")
        rates = [refused[s] / total[s] for s in subjects]
        top = subjects[:3]
        print(
            f"Spearman(refusal rate, P(harmful)) over {len(subjects)} subjects: "
            f"{spearman(rates, [p_harm[s] for s in subjects]):.2f}; the 3 most refused subjects hold "
            f"{sum(refused[s] for s in top)}/{sum(refused.values())} refusals"
        )


if __name__ == "__main__":
    main([Path(a) for a in sys.argv[1:]] or DEFAULT)
