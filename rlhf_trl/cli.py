"""The `rlhf-trl` command. Each subcommand lives in its own module and parses its own flags;
this file only dispatches, so `rlhf-trl --help` imports nothing heavy."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from rlhf_trl import __version__
from rlhf_trl.errors import run_cli

# name -> (module:function taking argv, one-line description)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "explore-data": (
        "rlhf_trl.data.explore:main",
        "Show what the parser keeps/drops, token lengths, samples.",
    ),
    "demo": ("rlhf_trl.demo:main", "Run reward -> PPO -> GRPO -> DPO -> evaluation -> report end to end."),
    "evaluate": (
        "rlhf_trl.evaluation.harness:main",
        "Judge the reference and every trained policy of a run, or any checkpoints (--models, --compare-runs).",
    ),
    "sample-pairs": (
        "rlhf_trl.data.policy_pairs:main",
        "DPO pairs from a policy's own replies ranked by the reward model (on-policy DPO data).",
    ),
    "report": (
        "rlhf_trl.evaluation.report:main",
        "Write ANALYSIS.md from a run's (or several seeds') evaluation outputs.",
    ),
    "keys": ("rlhf_trl.cli:keys_main", "List the config keys a stage accepts, with their help."),
}


def _parser() -> argparse.ArgumentParser:
    lines = "\n".join(f"  {name:<14}{desc}" for name, (_, desc) in SUBCOMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="rlhf-trl",
        description="Align small language models with PPO, GRPO and DPO; evaluate them side by side.",
        epilog=f"subcommands:\n{lines}\n\n`rlhf-trl SUBCOMMAND --help` shows a subcommand's flags.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"rlhf-trl {__version__}")
    parser.add_argument("subcommand", choices=list(SUBCOMMANDS), metavar="SUBCOMMAND")
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    ns = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    target, _ = SUBCOMMANDS[ns.subcommand]
    module_name, _, func_name = target.partition(":")
    if importlib.util.find_spec(module_name) is None:
        print(f"rlhf-trl {ns.subcommand} is not implemented yet", file=sys.stderr)
        return 1
    func = getattr(importlib.import_module(module_name), func_name)
    return run_cli(func, ns.args) or 0


def keys_main(argv: list[str]) -> int:
    """`rlhf-trl keys STAGE`: every key a stage's section (or the top level) accepts."""
    import dataclasses

    from rlhf_trl.config import SHARED_TYPES, STAGE_CONFIGS, stage_types

    parser = argparse.ArgumentParser(prog="rlhf-trl keys", description=keys_main.__doc__, allow_abbrev=False)
    parser.add_argument("stage", choices=["shared", *STAGE_CONFIGS])
    ns = parser.parse_args(argv)
    types = SHARED_TYPES if ns.stage == "shared" else stage_types(ns.stage)[-1:]
    for cls in types:
        print(f"# {cls.__name__}")
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            help_text = " ".join(str(f.metadata.get("help", "")).split())
            print(f"{f.name} = {default!r}  {help_text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
