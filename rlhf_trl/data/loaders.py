"""Preference-data loaders: the bundled set, a local JSONL(.gz) file or Hub-layout folder, or the Hub.

``dataset_name`` (``DataArguments``) selects the source:

* ``bundled`` — the synthetic testbed (:mod:`rlhf_trl.testbed`): ``{train,test}.jsonl.gz`` (HH format,
  labelled by the gold rubric) and the held-out evaluation prompt sets ``dev_prompts.jsonl.gz`` and
  ``test_prompts.jsonl.gz`` (``{"prompt": [messages]}``, subjects never in any pair);
* a local folder in the Hub repo's layout — ``<subset>/train.jsonl.gz`` and ``<subset>/test.jsonl.gz``
  (``.jsonl`` also accepted; ``dataset_subsets`` picks subsets, default all), or flat
  ``train.jsonl[.gz]`` + ``test.jsonl[.gz]``;
* a local ``.jsonl``/``.jsonl.gz`` file — split deterministically: rows whose line number hash falls
  in the last 1/20 form the test split;
* otherwise a Hub id (``Anthropic/hh-rlhf``), read with ``datasets.load_dataset(name, data_dir=subset)``.

Every raw row goes through :func:`rlhf_trl.data.parser.parse_hh_pair`; dropped rows are counted by
reason and reported once. A split keeping less than ``min_keep_fraction`` of its rows is an error.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rlhf_trl.data.parser import DropReason, HHParseError, parse_hh_pair
from rlhf_trl.errors import UserError

logger = logging.getLogger(__name__)

BUNDLED = "bundled"
BUNDLED_DIR = Path(__file__).parent.parent / "testbed" / "bundled"  # rlhf_trl.testbed.BUNDLED_DIR
EVAL_SETS = ("dev", "test")
HH_SUBSETS = ["harmless-base", "helpful-base", "helpful-online", "helpful-rejection-sampled"]
SPLITS = ("train", "test")


@dataclass
class SplitStats:
    """What the parser did with one split: raw rows, kept rows, dropped rows by reason."""

    raw: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {
            "raw": self.raw,
            "kept": self.kept,
            "dropped": {r: self.dropped.get(r, 0) for r in DropReason.ALL},
        }


# ----------------------------------------------------------------------------------------- raw rows


def _open_text(path: Path):
    return (
        gzip.open(path, "rt", encoding="utf-8") if path.name.endswith(".gz") else open(path, encoding="utf-8")
    )


def read_jsonl(path: Path, fields: tuple[str, ...] = ("chosen", "rejected")):
    """Yield ``(where, row)`` for each non-blank line; bad JSON or a missing/non-string field is a
    :class:`UserError` naming ``file:line``."""
    try:
        f = _open_text(path)
        with f:
            for lineno, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                where = f"{path}:{lineno}"
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    raise UserError(
                        f"{where}: malformed JSON ({err.msg} at column {err.colno}); each line must be one "
                        'object like {"chosen": "\\n\\nHuman: ...", "rejected": "..."}'
                    ) from None
                if not isinstance(row, dict):
                    raise UserError(f"{where}: expected a JSON object, got {type(row).__name__}")
                for name in fields:
                    if name not in row:
                        raise UserError(
                            f"{where}: missing field {name!r}; expected fields: {', '.join(fields)}"
                        )
                    if fields != ("prompt",) and not isinstance(row[name], str):
                        raise UserError(
                            f"{where}: field {name!r} must be a string (an HH transcript), "
                            f"got {type(row[name]).__name__}"
                        )
                yield where, row
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read {path}: {err}") from None


def _find_split_file(folder: Path, split: str) -> Path | None:
    for name in (f"{split}.jsonl.gz", f"{split}.jsonl"):
        if (folder / name).is_file():
            return folder / name
    return None


def _folder_files(folder: Path, subsets: list[str] | None) -> dict[str, list[Path]]:
    flat = {s: _find_split_file(folder, s) for s in SPLITS}
    if all(flat.values()) and not subsets:
        return {s: [flat[s]] for s in SPLITS}
    available = sorted(p.name for p in folder.iterdir() if p.is_dir() and _find_split_file(p, "train"))
    chosen = subsets or available
    if not chosen:
        raise UserError(
            f"{folder}: no <subset>/train.jsonl.gz (or train.jsonl + test.jsonl) found; expected the "
            "Hub layout, e.g. helpful-base/train.jsonl.gz and helpful-base/test.jsonl.gz"
        )
    out: dict[str, list[Path]] = {s: [] for s in SPLITS}
    for subset in chosen:
        for split in SPLITS:
            path = _find_split_file(folder / subset, split)
            if path is None:
                have = ", ".join(available) or "none"
                raise UserError(
                    f"{folder / subset}: no {split}.jsonl.gz or {split}.jsonl (subsets found: {have})"
                )
            out[split].append(path)
    return out


def _file_rows(path: Path) -> dict[str, list[tuple[str, dict]]]:
    out: dict[str, list[tuple[str, dict]]] = {s: [] for s in SPLITS}
    for where, row in read_jsonl(path):
        lineno = where.rsplit(":", 1)[1]
        bucket = int(hashlib.sha1(lineno.encode()).hexdigest(), 16) % 20
        out["test" if bucket == 0 else "train"].append((where, row))
    return out


def _hub_rows(name: str, subsets: list[str] | None) -> dict[str, list[tuple[str, dict]]]:
    import datasets

    data_dirs = subsets or (HH_SUBSETS if name == "Anthropic/hh-rlhf" else [None])
    out: dict[str, list[tuple[str, dict]]] = {s: [] for s in SPLITS}
    for data_dir in data_dirs:
        try:
            ds = datasets.load_dataset(name, data_dir=data_dir)
        except Exception as err:  # offline, unknown id, missing subset: all user-facing
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise UserError(
                f"dataset_name {name!r} (data_dir={data_dir}): cannot load from the Hub: {first}. "
                "Offline? Use dataset_name: bundled or a local .jsonl/.jsonl.gz file or folder"
            ) from None
        for split in SPLITS:
            if split not in ds:
                raise UserError(f"{name} (data_dir={data_dir}) has no {split!r} split; it has {list(ds)}")
            for i, row in enumerate(ds[split]):
                out[split].append((f"{name}/{data_dir or ''}[{split}][{i}]", row))
    return out


def raw_rows(data_args) -> dict[str, list[tuple[str, dict]]]:
    """``{"train": [(where, {"chosen", "rejected"}), ...], "test": [...]}`` from any source."""
    name = data_args.dataset_name
    if name == BUNDLED:
        return {s: list(read_jsonl(BUNDLED_DIR / f"{s}.jsonl.gz")) for s in SPLITS}
    path = Path(name).expanduser()
    if path.is_dir():
        files = _folder_files(path, data_args.dataset_subsets)
        return {s: [r for f in files[s] for r in read_jsonl(f)] for s in SPLITS}
    if path.is_file():
        if not (path.name.endswith(".jsonl") or path.name.endswith(".jsonl.gz")):
            raise UserError(f"dataset_name {name}: a local file must be .jsonl or .jsonl.gz (HH format)")
        return _file_rows(path)
    if name.endswith((".jsonl", ".jsonl.gz")) or name.startswith((".", "/", "~")) or name.count("/") != 1:
        raise UserError(
            f"dataset_name {name!r}: no such file or folder, and not a Hub id (owner/name); "
            "use bundled, a local .jsonl/.jsonl.gz file, a folder in the Hub layout, or e.g. Anthropic/hh-rlhf"
        )
    return _hub_rows(name, data_args.dataset_subsets)


# ------------------------------------------------------------------------------------ parsed splits


def parse_rows(rows: list[tuple[str, dict]], limit: int | None = None) -> tuple[dict[str, list], SplitStats]:
    """Parse raw rows into column lists, stopping once ``limit`` rows are kept."""
    cols: dict[str, list] = {"prompt": [], "chosen": [], "rejected": []}
    stats = SplitStats()
    for where, row in rows:
        if limit is not None and stats.kept >= limit:
            break
        stats.raw += 1
        chosen, rejected = row.get("chosen"), row.get("rejected")
        if not isinstance(chosen, str) or not isinstance(rejected, str):
            raise UserError(f"{where}: fields 'chosen' and 'rejected' must be strings (HH transcripts)")
        try:
            parsed = parse_hh_pair(chosen, rejected)
        except HHParseError as err:
            stats.dropped[err.reason] += 1
            continue
        stats.kept += 1
        for key in cols:
            cols[key].append(parsed[key])
        if limit is not None and stats.kept >= limit:
            break  # without reading the next row
    return cols, stats


def _check_survival(name: str, split: str, stats: SplitStats, min_keep: float) -> None:
    share = stats.kept / stats.raw if stats.raw else 0.0
    if stats.kept == 0 or share < min_keep:
        reasons = ", ".join(f"{r}={n}" for r, n in stats.dropped.most_common()) or "no rows"
        raise UserError(
            f"dataset {name} [{split}]: only {stats.kept} of {stats.raw} rows survived parsing "
            f"(min_keep_fraction={min_keep}); dropped: {reasons}. Is it in HH format "
            '({"chosen": "\\n\\nHuman: ...\\n\\nAssistant: ...", "rejected": ...})?'
        )


def read_preference_splits(data_args):
    """``(DatasetDict(train, test), {"train": SplitStats, "test": SplitStats})`` without logging."""
    import datasets

    raw = raw_rows(data_args)
    limits = {"train": data_args.max_train_samples, "test": data_args.max_test_samples}
    out, stats = {}, {}
    for split in SPLITS:
        cols, stats[split] = parse_rows(raw[split], limits[split])
        _check_survival(data_args.dataset_name, split, stats[split], data_args.min_keep_fraction)
        out[split] = datasets.Dataset.from_dict(cols)
    return datasets.DatasetDict(out), stats


_REPORTED: set[str] = set()


def format_stats(stats: dict[str, SplitStats]) -> str:
    parts = []
    for split, s in stats.items():
        drops = ", ".join(f"{r}={n}" for r, n in sorted(s.dropped.items())) or "none dropped"
        parts.append(f"{split} kept {s.kept}/{s.raw} ({drops})")
    return "; ".join(parts)


def load_preference_splits(data_args):
    """``DatasetDict`` with ``train`` and ``test``: columns ``prompt`` (messages ending with a user
    turn), ``chosen`` and ``rejected`` (one assistant message each). Logs kept/dropped counts once per
    source; raises :class:`UserError` when a split keeps less than ``min_keep_fraction``."""
    dsd, stats = read_preference_splits(data_args)
    key = f"{data_args.dataset_name}|{data_args.dataset_subsets}"
    if key not in _REPORTED:
        _REPORTED.add(key)
        message = f"data {data_args.dataset_name}: {format_stats(stats)}"
        if logger.hasHandlers():
            logger.info(message)
        else:  # no logging configured (a plain script): still say it once
            print(message, file=sys.stderr)
    return dsd


def _unique_prompts(prompts) -> list:
    seen, out = set(), []
    for p in prompts:
        k = json.dumps(p, sort_keys=True)
        if k not in seen:
            seen.add(k)
            out.append(p)
    return out


def _in_eval_set(prompt, eval_set: str) -> bool:
    """Halve a dataset's test-split prompts into ``dev`` and ``test`` by a stable hash."""
    digest = hashlib.sha1(json.dumps(prompt, sort_keys=True).encode()).digest()
    return (digest[0] % 2 == 0) == (eval_set == "dev")


