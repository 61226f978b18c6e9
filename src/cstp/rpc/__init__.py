"""JSON-RPC 2.0, knowing nothing of decisions or of the web framework.

`dispatch(body, table, ctx)` (or a configured `Dispatcher`) turns request bytes into response bytes
(or None when every request was a notification). Method handlers come from an explicit
`MethodTable`; how exceptions become error objects comes from an `ErrorTable` the caller passes in.
"""

from cstp.rpc.dispatch import Dispatcher, dispatch
from cstp.rpc.table import MethodSpec, MethodTable

__all__ = ["Dispatcher", "MethodSpec", "MethodTable", "dispatch"]
