"""The simulator's REST API under ``/v1`` (Starlette on uvicorn): see :mod:`.app`."""
