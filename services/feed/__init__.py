"""The feed service: Paradex WebSocket → bus events (see services/feed/service.py)."""
