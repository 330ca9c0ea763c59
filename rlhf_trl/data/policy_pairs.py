"""Preference pairs from a policy's own replies, ranked by a reward model (or the testbed's gold rubric): data
for on-policy DPO.

``rlhf-trl sample-pairs --config FILE --output_dir DIR [--policy PATH] [--reward_model_path PATH]
[--train_prompts 256] [--replies 4] [--rank_by reward_model|gold]`` draws ``train_prompts`` unique training
prompts (the config's ``seed``), samples ``replies`` replies to each from the policy with the ``evaluation:``
section's sampling settings (temperature, ``max_new_tokens``, top-k/top-p, ``do_sample``, ``batch_size``,
``bf16``), scores them with the reward model (in fp32, as the evaluation does), and writes the highest- against
the lowest-scored reply of each prompt as one HH-format pair.

``--rank_by gold`` (the bundled testbed or a copy of it only) ranks the replies by the testbed's gold rubric
instead: its documented "human" labels the policy's own replies, as annotators label model samples in online
RLHF data collection (Bai et al. 2022). It costs ``train_prompts`` × ``replies`` labels and needs no reward
model; it asks how far DPO gets when the ranking is the human's rather than the reward model's. Prompts whose
replies all score the same carry no preference and are dropped (``tied_scores``). Outputs:

* ``DIR/train.jsonl`` — the pairs. A prompt is dropped, and counted, when fewer than two of its replies are
  non-empty, when its best and worst reply are the same text (after the parser's whitespace strip), or when
  the pair would not survive the HH parser (a reply holding a ``\\n\\nHuman:`` marker), or when its replies all
  score the same;
* ``DIR/test.jsonl`` — the source's parsed test split written back (capped by ``max_test_samples``), so
  DPO's test-pair accuracy is read on the usual pairs;
* ``DIR/replies.jsonl`` — what the ranker saw: per prompt (in sampling order) its ``replies``, their
  ``scores`` (the reward model's, or gold's) and whether a pair was ``kept``; not read by the loaders;
* ``DIR/pairs.json`` — what was done: settings, counts, the mean reward-model score of chosen and rejected
  (and, on the bundled testbed or a copy of it, their gold scores: how often the reward model's order is the gold's).
  Ranked by gold (``ranked_by: gold``) it holds no reward-model scores, and gold's order is the ranking itself.

Train on them with ``recipes/dpo.py --dataset_name DIR`` (one round of iterative/online DPO; Xu et al. 2024,
"Is DPO superior to PPO for LLM alignment?"). The policy defaults to the evaluation's reference (with
``sft`` in ``demo.stages``: the run's SFT model), the reward model to the run's ``checkpoints/reward``.
On the testbed, dev run 16 (docs/analysis/tuning/prototype_v2_seed44_dpo_onpolicy/) measured what it buys.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

from rlhf_trl.errors import UserError
from rlhf_trl.evaluation.sampling import SAMPLING_KEYS

DEFAULT_PROMPTS, DEFAULT_REPLIES = 256, 4
# --rank_by: the run's reward model, or the testbed's gold rubric (its "human")
RANKERS = ("reward_model", "gold")
# the replies' sampling seeds: the config's seed shifted, so they share no stream with the evaluation's
SEED_SHIFT = 7_000_000
# the evaluation keys that apply here (its sampling settings, the policy, the reward model); any other
# evaluation key given as a flag is refused
APPLIES = (
    *(k for k in SAMPLING_KEYS if k != "prompt_set"),
    "bf16",
    "reference",
    "reference_model",
    "reward_model_path",
)


def require_gold_rubric(data_args, option: str, instead: str) -> None:
    """Ranking by gold needs the testbed's rubric: refuse ``option`` on data that is not the bundled testbed or
    a copy of it, naming ``instead``."""
    from rlhf_trl.data import has_gold

    if not has_gold(data_args):
        raise UserError(
            f"{option} needs the testbed's gold rubric, and {data_args.dataset_name} is not the bundled testbed "
            f"or a copy of it; {instead}"
        )


def pick_pairs(prompts: list[list[dict]], replies: list[list[str]], scores: list[list[float]]):
    """``(pairs, dropped)``: per prompt ``i`` the highest-scored of ``replies[k][i]`` against the lowest, as
    ``(i, chosen, rejected, chosen_score, rejected_score)``, and the drop counts by reason. Empty replies do
    not compete; a prompt is dropped when fewer than two remain (``too_few_replies``) or when the HH parser
    would drop the pair, with the parser's reason (best and worst the same text once stripped:
    ``identical_final_replies``), or when every reply scores the same (``tied_scores``: no preference, which
    a rubric with few distinct values gives often): the loaders must read back exactly these pairs."""
    from rlhf_trl.data.parser import HHParseError, parse_hh_pair

    pairs, dropped = [], {}
    for i, prompt in enumerate(prompts):
        cands = [(scores[k][i], replies[k][i]) for k in range(len(replies)) if replies[k][i].strip()]
        best = max(cands, key=lambda c: c[0], default=None)
        worst = min(cands, key=lambda c: c[0], default=None)
        if len(cands) < 2:
            reason = "too_few_replies"
        elif best[0] == worst[0]:
            reason = "tied_scores"
        else:
            try:
                parse_hh_pair(**hh_row(prompt, best[1], worst[1]))
                pairs.append((i, best[1], worst[1], best[0], worst[0]))
                continue
            except HHParseError as err:
                reason = err.reason
        dropped[reason] = dropped.get(reason, 0) + 1
    return pairs, dropped


def hh_row(prompt: list[dict], chosen: str, rejected: str) -> dict:
    from rlhf_trl.data.parser import to_transcript

    return {
        "chosen": to_transcript([*prompt, {"role": "assistant", "content": chosen}]),
        "rejected": to_transcript([*prompt, {"role": "assistant", "content": rejected}]),
    }


def _parse(argv: list[str]):
    import dataclasses

    from rlhf_trl.evaluation.config import EvaluationConfig

    parser = argparse.ArgumentParser(prog="rlhf-trl sample-pairs", add_help=False, allow_abbrev=False)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--policy")
    parser.add_argument("--train_prompts", type=int, default=DEFAULT_PROMPTS)
    parser.add_argument("--replies", type=int, default=DEFAULT_REPLIES)
    parser.add_argument("--rank_by", default="reward_model")
    own, rest = parser.parse_known_args(argv)
    evaluation_keys = {f.name for f in dataclasses.fields(EvaluationConfig)}
    for token in rest:
        key = token[2:].split("=")[0] if token.startswith("--") else None
        if key in evaluation_keys and key not in APPLIES:
            raise UserError(
                f"--{key} is an evaluation setting sample-pairs does not use; of the evaluation's keys it takes "
                f"{', '.join('--' + k for k in APPLIES)}"
            )
    if own.train_prompts < 1:
        raise UserError(f"--train_prompts must be at least 1; got {own.train_prompts}")
    if own.rank_by not in RANKERS:
        raise UserError(f"--rank_by must be one of {', '.join(RANKERS)}; got {own.rank_by!r}")
    if own.replies < 2:
        raise UserError(f"--replies must be at least 2 (a pair needs two replies to rank); got {own.replies}")
    out = Path(own.output_dir)
    if out.is_file() or (out.exists() and any(out.iterdir())):
        raise UserError(
            f"--output_dir {out} exists and is not an empty folder; name a new one (nothing was written)"
        )
    return own, rest


def sample_pairs(
    recipe_args,
    out: Path,
    policy: str | None,
    num_prompts: int,
    n_replies: int,
    rank_by: str = "reward_model",
) -> dict:
    """Write ``out/train.jsonl``, ``out/test.jsonl``, ``out/replies.jsonl`` and ``out/pairs.json``; return the
    summary."""
    import dataclasses

    from rlhf_trl.data import has_gold, load_preference_splits
    from rlhf_trl.data.loaders import _unique_prompts
    from rlhf_trl.evaluation.harness import default_reference, reward_model_folder
    from rlhf_trl.evaluation.model_specs import check_model_path
    from rlhf_trl.evaluation.sampling import sample_candidates, torch_device
    from rlhf_trl.judges import RewardModelJudge
    from rlhf_trl.models import load_causal_lm, load_tokenizer
    from rlhf_trl.testbed import gold_score

    cfg, run_dir = recipe_args.stage, Path(recipe_args.run.run_dir)
    policy = policy or cfg.reference_model or default_reference(recipe_args, run_dir)
    check_model_path(policy, "the policy to sample")
    rm = reward_model_folder(cfg, run_dir) if rank_by == "reward_model" else None
    labelled = has_gold(recipe_args.data)
    if rank_by == "gold":
        require_gold_rubric(
            recipe_args.data, "--rank_by gold", "rank by the reward model (--rank_by reward_model)"
        )
    if rm is not None and not (rm / "config.json").is_file():
        raise UserError(
            f"no reward model at {rm} (no config.json): train one (recipes/reward.py) or name it with "
            "--reward_model_path PATH"
        )
    splits = load_preference_splits(recipe_args.data)  # once: the train prompts and the test pairs
    available = _unique_prompts(splits["train"]["prompt"])  # what load_prompts(data, "train") holds
    if num_prompts > len(available):
        raise UserError(
            f"--train_prompts {num_prompts} but the training split of {recipe_args.data.dataset_name} has "
            f"{len(available)} unique prompts; ask for at most that many"
        )
    prompts = random.Random(cfg.seed).sample(available, num_prompts)
    test = splits["test"]

    dtype = recipe_args.model.dtype
    tokenizer = load_tokenizer(policy)
    model = load_causal_lm(policy, tokenizer, dtype=dtype).to(torch_device()).eval()
    sampling = dataclasses.replace(cfg, seed=cfg.seed + SEED_SHIFT)
    replies = [None] * n_replies
    ks, desc = list(range(n_replies)), f"sample {n_replies} replies per prompt"
    for k, rows in sample_candidates(model, tokenizer, prompts, sampling, ks, desc=desc):
        replies[k] = [r["response"] for r in rows]
    del model
    if rank_by == "gold":
        scores = [[gold_score(p, t) for p, t in zip(prompts, texts)] for texts in replies]
    else:
        judge = RewardModelJudge(str(rm), batch_size=cfg.batch_size)  # fp32, as the evaluation scores
        scores = [judge.score(prompts, texts) for texts in replies]
    pairs, dropped = pick_pairs(prompts, replies, scores)
    if not pairs:
        raise UserError(
            f"all {num_prompts} prompts were dropped ({dropped}): their replies do not differ, or all score the "
            "same; raise the temperature or --replies"
        )

    summary = {
        "policy": policy,
        "ranked_by": rank_by,
        "reward_model": str(rm) if rm is not None else None,
        "dataset": recipe_args.data.dataset_name,
        "seed": cfg.seed,
        "train_prompts": num_prompts,
        "replies_per_prompt": n_replies,
        "sampling": {
            **{k: getattr(cfg, k) for k in SAMPLING_KEYS if k not in ("prompt_set", "seed")},
            **{"bf16": bool(cfg.bf16), "dtype": dtype},
        },
        "pairs": len(pairs),
        "dropped": dropped,
    }
    if rm is not None:
        summary["chosen_reward_mean"] = sum(p[3] for p in pairs) / len(pairs)
        summary["rejected_reward_mean"] = sum(p[4] for p in pairs) / len(pairs)
    if labelled:
        if rm is None:  # ranked by gold: the pairs hold their gold scores already
            gold = [(c, r) for _, _, _, c, r in pairs]
        else:
            gold = [(gold_score(prompts[i], c), gold_score(prompts[i], r)) for i, c, r, _, _ in pairs]
        summary["gold"] = {
            "chosen_mean": sum(c for c, _ in gold) / len(gold),
            "rejected_mean": sum(r for _, r in gold) / len(gold),
            "same_order": sum(c > r for c, r in gold),
            "tied": sum(c == r for c, r in gold),
            "reversed": sum(c < r for c, r in gold),
        }

    # written to a sibling temporary folder and renamed: an interrupted run leaves no half-written DIR
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        with open(tmp / "train.jsonl", "w") as f:
            f.writelines(json.dumps(hh_row(prompts[i], c, r)) + "\n" for i, c, r, _, _ in pairs)
        kept = {i for i, *_ in pairs}
        with open(tmp / "replies.jsonl", "w") as f:  # what the ranker saw: every reply and its score
            for i, prompt in enumerate(prompts):
                row = {
                    "prompt": prompt,
                    "replies": [texts[i] for texts in replies],
                    "scores": [float(by_reply[i]) for by_reply in scores],
                    "kept": i in kept,
                }
                f.write(json.dumps(row) + "\n")
        with open(tmp / "test.jsonl", "w") as f:
            for row in test:
                pair = hh_row(row["prompt"], row["chosen"][0]["content"], row["rejected"][0]["content"])
                f.write(json.dumps(pair) + "\n")
        (tmp / "pairs.json").write_text(json.dumps(summary, indent=2) + "\n")
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the folder is the user's data
        if out.exists():
            out.rmdir()  # empty, checked before sampling
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def main(argv: list[str] | None = None) -> int:
    """``rlhf-trl sample-pairs --config FILE --output_dir DIR [--policy PATH] [--reward_model_path PATH]
    [--train_prompts 256] [--replies 4] [--rank_by reward_model|gold] [--seed N]`` — DPO pairs from a policy's
    own replies ranked by the reward model (or, on the bundled testbed, ``--rank_by gold``: by its gold rubric,
    the testbed's "human"); train with ``recipes/dpo.py --dataset_name DIR`` (docs/recipes.md, "On-policy
    pairs").

    Reads the config's shared keys (``run_dir``, ``dataset_name``, ``dtype``, …) and the sampling settings of
    its ``evaluation:`` section; of the evaluation's keys these are also flags: ``--seed`` (picks the prompts
    and the samples), ``--reference`` / ``--reference_model`` (the default policy), ``--reward_model_path``,
    ``--max_new_tokens``, ``--temperature``, ``--top_k``, ``--top_p``, ``--do_sample``, ``--batch_size``,
    ``--bf16``. ``--policy`` defaults to the evaluation's reference, the reward model to
    ``run_dir/checkpoints/reward``.
    """
    from rlhf_trl.config import parse_recipe_args

    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        print(main.__doc__)
        return 0
    own, rest = _parse(argv)
    if own.rank_by == "gold" and any(t.split("=")[0] == "--reward_model_path" for t in rest):
        raise UserError(
            "--reward_model_path is not read with --rank_by gold (gold ranks the replies); drop one"
        )
    args = parse_recipe_args("evaluation", rest)
    if int(os.environ.get("RANK", "0")) != 0:  # launched with several processes: rank 0 does the work
        return 0
    summary = sample_pairs(
        args, Path(own.output_dir), own.policy, own.train_prompts, own.replies, own.rank_by
    )
    dropped = ", ".join(f"{k}={v}" for k, v in summary["dropped"].items()) or "none"
    line = (
        f"sample-pairs: {summary['pairs']} pairs of {summary['train_prompts']} prompts (dropped: {dropped})"
    )
    g = summary.get("gold")
    if own.rank_by == "gold":
        line += f"; ranked by gold: {g['chosen_mean']:.3f} chosen vs {g['rejected_mean']:.3f} rejected"
    else:
        line += (
            f"; reward model {summary['chosen_reward_mean']:.2f} chosen vs "
            f"{summary['rejected_reward_mean']:.2f} rejected"
        )
        if g is not None:
            line += (
                f"; gold orders {g['same_order']} the same way, {g['tied']} tied, {g['reversed']} reversed"
            )
    print(f"{line} -> {own.output_dir}")
    return 0


if __name__ == "__main__":
    from rlhf_trl.errors import run_cli

    sys.exit(run_cli(main))
