"""The domain: decisions, search, calibration and guardrails as plain Python.

Nothing in this package imports FastAPI, chromadb or httpx (a test checks this). Services receive
their ports (store, embedder) at construction and can run from a test, a CLI or a worker.
"""
