# GPU image for M2 training: Python 3.11, CUDA torch from PyPI (it carries its CUDA and NCCL
# libraries; the host provides the driver) and this package; the entry point is the training
# launcher (m2_train/launch.sh: torchrun on one node or several).
#
#   docker build -f docker/train.Dockerfile -t eqinfo-train .
#   docker run --gpus all --ipc=host eqinfo-train --nproc-per-node 8 -- \
#       --shards gs://BUCKET/shards/eq16 --model 113m --steps 200000 --out gs://BUCKET/runs/m2
#   (several nodes: add --nnodes N --node-rank R --rdzv-endpoint HOST:29500, see launch.sh)
FROM python:3.11-slim-bookworm

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/eqinfo/src
COPY setup.py pyproject.toml README.md ./
COPY compressor ./compressor
COPY pipelines ./pipelines
COPY m2_train ./m2_train

RUN pip install --no-cache-dir .

# The check and the launcher run from /: from the source tree, which lacks the built extension,
# Python would import it in place of the installed package (the current directory comes first).
WORKDIR /
RUN python -c "import compressor.coder._coder, torch; print(torch.__version__)"

ENV PYTHONUNBUFFERED=1 PYTHON=python
ENTRYPOINT ["/opt/eqinfo/src/m2_train/launch.sh"]
