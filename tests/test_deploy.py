"""Production deployment without the cloud: the Dataflow job a real `eqinfo compress` pipeline
becomes (built offline), and the worker images, linted (no image can be built on these machines)."""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from pipelines.compress import run
from pipelines.config import Config

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILES = sorted((ROOT / "docker").glob("*.Dockerfile"))
IMAGE = "us-docker.pkg.dev/my-proj-123/eqinfo/worker:1"
ACCELERATOR = "worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver"


def test_dataflow_job_names_the_image_the_gpu_and_the_pipeline_steps(c4_sample):
    from apache_beam.runners.dataflow.internal import apiclient

    config = Config([str(c4_sample)], "gs://my-bucket/shards/eq16", "gzip:v=65536", num_shards=64)
    beam_args = [
        *("--runner", "DataflowRunner", "--project", "my-proj-123", "--region", "us-central1"),
        *("--temp_location", "gs://my-bucket/tmp", "--sdk_container_image", IMAGE),
        *("--dataflow_service_options", ACCELERATOR, "--machine_type", "g2-standard-8"),
        *("--dry_run=True", "--no_auth"),
    ]
    job = run(config, beam_args).job  # built, not staged or submitted
    environment = apiclient.Environment(
        packages=[],
        options=job.options,
        environment_version="8",
        proto_pipeline_staged_url="gs://my-bucket/tmp/staging/pipeline.pb",
        proto_pipeline=job.proto_pipeline,
    ).proto
    assert environment.service_options == [ACCELERATOR]
    [pool] = environment.worker_pools
    assert pool.worker_harness_container_image == IMAGE and pool.machine_type == "g2-standard-8"
    steps = {t.unique_name for t in job.proto_pipeline.components.transforms.values()}
    assert {"Read", "Code", "GroupFiles", "Records", "GroupShards", "Write", "Manifest"} <= steps


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=[p.name for p in DOCKERFILES])
def test_dockerfiles_pass_hadolint_and_ship_every_package(dockerfile):
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    proc = subprocess.run([hadolint, str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = dockerfile.read_text()
    for package in ("compressor", "pipelines", "m2_train"):
        assert f"COPY {package} ./{package}" in text


def test_dataflow_image_is_the_sdk_of_the_pinned_beam_and_python():
    text = (ROOT / "docker" / "dataflow.Dockerfile").read_text()
    [base] = re.findall(r"^FROM (\S+)", text, re.M)
    python = ".".join(platform.python_version_tuple()[:2])
    assert base == f"apache/beam_python{python}_sdk:{version('apache-beam')}"
    assert '".[dataflow]"' in text
