# GPU image for M2 training and for coding with M1 on a GPU outside Dataflow: Python 3.11, CUDA
# torch from PyPI (it carries its CUDA and NCCL libraries; the host provides the driver) and
# this package, with `eqinfo` as the entry point.
#
#   docker build -f docker/train.Dockerfile -t eqinfo-gpu .
#   docker run --gpus all --ipc=host eqinfo-gpu compress --input ... --tokenizer equal_info_ac:...
FROM python:3.11-slim-bookworm

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/eqinfo
COPY setup.py pyproject.toml README.md ./
COPY compressor ./compressor
COPY pipelines ./pipelines

RUN pip install --no-cache-dir . \
    && python -c "import compressor._coder, torch; print(torch.__version__)"

ENV PYTHONUNBUFFERED=1
ENTRYPOINT ["eqinfo"]
