"""glibc malloc held to fixed limits, so memory the server frees goes back to the system.

What grew in a fuzzed run (docs/PERFORMANCE.md, "Server RSS over a fuzzed run"): not Python's heap
and not a cache, but memory glibc had been given back by `free` and kept. glibc starts with an
mmap threshold of 128 KiB and *raises* it to the size of any mmapped block that is freed (up to
32 MiB), and the trim threshold with it to twice that. The server's first large short-lived buffer
(a request body, a decoded record batch, an embedding batch, a keyword-index rebuild) therefore
moves every later buffer of that size from mmap, returned on free, into the arena heaps, where a
few small live objects allocated after it pin the freed space: midway through 1,000 fuzzed requests
the arenas held 332 MB of which 208 MB was free. Held at glibc's own starting values (no dynamic
raise), large blocks are mmapped and unmapped again, and the top of each heap is trimmed past
128 KiB: the same run grew by less than half as much.

Each limit is left alone when the environment sets it (glibc reads `MALLOC_ARENA_MAX`,
`MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_` and `GLIBC_TUNABLES` itself), and the whole is
a no-op off glibc. Called once, before the server starts any thread.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Mapping

# glibc's mallopt parameter numbers (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

# At most two arenas: glibc would give each concurrently allocating thread its own (up to 8 per
# core), and memory freed in one is not reused by the others.
ARENAS = 2
# glibc's own starting values, held fixed instead of rising with the largest block freed so far.
MMAP_THRESHOLD = 128 * 1024
TRIM_THRESHOLD = 128 * 1024

# (mallopt parameter, value, environment variable and GLIBC_TUNABLES name that override it)
_LIMITS = (
    (M_ARENA_MAX, ARENAS, "MALLOC_ARENA_MAX", "glibc.malloc.arena_max"),
    (M_MMAP_THRESHOLD, MMAP_THRESHOLD, "MALLOC_MMAP_THRESHOLD_", "glibc.malloc.mmap_threshold"),
    (M_TRIM_THRESHOLD, TRIM_THRESHOLD, "MALLOC_TRIM_THRESHOLD_", "glibc.malloc.trim_threshold"),
)


def bound_malloc(environ: Mapping[str, str]) -> list[str]:
    """Apply each limit `environ` (the process environment) leaves unset; returns the ones applied."""
    if not sys.platform.startswith("linux"):
        return []
    name = ctypes.util.find_library("c")
    if not name:
        return []
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc
        return []
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    tunables = environ.get("GLIBC_TUNABLES", "")
    applied: list[str] = []
    for param, value, variable, tunable in _LIMITS:
        if variable in environ or tunable in tunables:
            continue
        if mallopt(param, value) == 1:  # mallopt returns 1 on success
            applied.append(variable)
    return applied
