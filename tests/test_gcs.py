"""gs:// corpus reading against a real GCS emulator (gcp-storage-emulator, in memory, on loopback)."""

from __future__ import annotations

import gzip
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from conftest import BUCKET, HOST, url

from compressor.io.corpus import CorpusError, read_documents

C4_LINES = [
    '{"text": "caf\\u00e9 \\/ ok\\n\\"quoted\\"", "timestamp": "2019-04-25 12:57:54", "url": "https:\\/\\/x"}',
    json.dumps({"text": "plain", "timestamp": "2019-04-25T12:57:54Z", "url": "https://x"}),
    "",
    json.dumps({"text": "日本語 \t tab", "timestamp": "2019-04-25T12:57:54Z", "url": "https://y"}, ensure_ascii=False),
]
C4_DOCS = ['café / ok\n"quoted"'.encode(), b"plain", "日本語 \t tab".encode()]


@pytest.mark.parametrize("name", ["c4.json.gz", "c4.jsonl"])
def test_c4_json_lines_read_as_locally(gcs, tmp_path, name):
    data = "\n".join(C4_LINES).encode()
    if name.endswith(".gz"):
        data = gzip.compress(data)
    local = tmp_path / name
    local.write_bytes(data)
    gcs.pipe(url(name), data)
    assert list(read_documents(url(name))) == list(read_documents(local)) == C4_DOCS


def test_limit(gcs):
    gcs.pipe(url("limit.json.gz"), gzip.compress("\n".join(C4_LINES).encode()))
    assert list(read_documents(url("limit.json.gz"), limit=2)) == C4_DOCS[:2]
    assert list(read_documents(url("limit.json.gz"), limit=0)) == []


def test_plain_text_object_is_one_document(gcs):
    data = b'\xff\xfe raw bytes\n{"text": "not parsed"}\n'
    gcs.pipe(url("doc.txt"), data)
    assert list(read_documents(url("doc.txt"))) == [data]


@pytest.mark.parametrize(
    "path",
    [url("missing.json.gz"), url("missing.txt"), "gs://no-such-bucket/c4.json.gz", url("dir"), f"gs://{BUCKET}"],
)
def test_missing_object(gcs, path):
    gcs.pipe(url("dir/inside.txt"), b"makes gs://corpus/dir a prefix, not an object")
    with pytest.raises(CorpusError, match=f"^{re.escape(path)}: no such file$"):
        list(read_documents(path))


def test_malformed_line_names_url_and_line(gcs):
    gcs.pipe(url("bad.jsonl"), b'{"text": "fine"}\n{not json\n')
    with pytest.raises(CorpusError, match=rf"^gs://{BUCKET}/bad\.jsonl:2: malformed JSON"):
        list(read_documents(url("bad.jsonl")))


def test_truncated_gzip_names_url(gcs):
    gcs.pipe(url("cut.json.gz"), gzip.compress(b'{"text": "a"}\n' * 100)[:-20])
    with pytest.raises(CorpusError, match=rf"^gs://{BUCKET}/cut\.json\.gz: cannot read"):
        list(read_documents(url("cut.json.gz")))


class Forbidding(BaseHTTPRequestHandler):
    """A GCS that knows the object but refuses to serve it (or, with ?alt=media absent, to describe it)."""

    fail_metadata = False

    def do_GET(self):
        if self.fail_metadata or "alt=media" in self.path:
            body, status = b'{"error": {"code": 403, "message": "no access"}}', 403
        else:
            body, status = json.dumps({"name": "x.jsonl", "bucket": "b", "size": "20"}).encode(), 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("fail_metadata", [True, False])
def test_server_errors_name_url(gcs, monkeypatch, fail_metadata):
    handler = type("Handler", (Forbidding,), {"fail_metadata": fail_metadata})
    with HTTPServer((HOST, 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            monkeypatch.setenv("EQINFO_GCS_ENDPOINT", f"http://{HOST}:{server.server_address[1]}")
            with pytest.raises(CorpusError, match=r"^gs://b/x\.jsonl: cannot read \(.*Forbidden"):
                list(read_documents("gs://b/x.jsonl"))
        finally:
            server.shutdown()


def test_real_c4_sample_reads_as_locally(gcs, c4_sample):
    gcs.pipe(url(c4_sample.name), c4_sample.read_bytes())
    remote = list(read_documents(url(c4_sample.name)))
    assert len(remote) == 900
    assert remote == list(read_documents(c4_sample))


def test_cli_reads_gs_urls(gcs, c4_sample):
    """A real `eqinfo` process, pointed at the emulator through the environment."""
    import os
    import subprocess
    import sys

    gcs.pipe(url("cli.json.gz"), c4_sample.read_bytes())
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "compressor.cli",
            "codec-check",
            "--input",
            url("cli.json.gz"),
            "--limit",
            "20",
            "--method",
            "ac",
            "--model",
            "uniform",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["documents"] == 20 and summary["exact"] is True


def test_spec_fits_on_gs_url_and_refits_when_the_object_changes(gcs):
    from compressor.tokenizers import SpecError, parse_spec

    spec = f"static_ac:v=256,fit={url('fit.jsonl')}"
    gcs.pipe(url("fit.jsonl"), b'{"text": "aaaa aaaa"}\n')
    text = b"aaaa bbbb"
    first = parse_spec(spec).encode(text)
    gcs.pipe(url("fit.jsonl"), b'{"text": "bbbb bbbb"}\n')  # a new generation: fitted afresh
    again = parse_spec(spec)
    assert again.encode(text).tolist() != first.tolist() and again.decode(again.encode(text)) == text
    with pytest.raises(SpecError, match=rf"fit=gs://{BUCKET}/absent.jsonl: no such file"):
        parse_spec(f"static_ac:v=256,fit={url('absent.jsonl')}")
