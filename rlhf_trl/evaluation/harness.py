"""`rlhf-trl evaluate --config FILE`: judge the reference and every trained policy of a run, or any
checkpoints (``--models LABEL=PATH ...``, ``--compare-runs DIR ...``, ``--checkpoints-of STAGE_DIR ...``).

Steps (each model sees the same prompts, sampling settings and per-batch seeds):

1. select models (rlhf_trl.evaluation.model_specs): the reference (``model_name_or_path`` or
   ``reference_model``), then each stage in ``policies`` that has a checkpoint in
   ``run_dir/checkpoints/<stage>``, or the ``models``, ``compare_runs`` and ``checkpoints_of`` given
   (rlhf_trl.evaluation.model_specs); every path, label and
   tokenizer is checked before any model loads;
2. sample: batched generation; for a policy also KL(π‖π_ref) per prompt on its own samples
   (Σ_t log π − log π_ref over generated tokens, both at the sampling temperature; not under
   top-k/top-p; rlhf_trl.evaluation.sampling); then the baselines
   (``rlhf_trl.evaluation.baselines``): trivial policies from the prompts, the reference's samples and
   the train split, and best-of-n from extra reference samples picked by the reward model;
3. score: proxy reward (the run's reward model) and gold score (the dataset's rubric);
4. judge: win/tie/loss of every policy and baseline vs the reference for each judge;
5. write ``run_dir/evaluation/`` (``output_dir/evaluation/`` when given): metrics.json, samples.jsonl,
   side_by_side.md, report.md, PNG plots.

Steps 2–4 are cached per model under ``evaluation/cache/`` with a fingerprint of everything
they depend on (settings, prompts, checkpoint files), a pairwise judge's answers one question at a time
(rlhf_trl.evaluation.pairwise); ``recompute: true`` (``--recompute``) redoes them.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

from rlhf_trl.errors import UserError
from rlhf_trl.evaluation.cache import Cache, fingerprint, sampling_code_hash
from rlhf_trl.evaluation.model_specs import (  # noqa: F401 (ModelSpec, discover_models: re-exported)
    REFERENCE,
    ModelSpec,
    cache_name,
    check_model_path,
    check_tokenizer,
    discover_models,
    model_stamp,
    select_models,
)
from rlhf_trl.evaluation.sampling import (
    SAMPLING_KEYS,
    best_of_n_rows,
    kl_is_scored,
    sample_candidates,
    sample_model,
    torch_device,
)
from rlhf_trl.training import prompts_within_context


@contextlib.contextmanager
def _timed(what: str):
    """``[evaluate] WHAT (Ns)`` on stderr when the block is done: compact progress of the slow steps."""
    start = time.perf_counter()
    yield
    print(f"[evaluate] {what} ({time.perf_counter() - start:.0f}s)", file=sys.stderr)


def load_policy(path: str, tokenizer, dtype: str):
    """A causal LM; a LoRA adapter folder is loaded on its base model and merged."""
    from rlhf_trl.models import _fit_vocab, _torch_dtype, count_positions_from_mask, load_causal_lm

    if (Path(path) / "adapter_config.json").is_file() and not (Path(path) / "config.json").is_file():
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(path, dtype=_torch_dtype(dtype)).merge_and_unload()
        # as load_causal_lm does for a full model: the pad id, and positions counted from the mask
        _fit_vocab(model, tokenizer)
        return count_positions_from_mask(model)
    return load_causal_lm(path, tokenizer, dtype=dtype)


def default_reference(recipe_args, run_dir: Path) -> str:
    """The run's starting point, the reference when none is named: with ``sft`` in the config's
    ``demo.stages`` every policy of the chain starts from ``run_dir/checkpoints/sft`` (the demo passes
    the same folder as ``--reference_model``), otherwise ``model_name_or_path``."""
    import yaml

    path = recipe_args.config_path
    sections = (yaml.safe_load(Path(path).read_text()) or {}) if path else {}
    if "sft" not in ((sections.get("demo") or {}).get("stages") or []):
        return recipe_args.model.model_name_or_path
    sft = run_dir / "checkpoints" / "sft"
    if not (sft / "config.json").is_file():
        raise UserError(
            f"{path}: demo.stages has sft, so the reference is the SFT model {sft}, which does not exist; "
            f"train it (rlhf-trl demo --config {path} --stages sft) or name a model with --reference PATH"
        )
    return str(sft)


def reward_model_folder(cfg, run_dir: Path) -> Path:
    """The proxy reward model: ``reward_model_path``, else the run's ``checkpoints/reward``. One model
    scores every evaluated model, from whichever run (``models``, ``compare_runs``) each comes."""
    return Path(cfg.reward_model_path or run_dir / "checkpoints" / "reward")


def build_score_judges(cfg, run_dir: Path, data_args, notes: list[str]):
    """name -> a zero-argument factory for each score judge that applies to this run."""
    from rlhf_trl import judges

    out = {}
    if "reward_model" in cfg.judges:
        rm = reward_model_folder(cfg, run_dir)
        if (rm / "config.json").is_file():
            out["reward_model"] = (
                lambda: judges.RewardModelJudge(
                    str(rm), batch_size=cfg.batch_size, tie_margin=cfg.tie_margin
                ),
                model_stamp(str(rm)),
            )
        elif cfg.reward_model_path:
            raise UserError(f"reward_model_path {rm} has no config.json")
        else:
            notes.append(f"reward_model judge skipped: no reward model at {rm}")
    if "gold" in cfg.judges:
        from rlhf_trl.data import has_gold

        if has_gold(data_args):
            from rlhf_trl.testbed.gold import rubric_hash

            # the stamp keys the score cache: a changed rubric or bank recomputes the gold scores
            stamp = f"{data_args.dataset_name}|gold:{rubric_hash()}"
            out["gold"] = (lambda: judges.GoldJudge(tie_margin=cfg.tie_margin), stamp)
        else:
            notes.append(f"gold judge skipped: dataset {data_args.dataset_name!r} has no gold rubric")
    return out


def load_judge_test_pairs(data_args, n: int) -> tuple[list[list[dict]], list[str], list[str]]:
    """The first ``n`` pairs of the preference test split as ``(prompts, chosen, rejected)``, on which
    the local LM judge's accuracy is measured."""
    from rlhf_trl.data import load_preference_splits

    test = load_preference_splits(data_args)["test"]
    test = test.select(range(min(n, len(test))))

    def text(reply):
        return reply[-1]["content"] if isinstance(reply, list) else reply

    return (
        [list(p) for p in test["prompt"]],
        [text(c) for c in test["chosen"]],
        [text(r) for r in test["rejected"]],
    )


