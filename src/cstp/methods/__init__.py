"""Wire adapters: one module per method group, each exporting `METHODS: tuple[MethodSpec, ...]`.

Params models hold the wire names (camelCase, plus the aliases real clients send); handlers turn
them into domain calls and shape the result exactly as the protocol notes describe.
"""
