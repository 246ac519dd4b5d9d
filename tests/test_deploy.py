"""Production deployment without the cloud: the Dataflow job a real `eqinfo compress` pipeline
becomes (built offline), and the worker images, linted (no image can be built on these machines)."""

from __future__ import annotations

import gzip
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from pipelines.compress import run
from pipelines.config import BATCH_BYTES, LANE_BYTES, Config

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILES = sorted((ROOT / "docker").glob("*.Dockerfile"))
IMAGE = "us-docker.pkg.dev/my-proj-123/eqinfo/worker:1"
ACCELERATOR = "worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver"


def readme_dataflow_args() -> list[str]:
    """The Beam arguments of the README's Dataflow command, placeholders filled in."""
    text = (ROOT / "README.md").read_text()
    [block] = [b for b in re.findall(r"```sh\n(.*?)```", text, re.S) if "DataflowRunner" in b]
    args = shlex.split(block.replace("\\\n", " "))
    args = args[args.index("--") + 1 :]
    fill = {
        "PROJECT": "my-proj-123",
        "BUCKET": "my-bucket",
        "us-central1-docker.pkg.dev/my-proj-123/eqinfo/worker:1": IMAGE,
    }
    out = []
    for arg in args:
        for key, value in fill.items():
            arg = arg.replace(key, value)
        out.append(arg)
    return out


def test_the_readmes_dataflow_job_names_the_image_the_gpu_the_worker_settings_and_the_steps(c4_sample):
    from apache_beam.options.pipeline_options import DebugOptions
    from apache_beam.runners.dataflow.internal import apiclient

    config = Config([str(c4_sample)], "gs://my-bucket/shards/eq16", "gzip:v=65536")
    beam_args = [*readme_dataflow_args(), "--dry_run=True", "--no_auth"]
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
    # One batch at a time in each SDK process (the README says why).
    debug = job.options.view_as(DebugOptions)
    assert debug.number_of_worker_harness_threads == 1 and "use_runner_v2" in debug.experiments
    steps = {t.unique_name for t in job.proto_pipeline.components.transforms.values()}
    assert {"Read", "Code", "Pack", "ByShard", "Write", "Manifest"} <= steps


def test_batches_follow_the_lanes_of_the_device_m1_codes_on(tiny_m1):
    from apache_beam.options.pipeline_options import PipelineOptions

    from compressor.tokenizers import parse_spec
    from pipelines.compress import batch_bytes_for

    m1 = parse_spec(f"equal_info_ac:b=16,v=256,m1={tiny_m1}")
    on_gpu = PipelineOptions(readme_dataflow_args())
    assert batch_bytes_for(m1, PipelineOptions([])) == 256 * LANE_BYTES == 4 << 20  # this machine: a CPU
    assert batch_bytes_for(m1, on_gpu) == 4096 * LANE_BYTES == 64 << 20  # the job's GPU workers
    assert batch_bytes_for(parse_spec("gzip:v=65536"), on_gpu) == BATCH_BYTES  # no M1, no lanes


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


# The worker image's install, run here as the Dockerfile says it (no Docker on these machines).
# apt-get is skipped (gcc is here) and the same torch pin resolves to the CPU wheel on this
# machine's disk (pip's configuration here) where the image gets PyPI's CUDA build.
CODING_CHECK = """
import json, sys, sysconfig
from pathlib import Path

from apache_beam.utils.shared import Shared

import compressor.coder._coder as extension
import pipelines.coding as coding
from compressor.tokenizers import parse_spec
from pipelines.inputs import DocBatch

doc = Path(sys.argv[1]).read_bytes()
results = {}
for spec in sys.argv[2:]:
    fn = coding.CodeBatch(spec, ["c4.json.gz"], Shared())
    fn.setup()
    batch = DocBatch(file=0, batch=0)
    batch.add(1, doc)
    [coded] = fn.process(batch)
    [one] = coded.docs()
    assert parse_spec(spec).decode(one.ids) == doc, spec
    results[spec] = int(one.ids.size)
    fn.teardown()
print(json.dumps({
    "site_packages": sysconfig.get_paths()["purelib"],
    "modules": [extension.__file__, coding.__file__],
    "ids": results,
}))
"""
CODING_SPECS = ("bytes", "gzip:v=65536", "equal_info_ac:b=16,v=65536,model=uniform")  # the last runs the C coder


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    out, parts = [], []
    for line in path.read_text().splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts.append(text.removesuffix("\\").strip())
        if not text.endswith("\\"):
            keyword, _, args = " ".join(parts).partition(" ")
            out.append((keyword.upper(), args.strip()))
            parts = []
    return out


