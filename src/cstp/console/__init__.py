"""The `cstp` command line: the protocol's methods from a terminal, and export, import, backup
and restore of a running server. Built on `cstp.client` (the wire) with typer and rich; it
imports nothing of the server (an import-linter contract keeps it so)."""
