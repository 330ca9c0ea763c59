#!/usr/bin/env bash
# The GPU check, in two halves (see bench/gpu_check.py for what it checks):
#   bash bench/gpu_check.sh prepare        here (PyPI reachable): wheels the GPU image lacks + the tokenizer
#                                          into bench/gpu_assets/ (git-ignored, under the 64 MiB carry limit)
#   bash bench/gpu_check.sh run OUT_DIR    on the GPU machine (no network): install them, run the check
# On the device tool: run carry=["bench/gpu_assets"], command "bash bench/gpu_check.sh run $OUT", timeout 480.
set -euo pipefail
cd "$(dirname "$0")/.."
ASSETS=bench/gpu_assets
# The GPU image has Python 3.12, torch, transformers, accelerate, peft; not trl, datasets or their deps.
# datasets 4.7 (trl 1.16's minimum) with pyarrow 21: the newest pyarrow alone is 55 MB.
WHEELS=(trl==1.16.0 datasets==4.7.0 pyarrow==21.0.0 pandas==2.3.3 python-dateutil==2.9.0.post0 pytz==2025.2 tzdata==2025.2
        dill==0.4.0 multiprocess==0.70.18 xxhash==3.5.0 fsspec==2025.9.0)

case "${1:-}" in
  prepare)
    rm -rf "$ASSETS" && mkdir -p "$ASSETS/wheels"
    .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d "$ASSETS/wheels" "${WHEELS[@]}"
    # SmolLM2-135M-Instruct's tokenizer (a few MB) from the embedded GGUF; the weights stay behind.
    .venv/bin/python - "$ASSETS/tokenizer" <<'PY'
import sys
from transformers import AutoTokenizer
from rlhf_trl.models import EMBEDDED_MODELS, _gguf_location
folder, name = _gguf_location(next(iter(EMBEDDED_MODELS)))
AutoTokenizer.from_pretrained(folder, gguf_file=name).save_pretrained(sys.argv[1])
PY
    du -sh "$ASSETS"
    size=$(du -sm "$ASSETS" | cut -f1)
    if [ "$size" -gt 62 ]; then echo "error: $ASSETS is ${size} MiB, over the 64 MiB carry limit" >&2; exit 1; fi
    ;;
  run)
    out="${2:?usage: bash bench/gpu_check.sh run OUT_DIR}"
    mkdir -p "$out"
    site="$ASSETS/site"
    python - <<'PY' || true
import importlib
for name in ("torch", "transformers", "accelerate", "peft", "pandas", "numpy", "yaml", "safetensors"):
    try:
        print(name, importlib.import_module(name).__version__)
    except ImportError:
        print(name, "MISSING")
PY
    python -m pip install -q --no-deps --no-index --target "$site" "$ASSETS"/wheels/*.whl
    # the project itself from the working tree; the image's torch/transformers stay as they are
    PYTHONPATH="$PWD:$PWD/$site" timeout 470 python bench/gpu_check.py "$out" 2>&1 | tee "$out/gpu_check.log"
    ;;
  *)
    echo "usage: bash bench/gpu_check.sh prepare | run OUT_DIR" >&2
    exit 2
    ;;
esac
