"""Logging set-up shared by every service: plain text or JSON lines, secrets never printed.

Call :func:`setup` once in a service's ``main``. Any value passed to :func:`register_secret` (the
settings loader registers every :class:`~shared.settings.Secret`) is replaced by ``***`` in every
record, including exception text. Only what a record carries is redacted, never the line's own
frame: a secret whose digits happen to occur in the timestamp leaves the timestamp alone, and a
JSON line stays valid JSON (each value is redacted before the line is encoded).
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from typing import Any

import msgspec

_SECRETS: set[str] = set()
_JSON = msgspec.json.Encoder()


def register_secret(value: str) -> None:
    """Never print ``value`` in a log line from now on (ignored when shorter than 4 characters)."""
    if len(value) >= 4:
        _SECRETS.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, "***")
    return text


_STD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _redacted(value: Any) -> Any:
    """A JSON-able value with every secret redacted: strings in place, containers walked, and a
    number whose text holds a secret replaced by that redacted text (a string)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = str(value)
        hidden = redact(text)
        return value if hidden == text else hidden
    return value


class _PlainFormatter(logging.Formatter):
    """The header (time, level, logger) is the formatter's own: only the message, the extra
    fields and the exception text are redacted."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        message = record.message
        record.message = redact(message)
        try:
            return super().formatMessage(record)
        finally:
            record.message = message

    def formatException(self, ei: Any) -> str:
        return redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return redact(super().formatStack(stack_info))

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extras = {k: v for k, v in record.__dict__.items() if k not in _STD_ATTRS}
        if extras:
            base += " " + redact(" ".join(f"{k}={v}" for k, v in extras.items()))
        return base


class _JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``service``, ``logger``, ``msg``, the record's
    extra fields, and ``exc`` for an exception: ``{"type", "message", "frames": [{"file", "line",
    "function"}...], "text"}`` (a traceback a log pipeline can query, plus the usual text)."""

    def __init__(self, service: str = "") -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {"msg": record.getMessage()}
        for k, v in record.__dict__.items():
            if k not in _STD_ATTRS:
                body[k] = v
        if record.exc_info and record.exc_info[1] is not None:
            body["exc"] = _exception(record.exc_info[1], self.formatException(record.exc_info))
        head = {"ts": round(record.created, 6), "level": record.levelname.lower(),
                "service": self.service, "logger": record.name}
        try:
            return _line(head, body)
        except (TypeError, msgspec.EncodeError):  # a value JSON cannot hold: its text instead
            return _line(head, _stringify(body))


def _line(head: dict[str, Any], body: dict[str, Any]) -> str:
    return _JSON.encode({**head, **(_redacted(body) if _SECRETS else body)}).decode()


def _exception(exc: BaseException, text: str) -> dict[str, Any]:
    frames = [{"file": f.filename, "line": f.lineno, "function": f.name}
              for f in traceback.extract_tb(exc.__traceback__)]
    out: dict[str, Any] = {"type": type(exc).__qualname__, "message": str(exc), "frames": frames,
                           "text": text}
    if exc.__cause__ is not None:
        out["cause"] = {"type": type(exc.__cause__).__qualname__, "message": str(exc.__cause__)}
    return out


def _stringify(obj: dict[str, Any]) -> dict[str, Any]:
    plain = str | int | float | bool | None
    return {k: v if isinstance(v, plain) or k == "exc" else str(v) for k, v in obj.items()}


def setup(level: str = "INFO", fmt: str = "plain", service: str = "") -> None:
    """Configure the root logger: ``fmt`` is ``plain`` or ``json``; ``level`` a logging level name."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter(service))
    else:
        prefix = f"{service} " if service else ""
        formatter = _PlainFormatter(f"%(asctime)s.%(msecs)03dZ {prefix}%(levelname)s %(name)s: %(message)s",
                                    "%Y-%m-%dT%H:%M:%S")
        formatter.converter = time.gmtime
        handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "websockets", "uvicorn.access", "nats"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