def load_eval_prompts(data_args, cfg) -> list[list[dict]]:
    from rlhf_trl.data import load_prompts

    if cfg.prompt_set == "train":  # the training pairs' prompts, in the split's order (not held out)
        ds = load_prompts(data_args, split="train")
    else:
        ds = load_prompts(data_args, split="eval", eval_set=cfg.prompt_set)
    prompts = [list(p) for p in ds["prompt"]]
    if cfg.num_prompts is not None:
        prompts = prompts[: cfg.num_prompts]
    if not prompts:
        raise UserError(f"dataset {data_args.dataset_name!r} gave no evaluation prompts")
    return prompts


# ------------------------------------------------------------------------------------------ baselines


def baseline_specs(cfg) -> list[ModelSpec]:
    """The trivial policies of ``cfg.baselines``, then ``bon<n>`` for each n of ``cfg.best_of_n``."""
    from rlhf_trl.evaluation.baselines import PATH_PREFIX

    names = [*cfg.baselines, *(f"bon{n}" for n in sorted(cfg.best_of_n))]
    return [ModelSpec(name, PATH_PREFIX + name) for name in names]


def check_best_of_n(cfg, score_judges: dict, run_dir: Path) -> None:
    if not cfg.best_of_n or "reward_model" in score_judges:
        return
    if "reward_model" not in cfg.judges:
        raise UserError(
            f"best_of_n {cfg.best_of_n}: the proxy's favourite needs the reward_model judge; add it to "
            "judges or set best_of_n: []"
        )
    rm = reward_model_folder(cfg, run_dir)
    raise UserError(
        f"best_of_n {cfg.best_of_n}: needs a reward model, none at {rm}; train the reward stage, set "
        "reward_model_path, or set best_of_n: []"
    )


