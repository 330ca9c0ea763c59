"""EvaluationConfig (placeholder until the harness lands)."""

from dataclasses import dataclass, field


@dataclass
class EvaluationConfig:
    """Evaluation settings."""

    seed: int = field(default=42, metadata={"help": "Sampling seed (identical for every model)."})
