"""Which models `rlhf-trl evaluate` judges, under which labels, checked before any of them loads.

Besides the reference, the models come from one of (docs/evaluation.md, "What is evaluated"):

* the run (default): each stage of ``policies`` with a checkpoint in ``run_dir/checkpoints/<stage>``,
  labelled by its stage;
* ``models: [LABEL=PATH, ...]`` (``--models ppo=outputs/a/checkpoints/ppo hub=owner/name``): any model
  folder, LoRA adapter folder, Hub id or ``embedded:NAME``, under a label of the user's choosing;
* ``compare_runs: [DIR, ...]``: each stage checkpoint of each run folder, labelled ``<run>/<stage>``;
* ``checkpoints_of: [STAGE_DIR, ...]``: every saved ``checkpoint-N`` of a stage (``ppo@N``) and its final
  model (``ppo``), the points of its curve along training (all three combine).

A label is shown as given in every table and plot; cache files use :func:`cache_name`, so a label with
"/" or spaces is safe there. The checks here read configs and tokenizers only, never weights, so a wrong
path, label or tokenizer stops the evaluation before the first model loads.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from rlhf_trl.errors import UserError
from rlhf_trl.evaluation.baselines import PATH_PREFIX as BASELINE_PREFIX

REFERENCE = "reference"
MODEL_FILES = ("config.json", "adapter_config.json")
TOKENIZER_FILE = "tokenizer_config.json"
# "|" splits a Markdown table cell, "=" splits LABEL=PATH, a control character (a newline) breaks a line
# of every table; anything else, "/" and spaces included, is shown as given.
_BAD_LABEL = re.compile(r"[|=\x00-\x1f\x7f]")
_SAFE_NAME = re.compile(r"[a-z0-9_-][a-z0-9._-]*")


@dataclass
class ModelSpec:
    name: str  # the label: "reference", a stage, a label from `models`, "<run>/<stage>", a baseline's name
    path: str  # what load_policy gets; "baseline:<name>" for a baseline
    curve: str | None = None  # checkpoints_of: the training run this model is a point of ("ppo")
    step: int | None = None  # ... and its training step (update) there


def label_problem(label: str) -> str | None:
    """Why ``label`` cannot label a model, or None when it can."""
    if not label:
        return "a label must not be empty"
    if label == REFERENCE:
        return "'reference' is the reference model's label"
    if _BAD_LABEL.search(label):
        return f"label {label!r} holds '|', '=' or a control character, which break the report's tables"
    return None


def parse_model_entries(entries) -> list[tuple[str, str]]:
    """``models`` as ``[(label, path)]``: from ``["LABEL=PATH", ...]`` (the command line, or a YAML list)
    or a YAML mapping ``{LABEL: PATH}``. ``ValueError`` naming ``models`` for an entry that is not
    LABEL=PATH, a label :func:`label_problem` rejects, a repeated label or a baseline's path."""
    pairs = []
    if isinstance(entries, dict):
        for label, path in entries.items():
            if not isinstance(path, str):
                raise ValueError(f"models: {label}: the path must be a string, got {path!r}")
            pairs.append((str(label).strip(), path.strip()))
    else:
        for entry in entries:
            label, eq, path = str(entry).partition("=")
            if not eq or not path.strip():
                raise ValueError(f"models: {entry!r} is not LABEL=PATH (e.g. ppo=outputs/a/checkpoints/ppo)")
            pairs.append((label.strip(), path.strip()))
    seen = set()
    for label, path in pairs:
        problem = label_problem(label)
        if problem:
            raise ValueError(f"models: {problem}")
        if label in seen:
            raise ValueError(f"models: label {label!r} is given twice; labels must be unique")
        if path.startswith(BASELINE_PREFIX):
            raise ValueError(f"models: {label}={path}: baselines are chosen with baselines and best_of_n")
        seen.add(label)
    return pairs


def cache_name(label: str) -> str:
    """``label`` as it may appear in a cache file name: itself when it is lower-case letters, digits, ``.``,
    ``_`` and ``-`` (every stage and baseline name, so their caches keep their names), else those
    characters plus a hash of the label (``runA/ppo`` -> ``runa_ppo-<8 hex>``), so two labels never share
    a file, not even on a case-insensitive file system, and no name outgrows a file system's limit."""
    if _SAFE_NAME.fullmatch(label) and len(label) <= 60:
        return label
    slug = re.sub(r"[^a-z0-9._-]+", "_", label.lower()).strip("._")[:40]
    return f"{slug}-{hashlib.sha256(label.encode()).hexdigest()[:8]}"


