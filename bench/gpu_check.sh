#!/usr/bin/env bash
# The GPU check, in two halves (see bench/gpu_check.py for what it checks):
#   bash bench/gpu_check.sh prepare        here (PyPI reachable): packages the GPU image lacks + the tokenizer
#                                          into bench/gpu_assets/ (git-ignored, under the 64 MiB carry limit)
#   bash bench/gpu_check.sh run OUT_DIR    on the GPU machine (no network): install them, run the check
#                                          (arguments after OUT_DIR go to gpu_check.py, e.g. --device cpu)
# On the device tool: run carry=["bench/gpu_assets"], command "bash bench/gpu_check.sh run $OUT", timeout 480.
set -euo pipefail
cd "$(dirname "$0")/.."
ASSETS=bench/gpu_assets
PYV=${GPU_PYTHON_VERSION:-3.12}  # the GPU image's Python; 3.11 builds the set for a dry run on this machine
# The GPU image has Python 3.12, torch 2.11, transformers 5.17, accelerate 1.15, peft; not trl, datasets
# or their deps. transformers and peft travel at our pins (5.17 ignores the decode loop's `cache=`, which
# rlhf_trl.decoding then refuses), huggingface_hub at the newest 1.x (our 2.x pin
# needs httpx2/hf-xet, absent there). datasets 4.7 (trl 1.16's minimum) with pyarrow 21: the newest
# pyarrow alone is 55 MB. Unpacked, trimmed (tests, C headers and sources, Arrow Flight) and
# packed into one site.tar.gz, under the 64 MiB a device call carries.
WHEELS=(transformers==5.24.0 peft==0.21.2 huggingface_hub==1.33.0
        trl==1.16.0 datasets==4.7.0 pyarrow==21.0.0 pandas==2.3.3 python-dateutil==2.9.0.post0 pytz==2025.2
        tzdata==2025.2 six==1.17.0 requests==2.34.2 charset-normalizer==3.5.3 urllib3==2.8.0 dill==0.4.0
        multiprocess==0.70.18 xxhash==3.5.0 fsspec==2025.9.0)

case "${1:-}" in
  prepare)
    rm -rf "$ASSETS" && mkdir -p "$ASSETS"
    tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
    .venv/bin/python -m pip install -q --no-deps --no-compile --only-binary=:all: --python-version "$PYV" \
      --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 \
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
      --target "$tmp/site" "${WHEELS[@]}" 2> >(grep -v "WARNING: Location" >&2)
    find "$tmp/site" -depth -type d \( -name tests -o -name include -o -name __pycache__ \) -exec rm -rf {} +
    find "$tmp/site" -type f \( -name "*.pyx" -o -name "*.pxd" -o -name "*.pxi" -o -name "*.h" -o -name "*.cc" \
      -o -name "*.cpp" \) -delete
    # Arrow Flight (RPC, never imported by datasets), pyarrow's C++ test module, and the link-time copies
    # of libarrow_python (only the .so.2100 soname is loaded): 8 MB packed
    rm -f "$tmp"/site/pyarrow/{libarrow_flight,libarrow_python_flight}.so* "$tmp"/site/pyarrow/_{flight,pyarrow_cpp_tests}.*.so \
      "$tmp"/site/pyarrow/libarrow_python{,_parquet_encryption}.so{,.2100.0.0}
    tar czf "$ASSETS/site.tar.gz" -C "$tmp" site
    # SmolLM2-135M-Instruct's tokenizer (a few MB) from the embedded GGUF; the weights stay behind.
    .venv/bin/python - "$ASSETS/tokenizer" <<'PY'
import sys
from transformers import AutoTokenizer
from rlhf_trl.models import EMBEDDED_MODELS, _gguf_location
folder, name = _gguf_location(next(iter(EMBEDDED_MODELS)))
AutoTokenizer.from_pretrained(folder, gguf_file=name).save_pretrained(sys.argv[1])
PY
    du -sh "$ASSETS"/*
    size=$(du -sm "$ASSETS" | cut -f1)
    if [ "$size" -gt 60 ]; then echo "error: $ASSETS is ${size} MiB, over the 64 MiB carry limit" >&2; exit 1; fi
    ;;
  run)
    out="${2:?usage: bash bench/gpu_check.sh run OUT_DIR}"
    mkdir -p "$out"
    site="$ASSETS/site"
    python - <<'PY' || true
import importlib
for name in ("torch", "transformers", "accelerate", "peft", "pandas", "numpy", "yaml", "safetensors",
             "matplotlib", "tensorboard", "vllm"):
    try:
        print(name, importlib.import_module(name).__version__)
    except ImportError:
        print(name, "MISSING")
PY
    rm -rf "$site" && tar xzf "$ASSETS/site.tar.gz" -C "$ASSETS"
    # the project itself from the working tree, the packages above ahead of the image's; its torch stays
    PYTHONPATH="$PWD:$PWD/$site" timeout 470 python bench/gpu_check.py "$out" "${@:3}" 2>&1 | tee "$out/gpu_check.log"
    ;;
  *)
    echo "usage: bash bench/gpu_check.sh prepare | run OUT_DIR" >&2
    exit 2
    ;;
esac
