# Dataflow worker image for `eqinfo compress`: Beam's own Python 3.11 SDK container at the Beam
# version setup.py pins, with this package (C coder built inside) and CUDA torch, so M1 codes on
# the worker's GPU when the job asks for one (see README: worker_accelerator).
#
#   docker build -f docker/dataflow.Dockerfile -t REGION-docker.pkg.dev/PROJECT/eqinfo/worker:TAG .
#   docker push REGION-docker.pkg.dev/PROJECT/eqinfo/worker:TAG
#   eqinfo compress ... -- --runner DataflowRunner --sdk_container_image REGION-docker.pkg.dev/PROJECT/eqinfo/worker:TAG
FROM apache/beam_python3.11_sdk:2.77.0

# A C compiler for the coder extension (the SDK image is Debian; versions follow its release).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/eqinfo/src
COPY setup.py pyproject.toml README.md ./
COPY compressor ./compressor
COPY pipelines ./pipelines
COPY m2_train ./m2_train

# PyPI's torch wheel for Linux x86-64 is the CUDA build and carries its CUDA libraries; the
# driver comes from Dataflow (install-nvidia-driver).
# setup.py pins every dependency, so the package itself needs no pin here.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[dataflow]"

# Python puts the current directory first on sys.path (`python -c` here; `python -m` for the SDK
# harness that boot starts), where the source tree, which lacks the built extension, would shadow
# the installed package: the check and the workers run from /.  The import checks the extension built.
WORKDIR /
RUN python -c "import compressor.coder._coder, pipelines.compress, torch; print(torch.__version__)"

# The SDK harness stays the entry point: Dataflow starts /opt/apache/beam/boot.
ENTRYPOINT ["/opt/apache/beam/boot"]
