"""The interpreter tuned for serving: the startup heap out of the garbage collector's sight, and a
shorter switch interval of the interpreter lock.

The heap (`freeze_startup_heap`).
A server process builds some 200,000 long-lived objects before it serves (the web framework, the
Chroma client, the embedding model's wrappers, pydantic's validators, the method table), and each
full (generation 2) collection of the cyclic garbage collector walks all of them with the
interpreter lock held. Measured under the mixed load (32 clients, docs/PERFORMANCE.md), one came
every 6-10 s and took 150-220 ms: a pause every request in flight waited out. Frozen once the app
is built, they are never walked again, and the same collections took 20-60 ms. Whatever the
process allocates afterwards is collected as before; the garbage of startup is collected first,
so nothing freed is kept.

The switch interval (`SWITCH_INTERVAL_S`). A thread waiting for the interpreter lock asks the
holder to let go after the switch interval, 5 ms by default, and then competes with every other
waiting thread. The server's request threads hold the lock briefly between waits on sockets and
locks, while its background work (a keyword-index rebuild, decoding a page of records) holds it
for as long as it is let: under the mixed load each short request waited out several such
rounds. At 1 ms, in four interleaved 30 s mixed-load runs (docs/PERFORMANCE.md), the slowest
accepted record took 1.51 and 1.64 s against 2.29 and 1.86 s at 5 ms, with more records served
(208 and 232 against 182 and 209).

Only the server process does either (`cli`): an app built in a test or a tool is garbage when its
test ends, and frozen it would never be collected.
"""

from __future__ import annotations

import gc
import sys

SWITCH_INTERVAL_S = 0.001


def tune_for_serving() -> int:
    """Both settings, once the app is built and before it serves; returns the objects frozen."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    return freeze_startup_heap()


def freeze_startup_heap() -> int:
    """Collect, then move every object tracked now to the permanent generation; returns how many."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