def _eval_prompt_files(name: str) -> dict[str, Path] | None:
    """The held-out ``{dev,test}_prompts.jsonl[.gz]`` of the bundled testbed or of a folder in its layout (both
    there, at its top level), else None."""
    folder = BUNDLED_DIR if name == BUNDLED else Path(name).expanduser()
    files = {s: _find_split_file(folder, f"{s}_prompts") for s in EVAL_SETS} if folder.is_dir() else {}
    return files if files and all(files.values()) else None


def load_prompts(data_args, split: str = "eval", eval_set: str = "dev"):
    """A ``Dataset`` with one column ``prompt`` (messages ending with a user turn), unique prompts.

    ``eval``: held-out evaluation prompts of ``eval_set`` — ``dev`` (tune on it) or ``test`` (report it,
    touched once per configuration). For the bundled testbed these are its dev/test prompt sets, whose
    subjects occur in no pair (a folder with both ``{dev,test}_prompts.jsonl[.gz]``: those); for other
    sources, the test split's prompts halved by a stable hash.
    Capped by ``max_eval_prompts``. ``train``/``test``: that pair split's prompts.
    """
    import datasets

    if split not in ("eval", *SPLITS):
        raise ValueError(f"split must be one of eval, train, test; got {split!r}")
    if eval_set not in EVAL_SETS:
        raise ValueError(f"eval_set must be one of {', '.join(EVAL_SETS)}; got {eval_set!r}")
    if split == "eval" and (files := _eval_prompt_files(data_args.dataset_name)):
        prompts = [row["prompt"] for _, row in read_jsonl(files[eval_set], ("prompt",))]
    elif split == "eval":
        test = load_preference_splits(data_args)["test"]["prompt"]
        prompts = [p for p in test if _in_eval_set(p, eval_set)]
    else:
        prompts = load_preference_splits(data_args)[split]["prompt"]
    prompts = _unique_prompts(prompts)
    if split == "eval" and data_args.max_eval_prompts is not None:
        prompts = prompts[: data_args.max_eval_prompts]
    return datasets.Dataset.from_dict({"prompt": prompts})


