"""The embedder port: text → unit-length vectors in one embedding space."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

Purpose = Literal["document", "query"]


class Embedder(Protocol):
    """Turns texts into vectors. Implementations batch internally and are safe to call from threads."""

    @property
    def space(self) -> str:
        """Stable name of the embedding space: provider, model and dimension (collection-name safe)."""
        ...

    @property
    def dimension(self) -> int:
        """Length of every vector this embedder returns."""
        ...

    def embed(self, texts: Sequence[str], purpose: Purpose = "document") -> list[list[float]]:
        """One L2-normalised vector per text, in order. Raises EmbedderUnavailable on failure."""
        ...

    def close(self) -> None:
        """Release sessions and connections."""
        ...
