"""An acknowledged write to embedded Chroma survives `kill -9` of the process that made it.

A child process saves decisions through `ChromaStore.embedded`, prints "ok" once `save()` has
returned, and waits; the parent kills it with SIGKILL the moment it reads "ok" (no atexit, no
flush, no close), then reopens the directory and expects every record and every vector.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cstp.adapters.chroma.store import ChromaStore
from cstp.domain.filters import DecisionFilter
from tests.chroma_server import TELEMETRY_OFF


def vector(i: int) -> list[float]:
    """A distinct pseudo-random 16-d direction per decision (the child defines the same)."""
    rng = random.Random(i)
    return [rng.gauss(0.0, 1.0) for _ in range(16)]


CHILD = """
import random, sys, time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from cstp.domain.records import Decision
from cstp.adapters.chroma.store import ChromaStore

def vector(i):
    rng = random.Random(i)
    return [rng.gauss(0.0, 1.0) for _ in range(16)]

path, count = Path(sys.argv[1]), int(sys.argv[2])
store = ChromaStore.embedded(path, prefix="cstp", space="crash-space")
t0 = datetime(2024, 1, 1, tzinfo=UTC)
store.save([
    (
        Decision(id=f"k{i:07d}", decision=f"decision {i}", category="process",
                 confidence=0.5, stakes="low", date=t0 + timedelta(minutes=i), tags=("crash",)),
        vector(i),
    )
    for i in range(count)
])
print("ok", flush=True)
time.sleep(120)
"""


def save_then_kill(path: Path, count: int) -> None:
    """Run CHILD, SIGKILL it right after it reports the save, and check it did not exit alone."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **TELEMETRY_OFF},
    )
    try:
        assert child.stdout is not None and child.stderr is not None
        line = child.stdout.readline().decode().strip()
        if line != "ok":
            child.kill()
            _, err = child.communicate(timeout=30)
            pytest.fail(f"child did not save: {line!r}\n{err.decode(errors='replace')[-2000:]}")
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.slow
@pytest.mark.parametrize("count", [1, 1500], ids=["one", "past-hnsw-sync-threshold"])
def test_acknowledged_save_survives_kill_9(tmp_path: Path, count: int) -> None:
    path = tmp_path / "chroma"
    save_then_kill(path, count)

    store = ChromaStore.embedded(path, prefix="cstp", space="crash-space")
    try:
        assert store.count() == count
        last = f"k{count - 1:07d}"
        found = store.get(last)
        assert found is not None and found.decision == f"decision {count - 1}"
        assert len(store.index_versions()) == count
        [hit] = store.search(vector(count - 1), DecisionFilter(tags=("crash",)), 1)
        assert hit.decision.id == last
        assert hit.distance == pytest.approx(0.0, abs=1e-5)
        assert [d.id for d in store.list(DecisionFilter(), 1)] == [last]
    finally:
        store.close()
