"""Files: local paths and gs:// alike (storage, on fsspec), corpora of documents (corpus), and the
demo's default text (demo_text)."""
