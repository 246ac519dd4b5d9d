"""Resumable stages: a stage whose inputs have not changed is not run again.

Each stage records, once it has finished, a fingerprint of everything it depends on (settings,
input file versions, the fingerprints of the stages before it) and what it produced.  Running
the experiment again skips every stage whose recorded fingerprint matches, so an interrupted
experiment resumes, and a changed setting reruns exactly the stages downstream of it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path


def fingerprint(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Stages:
    """The record of finished stages under `root/stages/`."""

    def __init__(self, root: Path, log: Callable[[str], None]):
        self.dir = root / "stages"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = log

    def run(self, name: str, key: str, work: Callable[[], dict]) -> dict:
        """`work()`'s result, from the record when `key` matches it, else computed and recorded."""
        path = self.dir / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.json"
        if path.is_file():
            done = json.loads(path.read_text())
            if done["key"] == key:
                self.log(f"  {name}: done before, kept")
                return done["result"]
        result = work()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"name": name, "key": key, "result": result}, indent=1))
        tmp.replace(path)
        return result
