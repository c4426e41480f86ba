"""Where ``pdx-hub`` finds the services and its tokens: the environment, then an optional ``.env``.

Variables (a ``*_FILE`` variant of each token names a file holding it, like the services'):

============================  ========================================================
``PDX_STATE_URL``             the state service; default ``http://$STATE_HTTP_HOST:$STATE_HTTP_PORT``
                              (127.0.0.1:8080), the same variables the service reads
``PDX_COMMANDS_URL``          the commands service; default from ``COMMANDS_HTTP_HOST`` /
                              ``COMMANDS_HTTP_PORT`` (127.0.0.1:8081)
``PDX_TOKEN``                 a strategy's bearer token (place, cancel, cancel-all)
``PDX_ADMIN_TOKEN``           the commands service's admin token (kill, resume); asked for
                              on a terminal when unset
``PDX_READ_TOKEN``            a read token of the state service, where it has read tokens
============================  ========================================================

The environment wins over the file (as with docker compose). The file: ``--env-file PATH``, else
``.env`` in the current directory when there is one; lines ``NAME=value`` (``export`` allowed,
``#`` comments, single or double quotes).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TOKENS = ("PDX_TOKEN", "PDX_ADMIN_TOKEN", "PDX_READ_TOKEN")


class ConfigProblem(Exception):
    """A setting or the env file is unusable; the message names it."""


def parse_env_file(text: str, path: str = ".env") -> dict[str, str]:
    """``NAME=value`` lines of an env file (ConfigProblem naming the line when malformed)."""
    out: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        name, eq, value = line.partition("=")
        name = name.strip()
        if not eq or not name.replace("_", "").isalnum():
            raise ConfigProblem(f"{path}:{n}: expected NAME=value, got {raw.strip()[:60]!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        out[name] = value
    return out


@dataclass(frozen=True)
class Config:
    state_url: str
    commands_url: str
    token: str
    admin_token: str
    read_token: str
    env_file: str  # "" when none was read

    def describe(self) -> str:
        """Where the settings came from (for error messages): never the tokens themselves."""
        src = f" (+ {self.env_file})" if self.env_file else ""
        return f"state {self.state_url}, commands {self.commands_url}{src}"


def _secret(env: Mapping[str, str], name: str) -> str:
    if env.get(name):
        return env[name].strip()
    path = env.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ConfigProblem(f"{name}_FILE={path}: {exc.strerror or exc}") from exc
    return ""


def _url(env: Mapping[str, str], name: str, prefix: str, port: int) -> str:
    if env.get(name):
        return env[name].rstrip("/")
    host = env.get(f"{prefix}_HTTP_HOST") or "127.0.0.1"
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://{host}:{env.get(f'{prefix}_HTTP_PORT') or port}"


def load_config(environ: Mapping[str, str] | None = None, env_file: str | None = None,
                cwd: Path | None = None) -> Config:
    """The settings from ``environ`` (default ``os.environ``) over the env file."""
    environ = os.environ if environ is None else environ
    path = Path(env_file) if env_file else (cwd or Path.cwd()) / ".env"
    file_vars: dict[str, str] = {}
    used = ""
    if env_file or path.is_file():
        try:
            file_vars = parse_env_file(path.read_text(), str(path))
        except OSError as exc:
            raise ConfigProblem(f"env file {path}: {exc.strerror or exc}") from exc
        used = str(path)
    env = {**file_vars, **environ}
    return Config(state_url=_url(env, "PDX_STATE_URL", "STATE", 8080),
                  commands_url=_url(env, "PDX_COMMANDS_URL", "COMMANDS", 8081),
                  token=_secret(env, "PDX_TOKEN"), admin_token=_secret(env, "PDX_ADMIN_TOKEN"),
                  read_token=_secret(env, "PDX_READ_TOKEN"), env_file=used)
