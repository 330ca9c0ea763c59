"""EvaluationConfig: the ``evaluation:`` section of a recipe config (`rlhf-trl keys evaluation`).

Every model of a run (the reference and each trained policy) is sampled with exactly these settings
and this seed, so differences between methods are differences between policies, not between
decoding setups.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rlhf_trl.evaluation.baselines import TRIVIAL
from rlhf_trl.evaluation.model_specs import parse_model_entries

JUDGES = ("reward_model", "gold", "local_lm", "http")
POLICY_STAGES = ("sft", "ppo", "grpo", "dpo")
PROMPT_SETS = ("dev", "test", "train")  # evaluation/, evaluation_test/, evaluation_train/ (outputs.EVAL_DIRS)


@dataclass
class EvaluationConfig:
    """Evaluation settings (models, sampling, judges, statistics, caching)."""

    # `--reference PATH` (the original assignment's flag) sets reference_model; read by rlhf_trl.config
    KEY_ALIASES = {"reference": "reference_model"}
    # output_dir is where this evaluation writes (default run_dir), not run_dir/checkpoints/evaluation
    OUTPUT_DIR_IN_RUN = False
    # lists whose flag may be given with no value (= [], none), read by rlhf_trl.config
    EMPTY_LISTS_OK = ("baselines", "best_of_n")

    seed: int = field(
        default=42, metadata={"help": "Sampling and bootstrap seed (identical for every model)."}
    )
    policies: list[str] = field(
        default_factory=lambda: list(POLICY_STAGES),
        metadata={
            "help": "Stages whose checkpoints (run_dir/checkpoints/<stage>) are evaluated when they exist; "
            "missing ones are skipped."
        },
    )
    models: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Models to judge instead of the run's stages, each LABEL=PATH: a model folder, a LoRA "
            "adapter folder, a Hub id or embedded:NAME (--models ppo=outputs/a/checkpoints/ppo "
            "dpo_b=outputs/b/checkpoints/dpo hub=owner/name; in YAML a list of the same strings or a mapping "
            "LABEL: PATH). A label is free text shown in every table and plot: not empty, unique, not "
            "'reference' or a baseline's name, without '|', '=' or control characters. Needs output_dir."
        },
    )
    compare_runs: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Run folders (outputs/<run>) whose stage checkpoints (each stage of policies found under "
            "DIR/checkpoints/) are judged, labelled <run folder name>/<stage>: one method under two settings. "
            "Adds to models; needs output_dir."
        },
    )
    checkpoints_of: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Stage folders (outputs/<run>/checkpoints/ppo) whose saved models along training are judged: "
            "each complete checkpoint-N (label ppo@N) and the final model (ppo). Plotted as curves of gold and "
            "proxy reward against KL (kl_curves.png, Gao et al. 2022's over-optimisation view); train with "
            "save_strategy: steps. Adds to models; needs output_dir."
        },
    )
    output_dir: str | None = field(
        default=None,
        metadata={
            "help": "Folder that gets this evaluation's evaluation/ (dev prompts), evaluation_test/ (test "
            "prompts) or evaluation_train/ (training prompts) folder, the way a run folder does (rlhf-trl report --run OUTPUT_DIR reads it); default "
            "run_dir. Required with models, compare_runs or checkpoints_of, whose outputs belong to no single run."
        },
    )
    reference_model: str | None = field(
        default=None,
        metadata={
            "help": "Reference policy π_ref, the model every other is judged against (a folder, a Hub id or "
            "embedded:NAME); default: the run's starting point, run_dir/checkpoints/sft when the config's "
            "demo.stages has sft (it must exist), else model_name_or_path."
        },
    )
    reference: str | None = field(default=None, metadata={"help": "Alias of reference_model."})
    prompt_set: str = field(
        default="dev",
        metadata={
            "help": "Prompts to evaluate on: dev (held out; tune settings on it) or test (held out; report it, "
            "evaluating each final configuration on it once). Bundled testbed: its dev/test prompt sets, whose "
            "subjects are in no training or test pair (a folder with both {dev,test}_prompts.jsonl[.gz]: "
            "those); other data: the test split's prompts halved by a stable hash. train: the training "
            "pairs' prompts (not held out: read beside dev/test to see how much of a method's gain carries to "
            "held-out prompts; writes evaluation_train/)."
        },
    )
    num_prompts: int | None = field(
        default=None,
        metadata={
            "help": "Evaluate at most this many held-out prompts (default: all that load_prompts gives)."
        },
    )
    # ---- sampling (identical for every model) ----
    max_new_tokens: int = field(default=64, metadata={"help": "Tokens generated per response at most."})
    temperature: float = field(
        default=0.7,
        metadata={"help": "Sampling temperature; log-probs for KL are taken at this temperature."},
    )
    top_k: int = field(default=0, metadata={"help": "Top-k filter (0 = off)."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus filter, in (0, 1] (1 = off)."})
    do_sample: bool = field(default=True, metadata={"help": "Sample (true) or greedy decoding (false)."})
    batch_size: int = field(default=16, metadata={"help": "Prompts per generation / scoring batch."})
    samples_per_prompt: int = field(
        default=1,
        metadata={
            "help": "Replies sampled per prompt and model (each its own draw). With more than one, every "
            "statistic averages a prompt's replies first: CIs resample whole prompts (cluster bootstrap); "
            "win rate, verdict and paired difference are over each prompt's mean difference to the "
            "reference. Narrows what the sampling noise adds to the CIs; the prompts stay the sample. Costs "
            "k times the sampling and scoring. rlhf-trl report --runs pools such evaluations when every seed "
            "has the same k."
        },
    )
    bf16: bool = field(
        default=False,
        metadata={
            "help": "Sample under bf16 autocast (fp32 weights), every model alike: ~1.6x faster sampling on a "
            "CPU with AVX-512 bf16 or a GPU. KL and the reward model still score in fp32 (bf16 rounding of two "
            "nearly equal models reads as KL). Samples differ from fp32 ones: compare only evaluations made in "
            "the same precision (the report's sampling line says which). `auto`: on where bf16 is native "
            "(a bf16 GPU, a CPU with AVX-512 BF16 or AMX), else off."
        },
    )
    # ---- judges ----
    judges: list[str] = field(
        default_factory=lambda: ["reward_model", "gold"],
        metadata={
            "help": "Judges of policy vs reference: reward_model (trained RM at run_dir/checkpoints/reward), "
            "gold (the dataset's rubric), local_lm (pairwise causal-LM judge), http (OpenAI-compatible API). "
            "reward_model/gold are skipped with a note when the run has no RM / the dataset no rubric."
        },
    )
    reward_model_path: str | None = field(
        default=None, metadata={"help": "Reward model folder; default: run_dir/checkpoints/reward."}
    )
    tie_margin: float = field(
        default=0.0,
        metadata={"help": "Score judges (reward_model, gold) call a tie when |score_a - score_b| <= this."},
    )
    judge_model: str | None = field(
        default=None,
        metadata={
            "help": "local_lm: causal LM path/name (default: the embedded model, which is the reference when the "
            "run starts from it: the report then says the judge is the reference, i.e. self-preference); "
            "http: the API's model name (default: gpt-4o-mini)."
        },
    )
    judge_accuracy_pairs: int = field(
        default=64,
        metadata={
            "help": "local_lm: measure the judge's accuracy on this many pairs of the preference test split "
            "(each asked in both orders, answers cached: 2 judge calls per pair), reported next to its "
            "verdicts so its distance from chance (0.5) is known; 0 = do not measure."
        },
    )
    judge_base_url: str | None = field(
        default=None,
        metadata={
            "help": "http judge: OpenAI-compatible base URL, e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1."
        },
    )
    judge_api_key_env: str = field(
        default="OPENAI_API_KEY",
        metadata={
            "help": "http judge: environment variable holding the API key (unset = no Authorization header)."
        },
    )
    judge_max_requests: int = field(
        default=1000,
        metadata={
            "help": "http judge: hard cap on HTTP requests per evaluation (retries count); a run that would need more stops before the first request."
        },
    )
    judge_retries: int = field(
        default=3,
        metadata={
            "help": "http judge: retries per request on connection errors, 429 and 5xx (exponential backoff)."
        },
    )
    judge_timeout_s: float = field(
        default=60.0, metadata={"help": "http judge: timeout per request, seconds."}
    )
    # ---- baselines (judged against the reference exactly like a policy) ----
    baselines: list[str] = field(
        default_factory=lambda: list(TRIVIAL),
        metadata={
            "help": "Trivial policies scored next to every method, so a win over the reference can be told "
            "from a loophole: echo (the last user turn), keyword_sentence (its content words in a sentence), "
            "fixed_sentence, refuse_all, reference_trimmed (the reference's sample cut after its last full "
            "sentence), nearest_train_chosen (the chosen reply of the most word-similar training prompt). "
            "No model runs for them; [] (or the flag with no value) = none. rlhf_trl/evaluation/baselines.py.",
        },
    )
    best_of_n: list[int] = field(
        default_factory=list,
        metadata={
            "help": "Best-of-n baselines of the reference (Gao et al. 2022): for each n, the reward model's "
            "favourite of n reference samples, reported as model bon<n> at KL = log n - (n-1)/n. Costs "
            "max(best_of_n) extra reference samples per prompt plus their reward-model scores (cached); "
            "needs the reward_model judge and a reward model. Each n >= 2; [] (or the flag with no value) = "
            "none (default).",
        },
    )
    # ---- statistics / caching ----
    bootstrap_samples: int = field(
        default=2000, metadata={"help": "Bootstrap resamples (over prompts) for 95% confidence intervals."}
    )
    recompute: bool = field(
        default=False,
        metadata={
            "help": "Ignore cached samples/scores/judgements (the evaluation folder's cache/) and redo them."
        },
    )
    side_by_side_prompts: int = field(
        default=12,
        metadata={"help": "Prompts shown in side_by_side.md (every model's answer with its scores)."},
    )

    def __post_init__(self):
        if self.prompt_set not in PROMPT_SETS:
            raise ValueError(f"prompt_set must be one of {', '.join(PROMPT_SETS)}; got {self.prompt_set!r}")
        unknown = [j for j in self.judges if j not in JUDGES]
        if unknown:
            raise ValueError(f"judges: unknown judge {unknown[0]!r}; allowed: {', '.join(JUDGES)}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature <= 0:
            raise ValueError(
                f"temperature must be > 0 (use do_sample: false for greedy), got {self.temperature}"
            )
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.samples_per_prompt < 1:
            raise ValueError(f"samples_per_prompt must be >= 1, got {self.samples_per_prompt}")
        if self.samples_per_prompt > 1 and not self.do_sample:
            raise ValueError(
                f"samples_per_prompt {self.samples_per_prompt} with do_sample: false would give identical "
                "greedy replies; sample (do_sample: true) or set samples_per_prompt: 1"
            )
        if self.bootstrap_samples < 100:
            raise ValueError(f"bootstrap_samples must be >= 100, got {self.bootstrap_samples}")
        if self.judge_max_requests < 1 or self.judge_retries < 0:
            raise ValueError("judge_max_requests must be >= 1 and judge_retries >= 0")
        if self.num_prompts is not None and self.num_prompts < 1:
            raise ValueError(f"num_prompts must be >= 1 (or unset), got {self.num_prompts}")
        unknown = [b for b in self.baselines if b not in TRIVIAL]
        if unknown:
            raise ValueError(
                f"baselines: unknown baseline {unknown[0]!r}; allowed: {', '.join(TRIVIAL)} (or [] for none)"
            )
        if len(set(self.baselines)) != len(self.baselines):
            raise ValueError(f"baselines: each name at most once, got {self.baselines}")
        if any(n < 2 for n in self.best_of_n) or len(set(self.best_of_n)) != len(self.best_of_n):
            raise ValueError(
                f"best_of_n: distinct sample counts n >= 2 (e.g. [4, 16]) or [] for none, got {self.best_of_n}"
            )
        if isinstance(self.models, dict):  # YAML mapping LABEL: PATH -> the command line's LABEL=PATH
            self.models = [f"{label}={path}" for label, path in parse_model_entries(self.models)]
        parse_model_entries(self.models)
        if (self.models or self.compare_runs or self.checkpoints_of) and not self.output_dir:
            raise ValueError(
                "models, compare_runs and checkpoints_of need output_dir (--output_dir FOLDER): the comparison's outputs "
                "belong to no single run, so they go to a folder of their own"
            )
        if self.judge_accuracy_pairs < 0:
            raise ValueError(f"judge_accuracy_pairs must be >= 0, got {self.judge_accuracy_pairs}")
        if "http" in self.judges and not self.judge_base_url:
            raise ValueError("judges: http needs judge_base_url (or --judge-base-url URL)")
