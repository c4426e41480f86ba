"""``python -m services.simulator`` as a process: serves on the configured ports, stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx

from shared.localservers import free_port, wait_port


def test_module_serves_rest_ws_control_and_exits_cleanly_on_sigterm() -> None:
    ports = {name: free_port() for name in ("SIM_REST_PORT", "SIM_WS_PORT", "SIM_CONTROL_PORT")}
    env = {**os.environ, **{k: str(v) for k, v in ports.items()}, "SIM_SYNTHETIC_RATE": "50"}
    proc = subprocess.Popen([sys.executable, "-m", "services.simulator"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert wait_port("127.0.0.1", ports["SIM_CONTROL_PORT"], 20), proc.stdout
        deadline = time.monotonic() + 10
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{ports['SIM_CONTROL_PORT']}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        state = httpx.get(f"http://127.0.0.1:{ports['SIM_REST_PORT']}/v1/system/state", timeout=2)
        assert wait_port("127.0.0.1", ports["SIM_WS_PORT"], 5)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert health.json()["status"] == "ok" and state.json() == {"status": "ok"}
    assert rc == 0


def test_unknown_sim_setting_stops_the_module_with_its_name() -> None:
    env = {**os.environ, "SIM_NO_SUCH_KNOB": "1"}
    done = subprocess.run([sys.executable, "-m", "services.simulator"], env=env, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 2 and "SIM_NO_SUCH_KNOB" in done.stderr
