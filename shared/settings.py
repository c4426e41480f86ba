"""Typed settings from the environment.

Each service declares one frozen :class:`msgspec.Struct` of settings. :func:`load` fills it from
environment variables named after the fields in upper case, with the struct's ``env_prefix``
(e.g. ``STATE_`` + ``http_port`` -> ``STATE_HTTP_PORT``). Fields shared by every service
(``NATS_URL``, ``REDIS_URL``, ...) are declared without a prefix by listing them in ``global_fields``.

A missing or malformed value raises :class:`~shared.errors.ConfigError` naming the variable, so a
service stops at start-up with a useful message. Unknown variables that carry a service's prefix
are errors too (a typo must not silently fall back to a default).

Secrets use :class:`Secret`, whose ``repr``/``str`` never show the value. ``FOO_FILE`` may be given
for any setting (compose and Kubernetes secrets): the file's content (stripped) is the value, and
it always wins over ``FOO`` and over the default (compose files set ``FOO`` to a paper-trading
default; a mounted secret must not lose to it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar, get_type_hints

import msgspec

from shared.errors import ConfigError
from shared.log import register_secret

__all__ = ["ConfigError", "Secret", "SettingsBase", "load"]


class Secret(str):
    """A string that never prints its value (logs, reprs, tracebacks)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('***')" if self else "Secret('')"

    def __str__(self) -> str:
        return "***" if self else ""

    def reveal(self) -> str:
        """The real value; use only where it is needed (signing, auth headers)."""
        return str.__str__(self)


class SettingsBase(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every settings struct. Subclasses set ``env_prefix`` and may list ``global_fields``."""

    env_prefix: ClassVar[str] = ""
    global_fields: ClassVar[frozenset[str]] = frozenset()


S = TypeVar("S", bound=SettingsBase)


def _env_name(cls: type[SettingsBase], field: str) -> str:
    if field in cls.global_fields:
        return field.upper()
    return f"{cls.env_prefix}{field}".upper()


def _convert_scalar(raw: str, typ: Any, name: str) -> Any:
    if typ is Secret:
        return Secret(raw)
    if typ is bool:
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(name, f"expected a boolean (true/false), got {raw!r}")
    origin = getattr(typ, "__origin__", None)
    if typ is tuple or origin is tuple:
        items = [p.strip() for p in raw.split(",") if p.strip()]
        args = getattr(typ, "__args__", (str, ...))
        inner = args[0]
        return tuple(_convert_scalar(i, inner, name) for i in items)
    try:
        return msgspec.convert(raw, typ, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(name, f"{exc} (got {raw!r})") from exc


def load(cls: type[S], env: Mapping[str, str] | None = None, **overrides: Any) -> S:
    """Build ``cls`` from ``env`` (default ``os.environ``); ``overrides`` win over the environment."""
    env = os.environ if env is None else env
    hints = get_type_hints(cls)
    fields = {f for f in cls.__struct_fields__}
    values: dict[str, Any] = {}
    for field in fields:
        if field in overrides:
            values[field] = overrides[field]
            continue
        name = _env_name(cls, field)
        typ = hints[field]
        raw = env.get(name)
        path = env.get(f"{name}_FILE")
        if path:
            try:
                raw = Path(path).read_text().strip()
            except OSError as exc:
                raise ConfigError(f"{name}_FILE", f"cannot read {path}: {exc.strerror}") from exc
        if raw is None:
            continue
        values[field] = _convert_scalar(raw, typ, name)
        if typ is Secret and raw:
            register_secret(raw)
    if cls.env_prefix:
        prefix = cls.env_prefix.upper()
        known = {_env_name(cls, f) for f in fields} | {f"{_env_name(cls, f)}_FILE" for f in fields}
        unknown = sorted(k for k in env if k.upper().startswith(prefix) and k.upper() not in known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown setting for {cls.__name__} (known: {sorted(known)})")
    try:
        return msgspec.convert(values, cls, strict=False)
    except msgspec.ValidationError as exc:
        missing = str(exc)
        # msgspec says "Object missing required field `x`": name the variable instead.
        for field in fields:
            if f"`{field}`" in missing:
                raise ConfigError(_env_name(cls, field), missing) from exc
        raise ConfigError(cls.__name__, missing) from exc