def file_stamp(path: str) -> str:
    """Names, sizes and mtimes of a folder's files (a cheap change detector); ``path`` itself otherwise."""
    folder = Path(path)
    if not folder.is_dir():
        return path
    return ";".join(
        f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in sorted(folder.iterdir()) if f.is_file()
    )


def adapter_base(folder: Path) -> str | None:
    """The base model a LoRA adapter folder names (``adapter_config.json``), or None for a full model."""
    config = folder / "adapter_config.json"
    if (folder / "config.json").is_file() or not config.is_file():
        return None
    try:
        base = json.loads(config.read_text()).get("base_model_name_or_path")
    except ValueError:
        base = None
    if not isinstance(base, str) or not base:
        raise UserError(f"{config} names no base_model_name_or_path: it is not a LoRA adapter peft can load")
    return base


def model_stamp(path: str) -> str:
    """:func:`file_stamp` of a model, plus its base model's for a LoRA adapter (the merged weights are both)."""
    folder = Path(path)
    base = adapter_base(folder) if folder.is_dir() else None
    return file_stamp(path) if base is None else f"{file_stamp(path)}|base:{file_stamp(base)}"


def _local(path: str) -> Path | None:
    """The folder a model name stands for, resolved, or None for a Hub id (an embedded name stands for
    its converted checkpoint's folder, whether or not it is converted yet)."""
    from rlhf_trl.models import EMBEDDED_PREFIX, cache_dir, is_embedded

    if is_embedded(path):
        return (cache_dir() / path[len(EMBEDDED_PREFIX) :]).resolve()
    folder = Path(path).expanduser()
    return folder.resolve() if folder.is_dir() else None


def _folder(path: str) -> Path | None:
    """``path`` as an existing local folder, or None (a Hub id, an embedded name)."""
    folder = Path(path).expanduser()
    return folder if folder.is_dir() else None


def same_model(a: str, b: str) -> bool:
    """True when two model names/paths are one model: the same string, or the same local folder."""
    if a == b:
        return True
    fa, fb = _local(a), _local(b)
    return fa is not None and fa == fb


def stage_checkpoints(run_dir, stages) -> list[tuple[str, Path]]:
    """``(stage, folder)`` for each of ``stages`` with a full model or a LoRA adapter in
    ``run_dir/checkpoints/<stage>``, in the order of ``stages``."""
    out = []
    for stage in stages:
        folder = Path(run_dir) / "checkpoints" / stage
        if any((folder / f).is_file() for f in MODEL_FILES):
            out.append((stage, folder))
    return out


def discover_models(
    run_dir: str | Path, policies, reference: str, notes: list[str] | None = None
) -> list[ModelSpec]:
    """The reference first, then every stage of ``policies`` whose checkpoint folder exists, except the
    reference's own folder (a run whose policies start from its SFT model is judged against that model)."""
    specs = [ModelSpec(REFERENCE, reference)]
    for stage, folder in stage_checkpoints(run_dir, policies):
        if same_model(str(folder), reference):
            if notes is not None:
                notes.append(f"{stage} is the reference ({reference}): not judged against itself")
            continue
        specs.append(ModelSpec(stage, str(folder)))
    return specs


def compare_run_specs(runs, policies) -> list[ModelSpec]:
    """Every stage checkpoint (of ``policies``) of each run folder, labelled ``<run folder name>/<stage>``."""
    specs, named = [], {}
    for run in runs:
        folder = Path(run).expanduser()
        if not folder.is_dir():
            raise UserError(f"compare_runs: {run} is not a folder")
        name = folder.resolve().name  # "outputs/a/" and "." name their folder, never ""
        if name in named:
            raise UserError(
                f"compare_runs: {named[name]} and {run} are both called {name!r}, so their labels would clash; "
                "label the checkpoints yourself with --models LABEL=PATH ..."
            )
        named[name] = run
        found = stage_checkpoints(folder, policies)
        if not found:
            raise UserError(
                f"compare_runs: {run} has no checkpoint of {', '.join(policies)} under {folder / 'checkpoints'} "
                "(a folder with config.json or adapter_config.json); is it a run folder (outputs/<run>)?"
            )
        for stage, path in found:
            problem = label_problem(f"{name}/{stage}")
            if problem:
                raise UserError(f"compare_runs: {run}: {problem}; rename the folder or use --models")
            specs.append(ModelSpec(f"{name}/{stage}", str(path)))
    return specs


