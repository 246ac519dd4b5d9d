"""Real text for the demo that is there on any machine with Python: the C4 sample when the
project's shared data is beside it, else the English reference documentation that ships inside
CPython itself (`pydoc_data.topics`, ~460 KB in ~80 topics).
"""

from __future__ import annotations

import os
from pathlib import Path

from compressor.io.corpus import read_documents

C4_SAMPLE = Path(__file__).resolve().parents[3] / "shared/data/c4/c4-train.00000-of-01024.first900.json.gz"


def default_documents(limit: int) -> tuple[list[bytes], str]:
    """Up to `limit` documents and where they came from."""
    c4 = Path(os.environ.get("EQINFO_C4_SAMPLE", C4_SAMPLE))
    if c4.is_file():
        return list(read_documents(c4, limit)), str(c4)
    from pydoc_data.topics import topics

    docs = [text.encode("utf-8") for _, text in sorted(topics.items())][:limit]
    return docs, "pydoc_data.topics (Python's own reference documentation)"
