"""Checks of a training recipe's inputs that need files: the model path, the reward models (a classifier
with one output; its own tokenizer, or the policy's vocabulary) and PPO's critic (the policy's tokenizer,
since it reads the policy's token ids).

Every training recipe calls :func:`check_recipe_inputs` right after parsing, before data or weights load.
Values alone are checked where they are defined (``__post_init__``). Each failure is one
:class:`~rlhf_trl.errors.UserError` line that starts with where the value came from (``file:line: key``,
``command line: --flag`` or ``stage.key (default)``).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from rlhf_trl.errors import UserError
from rlhf_trl.models import is_embedded, resolve_model_path

TOKENIZER_FILE = "tokenizer_config.json"


def check_recipe_inputs(args) -> None:
    """Fail fast on a missing model, a reward/value model of the wrong shape, or mismatched tokenizers."""
    stage = args.stage_name
    name = args.model.model_name_or_path
    local_policy = _local_model(name, args.where("model_name_or_path"))
    if stage == "reward" and local_policy is not None:
        _check_one_label(local_policy, args.where("model_name_or_path"), required=False)

    @cache
    def policy():  # (folder or Hub id, vocab size or None); embedded models are converted only when asked
        path = resolve_model_path(name)
        return path, _vocab_size(path)

    reward_folders = []
    if stage in ("grpo", "ppo"):
        from rlhf_trl.rewards import reward_model_folder

        where = args.where("reward_funcs")
        for spec in args.stage.reward_funcs:
            folder = reward_model_folder(spec, args.run.run_dir)
            if folder is None:
                continue
            if not (folder / "config.json").is_file():
                hint = (
                    f"run recipes/reward.py with run_dir {args.run.run_dir} first, or name a reward-model folder"
                    if spec == "reward_model"
                    else "train one with recipes/reward.py"
                )
                raise UserError(
                    f"{where}: reward {spec!r} reads {folder}, which holds no model (no config.json); {hint}"
                )
            _check_one_label(folder, where, required=True)
            if not (folder / TOKENIZER_FILE).is_file():
                _check_vocab(folder, where, policy(), "reward model")
            reward_folders.append(folder)
    if stage == "ppo":
        if args.stage.value_model_path:
            where = args.where("value_model_path")
            critic = _local_model(args.stage.value_model_path, where)
            if critic is not None:
                _check_one_label(critic, where, required=False)
        else:  # the recipe starts the critic from the first reward model (N-details)
            where, critic = args.where("reward_funcs"), (reward_folders[0] if reward_folders else None)
        if critic is not None:
            _check_critic_tokenizer(critic, where, name, policy())


def _local_model(name: str, where: str) -> Path | None:
    """The folder of a local model (checked to hold a config.json); None for embedded models and Hub ids."""
    if is_embedded(name):
        return None
    try:
        path = Path(resolve_model_path(name))
    except UserError as err:
        raise UserError(f"{where}: {err}") from None
    if not path.exists():  # a Hub id: checked when it loads
        return None
    if not (path / "config.json").is_file():
        raise UserError(
            f"{where}: {name} is not a model folder (no config.json); give a folder saved with "
            "save_pretrained, a Hub id, or embedded:smollm2-135m-instruct"
        )
    return path


def _config(path):
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(str(path))
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read the model config in {path}: {str(err).splitlines()[0]}") from None


def _vocab_size(path: str) -> int | None:
    if not Path(path).exists():  # a Hub id: not looked up here
        return None
    return getattr(_config(path), "vocab_size", None)


def _check_one_label(folder: Path, where: str, required: bool) -> None:
    """A sequence classifier must have one output; ``required``: it must be a classifier at all."""
    config = _config(folder)
    architectures = config.architectures or []
    if not any(a.endswith("ForSequenceClassification") for a in architectures):
        if required:
            raise UserError(
                f"{where}: {folder} is not a reward model (a {', '.join(architectures) or config.model_type}, "
                "no score head); train one with recipes/reward.py"
            )
        return
    if config.num_labels != 1:
        raise UserError(
            f"{where}: {folder} is a classifier with num_labels={config.num_labels}; a reward/value model "
            "needs num_labels=1 (one scalar score)"
        )


def _check_vocab(folder: Path, where: str, policy: tuple[str, int | None], what: str) -> None:
    """A model without a tokenizer of its own is fed the policy's tokens: the vocabularies must agree."""
    policy_path, policy_vocab = policy
    vocab = getattr(_config(folder), "vocab_size", None)
    if policy_vocab is not None and vocab is not None and vocab != policy_vocab:
        raise UserError(
            f"{where}: {what} {folder} has no tokenizer of its own and its vocabulary ({vocab} tokens) differs "
            f"from the policy's ({policy_vocab}, {policy_path}); save the tokenizer it was trained with into "
            f"{folder} (tokenizer.save_pretrained)"
        )


def _check_critic_tokenizer(
    folder: Path, where: str, policy_name: str, policy: tuple[str, int | None]
) -> None:
    """PPO's critic scores the policy's token ids, so it must share the policy's tokenizer."""
    if not (folder / TOKENIZER_FILE).is_file():
        _check_vocab(folder, where, policy, "PPO's critic (value model)")
        return
    from rlhf_trl.models import load_tokenizer

    differ = vocabulary_difference(
        load_tokenizer(policy_name).get_vocab(), load_tokenizer(str(folder)).get_vocab()
    )
    if differ:
        raise UserError(
            f"{where}: PPO's critic starts from {folder}, whose tokenizer differs from the policy's "
            f"({differ}) but reads the policy's token ids; "
            "set value_model_path to a model with the policy's tokenizer (e.g. a reward model trained from the policy)"
        )


def vocabulary_difference(ours: dict[str, int], theirs: dict[str, int]) -> str | None:
    """How two vocabularies (``tokenizer.get_vocab()``) differ, as ``"N vs M tokens, K entries differ"``
    (theirs first), or None when they map every token to the same id."""
    if ours == theirs:
        return None
    differ = len(set(ours.items()) ^ set(theirs.items()))
    return f"{len(theirs)} vs {len(ours)} tokens, {differ} entries differ"


def check_ppo_prompt_count(num_prompts: int, args) -> None:
    """One PPO update draws ``rollout_batch_size`` prompts on every process: the data must hold that many."""
    cfg = args.stage
    processes = cfg.world_size
    need = cfg.rollout_batch_size * processes
    if num_prompts < need:
        raise UserError(
            f"{args.where('max_train_samples' if args.data.max_train_samples else 'dataset_name')}: "
            f"{num_prompts} unique train prompts, but one PPO update needs {need} "
            f"(per_device_train_batch_size x gradient_accumulation_steps x num_mini_batches x processes = "
            f"{cfg.per_device_train_batch_size} x {cfg.gradient_accumulation_steps} x {cfg.num_mini_batches} x "
            f"{processes}); use more data (max_train_samples) or a smaller batch"
        )
