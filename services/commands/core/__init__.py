"""Pure core of the commands service: strategies, validation rules, risk limits, token bucket, ids.

No asyncio, NATS, Redis or HTTP here; the shell (``services.commands``) feeds these typed inputs.
"""
