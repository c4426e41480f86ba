"""``make run`` for real: ``python -m services`` as a subprocess with its own NATS and Redis.

Free ports through the environment, RUN_DIR in a temporary directory, NATS_URL/REDIS_URL unset so
the launcher starts its own servers. Checks every /healthz, an order through commands visible in
the state over HTTP and in Redis, the example market maker as ``python -m examples.market_maker``,
then SIGINT: the launcher exits 0 and no process it started is left.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import redis

from shared.config import DEV_ACCOUNT
from shared.localservers import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "launcher-test-token-0123456789"
PORT_VARS = ("SIM_REST_PORT", "SIM_WS_PORT", "SIM_CONTROL_PORT", "STATE_HTTP_PORT", "COMMANDS_HTTP_PORT",
             "FEED_HTTP_PORT", "RECONCILER_HTTP_PORT", "RUN_NATS_PORT", "RUN_REDIS_PORT")


def _children(pid: int) -> dict[int, int]:
    """ppid of every process (from /proc)."""
    out: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        out[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
    return out


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid``."""
    parents = _children(pid)
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        nxt = {p for p, pp in parents.items() if pp in frontier and p not in found}
        found |= nxt
        frontier = nxt
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


def _env(run_dir: Path) -> tuple[dict[str, str], dict[str, int]]:
    ports = {k: free_port() for k in PORT_VARS}
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "REDIS_URL")}
    env.update({k: str(v) for k, v in ports.items()})
    env.update({
        "RUN_DIR": str(run_dir),
        "PARADEX_REST_URL": f"http://127.0.0.1:{ports['SIM_REST_PORT']}/v1",
        "PARADEX_WS_URL": f"ws://127.0.0.1:{ports['SIM_WS_PORT']}/v1",
        "PARADEX_MARKETS": "BTC-USD-PERP",
        "COMMANDS_STRATEGIES": json.dumps([{"name": "mm", "token": TOKEN, "markets": ["BTC-USD-PERP"]}]),
    })
    return env, ports


