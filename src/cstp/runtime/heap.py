"""The startup heap moved out of the garbage collector's sight (`gc.freeze`), so full collections
stay short.

A server process builds some 200,000 long-lived objects before it serves (the web framework, the
Chroma client, the embedding model's wrappers, pydantic's validators, the method table), and each
full (generation 2) collection of the cyclic garbage collector walks all of them with the
interpreter lock held. Measured under the mixed load (32 clients, docs/PERFORMANCE.md), one came
every 6-10 s and took 150-220 ms: a pause every request in flight waited out. Frozen once the app
is built, they are never walked again, and the same collections took 20-60 ms. Whatever the
process allocates afterwards is collected as before; the garbage of startup is collected first,
so nothing freed is kept.

Only the server process does this (`cli`): an app built in a test or a tool is garbage when its
test ends, and frozen it would never be collected.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect, then move every object tracked now to the permanent generation; returns how many."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
