"""A client for a CSTP server over HTTP JSON-RPC (used by the `cstp` command line).

It knows the wire protocol only: nothing of the server's internals is imported (an import-linter
contract keeps it so), so it works against any CSTP server, ours or the reference.
"""

from cstp.client.http import CstpClient, RpcFailure, TransportFailure

__all__ = ["CstpClient", "RpcFailure", "TransportFailure"]
