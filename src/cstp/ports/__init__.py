"""Ports: the small interfaces the domain needs from the outside world, and their adapters.

`store.DecisionStore` is implemented by `memory_store` (tests, benchmarks' floor) and `chroma_store`
(embedded persistent Chroma or a Chroma server over HTTP). `embedder.Embedder` is implemented by
`onnx_embedder` (offline all-MiniLM-L6-v2) and `gemini_embedder` (REST). Adapters translate every
foreign exception into `StoreUnavailable` / `EmbedderUnavailable` at this boundary.
"""