def _final_step(folder: Path) -> int | None:
    """The training step of a stage's final model: ``global_step`` of its metrics.json (every recipe
    writes it last), else of the newest checkpoint's trainer_state.json."""
    from rlhf_trl.checkpoints import latest_checkpoint

    for file in (folder / "metrics.json", (latest_checkpoint(folder) or folder) / "trainer_state.json"):
        try:
            step = json.loads(file.read_text()).get("global_step")
        except (OSError, ValueError):
            continue
        if isinstance(step, int):
            return step
    return None


def checkpoint_specs(folders) -> list[ModelSpec]:
    """Every saved model along the training of each stage folder of ``checkpoints_of``
    (``outputs/<run>/checkpoints/ppo``): its complete ``checkpoint-N`` folders, labelled ``ppo@N``, and
    the final model, labelled ``ppo`` (a checkpoint of the final step is that model: not repeated). The
    curve is named by the folder (``<run>/ppo`` when two folders share a name)."""
    from rlhf_trl.checkpoints import complete_checkpoints

    paths = [Path(f).expanduser() for f in folders]
    for folder, given in zip(paths, folders):
        if not folder.is_dir():
            raise UserError(
                f"checkpoints_of: {given} is not a folder (a stage's outputs/<run>/checkpoints/<stage>)"
            )
    names = [p.resolve().name for p in paths]
    if len(set(names)) < len(names):
        names = [f"{p.resolve().parent.parent.name}/{p.resolve().name}" for p in paths]
    if len(set(names)) < len(names):
        raise UserError(
            f"checkpoints_of: two folders are both called {names[0]!r}; label the checkpoints yourself "
            "with --models LABEL=PATH ..."
        )
    specs = []
    for folder, given, name in zip(paths, folders, names):
        problem = label_problem(name)
        if problem:
            raise UserError(f"checkpoints_of: {given}: {problem}; rename the folder or use --models")
        final = any((folder / f).is_file() for f in MODEL_FILES)
        last = _final_step(folder) if final else None
        points = [
            ModelSpec(f"{name}@{int(c.name.split('-')[1])}", str(c), name, int(c.name.split("-")[1]))
            for c in complete_checkpoints(folder)
            if any((c / f).is_file() for f in MODEL_FILES)
        ]
        points = [p for p in points if p.step != last]
        if final:
            points.append(ModelSpec(name, str(folder), name, last))
        if not points:
            raise UserError(
                f"checkpoints_of: {given} holds no model and no complete checkpoint-N folder; train the stage "
                "with save_strategy: steps (and save_steps) to get points along training"
            )
        specs += points
    return specs


def check_model_path(path: str, where: str) -> None:
    """A local path must exist and hold a model (``config.json``) or a LoRA adapter whose base exists;
    an embedded name must be known. A Hub id passes: its tokenizer is read by :func:`check_tokenizer`."""
    from rlhf_trl.models import EMBEDDED_PREFIX, _gguf_location, is_embedded, resolve_model_path

    try:
        if is_embedded(path):
            _gguf_location(path[len(EMBEDDED_PREFIX) :])
            return
        folder = Path(resolve_model_path(path))
    except UserError as err:
        raise UserError(f"{where}: {err}") from None
    if not folder.exists():
        return
    if not any((folder / f).is_file() for f in MODEL_FILES):
        raise UserError(
            f"{where}: {path} holds no model (no config.json, nor adapter_config.json for a LoRA adapter); "
            "a stage's final model is in outputs/<run>/checkpoints/<stage>"
        )
    try:
        base = adapter_base(folder)
    except UserError as err:
        raise UserError(f"{where}: {err}") from None
    if base is not None:
        check_model_path(base, f"{where}: LoRA adapter whose base_model_name_or_path")


