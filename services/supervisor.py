"""The supervisor behind ``make run``: processes that are watched, restarted with backoff, and reported.

A :class:`Watched` is anything that can be started, polled and stopped: a service
(``python -m services.<name>``, healthy when its ``/healthz`` answers 200) or a local NATS/Redis
server (healthy while its port accepts connections). :class:`Supervisor` polls them, prints a
status line only when something changed, restarts a dead one after a capped exponential backoff
(saying so, with the last line of its log), and resets the backoff once it has stayed up.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from shared.localservers import NatsServer, RedisServer, wait_port

BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 60.0  # up this long: the next death starts the backoff from the beginning again


def http_health(url: str) -> str:
    """``ok``, ``http <code>`` or ``down`` for a GET of ``url``."""
    try:
        with urllib.request.urlopen(url, timeout=0.5) as resp:
            return "ok" if resp.status == 200 else f"http {resp.status}"
    except urllib.error.HTTPError as exc:
        return f"http {exc.code}"
    except Exception:
        return "down"


class Process(Protocol):
    name: str

    def start(self) -> None: ...

    def exit_code(self) -> int | None:
        """None while running."""
        ...

    def health(self) -> str: ...

    def stop(self) -> None: ...

    def last_line(self) -> str: ...


@dataclass
class Service:
    """``python -m <module>`` with ``env``, output appended to ``log_path``."""

    name: str
    module: str
    env: dict[str, str]
    log_path: Path
    health_url: str = ""
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", self.module], env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def health(self) -> str:
        return http_health(self.health_url) if self.health_url else "-"

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is None:
            return
        self.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def last_line(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1][:300] if lines else ""


@dataclass
class LocalServer:
    """A local NATS or Redis server process on a fixed port (data kept across restarts)."""

    name: str
    server: NatsServer | RedisServer
    port: int

    def start(self) -> None:
        self.server.start(port=self.port)

    def exit_code(self) -> int | None:
        proc = self.server.proc
        if proc is None:
            return -1
        return proc.poll()

    def health(self) -> str:
        return "ok" if wait_port("127.0.0.1", self.port, 0.2) else "down"

    def stop(self) -> None:
        self.server.stop()

    def last_line(self) -> str:
        text = self.server._log().strip().splitlines()
        return text[-1][:300] if text else ""


@dataclass
class Watched:
    proc: Process
    state: str = "starting"
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = 0.0
    backoff_s: float = BACKOFF_INITIAL_S


@dataclass
class Supervisor:
    """Polls every process; prints changes, restarts the dead. ``say`` prints one line."""

    say: Callable[[str], None]
    clock: Callable[[], float] = time.monotonic
    watched: list[Watched] = field(default_factory=list)
    _last_status: str = ""
    ready_announced: bool = False

    def add(self, proc: Process, *, started: bool = True) -> Watched:
        w = Watched(proc, started_at=self.clock())
        if not started:
            w.state, w.next_start = "waiting", self.clock()
        self.watched.append(w)
        return w

    def poll(self) -> None:
        """One round: restart what is due, notice deaths, refresh health; print on change."""
        now = self.clock()
        for w in self.watched:
            code = w.proc.exit_code() if w.state not in ("waiting", "restarting") else None
            if w.state in ("waiting", "restarting"):
                if now >= w.next_start:
                    self._start(w, now)
                continue
            if code is not None:
                self._died(w, code, now)
                continue
            w.state = w.proc.health()
            if now - w.started_at >= STABLE_AFTER_S:
                w.backoff_s = BACKOFF_INITIAL_S
        status = self.status()
        if status != self._last_status:
            self._last_status = status
            self.say(status)

    def _start(self, w: Watched, now: float) -> None:
        try:
            w.proc.start()
        except Exception as exc:
            self.say(f"  ! {w.proc.name} did not start: {exc}")
            self._schedule(w, now)
            return
        w.state, w.started_at = "starting", now
        if w.restarts:
            self.say(f"  {w.proc.name} restarted (restart {w.restarts})")

    def _died(self, w: Watched, code: int, now: float) -> None:
        self.say(f"  ! {w.proc.name} exited with {code}: {w.proc.last_line()}")
        self._schedule(w, now)

    def _schedule(self, w: Watched, now: float) -> None:
        w.restarts += 1
        delay = w.backoff_s
        w.backoff_s = min(w.backoff_s * 2, BACKOFF_MAX_S)
        w.state, w.next_start = "restarting", now + delay
        self.say(f"  ! restarting {w.proc.name} in {delay:.0f} s (restart {w.restarts})")

    def status(self) -> str:
        return "status: " + " ".join(f"{w.proc.name}={w.state}" for w in self.watched)

    def all_ok(self) -> bool:
        return all(w.state in ("ok", "-") for w in self.watched)

    def stop(self) -> None:
        """Stop in reverse order of start (services first, then Redis and NATS)."""
        services = [w for w in self.watched if isinstance(w.proc, Service)]
        for w in reversed(services):
            w.proc.terminate()  # type: ignore[attr-defined]
        for w in reversed(self.watched):
            w.proc.stop()
