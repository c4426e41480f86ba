"""deploy/: every metric (and label) the Grafana dashboard and the alert rules name is exported by
a running service, every exposition parses, the rules and the Prometheus config are valid (promtool,
with the rules' unit tests, where installed; the structure always), the dashboard is well formed
and the compose monitoring profile mounts what exists."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml
from prometheus_client.parser import text_string_to_metric_families

from shared.client import InvalidRequest, Rejected
from tests.system.procs import M, ProcSystem, process_system, wait_until
from tests.system.promql import refs

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RULES = DEPLOY / "prometheus" / "rules" / "paradex-hub.yml"
RULE_TESTS = DEPLOY / "prometheus" / "rules" / "paradex-hub.test.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "paradex-hub.json"
JOBS = ("state", "commands", "feed", "reconciler")
SYNTHETIC = {"up"}  # made by Prometheus itself for every target (with the job and instance labels)
TARGET_LABELS = {"job", "instance"}


def _rule_exprs() -> list[str]:
    doc = yaml.safe_load(RULES.read_text())
    return [r["expr"] for g in doc["groups"] for r in g["rules"]]


def _dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]


# ---------------------------------------------------------------------------------- structure

def test_alert_rules_cover_what_the_night_shift_needs_and_are_well_formed() -> None:
    doc = yaml.safe_load(RULES.read_text())
    rules = [r for g in doc["groups"] for r in g["rules"]]
    by_name = {r["alert"]: r for r in rules}
    assert len(by_name) == len(rules), "duplicate alert names"
    for r in rules:
        assert set(r) <= {"alert", "expr", "for", "labels", "annotations"}, r
        assert r["labels"]["severity"] in ("critical", "warning"), r
        assert r["annotations"]["summary"] and r["annotations"]["description"], r
        assert r["expr"].count("(") == r["expr"].count(")"), r
        if "for" in r:
            assert r["for"][-1] in "smh" and r["for"][:-1].isdigit(), r
    wanted = {"PdxFeedDown": "feed_connected", "PdxBookInvalid": "state_book_valid",
              "PdxCorrectionsRising": "state_corrections_applied_total",
              "PdxConsumerLag": "state_consumer_lag", "PdxDeadLettersGrowing": "state_dlq_stream_messages",
              "PdxReconciliationFailing": "reconciler_runs_total",
              "PdxKillSwitchOn": "state_kill_switch_active", "PdxServiceDown": "up"}
    for alert, metric in wanted.items():
        assert metric in refs(by_name[alert]["expr"]).metrics, alert
    assert by_name["PdxBookInvalid"]["for"] == "10s"  # "book invalid over 10 s"


def test_dashboard_is_well_formed_and_uses_the_provisioned_datasource() -> None:
    dash = json.loads(DASHBOARD.read_text())
    ds = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = ds["datasources"][0]["uid"]
    assert dash["uid"] and dash["title"] == "paradex-hub"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for p in dash["panels"]:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, f"panel {p['title']!r} overlaps another"
        cells |= mine
        if p["type"] != "row":
            assert p["datasource"]["uid"] == uid and p["targets"], p["title"]
            assert all(t["expr"] and t["datasource"]["uid"] == uid for t in p["targets"]), p["title"]
    prov = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/paradex-hub.yml").read_text())
    assert prov["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_compose_monitoring_profile_mounts_deploy_and_publishes_on_loopback_only() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name in ("prometheus", "grafana"):
        svc = compose["services"][name]
        assert svc["profiles"] == ["monitoring"], name
        assert all(p.startswith("127.0.0.1:") for p in svc["ports"]), name
        for vol in svc["volumes"]:
            src = vol.split(":")[0]
            if src.startswith("./"):
                assert (ROOT / src).exists(), f"{name} mounts {src}, which does not exist"
    prom = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    targets = {c["job_name"]: c["static_configs"][0]["targets"][0] for c in prom["scrape_configs"]}
    for job in JOBS:
        host, port = targets[job].split(":")
        assert host == job and host in compose["services"]
        assert any(f"127.0.0.1:{port}/healthz" in " ".join(compose["services"][job]["healthcheck"]["test"])
                   for _ in [0])
    assert prom["rule_files"] == ["/etc/prometheus/rules/paradex-hub.yml"]


def _promtool() -> str:
    tool = os.environ.get("PDX_PROMTOOL") or shutil.which("promtool")
    if tool:
        return tool
    reason = "promtool not installed (.ci/run extracts it from Debian's prometheus package); " \
             "the structural checks above still ran"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def test_promtool_accepts_the_rules_their_unit_tests_and_the_config() -> None:
    tool = _promtool()
    for args, cwd in ((["check", "rules", RULES.name], RULES.parent),
                      (["test", "rules", RULE_TESTS.name], RULES.parent),
                      (["check", "config", "--syntax-only", "prometheus.yml"], DEPLOY / "prometheus")):
        run = subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
        assert run.returncode == 0, f"promtool {' '.join(args)}:\n{run.stdout}\n{run.stderr}"


# -------------------------------------------------------------------------- against the system

@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def exported(nats_url: str, redis_url: str,
                   tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, dict[str, set[str]]]]:
    """{job: {sample name: label names}} scraped from the running services after some trading."""
    async with process_system(nats_url, redis_url, tmp_path_factory.mktemp("mon")) as ps:
        await _trade(ps)
        out: dict[str, dict[str, set[str]]] = {}
        async with httpx.AsyncClient(timeout=5.0) as c:
            for job in JOBS:
                text = (await c.get(f"{ps.procs[job].url}/metrics")).text
                samples: dict[str, set[str]] = {}
                for fam in text_string_to_metric_families(text):  # raises on a malformed exposition
                    for s in fam.samples:
                        samples.setdefault(s.name, set()).update(s.labels)
                out[job] = samples
        yield out


async def _trade(ps: ProcSystem) -> None:
    """Requests, a rejection, a fill and a finished reconciliation, so labelled series exist."""
    cmd, state = ps.commands_client(), ps.state_client()
    bbo = (await state.bbo(M)).value
    assert bbo.bid is not None and bbo.ask is not None
    placed = await cmd.place(M, "BUY", Decimal("0.01"), (bbo.bid - 500).quantize(Decimal("0.1")), wait="ack")
    await cmd.cancel(placed.order_id)
    await cmd.place(M, "BUY", Decimal("0.01"), bbo.ask + 50, instruction="IOC", wait="ws")
    with contextlib.suppress(InvalidRequest):  # refused by our rules: commands_refused_total{error}
        await cmd.place(M, "BUY", Decimal("0.01"), bbo.bid + Decimal("0.05"))
    # refused by the venue (a stop cannot be POST_ONLY there): commands_orders_rejected_total{code}
    with contextlib.suppress(Rejected):
        await cmd.place(M, "BUY", Decimal("0.01"), bbo.bid - 500, type="STOP_LIMIT",
                        trigger_price=bbo.bid - 400, instruction="POST_ONLY")

    async def reconciled() -> bool:
        h = (await state.health()).value
        return bool(h.core.get("last_reconciliation"))

    await wait_until(reconciled, 20, "a finished reconciliation")


def _where(exported: dict[str, dict[str, set[str]]], name: str) -> set[str] | None:
    labels: set[str] | None = None
    for samples in exported.values():
        if name in samples:
            labels = (labels or set()) | samples[name]
    return labels


@pytest.mark.parametrize("source", ["rules", "dashboard"])
def test_every_referenced_metric_and_label_is_exported_by_a_running_service(
        exported: dict[str, dict[str, set[str]]], source: str) -> None:
    exprs = _rule_exprs() if source == "rules" else _dashboard_exprs()
    missing, bad_labels = [], []
    for expr in exprs:
        r = refs(expr)
        assert r.metrics, f"no metric found in {expr!r}"
        known: set[str] = set(TARGET_LABELS)
        for name in r.metrics - SYNTHETIC:
            labels = _where(exported, name)
            if labels is None:
                missing.append(f"{name} (in {expr})")
                continue
            known |= labels
            for label in r.matchers.get(name, set()) - labels - TARGET_LABELS:
                bad_labels.append(f"{name}{{{label}}} (in {expr})")
        for label in r.grouping - known:
            bad_labels.append(f"by/on ({label}) (in {expr})")
    assert missing == [], "not exported by any service:\n" + "\n".join(missing)
    assert bad_labels == [], "labels no exported series has:\n" + "\n".join(bad_labels)


def test_conventions_counters_end_in_total_and_process_metrics_are_everywhere(
        exported: dict[str, dict[str, set[str]]]) -> None:
    for job, samples in exported.items():
        base = {"process_resident_memory_bytes", "process_cpu_seconds_total", "python_info"}
        assert base <= set(samples), job
        assert not [n for n in samples if n.endswith("_created")], job
        assert all(n.startswith((f"{job}_", "process_", "python_")) for n in samples), job
    state = exported["state"]
    assert "state_core_counter_total" in state and "state_core_counter" not in state
    assert {"endpoint", "status"} <= exported["commands"]["commands_requests_total"]


def test_label_values_are_escaped_in_the_state_exposition() -> None:
    """The state's exposition comes from prometheus_client now: a hostile label value survives."""
    from prometheus_client import generate_latest
    from prometheus_client.core import CounterMetricFamily

    from shared.metrics import service_registry

    class One:
        def collect(self) -> Any:
            fam = CounterMetricFamily("state_core_counter", "x", labels=["name"])
            fam.add_metric(['we"ird\nname\\'], 1)
            yield fam

    reg = service_registry()
    reg.register(One())
    parsed = {s.labels.get("name") for f in text_string_to_metric_families(generate_latest(reg).decode())
              for s in f.samples if s.name == "state_core_counter_total"}
    assert parsed == {'we"ird\nname\\'}
