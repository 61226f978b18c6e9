"""Tuning for serving: long-lived objects leave the collector's walk, startup garbage does not stay,
and the switch interval is set. In a fresh interpreter, since both are for the life of the process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

PROBE = textwrap.dedent(
    """
    import gc, sys, weakref
    from cstp.runtime.interpreter import SWITCH_INTERVAL_S, tune_for_serving

    class Node:
        pass

    def cycle():
        a, b = Node(), Node()
        a.other, b.other = b, a
        return weakref.ref(a)

    kept = [[Node()] for _ in range(50_000)]   # what startup builds and keeps
    dropped = cycle()                          # garbage of startup: a cycle nobody holds
    frozen = tune_for_serving()
    assert sys.getswitchinterval() == SWITCH_INTERVAL_S
    assert dropped() is None, "startup garbage was frozen instead of collected"
    assert frozen >= 100_000, frozen
    assert gc.get_count()[2] == 0
    later = cycle()                            # what the server allocates afterwards
    gc.collect()
    assert later() is None, "an object made after the freeze was not collected"
    print("ok", frozen)
    """
)


def test_tuning_keeps_startup_objects_out_of_collections_and_collects_everything_else() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ")
