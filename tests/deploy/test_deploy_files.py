"""deploy/ parses, names what the node serves, and redis.conf is accepted by a real redis-server."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import redis
import yaml

from resolver.settings import LimitSettings
from tests.conftest import REDIS_SERVER, START_TIMEOUT_S, RedisProcess, _drain

DEPLOY = Path(__file__).parents[2] / "deploy"
METRIC_PREFIX = "idnode_"


def load_yaml_docs(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def test_every_yaml_file_parses() -> None:
    files = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])
    assert len(files) >= 8
    for path in files:
        assert load_yaml_docs(path), path


def test_the_dashboard_has_the_panels_the_issue_asks_for() -> None:
    dash = json.loads((DEPLOY / "grafana" / "dashboards" / "idnode.json").read_text(encoding="utf-8"))
    titles = " | ".join(p["title"] for p in dash["panels"]).lower()
    for words in ("resolutions/s by transport", "p50 / p99 / p999", "error ratio", "cache hit ratio",
                  "redis round-trip", "redis errors", "rate-limited", "restarts", "300 million"):
        assert words in titles, words
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert any("300000000" in e for e in exprs)
    assert len({p["id"] for p in dash["panels"]}) == len(dash["panels"])
    for panel in dash["panels"]:  # Grafana shows only one of two queries that share a refId
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(set(ref_ids)) == len(ref_ids), panel["title"]


def test_k8s_probes_and_ports() -> None:
    docs = {d["kind"]: d for f in sorted((DEPLOY / "k8s").glob("*.yaml")) for d in load_yaml_docs(f)}
    assert set(docs) == {"ConfigMap", "Deployment", "Service"}
    (container,) = docs["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz?exclude=redis"  # serve-stale
    ports = {(p["port"], p["protocol"]) for p in docs["Service"]["spec"]["ports"]}
    assert ports == {(2641, "TCP"), (2641, "UDP"), (8000, "TCP")}


def test_compose_runs_the_node_redis_prometheus_grafana() -> None:
    (compose,) = load_yaml_docs(DEPLOY / "compose.yaml")
    assert set(compose["services"]) == {"idnode", "redis", "prometheus", "grafana"}
    assert "2641:2641/udp" in compose["services"]["idnode"]["ports"]


def test_dockerfile_runs_as_a_non_root_user_and_exposes_the_ports() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "FROM python:3.11-slim" in text
    assert "setup.py" in text  # without it the wheel is built pure Python: a slower node, silently
    assert "EXPOSE 2641/tcp 2641/udp 8000" in text
    users = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert users and users[-1] != "root"


def test_systemd_unit_has_the_sections() -> None:
    text = (DEPLOY / "systemd" / "idnode.service").read_text(encoding="utf-8")
    for section in ("[Unit]", "[Service]", "[Install]"):
        assert section in text
    assert "ExecStart=" in text


def test_the_sysctl_file_lets_the_udp_sockets_have_the_buffer_they_ask_for() -> None:
    text = (DEPLOY / "systemd" / "90-idnode.conf").read_text(encoding="utf-8")
    pairs = [line.partition("=") for line in text.splitlines() if line.strip() and not line.startswith("#")]
    sysctls = {key.strip(): value.strip() for key, _, value in pairs}
    assert int(sysctls["net.core.rmem_max"]) >= LimitSettings().udp_receive_buffer_bytes


def test_redis_conf_is_accepted_by_redis_server(tmp_path: Path) -> None:
    sock = tmp_path / "redis.sock"
    # The file first, then overrides that keep the test on a private unix socket and directory.
    argv = [str(REDIS_SERVER), str(DEPLOY / "redis.conf"), "--dir", str(tmp_path), "--port", "0",
            "--bind", "127.0.0.1", "--unixsocket", str(sock)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    server = RedisProcess(proc, f"unix://{sock}", tmp_path)
    ready = threading.Event()
    threading.Thread(target=_drain, args=(proc, server.log, ready), daemon=True).start()
    try:
        assert ready.wait(START_TIMEOUT_S) and proc.poll() is None, "".join(server.log)
        with redis.Redis.from_url(server.url, decode_responses=True) as client:
            assert client.config_get("appendonly") == {"appendonly": "yes"}
            assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
            assert client.config_get("hash-max-ziplist-entries") == {"hash-max-ziplist-entries": "512"}
            assert client.config_get("hash-max-ziplist-value") == {"hash-max-ziplist-value": "1024"}
    finally:
        server.stop()