def select_models(cfg, run_dir, reference: str, notes: list[str], reserved=()) -> list[ModelSpec]:
    """The reference first, then ``cfg.models`` and the checkpoints of ``cfg.compare_runs`` when either is
    given, else the run's stages (:func:`discover_models`). ``reserved``: the baselines' names, which no
    model may take. :class:`UserError` for a missing path, a folder without a model, a label given twice,
    or a ``models`` entry that is the reference itself."""
    if not cfg.models and not cfg.compare_runs and not cfg.checkpoints_of:
        return discover_models(run_dir, cfg.policies, reference, notes)
    specs = [ModelSpec(REFERENCE, reference)]
    for label, path in parse_model_entries(cfg.models):
        where = f"models: {label}={path}"
        check_model_path(path, where)
        if same_model(path, reference):
            raise UserError(
                f"{where} is the reference ({reference}), which is judged as 'reference' already; drop it, "
                "or set --reference to the model to compare against"
            )
        specs.append(ModelSpec(label, path))
    for spec in [*compare_run_specs(cfg.compare_runs, cfg.policies), *checkpoint_specs(cfg.checkpoints_of)]:
        if same_model(spec.path, reference):
            notes.append(f"{spec.name} is the reference ({reference}): not judged against itself")
            continue
        specs.append(spec)
    taken = dict.fromkeys(reserved, "a baseline")
    for spec in specs[1:]:
        if spec.name in taken:
            hint = (
                "; drop that baseline (baselines, best_of_n) or pick another label"
                if taken[spec.name] == "a baseline"
                else ""
            )
            raise UserError(
                f"model label {spec.name!r} names both {taken[spec.name]} and {spec.path}; labels must be "
                f"unique{hint}"
            )
        taken[spec.name] = spec.path
    return specs


def _vocab_size(path: str) -> int | None:
    from rlhf_trl.checks import _config

    return getattr(_config(path), "vocab_size", None)


def check_tokenizer(spec: ModelSpec, reference: str, ref_tokenizer, notes: list[str]) -> None:
    """Every model is fed the reference's token ids (one prompt encoding for all; KL compares token
    log-probs), so its tokenizer must be the reference's. A folder without tokenizer files (a LoRA
    adapter: its base's) is read with the reference's tokenizer when the vocabulary sizes agree; a different
    tokenizer, or a different vocabulary size, is a one-line :class:`UserError`. A different chat template
    is only noted: the reference's frames every model's prompts, which may not be what that model was
    trained on."""
    from rlhf_trl.checks import vocabulary_difference
    from rlhf_trl.models import load_tokenizer, resolve_model_path

    where = f"model {spec.name} ({spec.path})"
    folder = _folder(spec.path)
    source = spec.path
    if folder is not None and not (folder / TOKENIZER_FILE).is_file():
        base = adapter_base(folder)
        base_folder = _folder(resolve_model_path(base)) if base else None
        source = base if base and (base_folder is None or (base_folder / TOKENIZER_FILE).is_file()) else None
        if source is None:
            vocab = _vocab_size(str(base_folder or folder))
            ref_folder = _folder(resolve_model_path(reference))
            fits = {len(ref_tokenizer), _vocab_size(str(ref_folder)) if ref_folder else None}
            if vocab is not None and vocab not in fits:
                raise UserError(
                    f"{where}: no tokenizer files, and its vocabulary ({vocab} tokens) differs from the "
                    f"reference's ({len(ref_tokenizer)}, {reference}); save the tokenizer it was trained with "
                    f"into {folder} (tokenizer.save_pretrained)"
                )
            return
    try:
        theirs = load_tokenizer(source)
    except UserError as err:
        raise UserError(f"{where}: {err}") from None
    differ = vocabulary_difference(ref_tokenizer.get_vocab(), theirs.get_vocab())
    if differ is None and theirs.eos_token != ref_tokenizer.eos_token:
        differ = f"EOS {theirs.eos_token!r} vs {ref_tokenizer.eos_token!r}"
    if differ:
        raise UserError(
            f"{where}: its tokenizer differs from the reference's ({differ}, {reference}); every model reads "
            "the reference's token ids, so compare it against a reference with its tokenizer (--reference PATH)"
        )
    if theirs.chat_template != ref_tokenizer.chat_template:
        notes.append(
            f"{spec.name}: its chat template differs from the reference's; its prompts use the reference's"
        )
