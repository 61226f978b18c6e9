"""JSON-RPC 2.0, knowing nothing of decisions or of the web framework.

`dispatch(body, table, ctx)` turns request bytes into response bytes (or None when every request
was a notification). Method handlers come from an explicit `MethodTable`.
"""

from cstp.rpc.dispatch import dispatch
from cstp.rpc.table import MethodSpec, MethodTable

__all__ = ["MethodSpec", "MethodTable", "dispatch"]
