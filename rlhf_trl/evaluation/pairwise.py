"""The pairwise-judge step of ``rlhf-trl evaluate``: every question is asked once, every answer kept.

:func:`pairwise_step` judges every policy and baseline against the reference with one pairwise judge
(:func:`build_pairwise_judge`), and measures the local LM judge's accuracy on known preference pairs
(:func:`judge_accuracy`).

A *question* is one prompt with two replies in one order (a pair is asked in both orders). Each answer is
appended to ``cache/judge_<name>_answers.jsonl`` the moment it arrives, keyed by a hash of the judge's
identity (its model, the weights stamp of a local model or the base URL without credentials of an HTTP
one, the hash of its prompt template), the prompt and the two replies in the order shown. So a run
stopped by the request cap, an error or Ctrl-C resumes where it stopped, and a question two models share
(the same reply) is paid once. The raw answer is stored and parsed on reading, so a change to
:func:`rlhf_trl.judges.parse_verdict` needs no new request.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

from rlhf_trl.evaluation.model_specs import REFERENCE, model_stamp, same_model
from rlhf_trl.judges import PairVerdict, PairwiseJudge, parse_verdict


def question_key(identity: dict, prompt_messages, response_a: str, response_b: str) -> str:
    return hashlib.sha256(
        json.dumps([identity, prompt_messages, response_a, response_b], sort_keys=True).encode()
    ).hexdigest()


class AnswerStore:
    """Raw judge answers by :func:`question_key`, one JSON line each, appended as they arrive.

    ``enabled=False`` (``recompute``) starts empty; new answers are appended and the last line of a key
    wins when the file is read again.
    """

    def __init__(self, path: Path, enabled: bool = True):
        self.path = Path(path)
        self.answers: dict[str, str] = {}
        self._torn = False
        if not self.path.is_file():
            return
        text = self.path.read_text()
        self._torn = bool(text) and not text.endswith("\n")  # a write cut short: start on a new line
        if not enabled:
            return
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # the torn last line of an interrupted run
            if isinstance(record, dict) and isinstance(record.get("answer"), str):
                self.answers[str(record.get("key"))] = record["answer"]

    def __contains__(self, key: str) -> bool:
        return key in self.answers

    def get(self, key: str) -> str | None:
        return self.answers.get(key)

    def put(self, key: str, answer: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Opened per answer, so each answer is on disk before the next request is paid for; the cost is
        # nothing next to a judge call.
        with self.path.open("a") as f:
            f.write(("\n" if self._torn else "") + json.dumps({"key": key, "answer": answer}) + "\n")
        self._torn = False
        self.answers[key] = answer


def judge_against_reference(
    make_judge: Callable[[], PairwiseJudge],
    identity: dict,
    store: AnswerStore,
    prompts: list,
    responses: dict[str, list[str]],
    reference: list[str],
    label: str,
) -> dict[str, list[PairVerdict]]:
    """Each model's :class:`PairVerdict` per prompt against ``reference``, asking only the questions
    ``store`` has no answer for. ``make_judge`` is called only then (a local LM loads only then), and the
    judge's :meth:`check_budget` sees every unanswered question before the first is asked."""
    from tqdm.auto import tqdm

    plan: dict[str, list[tuple[str, str]]] = {}
    unanswered: dict[str, tuple] = {}  # key -> (prompt, reply A, reply B), each question once
    for name, own in responses.items():
        plan[name] = []
        for p, pol, ref in zip(prompts, own, reference, strict=True):
            keys = (question_key(identity, p, pol, ref), question_key(identity, p, ref, pol))
            plan[name].append(keys)
            for key, question in zip(keys, ((p, pol, ref), (p, ref, pol))):
                if key not in store:
                    unanswered.setdefault(key, question)
    judge = None
    if unanswered:
        judge = make_judge()
        judge.check_budget(len(unanswered))
    verdicts = {}
    for name, pairs in plan.items():
        todo = [i for i, keys in enumerate(pairs) if any(k not in store for k in keys)]
        if todo:
            with tqdm(total=len(todo), desc=f"judge {label} {name}", unit="pair", file=sys.stderr) as bar:
                for i in todo:
                    for key in pairs[i]:
                        if key not in store:
                            store.put(key, judge.ask(*unanswered[key]))
                    bar.update(1)
        verdicts[name] = [
            PairVerdict(parse_verdict(store.get(a)), parse_verdict(store.get(b))) for a, b in pairs
        ]
    return verdicts


