"""Adapters: the implementations of `cstp.domain.ports` for the outside world.

`memory_store` (the executable reference of the store port), `chroma/` (embedded or server Chroma),
`onnx_embedder` (offline MiniLM) and `gemini_embedder` (REST). Each translates its dependency's
exceptions into the domain's `StoreUnavailable` / `EmbedderUnavailable`; nothing above sees them.
"""
