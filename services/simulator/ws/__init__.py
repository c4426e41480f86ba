"""The simulator's WebSocket JSON-RPC server at ``/v1``: see :mod:`.server` and :mod:`.hub`."""