def load_train_pairs(data_args) -> tuple[list[list[dict]], list[str]]:
    """Prompts and chosen replies of the training split (for ``nearest_train_chosen``)."""
    from rlhf_trl.data import load_preference_splits

    train = load_preference_splits(data_args)["train"]
    chosen = [c[-1]["content"] if isinstance(c, list) else c for c in train["chosen"]]
    return [list(p) for p in train["prompt"]], chosen


def _token_counts(tokenizer, texts: list[str]) -> list[int]:
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def trivial_baseline_rows(names, prompts, reference_rows, tokenizer, train) -> dict[str, list[dict]]:
    """Sample rows (as :func:`sample_model`'s) of each trivial policy in ``names``; ``train`` is
    :func:`load_train_pairs`'s result or None. KL is None: a fixed string rule is no distribution over
    the reference's samples, and its KL to π_ref would be infinite or undefined."""
    from rlhf_trl.evaluation.baselines import trivial_responses

    train_prompts, train_chosen = train or (None, None)
    out = {}
    for name in names:
        texts = trivial_responses(
            name,
            prompts,
            reference_responses=[r["response"] for r in reference_rows],
            train_prompts=train_prompts,
            train_chosen=train_chosen,
        )
        out[name] = [
            {"response": t, "length": n, "ended_with_eos": False, "kl": None, "kl_analytic": None}
            for t, n in zip(texts, _token_counts(tokenizer, texts))
        ]
    return out


# ----------------------------------------------------------------------------------------- evaluate


