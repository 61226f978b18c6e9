"""Chroma, httpx and OS errors → `StoreUnavailable`, most specific first (httpx's
`map_httpcore_exceptions` is the model).

`ChromaErrors.call(action)` wraps only the expression that calls Chroma: decoding and every other
piece of cstp's own code run outside it, so a bug of ours surfaces as itself (an internal error with
a stack trace in the log), never disguised as a store outage. There is deliberately no catch-all:
an exception type not listed here is unexpected and should be seen as such (and since only Chroma
calls are wrapped, the ValueError case can only be chromadb's).

The message names the location (Chroma URL or data directory) and the first line of Chroma's
error, with secrets blanked. It is meant for the log and the operator: the RPC layer sends clients
a fixed text instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import chromadb.errors as chroma_errors
import httpx

from cstp.domain.errors import StoreUnavailable
from cstp.domain.waiting import may_wait


class ChromaErrors:
    """Translates errors raised by Chroma calls for one store (its location and secrets).

    Thread safety: immutable after construction; `on_missing_collection` must be thread-safe.
    """

    def __init__(
        self,
        location: str,
        secrets: Sequence[str] = (),
        on_missing_collection: Callable[[], None] | None = None,
    ) -> None:
        self._location = location
        self._secrets = tuple(s for s in secrets if s)
        self._on_missing = on_missing_collection

    @contextmanager
    def call(self, action: str) -> Iterator[None]:
        """Run the enclosed Chroma call; its failure becomes StoreUnavailable naming `action`.
        Not on the event loop (`domain.waiting`): there it raises WouldWait before the call."""
        may_wait()
        try:
            yield
        except chroma_errors.NotFoundError as e:
            # A collection was deleted under us (e.g. another instance reset the index): the
            # store forgets its handles, so the next call reopens or recreates them.
            if self._on_missing is not None:
                self._on_missing()
            raise StoreUnavailable(f"Chroma {action} failed: {self.short(e)}") from e
        except (chroma_errors.ChromaAuthError, chroma_errors.AuthorizationError) as e:
            raise StoreUnavailable(f"Chroma at {self._location} refused {action}: {self.short(e)}") from e
        except chroma_errors.ChromaError as e:
            raise StoreUnavailable(f"Chroma {action} failed: {self.short(e)}") from e
        except httpx.TimeoutException as e:
            raise StoreUnavailable(f"Chroma at {self._location} timed out ({action})") from e
        except httpx.HTTPStatusError as e:
            status = e.response.status_code
            raise StoreUnavailable(f"Chroma at {self._location} answered HTTP {status} ({action})") from e
        except httpx.HTTPError as e:  # connection refused / reset, protocol errors
            raise StoreUnavailable(
                f"cannot reach Chroma at {self._location} ({action}): {type(e).__name__}"
            ) from e
        except OSError as e:  # embedded: disk full, permissions
            reason = e.strerror or type(e).__name__
            raise StoreUnavailable(f"Chroma {action} failed at {self._location}: {reason}") from e
        except ValueError as e:
            # chromadb's client wraps what the server said (and "Could not connect") in ValueError.
            raise StoreUnavailable(f"Chroma {action} failed: {self.short(e)}") from e

    def short(self, error: BaseException) -> str:
        """First line of the error, at most 200 characters, with any secret blanked out."""
        text = str(error).strip().splitlines()[0] if str(error).strip() else ""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return (text[:200] + "…" if len(text) > 200 else text) or type(error).__name__
