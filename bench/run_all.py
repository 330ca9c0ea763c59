"""`make bench`: run every benchmark side by side and write bench/RESULTS.md (quoted by the README).

Each benchmark is a script that prints a markdown section to stdout. Benchmarks are measurements, not
tests: they never fail on a number, only on an error.
"""

from __future__ import annotations

import datetime
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402

HERE = Path(__file__).resolve().parent
# In order: the peak first (other sections quote MFU against it).
BENCHMARKS = [
    "matmul_peak.py",
    "generation.py",
    "recipe_overhead.py",
    "ppo_step.py",
    "ppo_vs_trl112.py",
    "grpo_step.py",
]
# `--quick` (`make bench BENCH_ARGS=--quick`): fewer steps and repeats where a script takes minutes.
QUICK_ARGS = {
    "recipe_overhead.py": ["--steps", "3", "--repeats", "1"],
    "ppo_vs_trl112.py": ["--repeats", "1", "--updates", "2"],
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    quick = "--quick" in argv
    command = "make bench" + (" BENCH_ARGS=--quick" if quick else "")
    sections = [
        "# Benchmarks",
        f"Machine: {machine()}. Date: {datetime.date.today()}. Command: `{command}`.",
    ]
    for name in BENCHMARKS:
        script = HERE / name
        extra = QUICK_ARGS.get(name, []) if quick else []
        print(f"== {name} {' '.join(extra)}", flush=True)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script), *extra], capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            print(f"benchmark {name} failed (exit {proc.returncode})", file=sys.stderr)
            return proc.returncode
        print(proc.stdout, flush=True)
        took = time.perf_counter() - start
        sections.append(f"## {name} {' '.join(extra)}\n\n{proc.stdout.strip()}\n\n_({took:.0f} s)_")
    (HERE / "RESULTS.md").write_text("\n\n".join(sections) + "\n")
    print(f"wrote {HERE / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
