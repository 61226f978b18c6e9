"""A deterministic embedder for wire tests: no model, no threads, the same vector every run.

Each lower-cased word and each of its character trigrams is hashed into one of 384 dimensions; the
sum is normalised. Texts sharing words or word stems ("branch", "branches") are near, others far:
enough for tests of the protocol, filters and modes, not of semantic quality (tests/integration
runs the same wire tests on the real ONNX model and Chroma).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence

from cstp.domain.ports import Purpose

DIMENSION = 384
_WORD = re.compile(r"\w+")


class HashEmbedder:
    """Thread safety: stateless."""

    space = f"test-hash-{DIMENSION}"
    dimension = DIMENSION

    def embed(self, texts: Sequence[str], purpose: Purpose = "document") -> list[list[float]]:
        return [_vector(t) for t in texts]

    def close(self) -> None:
        pass


def _features(text: str) -> list[str]:
    out: list[str] = []
    for word in _WORD.findall(text.lower()):
        out.append(word)
        padded = f"^{word}$"
        out += [padded[i : i + 3] for i in range(len(padded) - 2)]
    return out


def _vector(text: str) -> list[float]:
    v = [0.0] * DIMENSION
    for feature in _features(text) or ["<empty>"]:
        h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=4).digest(), "big")
        v[h % DIMENSION] += 1.0 if h & 0x80000000 else -1.0
    norm = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / norm for x in v]
