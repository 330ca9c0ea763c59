"""Baselines scored next to every trained policy, so a reader can tell learning from a loophole.

Two kinds, both judged against the reference exactly like a policy:

* **trivial policies** — deterministic strings that need no model: a judge (gold rubric, reward model,
  LM judge) that prefers one of them to the reference rewards a surface trick, not an answer
  (DESIGN.md, "Testbed and evaluation principles"). Each is ``prompts -> list[str]``:

  - ``echo``: the last user turn verbatim;
  - ``keyword_sentence``: "Here is what I know about <content words of the last user turn>.";
  - ``fixed_sentence``: one generic helpful-sounding sentence for every prompt;
  - ``refuse_all``: one polite refusal for every prompt;
  - ``reference_trimmed``: the reference's own sample cut after its last full sentence (does cutting
    off a truncated tail alone win?);
  - ``nearest_train_chosen``: the ``chosen`` reply of the training pair whose last user turn shares the
    most content words with the prompt's (memorisation without generalisation);

* **best-of-n** of the reference — sample n responses from the reference, keep the proxy reward model's
  favourite. Gao et al. 2022 ("Scaling Laws for Reward Model Overoptimization") read RL against it:
  it reaches a given KL with no training at all, and its gold score against that KL is the curve an RL
  method has to beat.

Everything here is pure and dataset-agnostic; ``rlhf_trl.evaluation.sampling`` draws the samples (and
picks best-of-n with :func:`best_of_n`), ``rlhf_trl.evaluation.harness`` scores them.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence

TRIVIAL = (
    "echo",
    "keyword_sentence",
    "fixed_sentence",
    "refuse_all",
    "reference_trimmed",
    "nearest_train_chosen",
)
PATH_PREFIX = "baseline:"  # ModelSpec.path of a baseline; metrics gives such entries the role "baseline"

KEYWORD_PREFIX = "Here is what I know about "
FIXED_SENTENCE = "That's a great question, and I'm happy to help you with it."
REFUSAL = "I'm sorry, but I can't help with that. I'd be happy to help with something else."

# A generic English list (NLTK's, plus contractions and "please"), deliberately not the bundled gold
# rubric's own list: the keyword baseline must not be tuned to the judge it probes.
STOPWORDS = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her
    hers herself it its itself they them their theirs themselves what which who whom this that these those
    am is are was were be been being have has had having do does did doing a an the and but if or because
    as until while of at by for with about against between into through during before after above below
    to from up down in out on off over under again further then once here there when where why how all
    any both each few more most other some such no nor not only own same so than too very s t can will
    just don should now d ll m o re ve y ain aren couldn didn doesn hadn hasn haven isn ma mightn mustn
    needn shan shouldn wasn weren won wouldn could would might must shall may please i'm i've i'd i'll
    you're you've you'd you'll he's she's it's we're we've they're they've that's there's what's let's
    don't doesn't didn't can't won't isn't aren't wasn't weren't shouldn't wouldn't couldn't""".split()
)

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)*")
# A sentence end: ., ! or ? (repeats allowed), optional closing quotes/brackets, then whitespace.
# Requiring the whitespace keeps "3.5" and "www.example.com" whole.
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s)")
_ENDS_SENTENCE = re.compile(r"[.!?]+[\"'”’)\]]*$")


def last_user_turn(prompt: Sequence[dict]) -> str:
    """Content of the last ``user`` message of a conversation ("" when there is none)."""
    return next((m["content"] for m in reversed(prompt) if m["role"] == "user"), "")


def content_words(text: str) -> list[str]:
    """Lower-cased words of ``text`` without stopwords and punctuation, in order, each once."""
    words = _WORD.findall(text.lower().replace("’", "'"))
    return list(dict.fromkeys(w for w in words if w not in STOPWORDS))


def trim_to_sentence(text: str) -> str:
    """``text`` cut after its last sentence end; unchanged when it already ends one or has none."""
    if _ENDS_SENTENCE.search(text.rstrip()):
        return text
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    return text[: ends[-1]] if ends else text


# ------------------------------------------------------------------------------------ trivial policies


def echo(prompts: Sequence[Sequence[dict]]) -> list[str]:
    return [last_user_turn(p) for p in prompts]


def keyword_sentence(prompts: Sequence[Sequence[dict]]) -> list[str]:
    # "it" keeps a prompt without content words a sentence rather than "... about ."
    return [KEYWORD_PREFIX + (" ".join(content_words(last_user_turn(p))) or "it") + "." for p in prompts]


def fixed_sentence(prompts: Sequence[Sequence[dict]]) -> list[str]:
    return [FIXED_SENTENCE] * len(prompts)


