"""Graceful shutdown as processes: SIGTERM, then each service stops in its documented order.

The state: it stops consuming and writes its final checkpoint while its HTTP API still answers,
and only then closes the API (uvicorn used to close it within ~0.2 s of the signal, before the
checkpoint). Watched from outside: a poller hits ``/healthz`` every few ms and records when the
port stopped answering; the state's JSON log says when the final checkpoint was written. The
simulator and commands exit 0 on SIGTERM and close their ports (no process keeps serving).
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from tests.system.procs import M, process_system


class Poller(threading.Thread):
    """GET /healthz on ``port`` in a loop; times (wall clock) of the last answer and the first refusal."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.last_answer = 0.0
        self.first_refused = 0.0
        self.answers = 0
        self.done = threading.Event()

    def run(self) -> None:
        request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        while not self.done.is_set():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                    s.sendall(request)
                    head = s.recv(64)
                if head.startswith(b"HTTP/1.1 "):
                    self.last_answer = time.time()
                    self.answers += 1
            except ConnectionRefusedError:  # nothing listens any more (a slow answer is not this)
                self.first_refused = time.time()
                return
            except OSError:
                pass
            time.sleep(0.003)


def _log_events(path: Path) -> list[dict[str, object]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def _first(events: list[dict[str, object]], text: str) -> float:
    for e in events:
        if text in str(e.get("msg", "")):
            return float(e["ts"])  # type: ignore[arg-type]
    raise AssertionError(f"no log line containing {text!r}")


@pytest.mark.slow
async def test_sigterm_state_checkpoints_before_its_api_stops_and_every_service_exits_cleanly(
        nats_url: str, redis_url: str, tmp_path: Path) -> None:
    json_logs = {"LOG_FORMAT": "json"}
    async with process_system(nats_url, redis_url, tmp_path, state=json_logs, commands=json_logs,
                              sim=json_logs) as ps:
        state, cmd = ps.state_client(), ps.commands_client()
        bbo = (await state.bbo(M)).value
        assert bbo.bid is not None
        for i in range(5):
            await cmd.place(M, "BUY", Decimal("0.01"), (bbo.bid - 1000 - i).quantize(Decimal("0.1")),
                            client_id=f"sd-{i}", wait="ack")

        poller = Poller(ps.procs["state"].port)
        poller.start()
        await asyncio.sleep(0.2)
        signalled = time.time()
        await ps.kill("state", signal.SIGTERM)
        code = ps.procs["state"].popen.returncode  # type: ignore[union-attr]
        poller.done.set()
        poller.join(5)
        events = _log_events(ps.procs["state"].log_path)
        checkpoint = _first(events, "final checkpoint written")
        http_stopped = _first(events, "state HTTP stopped")
        assert code == 0, ps.log("state")[-3000:]
        assert signalled < checkpoint <= http_stopped, (signalled, checkpoint, http_stopped)
        # From outside: the API answered after the signal and until the checkpoint was written.
        assert poller.first_refused, "the state's port never stopped answering"
        assert poller.first_refused > checkpoint, (
            f"API gone {checkpoint - poller.first_refused:.3f} s before the final checkpoint")
        assert poller.last_answer > signalled

        for name in ("commands", "simulator"):
            port = ps.procs[name].port
            await ps.kill(name, signal.SIGTERM)
            proc = ps.procs[name].popen
            assert proc is not None and proc.returncode == 0, ps.log(name)[-3000:]
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            assert f"{name} HTTP stopped" in ps.log(name) or f"{name}-rest HTTP stopped" in ps.log(name)
