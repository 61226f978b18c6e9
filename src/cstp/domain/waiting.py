"""`may_wait()`: the places where a call is about to wait on I/O, and whether it may there.

The web layer answers some calls on the event loop instead of a worker thread: the hop to a
thread and back costs more than the call itself under load (docs/PERFORMANCE.md, "Mixed load"),
and these calls usually answer from memory (a list-mode page from the browse catalogue and the
recent-records cache, a guardrail check against compiled rules). Usually is not always: the
page's records may not be cached, the catalogue may be past its lag bound, a breaker's probe may
have to be claimed in the store. Waiting for any of those on the event loop would stall every
other request of the process.

So each place that waits on I/O calls `may_wait()` first: every Chroma call (the adapters' one
choke point for them), a read model's catch-up in the caller, a group commit's wait for its
batch. Inside `answering_inline()` (the event loop's attempt) it raises `WouldWait`, and the web
layer runs the call again on a worker thread, from the start. An attempt therefore must do
nothing before its first wait that it cannot do twice: the calls tried this way only read (or,
like a guardrail check, decide before they write).

`WouldWait` is a `BaseException`, like `KeyboardInterrupt`: it is control flow, not a failure,
and no `except Exception` on its way out (a handler's "store unavailable" fallback, the JSON-RPC
pipeline's error mapping) may take it for one.

Thread safety: the flag is a context variable, so it holds only for the code the event loop runs
inside the block; a worker thread running the call again starts without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_INLINE: ContextVar[bool] = ContextVar("cstp_answering_inline", default=False)


class WouldWait(BaseException):  # noqa: N818 (not an error: see the module docstring)
    """Raised by `may_wait()` inside `answering_inline()`: run this call where it may wait."""


@contextmanager
def answering_inline() -> Iterator[None]:
    """The calls made inside may not wait on I/O: where they would, `WouldWait` is raised."""
    token = _INLINE.set(True)
    try:
        yield
    finally:
        _INLINE.reset(token)


def may_wait() -> None:
    """Called just before waiting on I/O; raises `WouldWait` inside `answering_inline()`."""
    if _INLINE.get():
        raise WouldWait
