"""PNG plots of an evaluation: reward vs KL (the over-optimisation / Pareto view), reward
distributions, win rates, and training curves read from each stage's TensorBoard logs.

Every function reads outputs only (metrics.json content, per-sample scores, event files), so the
notebook can call them on any finished run. matplotlib is imported lazily with the Agg backend.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Curves worth showing, in order of preference; the first 3 a stage logged are drawn.
CURVE_TAGS = (
    "objective/scores",
    "objective/kl",
    "objective/rlhf_reward",
    "train/reward",
    "train/kl",
    "train/rewards/accuracies",
    "train/rewards/margins",
    "train/accuracy",
    "eval/accuracy",
    "train/loss",
    "loss/policy_avg",
    "val/explained_variance",
    "eval/loss",
)
STAGE_ORDER = ("sft", "reward", "ppo", "grpo", "dpo")


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _colors(names):
    palette = ["#444444", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    return {n: palette[i % len(palette)] for i, n in enumerate(names)}


def _text(label: str) -> str:
    """A model label as matplotlib text: labels are free text, and a pair of "$" would be typeset as math."""
    return label.replace("$", r"\$")


def _label_axis(ax, positions, labels) -> None:
    """Model labels on the x axis, slanted when they are many or long (``<run>/<stage>`` labels)."""
    slant = len(labels) > 6 or max((len(x) for x in labels), default=0) > 10
    ax.set_xticks(
        list(positions),
        [_text(x) for x in labels],
        rotation=30 if slant else 0,
        ha="right" if slant else "center",
    )


def _error_bar(mean: float, ci95: list[float]) -> list[list[float]]:
    """matplotlib's ``[[below], [above]]`` for a mean and its CI. A constant statistic (best-of-n's analytic
    KL; anything under a cluster bootstrap) has a CI that can miss its mean by a rounding error, and
    matplotlib refuses a negative bar: such gaps are 0."""
    return [[max(mean - ci95[0], 0.0)], [max(ci95[1] - mean, 0.0)]]


def plot_reward_vs_kl(metrics: dict, path: Path) -> bool:
    """Gold and proxy reward (mean ± 95% CI) against KL(π‖π_ref) (mean ± 95% CI), one point per model.

    A model without a KL (a trivial baseline: a fixed string rule) is a dotted horizontal line at its
    mean reward: the level a method must clear at any KL."""
    panels = [
        k
        for k in ("gold_score", "proxy_reward")
        if any(k in e["metrics"] for e in metrics["models"].values())
    ]
    if not panels:
        return False
    plt = _plt()
    names = list(metrics["models"])
    colors = _colors(names)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False)
    for ax, key in zip(axes[0], panels):
        for name in names:
            m = metrics["models"][name]["metrics"]
            if key not in m or m[key]["mean"] is None:
                continue
            x, y = m["kl"], m[key]
            if x.get("mean") is None:
                ax.axhline(y["mean"], color=colors[name], ls=":", lw=1.2, label=f"{_text(name)} (no KL)")
                continue
            xerr, yerr = _error_bar(x["mean"], x["ci95"]), _error_bar(y["mean"], y["ci95"])
            ax.errorbar(
                x["mean"],
                y["mean"],
                xerr=xerr,
                yerr=yerr,
                fmt="o",
                ms=7,
                capsize=3,
                color=colors[name],
                label=_text(name),
            )
            ax.annotate(
                _text(name), (x["mean"], y["mean"]), textcoords="offset points", xytext=(6, 6), fontsize=9
            )
        ax.set_xlabel("KL(π‖π_ref) per prompt [nats]")
        ax.set_ylabel(
            {"gold_score": "gold score (rubric)", "proxy_reward": "proxy reward (reward model)"}[key]
        )
        ax.set_title({"gold_score": "Gold reward vs KL", "proxy_reward": "Proxy reward vs KL"}[key])
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="best")
    fig.suptitle(f"Reward vs KL, mean ± 95% CI over {metrics['num_prompts']} prompts", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def kl_curves(metrics: dict) -> dict[str, list[tuple[int, str]]]:
    """``{curve: [(step, label), ...]}`` of the models evaluated along training (``checkpoints_of``),
    each curve sorted by step."""
    curves: dict[str, list[tuple[int, str]]] = {}
    for name, entry in metrics["models"].items():
        if entry.get("curve") is not None:
            curves.setdefault(entry["curve"], []).append((entry.get("step") or 0, name))
    return {c: sorted(points) for c, points in curves.items()}


def plot_kl_curves(metrics: dict, path: Path) -> bool:
    """Gold and proxy reward against KL(π‖π_ref) along training (Gao et al. 2022): one line per stage
    folder of ``checkpoints_of`` through its checkpoints (annotated with their step), starting at the
    reference (KL 0), with best-of-n of the reference as crosses at its analytic KL. Where the proxy
    keeps rising and gold turns down, the policy over-optimises the reward model."""
    curves = kl_curves(metrics)
    models = metrics["models"]
    panels = [k for k in ("gold_score", "proxy_reward") if any(k in e["metrics"] for e in models.values())]
    if not curves or not panels:
        return False
    plt = _plt()
    colors = _colors(["reference", *curves])
    bons = [n for n, e in models.items() if e.get("role") == "baseline" and n.startswith("bon")]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False)
    ref = models.get("reference", {}).get("metrics", {})
    for ax, key in zip(axes[0], panels):
        for curve, points in curves.items():
            xs, ys, steps = [], [], []
            if key in ref and ref[key]["mean"] is not None:
                xs, ys, steps = [0.0], [ref[key]["mean"]], [0]
            for step, name in points:
                m = models[name]["metrics"]
                if key in m and m[key]["mean"] is not None and m["kl"].get("mean") is not None:
                    xs.append(m["kl"]["mean"])
                    ys.append(m[key]["mean"])
                    steps.append(step)
            ax.plot(xs, ys, "o-", color=colors[curve], label=_text(curve), ms=5)
            for x, y, step in zip(xs, ys, steps):
                ax.annotate(str(step), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        for name in bons:
            m = models[name]["metrics"]
            if key in m and m[key]["mean"] is not None and m["kl"].get("mean") is not None:
                ax.plot(m["kl"]["mean"], m[key]["mean"], "x", color="#444444", ms=8)
                ax.annotate(
                    name,
                    (m["kl"]["mean"], m[key]["mean"]),
                    textcoords="offset points",
                    xytext=(4, -10),
                    fontsize=8,
                )
        ax.set_xlabel("KL(π‖π_ref) per prompt [nats]")
        ax.set_ylabel(
            {"gold_score": "gold score (rubric)", "proxy_reward": "proxy reward (reward model)"}[key]
        )
        ax.set_title(
            {"gold_score": "Gold reward along training", "proxy_reward": "Proxy reward along training"}[key]
        )
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="best")
    fig.suptitle(
        f"Reward vs KL along training (numbers: update/step; x: best-of-n), means over {metrics['num_prompts']} prompts",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_reward_distributions(scores: dict[str, dict[str, list[float]]], path: Path) -> bool:
    """Box plots (with the individual scores) of each model's gold and proxy scores."""
    judges = [j for j in ("gold", "reward_model") if any(j in s for s in scores.values())]
    if not judges:
        return False
    plt = _plt()
    import numpy as np

    names = list(scores)
    colors = _colors(names)
    fig, axes = plt.subplots(1, len(judges), figsize=(5.2 * len(judges), 4.2), squeeze=False)
    for ax, judge in zip(axes[0], judges):
        present = [n for n in names if judge in scores[n]]
        data = [scores[n][judge] for n in present]
        ax.boxplot(data, showmeans=True, widths=0.5)
        _label_axis(ax, range(1, len(present) + 1), present)
        rng = np.random.default_rng(0)
        for i, (n, d) in enumerate(zip(present, data), start=1):
            ax.scatter(i + rng.uniform(-0.12, 0.12, len(d)), d, s=8, alpha=0.5, color=colors[n])
        ax.set_title({"gold": "Gold score per response", "reward_model": "Proxy reward per response"}[judge])
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_win_rates(metrics: dict, path: Path) -> bool:
    """Win rate vs the reference per policy and judge, with the bootstrap 95% CI; 50% = no difference."""
    policies = [n for n, e in metrics["models"].items() if e.get("win_rate")]
    if not policies:
        return False
    plt = _plt()
    judges = sorted({j for n in policies for j in metrics["models"][n]["win_rate"]})
    width = 0.8 / len(judges)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(policies) + 2), 4.0))
    for k, judge in enumerate(judges):
        xs, ys, lo, hi = [], [], [], []
        for i, n in enumerate(policies):
            w = metrics["models"][n]["win_rate"].get(judge)
            if w:
                xs.append(i + (k - (len(judges) - 1) / 2) * width)
                ys.append(w["win_rate"])
                (below,), (above,) = _error_bar(w["win_rate"], w["ci95"])
                lo.append(below)
                hi.append(above)
        ax.bar(xs, ys, width=width, yerr=[lo, hi], capsize=3, label=judge)
    ax.axhline(0.5, color="black", lw=1, ls="--")
    _label_axis(ax, range(len(policies)), policies)
    ax.set_ylim(0, 1)
    ax.set_ylabel("win rate vs reference")
    ax.set_title("Win rate vs reference ((wins + ½ ties) / n), 95% CI")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def read_scalars(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """All scalar series of the TensorBoard event files under ``log_dir`` (recursively): tag -> [(step, value)]."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    series: dict[str, list[tuple[int, float]]] = {}
    for ev in sorted(log_dir.rglob("events.out.tfevents.*")):
        acc = EventAccumulator(str(ev), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags().get("scalars", []):
            series.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
    return {t: sorted(v) for t, v in series.items()}


def pick_curves(tags, limit: int = 3) -> list[str]:
    chosen = [t for t in CURVE_TAGS if t in tags][:limit]
    if len(chosen) < limit:  # stages with other names: anything that looks like a loss/reward/KL
        extra = [
            t
            for t in sorted(tags)
            if t not in chosen and any(w in t for w in ("loss", "reward", "kl", "score"))
        ]
        chosen += extra[: limit - len(chosen)]
    return chosen


def plot_training_curves(run_dir: Path, path: Path) -> bool:
    """One row per stage with logs under run_dir/logs/<stage>/, up to 3 curves per stage."""
    logs = Path(run_dir) / "logs"
    if not logs.is_dir():
        return False
    stages = sorted(
        (d for d in logs.iterdir() if d.is_dir()),
        key=lambda d: (STAGE_ORDER.index(d.name) if d.name in STAGE_ORDER else 99, d.name),
    )
    rows = []
    for d in stages:
        scalars = read_scalars(d)
        tags = pick_curves(scalars)
        if tags:
            rows.append((d.name, [(t, scalars[t]) for t in tags]))
    if not rows:
        return False
    plt = _plt()
    ncols = max(len(curves) for _, curves in rows)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(4.4 * ncols, 2.8 * len(rows)), squeeze=False)
    for r, (stage, curves) in enumerate(rows):
        for c in range(ncols):
            ax = axes[r][c]
            if c >= len(curves):
                ax.axis("off")
                continue
            tag, points = curves[c]
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="." if len(points) < 30 else None)
            ax.set_title(f"{stage}: {tag}", fontsize=9)
            ax.set_xlabel("step", fontsize=8)
            ax.grid(alpha=0.3)
    fig.suptitle("Training curves (TensorBoard logs)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def missing_plot_packages() -> list[str]:
    """The plotting packages of requirements.txt that this environment lacks (e.g. a bare GPU image)."""
    import importlib.util

    return [name for name in ("matplotlib", "tensorboard") if importlib.util.find_spec(name) is None]


def plot_all(out_dir: Path, metrics: dict, scores: dict, run_dir: Path) -> list[str]:
    """Write every plot that has data; returns the file names written.

    Without matplotlib no plot is drawn, and without tensorboard no training curve is read: one line
    on stderr says so, and report.md lists only the plots written."""
    missing = missing_plot_packages()
    if missing:
        print(
            f"note: {', '.join(missing)} not installed: "
            f"{'no plots drawn' if 'matplotlib' in missing else 'training curves not drawn'} "
            "(pip install -r requirements.txt installs them)",
            file=sys.stderr,
        )
    jobs = [
        ("reward_vs_kl.png", lambda p: plot_reward_vs_kl(metrics, p)),
        ("kl_curves.png", lambda p: plot_kl_curves(metrics, p)),
        ("reward_distributions.png", lambda p: plot_reward_distributions(scores, p)),
        ("win_rates.png", lambda p: plot_win_rates(metrics, p)),
        ("training_curves.png", lambda p: "tensorboard" not in missing and plot_training_curves(run_dir, p)),
    ]
    written = []
    for name, fn in jobs:
        path = Path(out_dir) / name
        if "matplotlib" not in missing and fn(path):
            written.append(name)
        elif path.exists():
            path.unlink()  # a stale plot from an earlier evaluation would contradict metrics.json
    return written
