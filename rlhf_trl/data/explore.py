"""`rlhf-trl explore-data --config FILE [--json] [--max_length N] [--split train|test]`.

Shows what the parser kept and dropped (by reason), token-length percentiles of prompt / chosen /
rejected with the configured tokenizer (chat template applied, as the trainers see them), the share of
pairs longer than ``--max_length`` and the share whose chosen and rejected become *identical* once
truncated to it (such pairs carry no signal: the DPO/reward loss sits at ln 2), and three sample rows
rendered through the chat template. ``--json`` prints the same as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys

PERCENTILES = (50, 90, 95, 99, 100)


def _percentiles(values: list[int]) -> dict[str, int]:
    if not values:
        return {}
    ordered = sorted(values)
    out = {}
    for p in PERCENTILES:
        idx = min(len(ordered) - 1, max(0, int(round(p / 100 * (len(ordered) - 1)))))
        out["max" if p == 100 else f"p{p}"] = ordered[idx]
    return out


def _ids(tokenizer, messages: list[dict], generation_prompt: bool) -> list[int]:
    out = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=generation_prompt)
    if isinstance(out, dict) or hasattr(out, "keys"):  # BatchEncoding in newer transformers
        out = out["input_ids"]
    return list(out)


def length_stats(dataset, tokenizer, max_length: int) -> dict:
    """Token lengths (prompt, chosen, rejected completions) and truncation effects at ``max_length``."""
    lengths: dict[str, list[int]] = {"prompt": [], "chosen": [], "rejected": []}
    truncated = identical = 0
    for row in dataset:
        prompt_ids = _ids(tokenizer, row["prompt"], True)
        full = {k: _ids(tokenizer, row["prompt"] + row[k], False) for k in ("chosen", "rejected")}
        lengths["prompt"].append(len(prompt_ids))
        for k in ("chosen", "rejected"):
            lengths[k].append(max(0, len(full[k]) - len(prompt_ids)))
        if max(len(full["chosen"]), len(full["rejected"])) > max_length:
            truncated += 1
            if full["chosen"][:max_length] == full["rejected"][:max_length]:
                identical += 1
    n = max(1, len(dataset))
    return {
        "rows": len(dataset),
        "max_length": max_length,
        "tokens": {k: _percentiles(v) for k, v in lengths.items()},
        "share_truncated": truncated / n,
        "share_identical_after_truncation": identical / n,
    }


def explore(
    data_args, model_name_or_path: str, max_length: int = 512, split: str = "train", n_samples: int = 3
):
    """Everything explore-data reports, as one dict (the ``--json`` output)."""
    from rlhf_trl.data.loaders import read_preference_splits
    from rlhf_trl.models import load_tokenizer

    dsd, stats = read_preference_splits(data_args)
    tokenizer = load_tokenizer(model_name_or_path)
    ds = dsd[split]
    step = max(1, len(ds) // n_samples)
    samples = []
    for i in range(0, min(len(ds), step * n_samples), step):
        row = ds[i]
        samples.append(
            {
                "index": i,
                "chosen_rendered": tokenizer.apply_chat_template(
                    row["prompt"] + row["chosen"], tokenize=False
                ),
                "rejected_reply": row["rejected"][0]["content"],
            }
        )
    return {
        "dataset_name": data_args.dataset_name,
        "model_name_or_path": model_name_or_path,
        "splits": {k: v.as_dict() for k, v in stats.items()},
        "multi_turn_share": sum(len(p) > 1 for p in ds["prompt"]) / max(1, len(ds)),
        "split": split,
        "lengths": length_stats(ds, tokenizer, max_length),
        "samples": samples,
    }


def format_report(report: dict) -> str:
    lines = [f"dataset: {report['dataset_name']}   tokenizer: {report['model_name_or_path']}"]
    for split, s in report["splits"].items():
        drops = ", ".join(f"{r}={n}" for r, n in s["dropped"].items() if n) or "none"
        lines.append(f"  {split:<5} raw {s['raw']:>7}  kept {s['kept']:>7}  dropped: {drops}")
    lens = report["lengths"]
    lines.append(f"\ntoken lengths ({report['split']}, {lens['rows']} rows; chat template applied):")
    keys = list(next(iter(lens["tokens"].values()), {}).keys())
    lines.append(f"  {'':<9}" + "".join(f"{k:>7}" for k in keys))
    for name, pct in lens["tokens"].items():
        lines.append(f"  {name:<9}" + "".join(f"{pct[k]:>7}" for k in keys))
    lines.append(
        f"  multi-turn prompts: {report['multi_turn_share']:.1%}\n"
        f"  longer than max_length={lens['max_length']}: {lens['share_truncated']:.1%}; "
        f"chosen == rejected after truncation: {lens['share_identical_after_truncation']:.1%}"
    )
    for s in report["samples"]:
        lines.append(f"\n--- sample {s['index']} (chosen, rendered) ---\n{s['chosen_rendered'].rstrip()}")
        lines.append(f"--- rejected reply ---\n{s['rejected_reply']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="rlhf-trl explore-data",
        allow_abbrev=False,
        usage="rlhf-trl explore-data --config FILE [--json] [--max_length N] [--split train|test] [--KEY VALUE ...]",
        description=__doc__.split("\n\n")[1],
        epilog="--config FILE (a recipe config) and any shared key (--dataset_name, --model_name_or_path, "
        "...; `rlhf-trl keys shared`) pick the data and the tokenizer.",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--max_length", type=int, default=512, help="truncation length to check (tokens)")
    parser.add_argument("--split", choices=["train", "test"], default="train")
    ns, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if ns.max_length < 1:
        parser.error("--max_length must be >= 1")

    from rlhf_trl.config import parse_recipe_args

    # Any shared key (--dataset_name, --model_name_or_path, ...) may follow --config on the line.
    args = parse_recipe_args("evaluation", rest, command="explore-data", own_flags=tuple(vars(ns)))
    report = explore(args.data, args.model.model_name_or_path, ns.max_length, ns.split)
    print(json.dumps(report, indent=None if ns.json else 2) if ns.json else format_report(report))
    return 0


if __name__ == "__main__":
    from rlhf_trl.errors import run_cli

    sys.exit(run_cli(main))
