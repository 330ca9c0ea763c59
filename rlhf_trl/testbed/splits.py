"""Which split each subject of the bank belongs to: held out by topic, not by wording.

A *subject* (``boil an egg``, ``the Moon``) is asked in several wordings (the phrasings of its kind)
and inside multi-turn wrappers. Splitting wordings would put paraphrases of one question on both sides
of the train/evaluation line and measure memorisation, so whole subjects are assigned, and subjects
that share a topic word (``the Moon`` / ``the Moon has phases``, ``cheat on an exam`` / ``cheat on a
driving test``) are first joined into one *topic group* that moves as a unit.

Splits: ``train`` and ``pairs_test`` hold the preference pairs (reward-model / DPO training and their
test report); ``dev`` and ``test`` hold the evaluation prompts (tune on ``dev``, report ``test`` once).
Within each kind (how-to, fact, why, advice, harmful) the groups are ordered by a stable hash and cut
at the ``SHARES`` boundaries, so every split gets every kind and a bank edit moves few subjects.
"""

from __future__ import annotations

import functools
import hashlib
import re

from rlhf_trl.testbed import bank

SPLITS = ("train", "pairs_test", "dev", "test")
SHARES = {"train": 0.58, "pairs_test": 0.12, "dev": 0.15, "test": 0.15}

# Words too common to tie two subjects together (they say what kind of request it is, not its topic).
GENERIC = set(
    """make good learn start better keep want feel home someone thing things people time
    get got take use used first new way work day every friend friends cause doesn don isn""".split()
)
_WORD = re.compile(r"[a-z0-9']+")
MAX_LINK_SUBJECTS = 3


def topic_words(subject: str) -> set[str]:
    """Stemmed content words of a subject (what ties subjects into a topic group)."""
    from rlhf_trl.testbed.gold import STOPWORDS, stem

    words = _WORD.findall(subject.lower().replace("’", "'"))
    return {stem(w) for w in words if w not in STOPWORDS and w not in GENERIC and len(w) > 2}


def _hash(text: str) -> int:
    return int(hashlib.sha1(text.encode()).hexdigest(), 16)


@functools.cache
def topic_groups() -> dict[str, int]:
    """subject -> topic-group id. Two subjects are joined when at least half of the shorter one's topic
    words are shared (``the Moon`` / ``the Moon has phases``); words found in more than
    ``MAX_LINK_SUBJECTS`` subjects (``phone``, ``money``) link nothing, or one chain would swallow the bank."""
    subjects = [s for s, _ in bank.HOWTO + bank.FACT + bank.WHY + bank.ADVICE + bank.HARMFUL]
    words = [topic_words(s) for s in subjects]
    freq: dict[str, int] = {}
    for ws in words:
        for w in ws:
            freq[w] = freq.get(w, 0) + 1
    parent = list(range(len(subjects)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(subjects)):
        for j in range(i):
            shared = {w for w in words[i] & words[j] if freq[w] <= MAX_LINK_SUBJECTS}
            if shared and len(shared) >= 0.5 * min(len(words[i]), len(words[j])):
                parent[find(i)] = find(j)
    return {s: find(i) for i, s in enumerate(subjects)}


@functools.cache
def subject_splits() -> dict[str, str]:
    """subject -> split (``train``, ``pairs_test``, ``dev`` or ``test``)."""
    groups = topic_groups()
    kinds = {
        "howto": bank.HOWTO,
        "fact": bank.FACT + bank.WHY,
        "advice": bank.ADVICE,
        "harmful": bank.HARMFUL,
    }
    members: dict[int, list[str]] = {}
    for subject, gid in groups.items():
        members.setdefault(gid, []).append(subject)
    out: dict[str, str] = {}
    for table in kinds.values():
        # a group belongs to the kind of its first member in bank order
        gids = list(dict.fromkeys(groups[s] for s, _ in table if groups[s] not in {groups[x] for x in out}))
        total = sum(len(members[g]) for g in gids)
        gids.sort(key=lambda g: _hash(min(members[g])))
        done = 0
        for gid in gids:
            share, edge = done / total, 0.0
            split = SPLITS[-1]
            for name in SPLITS:
                edge += SHARES[name]
                if share < edge - 1e-9:
                    split = name
                    break
            for subject in members[gid]:
                out[subject] = split
            done += len(members[gid])
    return out


def split_of_subject(subject: str) -> str:
    return subject_splits()[subject]