def dockerignored(rel: str, patterns: list[str]) -> bool:
    """Whether .dockerignore leaves `rel` (or a folder above it) out of the build context."""
    paths = ["/".join(rel.split("/")[: i + 1]) for i in range(rel.count("/") + 1)]
    ignored = False
    for pattern in patterns:
        keep = pattern.startswith("!")
        glob = pattern.removeprefix("!").strip("/")
        regex = re.escape(glob).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, p) for p in paths):
            ignored = not keep
    return ignored


def copy_from_context(args: str, workdir: Path, image: Path, patterns: list[str]) -> None:
    """COPY SRC... DEST, from the repo as build context into the image's tree, as Docker does it."""
    *sources, dest = shlex.split(args)
    assert sources and not any(s.startswith("--") for s in sources), f"COPY {args}: teach this test the form"
    target = image / dest.lstrip("/") if dest.startswith("/") else workdir / dest
    for source in sources:
        src = ROOT / source
        assert src.exists(), f"COPY {args}: {source} is not in the build context"
        files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
        for f in files:
            rel = f.relative_to(ROOT).as_posix()
            if dockerignored(rel, patterns):
                continue
            if src.is_file():
                to = target / src.name if dest.endswith("/") or len(sources) > 1 else target
            else:
                to = target / f.relative_to(src)
            to.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, to)


def test_dataflow_image_installs_and_codes_a_document(tmp_path, c4_sample):
    dockerfile = ROOT / "docker" / "dataflow.Dockerfile"
    ignore = ROOT / ".dockerignore"
    patterns = [p.strip() for p in ignore.read_text().splitlines() if p.strip() and not p.startswith("#")]
    venv, image = tmp_path / "venv", tmp_path / "image"
    image.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env |= {"PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", "VIRTUAL_ENV": str(venv)}

    workdir, ran = image, []
    for keyword, args in dockerfile_instructions(dockerfile):
        if keyword == "WORKDIR":
            workdir = image / args.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            copy_from_context(args, workdir, image, patterns)
        elif keyword == "RUN":
            commands = [c.strip() for c in args.split("&&")]
            if commands[0].startswith("apt-get "):
                continue  # the compiler: this machine has gcc
            for command in commands:  # nothing else runs on this machine's own paths
                assert command.startswith(("pip install ", "python -c ")), f"RUN {command}: teach this test the step"
            for command in commands:  # `a && b` in /bin/sh, one at a time to say which failed
                proc = subprocess.run(
                    command,
                    shell=True,
                    cwd=workdir,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    timeout=900,
                )
                assert proc.returncode == 0, f"RUN ... {command} (in {workdir}):\n{proc.stdout[-3000:]}"
                ran.append(command)
    assert any('pip install --no-cache-dir ".[dataflow]"' in r for r in ran), ran
    assert any(r.startswith("python -c ") for r in ran), ran

    # The workers' Python starts in the image's last WORKDIR (boot runs `python -m ...` there).
    doc_path = tmp_path / "doc.txt"
    with gzip.open(c4_sample, "rt", encoding="utf-8") as f:
        doc = json.loads(f.readline())["text"].encode("utf-8")
    doc_path.write_bytes(doc)
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", CODING_CHECK, str(doc_path), *CODING_SPECS],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    site_packages = Path(result["site_packages"]).resolve()
    assert site_packages.is_relative_to(venv.resolve())
    for module in result["modules"]:  # the installed package, not the repo's or the image's source tree
        assert Path(module).resolve().is_relative_to(site_packages), module
    assert result["ids"]["bytes"] == len(doc) and set(result["ids"]) == set(CODING_SPECS)
