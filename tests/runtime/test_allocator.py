"""Freed large buffers go back to the system once `bound_malloc` has run (glibc only).

Each case runs in a fresh interpreter, since mallopt changes the process for good. The pattern is
the server's: a large buffer freed once (which raises glibc's dynamic mmap threshold), then many
large buffers each followed by a small allocation that stays live, then the large ones freed.
Without the fixed limits the freed space stays inside the heap, pinned by the small ones; with
them it is unmapped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cstp.runtime import allocator

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not os.confstr("CS_GNU_LIBC_VERSION"),
    reason="glibc malloc only",
)

_SCRIPT = r"""
import ctypes, ctypes.util, sys
from cstp.runtime.allocator import bound_malloc
if sys.argv[1] == "bound":
    bound_malloc({})
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]

def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

first = libc.malloc(8 << 20)
libc.memset(first, 1, 8 << 20)
libc.free(first)
big, pins = [], []
before = rss_kb()
for _ in range(64):
    block = libc.malloc(1 << 20)
    libc.memset(block, 1, 1 << 20)
    big.append(block)
    pins.append(libc.malloc(48 << 10))
peak = rss_kb()
for block in big:
    libc.free(block)
print(peak - before, rss_kb() - before)
"""

_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
_ENV["PYTHONPATH"] = str(Path(allocator.__file__).resolve().parents[2])


def _retained_mb(mode: str) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, mode],
        env=_ENV,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    return int(out[0]) / 1024, int(out[1]) / 1024


def test_freed_large_buffers_are_returned_with_the_limits() -> None:
    peak, retained = _retained_mb("bound")
    assert peak >= 60  # the 64 MiB were really touched
    assert retained < 8


def test_glibc_keeps_them_without_the_limits() -> None:
    """The control: what the limits are for (if this fails, glibc changed and the limits may be moot)."""
    peak, retained = _retained_mb("default")
    assert peak >= 60
    assert retained > 48


def test_a_limit_set_in_the_environment_is_left_to_it() -> None:
    script = (
        "from cstp.runtime.allocator import bound_malloc\n"
        "print(','.join(bound_malloc({'MALLOC_ARENA_MAX': '4', "
        "'GLIBC_TUNABLES': 'glibc.malloc.trim_threshold=1048576'})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=_ENV, capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert out == "MALLOC_MMAP_THRESHOLD_"


def test_the_server_applies_them_before_anything_else() -> None:
    """`cstp.cli` bounds malloc at import, before chromadb, onnxruntime or any thread."""
    script = (
        "import sys, cstp.runtime.allocator as a\n"
        "calls = []\n"
        "real = a.bound_malloc\n"
        "a.bound_malloc = lambda *x: calls.append(sorted(sys.modules)) or real(*x)\n"
        "import cstp.cli\n"
        "mods = calls[0]\n"
        "print(len(calls), any(m.startswith(('chromadb', 'onnxruntime', 'numpy')) for m in mods))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=_ENV, capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert out[:2] == ["1", "False"]