def evaluate(recipe_args, prompts: list[list[dict]] | None = None) -> dict:
    """Run the whole evaluation for ``recipe_args`` (from ``parse_recipe_args("evaluation", ...)``).

    ``prompts`` overrides the dataset's held-out prompts (tests). Returns the metrics.json content.
    """
    import gc

    from transformers.utils import logging as hf_logging

    from rlhf_trl.evaluation import metrics as eval_metrics
    from rlhf_trl.evaluation import outputs
    from rlhf_trl.evaluation.pairwise import pairwise_step
    from rlhf_trl.evaluation.stats import outcome_from_scores
    from rlhf_trl.models import load_causal_lm, load_tokenizer

    hf_logging.disable_progress_bar()  # per-file "Loading weights" bars would bury ours
    cfg, run_dir = recipe_args.stage, Path(recipe_args.run.run_dir)
    dtype = recipe_args.model.dtype
    reference = cfg.reference_model or default_reference(recipe_args, run_dir)
    # --models/--compare-runs write to output_dir and read no run's logs; a run's own evaluation may be
    # written elsewhere too, and still shows that run's training curves
    chosen = bool(cfg.models or cfg.compare_runs or cfg.checkpoints_of)
    root = Path(cfg.output_dir) if cfg.output_dir else run_dir
    notes: list[str] = []
    # User mistakes surface before any model loads.
    specs = select_models(cfg, run_dir, reference, notes, reserved=[s.name for s in baseline_specs(cfg)])
    if len(specs) == 1 and not chosen:
        notes.append(
            f"no trained policy found under {run_dir / 'checkpoints'} (looked for {', '.join(cfg.policies)})"
        )
    score_judges = build_score_judges(cfg, run_dir, recipe_args.data, notes)
    check_best_of_n(cfg, score_judges, run_dir)
    if "local_lm" in cfg.judges:  # it loads only after sampling: a wrong path must not wait for that
        from rlhf_trl import EMBEDDED_MODEL

        check_model_path(cfg.judge_model or EMBEDDED_MODEL, "judge_model")
    if prompts is None:
        prompts = load_eval_prompts(recipe_args.data, cfg)
    train = load_train_pairs(recipe_args.data) if "nearest_train_chosen" in cfg.baselines else None
    judge_pairs = None
    if "local_lm" in cfg.judges and cfg.judge_accuracy_pairs:
        judge_pairs = load_judge_test_pairs(recipe_args.data, cfg.judge_accuracy_pairs)
    tokenizer = load_tokenizer(reference)
    for spec in specs[1:]:
        check_tokenizer(spec, reference, tokenizer, notes)
    prompts, fitted = prompts_within_context(prompts, tokenizer, reference, cfg.max_new_tokens)
    for what, n in fitted.items():
        if n:
            notes.append(
                f"{n} prompts {what} to fit {reference}'s context with {cfg.max_new_tokens} new tokens"
            )
    if "reward_model" in score_judges and chosen:
        notes.append(
            f"proxy reward: every model is scored by the reward model at {reward_model_folder(cfg, run_dir)}"
        )
    out_dir = outputs.evaluation_dir(root, cfg.prompt_set)
    cache = Cache(out_dir / "cache", enabled=not cfg.recompute)
    settings = {k: getattr(cfg, k) for k in SAMPLING_KEYS}
    # recorded only when not the default, so an fp32 report's settings (and metrics.json) read as before;
    # dtype is in every sample fingerprint anyway, settings["dtype"] lets `report --runs` compare it
    if cfg.bf16:
        settings["bf16"] = True
    if dtype != "float32":
        settings["dtype"] = dtype
    # each prompt k times in a row, k draws; statistics average them per prompt (metrics.build_metrics)
    if cfg.samples_per_prompt > 1:
        prompts = [p for p in prompts for _ in range(cfg.samples_per_prompt)]
        settings["samples_per_prompt"] = cfg.samples_per_prompt
    prompts_fp = fingerprint(prompts)
    code = sampling_code_hash()
    device = torch_device()

    # 1-2. sample every model (reference stays loaded: it scores every policy's samples for KL)
    samples: dict[str, list[dict]] = {}
    ref_model = None
    for spec in specs:
        key = f"samples_{cache_name(spec.name)}"
        fp = fingerprint(settings, dtype, prompts_fp, code, model_stamp(spec.path), model_stamp(reference))
        rows = cache.get(key, fp)
        if rows is not None:
            print(f"[evaluate] {spec.name}: cached samples", file=sys.stderr)
        else:
            if (
                ref_model is None
            ):  # also under top-k/top-p: sample_model reads ref_model=None as "the reference"
                ref_model = load_causal_lm(reference, tokenizer, dtype=dtype).to(device).eval()
            if spec.name == REFERENCE:
                rows = sample_model(ref_model, None, tokenizer, prompts, cfg, desc="sample reference")
            else:
                policy = load_policy(spec.path, tokenizer, dtype).to(device).eval()
                rows = sample_model(policy, ref_model, tokenizer, prompts, cfg, desc=f"sample {spec.name}")
                del policy
                gc.collect()
            cache.put(key, fp, rows)
        if spec.name != REFERENCE and not kl_is_scored(cfg):  # samples cached before KL was withheld
            rows = [{**r, "kl": None, "kl_analytic": None} for r in rows]
        samples[spec.name] = rows
    # best-of-n candidates: more reference samples, cached one candidate index at a time (a larger n
    # reuses the smaller n's candidates: their seeds do not depend on n)
    n_max = max(cfg.best_of_n, default=0)
    cand_fps = [
        fingerprint(settings, dtype, prompts_fp, code, model_stamp(reference), "bon", k) for k in range(n_max)
    ]
    candidates = [cache.get(f"bon_candidate_{k}", fp) for k, fp in enumerate(cand_fps)]
    todo = [k for k, c in enumerate(candidates) if c is None]
    if todo:
        if ref_model is None:
            ref_model = load_causal_lm(reference, tokenizer, dtype=dtype).to(device).eval()
        for k, rows in sample_candidates(ref_model, tokenizer, prompts, cfg, todo):
            cache.put(f"bon_candidate_{k}", cand_fps[k], rows)
            candidates[k] = rows
    elif n_max:
        print(f"[evaluate] best-of-{n_max}: cached candidates", file=sys.stderr)
    del ref_model
    gc.collect()

    # 2b. baselines: rows shaped like a policy's samples, then scored and judged exactly like a policy
    scores: dict[str, dict[str, list[float]]] = {}
    live_judges = {}  # a judge loaded here is reused by step 3
    samples.update(trivial_baseline_rows(cfg.baselines, prompts, samples[REFERENCE], tokenizer, train))
    if n_max:
        factory, stamp = score_judges["reward_model"]
        fp = fingerprint(prompts_fp, candidates, stamp)
        cand_scores = cache.get("bon_score_reward_model", fp)
        if cand_scores is None:
            live_judges["reward_model"] = judge = factory()
            with _timed(f"reward_model: scored {n_max} best-of-n candidates per prompt"):
                cand_scores = [judge.score(prompts, [r["response"] for r in rows]) for rows in candidates]
            cache.put("bon_score_reward_model", fp, cand_scores)
        bon_rows, bon_scores = best_of_n_rows(cfg.best_of_n, candidates, cand_scores, kl_is_scored(cfg))
        samples.update(bon_rows)
        scores.update({name: {"reward_model": values} for name, values in bon_scores.items()})
    specs = [*specs, *baseline_specs(cfg)]

    # 3. score judges: a score per (model, prompt)
    scores = {s.name: scores.get(s.name, {}) for s in specs}
    for jname, (factory, stamp) in score_judges.items():
        judge = live_judges.pop(jname, None)
        for spec in specs:
            if jname in scores[spec.name]:
                continue
            key = f"score_{jname}_{cache_name(spec.name)}"
            fp = fingerprint(prompts_fp, samples[spec.name], stamp)
            values = cache.get(key, fp)
            if values is None:
                judge = judge or factory()
                replies = [r["response"] for r in samples[spec.name]]
                with _timed(f"{jname}: scored {len(replies)} replies of {spec.name}"):
                    values = judge.score(prompts, replies)
                cache.put(key, fp, values)
            scores[spec.name][jname] = values
        del judge
        gc.collect()

    # 4. judgements of every policy and baseline vs the reference
    judgements: dict[str, dict[str, list[float]]] = {s.name: {} for s in specs[1:]}
    for spec in specs[1:]:
        for jname in score_judges:
            pol, ref = scores[spec.name][jname], scores[REFERENCE][jname]
            judgements[spec.name][jname] = [
                outcome_from_scores(p, r, cfg.tie_margin) for p, r in zip(pol, ref)
            ]
    judges_info = {}
    if "reward_model" in score_judges:
        judges_info["reward_model"] = {"path": str(reward_model_folder(cfg, run_dir))}
    for jname in [j for j in cfg.judges if j in ("local_lm", "http")]:
        pairwise_step(
            jname,
            cfg,
            specs,
            prompts,
            samples,
            judgements,
            cache,
            notes,
            reference=reference,
            judge_pairs=judge_pairs,
            judges_info=judges_info,
        )

    # 5. metrics and outputs
    metrics = eval_metrics.build_metrics(
        specs,
        samples,
        scores,
        judgements,
        cfg,
        settings=settings,
        reference=reference,
        run_dir=root if chosen else run_dir,
        notes=notes,
        dataset=recipe_args.data.dataset_name,
        prompts=prompts,
        judges=judges_info,
    )
    outputs.write_all(out_dir, prompts, specs, samples, scores, judgements, metrics, cfg)
    for line in [*outputs.judge_lines(metrics), *(f"note: {note}" for note in notes)]:
        print(f"[evaluate] {line}", file=sys.stderr)
    print(
        f"[evaluate] wrote {out_dir}/metrics.json, samples.jsonl, side_by_side.md, report.md, *.png",
        file=sys.stderr,
    )
    return metrics


def main(argv: list[str] | None = None) -> int:
    """``rlhf-trl evaluate --config FILE [--models LABEL=PATH ... | --compare-runs DIR ... --output_dir DIR]
    [--reference PATH] [--judge-base-url URL --judge-model NAME --recompute ...]``.

    Every field of the ``evaluation:`` section is also a flag (``rlhf-trl keys evaluation``).
    """
    from rlhf_trl.config import parse_recipe_args

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(main.__doc__)
        from rlhf_trl.cli import keys_main

        keys_main(["evaluation"])
        return 0
    args = parse_recipe_args("evaluation", argv)
    if int(os.environ.get("RANK", "0")) != 0:  # launched with several processes: rank 0 does the work
        return 0
    evaluate(args)
    return 0