def refuse_all(prompts: Sequence[Sequence[dict]]) -> list[str]:
    return [REFUSAL] * len(prompts)


def reference_trimmed(prompts: Sequence[Sequence[dict]], reference_responses: Sequence[str]) -> list[str]:
    if len(prompts) != len(reference_responses):
        raise ValueError(f"{len(prompts)} prompts but {len(reference_responses)} reference responses")
    return [trim_to_sentence(r) for r in reference_responses]


def nearest_train_chosen(
    prompts: Sequence[Sequence[dict]],
    train_prompts: Sequence[Sequence[dict]],
    train_chosen: Sequence[str],
) -> list[str]:
    """For each prompt, ``train_chosen[j]`` of the training prompt ``j`` whose last user turn shares the
    most content words with the prompt's last user turn; the lowest ``j`` wins a tie (also when no
    training prompt shares a word).

    An inverted index (word -> training prompts) keeps this linear in the matches, so the full HH-RLHF
    train split (160k pairs) is no slower than the bundled one per prompt.
    """
    if len(train_prompts) != len(train_chosen) or not train_chosen:
        raise ValueError(
            f"need as many training replies as prompts (>= 1), got {len(train_chosen)} and {len(train_prompts)}"
        )
    index: dict[str, list[int]] = defaultdict(list)
    for j, p in enumerate(train_prompts):
        for w in content_words(last_user_turn(p)):
            index[w].append(j)
    out = []
    for p in prompts:
        overlap: dict[int, int] = defaultdict(int)
        for w in content_words(last_user_turn(p)):
            for j in index.get(w, ()):
                overlap[j] += 1
        best = min(overlap, key=lambda j: (-overlap[j], j)) if overlap else 0
        out.append(train_chosen[best])
    return out


def trivial_responses(
    name: str,
    prompts: Sequence[Sequence[dict]],
    *,
    reference_responses: Sequence[str] | None = None,
    train_prompts: Sequence[Sequence[dict]] | None = None,
    train_chosen: Sequence[str] | None = None,
) -> list[str]:
    """The responses of trivial policy ``name`` (one of :data:`TRIVIAL`) to ``prompts``.

    ``reference_trimmed`` needs ``reference_responses`` (aligned with ``prompts``);
    ``nearest_train_chosen`` needs ``train_prompts`` and ``train_chosen``.
    """
    if name == "reference_trimmed":
        if reference_responses is None:
            raise ValueError("reference_trimmed needs the reference's responses")
        return reference_trimmed(prompts, reference_responses)
    if name == "nearest_train_chosen":
        if train_prompts is None or train_chosen is None:
            raise ValueError("nearest_train_chosen needs the training prompts and chosen replies")
        return nearest_train_chosen(prompts, train_prompts, train_chosen)
    simple = {
        "echo": echo,
        "keyword_sentence": keyword_sentence,
        "fixed_sentence": fixed_sentence,
        "refuse_all": refuse_all,
    }
    if name not in simple:
        raise ValueError(f"unknown trivial baseline {name!r}; allowed: {', '.join(TRIVIAL)}")
    return simple[name](prompts)


# ------------------------------------------------------------------------------------------ best-of-n


def best_of_n(candidates: Sequence[Sequence[str]], rm_scores: Sequence[Sequence[float]]) -> list[int]:
    """Index of the proxy's favourite candidate per prompt.

    Args:
        candidates: ``[P][n]`` responses per prompt (only their shape is used).
        rm_scores: ``[P][n]`` reward-model score of each candidate.
    Returns:
        ``[P]`` argmax of each row; the first one on a tie.
    """
    if len(candidates) != len(rm_scores):
        raise ValueError(f"{len(candidates)} prompts of candidates but {len(rm_scores)} of scores")
    picks = []
    for i, (cands, scores) in enumerate(zip(candidates, rm_scores)):
        if len(cands) != len(scores) or not scores:
            raise ValueError(f"prompt {i}: {len(cands)} candidates but {len(scores)} scores (need >= 1)")
        picks.append(max(range(len(scores)), key=lambda k: (scores[k], -k)))
    return picks


def bon_kl(n: int) -> float:
    """KL(best-of-n ‖ π_ref) = log n − (n − 1)/n nats (Gao et al. 2022, "Scaling Laws for Reward
    Model Overoptimization").

    The analytic KL of best-of-n sampling to the base policy it samples from, exact when the n
    candidates are almost surely distinct (continuous reward, no repeated responses); with repeats it
    is an upper bound (Beirami et al. 2024, "Theoretical guarantees on the best-of-n alignment policy").
    0 for n = 1.
    """
    if n < 1:
        raise ValueError(f"best-of-n needs n >= 1, got {n}")
    return math.log(n) - (n - 1) / n
