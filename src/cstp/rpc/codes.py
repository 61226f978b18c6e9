"""JSON-RPC 2.0 error codes (https://www.jsonrpc.org/specification#error_object)."""

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

# Server-defined (the -32000..-32099 range the specification reserves for implementations).
FORBIDDEN = -32003  # the caller is authenticated but not allowed this method