def has_gold(data_args) -> bool:
    """True when the data has a known gold rubric (:func:`rlhf_trl.testbed.gold_score`): the bundled set,
    or a local folder or file whose every pair and evaluation prompt asks a testbed request (a copy of it,
    such as ``docs/analysis/tuning/upweight_kind.py``'s or the sample-pairs stage's folder;
    :func:`rlhf_trl.testbed.gold.covers`). A Hub dataset is never loaded to find out: it has no gold."""
    name = data_args.dataset_name
    if name == BUNDLED:
        return True
    path = Path(name).expanduser()
    if not path.exists():
        return False
    from rlhf_trl.testbed.gold import covers

    # the first pair the parser keeps settles a real dataset without reading it all
    first = next(iter(_folder_files(path, data_args.dataset_subsets)["train"])) if path.is_dir() else path
    if first.name.endswith((".jsonl", ".jsonl.gz")) and not covers(
        parse_rows(read_jsonl(first), 1)[0]["prompt"]
    ):
        return False
    raw = raw_rows(data_args)
    prompt_files = _eval_prompt_files(name) or {}
    return all(covers(parse_rows(raw[s])[0]["prompt"]) for s in SPLITS) and all(
        covers(row["prompt"] for _, row in read_jsonl(f, ("prompt",))) for f in prompt_files.values()
    )