@pytest.mark.slow
def test_make_run_serves_an_order_end_to_end_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    env, ports = _env(tmp_path / "run")
    out = (tmp_path / "launcher.out").open("w+b")
    proc = subprocess.Popen([sys.executable, "-m", "services"], cwd=ROOT, env=env, stdout=out,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    started: set[int] = set()
    try:
        health = {k: f"http://127.0.0.1:{ports[k]}/healthz" for k in
                  ("SIM_CONTROL_PORT", "STATE_HTTP_PORT", "COMMANDS_HTTP_PORT", "FEED_HTTP_PORT",
                   "RECONCILER_HTTP_PORT")}
        deadline = time.monotonic() + 60
        codes: dict[str, int | str] = {}
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline:
                assert proc.poll() is None, _tail(out)
                for name, url in health.items():
                    try:
                        codes[name] = http.get(url).status_code
                    except httpx.HTTPError as exc:
                        codes[name] = type(exc).__name__
                if all(c == 200 for c in codes.values()):
                    break
                time.sleep(0.25)
            assert all(c == 200 for c in codes.values()), f"{codes}\n{_tail(out)}"
            started = descendants(proc.pid)
            assert len(started) >= 7, f"expected nats, redis and 5 services, saw {len(started)}"

            state = f"http://127.0.0.1:{ports['STATE_HTTP_PORT']}"
            cmd = f"http://127.0.0.1:{ports['COMMANDS_HTTP_PORT']}"
            bbo = _until(lambda: _two_sided(http.get(f"{state}/v1/bbo/BTC-USD-PERP")), 20).json()["value"]
            price = str((Decimal(bbo["bid"]) * Decimal("0.95")).quantize(Decimal(1)))
            r = http.post(f"{cmd}/v1/orders", headers={"Authorization": f"Bearer {TOKEN}"},
                          json={"market": "BTC-USD-PERP", "side": "BUY", "size": "0.01", "price": price,
                                "client_id": "launcher-1", "wait": "ws"}, timeout=15)
            assert r.status_code == 200 and r.json()["status"] == "open", r.text
            order_id, seq = r.json()["order_id"], r.json()["seq"]
            assert r.headers["X-Stream-Seq"] == str(seq)
            # Read-your-writes: with min_seq the order is there at once (PENDING_NEW or later)...
            mine = http.get(f"{state}/v1/orders/by_client_id/launcher-1", params={"min_seq": seq})
            assert mine.status_code == 200 and mine.json()["seq"] >= seq, mine.text
            # ...but "open" came from the commands service's core-NATS watch of the feed's OrderEvent,
            # which can beat the state's JetStream pull of that same event (the flake: state still
            # NEW). That event's stream seq is not known to the commands service, so wait for OPEN.
            got = _until(lambda: _status(http.get(f"{state}/v1/orders/by_client_id/launcher-1",
                                                  params={"min_seq": seq}), "OPEN"), 10).json()["value"]
            assert got["id"] == order_id and got["status"] == "OPEN"

            redis_url = _redis_url(out)
            rc = redis.Redis.from_url(redis_url)
            try:
                raw = rc.get(f"pdx:{DEV_ACCOUNT.lower()}:order:{order_id}")
                assert raw is not None, "the order is not in Redis"
                assert json.loads(raw)["value"]["client_id"] == "launcher-1"
            finally:
                rc.close()

            mm_env = {**env, "MM_STATE_URL": state, "MM_COMMANDS_URL": cmd, "MM_TOKEN": TOKEN,
                      "MM_SIZE": "0.01"}
            mm = subprocess.Popen([sys.executable, "-m", "examples.market_maker"], cwd=ROOT, env=mm_env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            try:
                _until(lambda: _mm_quotes(http, state), 20)
            finally:
                mm.send_signal(signal.SIGINT)
                mm_out = mm.communicate(timeout=20)[0].decode(errors="replace")
            assert mm.returncode == 0, mm_out
            assert "quoted BTC-USD-PERP" in mm_out and "stopped: cancelled" in mm_out, mm_out
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    text = _tail(out, 10_000)
    assert proc.returncode == 0, text
    assert "paradex-hub: stopped" in text, text
    assert " exited with " not in text, text  # no service died while running
    time.sleep(0.5)
    left = [p for p in started if alive(p)]
    assert not left, f"processes left after SIGINT: {left}"


def _status(r: httpx.Response, status: str) -> httpx.Response:
    v = r.json().get("value") if r.status_code == 200 else None
    return r if v and v.get("status") == status else httpx.Response(404)


def _two_sided(r: httpx.Response) -> httpx.Response:
    v = r.json().get("value") if r.status_code == 200 else None
    return r if v and v.get("bid") and v.get("ask") else httpx.Response(404)


def _mm_quotes(http: httpx.Client, state: str) -> httpx.Response:
    r = http.get(f"{state}/v1/orders", params={"status": "OPEN"})
    quotes = [o for o in r.json()["value"] if o["client_id"].startswith("mm-")]
    return r if {o["side"] for o in quotes} == {"BUY", "SELL"} else httpx.Response(404)


def _until(call: object, within_s: float) -> httpx.Response:
    deadline = time.monotonic() + within_s
    last: object = None
    while time.monotonic() < deadline:
        try:
            resp = call()  # type: ignore[operator]
            if resp.status_code == 200:
                return resp  # type: ignore[no-any-return]
            last = resp.status_code
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"no 200 within {within_s} s (last: {last})")


def _redis_url(out: object) -> str:
    m = re.search(r"redis\s+(redis://\S+)", _tail(out, 100_000))
    assert m, "the launcher did not print the Redis URL"
    return m.group(1)


def _tail(out: object, n: int = 3000) -> str:
    f = out  # the launcher's stdout file
    f.flush()  # type: ignore[attr-defined]
    f.seek(0)  # type: ignore[attr-defined]
    data: bytes = f.read()  # type: ignore[attr-defined]
    f.seek(0, 2)  # type: ignore[attr-defined]
    return data.decode(errors="replace")[-n:]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pid_of(root: int, needle: str) -> int:
    found = [p for p in descendants(root) if needle in _cmdline(p) and alive(p)]
    assert len(found) == 1, f"{needle}: {[(p, _cmdline(p)) for p in found]}"
    return found[0]


def _wait_output(out: object, text: str, within_s: float, after: int = 0) -> int:
    """Until ``text`` appears in the launcher's output past offset ``after``; its offset."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        data = _tail(out, 10**7)
        at = data.find(text, after)
        if at >= 0:
            return at
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not printed within {within_s} s:\n{_tail(out, 4000)}")


@pytest.mark.slow
def test_make_run_supervises_restarts_dead_processes_and_writes_its_urls(tmp_path: Path) -> None:
    env, ports = _env(tmp_path / "run")
    for key in ("PARADEX_REST_URL", "PARADEX_WS_URL"):  # only SIM_*_PORT: the venue URLs follow them
        env.pop(key)
    out = (tmp_path / "launcher.out").open("w+b")
    proc = subprocess.Popen([sys.executable, "-m", "services"], cwd=ROOT, env=env, stdout=out,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    started: set[int] = set()
    try:
        _wait_output(out, "paradex-hub: ready (7 processes healthy)", 90)
        started = descendants(proc.pid)
        urls = dict(line.split("=", 1) for line in (tmp_path / "run" / "urls.env").read_text().splitlines()
                    if line and not line.startswith("#"))
        assert urls["NATS_URL"] == f"nats://127.0.0.1:{ports['RUN_NATS_PORT']}"
        assert urls["REDIS_URL"] == f"redis://127.0.0.1:{ports['RUN_REDIS_PORT']}/0"
        assert urls["PARADEX_REST_URL"] == f"http://127.0.0.1:{ports['SIM_REST_PORT']}/v1"
        assert urls["STATE_URL"] == f"http://127.0.0.1:{ports['STATE_HTTP_PORT']}"
        assert json.loads((tmp_path / "run" / "urls.json").read_text()) == urls

        rc = redis.Redis.from_url(urls["REDIS_URL"])
        try:
            rc.set("launcher-test:persisted", "yes")
            time.sleep(1.5)  # append-only, fsync every second

            mark = len(_tail(out, 10**7))
            os.kill(_pid_of(proc.pid, "services.state"), signal.SIGKILL)
            _wait_output(out, "! state exited with -9", 20, mark)
            _wait_output(out, "state restarted (restart 1)", 20, mark)
            health = f"http://127.0.0.1:{ports['STATE_HTTP_PORT']}/healthz"
            _until(lambda: httpx.get(health, timeout=2), 60)

            mark = len(_tail(out, 10**7))
            redis_pid = _pid_of(proc.pid, f"127.0.0.1:{ports['RUN_REDIS_PORT']}")  # its process title
            os.kill(redis_pid, signal.SIGKILL)
            _wait_output(out, "! redis exited with -9", 20, mark)
            _wait_output(out, "redis restarted (restart 1)", 20, mark)
            deadline = time.monotonic() + 20
            while True:
                try:
                    assert rc.get("launcher-test:persisted") == b"yes"  # back from the append-only file
                    break
                except redis.ConnectionError:
                    assert time.monotonic() < deadline, "Redis did not come back"
                    time.sleep(0.2)
        finally:
            rc.close()
        time.sleep(3)
        status = [line for line in _tail(out, 10**7).splitlines() if line.startswith("status: ")]
        assert status, "no status line"
        repeated = [a for a, b in itertools.pairwise(status) if a == b]
        assert not repeated, f"status printed without a change: {repeated}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, _tail(out, 5000)
    time.sleep(0.5)
    left = [p for p in started if alive(p)]
    assert not left, f"processes left after SIGINT: {[(p, _cmdline(p)) for p in left]}"
