"""The evaluation's cache: JSON files under ``evaluation/cache/``, each valid only while the fingerprint of
everything its value depends on (settings, prompts, checkpoint files, the code that made it) matches."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from rlhf_trl.training import write_text_atomic


def fingerprint(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def sampling_code_hash() -> str:
    """Hash of the code that loads models, draws samples and scores their KL (models.py, generation.py,
    decoding.py, evaluation/stats.py, evaluation/sampling.py, evaluation/harness.py): a change to any
    invalidates cached samples instead of silently reusing them."""
    here = Path(__file__).resolve().parent
    sources = (
        here.parent / "models.py",
        here.parent / "generation.py",
        here.parent / "decoding.py",
        here / "stats.py",
        here / "sampling.py",
        here / "harness.py",
    )
    return hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]


class Cache:
    """JSON files under ``run_dir/evaluation/cache``; an entry is valid only with a matching fingerprint."""

    def __init__(self, folder: Path, enabled: bool):
        self.folder = folder
        self.enabled = enabled

    def get(self, key: str, fp: str):
        path = self.folder / f"{key}.json"
        if not self.enabled or not path.is_file():
            return None
        data = json.loads(path.read_text())
        return data["value"] if data.get("fingerprint") == fp else None

    def put(self, key: str, fp: str, value) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.folder / f"{key}.json", json.dumps({"fingerprint": fp, "value": value}))