def judge_accuracy(
    make_judge: Callable[[], PairwiseJudge],
    identity: dict,
    store: AnswerStore,
    prompts: list,
    chosen: list[str],
    rejected: list[str],
    n_boot: int,
    seed: int,
    label: str,
) -> dict:
    """How often the judge picks the ``chosen`` reply of preference pairs whose answer is known (the test
    split): each pair asked in both orders through the same answer cache as the verdicts. Both answers
    for chosen = right, both for rejected = wrong, anything else (position bias, a tie, an unparseable
    answer) = inconsistent, counted ½ like a tie in a win rate, so chance is 0.5 whatever the judge's
    position bias. ``{"accuracy", "ci95", "right", "inconsistent", "wrong", "n", "p_chance"}``, with a
    bootstrap CI over pairs and ``p_chance`` the exact sign test of right vs wrong (H0: chance)."""
    from rlhf_trl.evaluation.stats import sign_test, win_rate_summary

    name = "accuracy on test pairs"
    verdicts = judge_against_reference(
        make_judge, identity, store, prompts, {name: chosen}, rejected, label=label
    )[name]
    s = win_rate_summary([v.outcome for v in verdicts], n_boot, seed)
    return {
        "accuracy": s["win_rate"],
        "ci95": s["ci95"],
        "right": s["wins"],
        "inconsistent": s["ties"],
        "wrong": s["losses"],
        "n": s["n"],
        "p_chance": sign_test(s["wins"], s["losses"]),
    }


def unparseable_note(label: str, counts: dict[str, int], n_pairs: int, store_path: Path) -> str | None:
    """The metrics note on unparseable answers: always for ``http`` (so a reader sees it was checked),
    for another judge only when there were some."""
    total = sum(counts.values())
    if not total:
        if label != "http":
            return None
        return f"{label} judge: every answer parsed ({n_pairs} pairs per model, both orders)"
    per_model = ", ".join(f"{name} {n}/{n_pairs}" for name, n in counts.items() if n)
    return (
        f"{label} judge: {total} of {n_pairs * len(counts)} pairs had an unparseable answer, counted as "
        f"a tie ({per_model}); the raw answers are in {store_path.parent.name}/{store_path.name}"
    )


def build_pairwise_judge(name: str, cfg):
    """``(make_judge, identity)`` of pairwise judge ``name``: ``make_judge()`` gives the judge (a local LM
    loads only then, when some answer is not cached); ``identity`` is what its answers depend on besides
    the question (the cache key of :func:`question_key`), never a secret: the base URL without credentials, no key."""
    from rlhf_trl import judges
    from rlhf_trl.models import resolve_model_path

    if name == "local_lm":
        from rlhf_trl import EMBEDDED_MODEL

        path = cfg.judge_model or EMBEDDED_MODEL
        identity = {
            "judge": name,
            "model": path,
            "weights": model_stamp(resolve_model_path(path)),
            "template": judges.template_hash(judges.LocalLMJudge.template),
        }
        return (lambda: judges.LocalLMJudge(path)), identity
    # built now: a bad key or URL stops here, before any request
    judge = judges.HTTPJudge(
        cfg.judge_base_url,
        model=cfg.judge_model or "gpt-4o-mini",
        api_key_env=cfg.judge_api_key_env,
        max_requests=cfg.judge_max_requests,
        retries=cfg.judge_retries,
        timeout_s=cfg.judge_timeout_s,
    )
    return (lambda: judge), judge.cache_identity


def pairwise_step(
    jname,
    cfg,
    specs,
    prompts,
    samples,
    judgements,
    cache,
    notes,
    *,
    reference: str | None = None,
    judge_pairs=None,
    judges_info: dict | None = None,
) -> dict[str, int]:
    """Judge every policy and baseline against the reference with pairwise judge ``jname``, each answer
    cached as it arrives (rlhf_trl.evaluation.pairwise). A pair with an unparseable answer is a tie
    (:class:`rlhf_trl.judges.PairVerdict`) and is counted: the counts go into ``notes`` and are returned
    per model. The local LM judge also gets ``judges_info["local_lm"]``: which model it is, whether that
    is the reference (self-preference), and its accuracy on ``judge_pairs`` (the preference test split)."""
    import functools

    make_judge, identity = build_pairwise_judge(jname, cfg)
    make_judge = functools.cache(make_judge)  # one load for the verdicts and the accuracy
    store = AnswerStore(cache.folder / f"judge_{jname}_answers.jsonl", enabled=cache.enabled)
    verdicts = judge_against_reference(
        make_judge,
        identity,
        store,
        prompts,
        {spec.name: [r["response"] for r in samples[spec.name]] for spec in specs[1:]},
        [r["response"] for r in samples[REFERENCE]],
        label=jname,
    )
    counts = {}
    for name, pairs in verdicts.items():
        judgements[name][jname] = [v.outcome for v in pairs]
        counts[name] = sum(v.unparseable for v in pairs)
    note = unparseable_note(jname, counts, len(prompts), store.path)
    if note:
        notes.append(note)
    if jname == "local_lm" and judges_info is not None:
        judges_info[jname] = {
            "model": identity["model"],
            "is_reference": reference is not None and same_model(identity["model"], reference),
            "accuracy": None
            if not judge_pairs or not judge_pairs[0]
            else judge_accuracy(
                make_judge, identity, store, *judge_pairs, cfg.bootstrap_samples, cfg.seed, label=jname
            ),
        }
    return counts
