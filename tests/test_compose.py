"""docker-compose.yaml and the Dockerfiles, checked with what runs without a Docker engine: the Compose
specification's JSON schema (check-jsonschema's copy), hadolint, and the references between the files
(ports, service names, mounted paths, the configs each service is given)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from otelproc.config import load_config

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yaml"
BIN = Path(sys.executable).parent


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    assert found, f"{name} is not installed (pip install -e '.[test]')"
    return found


def test_compose_file_follows_the_compose_specification():
    result = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_broken_file(tmp_path):
    broken = compose()
    broken["services"]["otelproc"]["ports"] = {"not": "a list"}
    path = tmp_path / "docker-compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    result = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode != 0


@pytest.mark.parametrize(
    "dockerfile, threshold",
    [
        # The lead owns the root Dockerfile's build stage: only hadolint's errors fail here. Its HEALTHCHECK
        # uses the shell form on purpose (a python one-liner), which DL3025 flags.
        ("Dockerfile", "error"),
        ("examples/app/Dockerfile", "warning"),
    ],
)
def test_dockerfiles_pass_hadolint(dockerfile, threshold):
    result = subprocess.run([tool("hadolint"), "--no-color", "--failure-threshold", threshold, str(ROOT / dockerfile)],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def _host_path(volume: str) -> Path | None:
    source = volume.split(":")[0]
    return (ROOT / source).resolve() if source.startswith(".") else None


def test_every_mounted_file_and_build_context_exists():
    services = compose()["services"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            path = _host_path(volume)
            if path is not None:
                assert path.exists(), f"{name}: {volume} mounts a path that does not exist"
        build = service.get("build")
        if build:
            context = ROOT / (build if isinstance(build, str) else build["context"])
            assert (context / "Dockerfile").is_file(), f"{name}: no Dockerfile in {context}"
        for dependency in service.get("depends_on", []):
            assert dependency in services, f"{name} depends on unknown service {dependency}"


def _mount_target(service: dict, host: str) -> str:
    for volume in service["volumes"]:
        source, target = volume.split(":")[:2]
        if (ROOT / source).resolve() == (ROOT / host).resolve():
            return target
    raise AssertionError(f"{host} is not mounted")


def test_the_services_point_at_each_other(monkeypatch):
    services = compose()["services"]
    otelproc = services["otelproc"]
    # otelproc runs the mounted config, which is valid, with the SQL endpoint and admin where the others look
    config_target = _mount_target(otelproc, "examples/compose/otelproc.yaml")
    assert otelproc["command"][:3] == ["serve", "--config", config_target]
    monkeypatch.setenv("OTELPROC_SQL_PASSWORD", "example")
    config = load_config(ROOT / "examples/compose/otelproc.yaml")
    assert config.sql.postgres is not None and config.sql.postgres.password == "example"
    sql_port = config.sql.postgres.endpoint.rsplit(":", 1)[1]
    admin_port = config.admin.endpoint.rsplit(":", 1)[1]
    assert config.sql.postgres.endpoint.startswith("0.0.0.0:") and config.admin.endpoint.startswith("0.0.0.0:")
    assert f"{sql_port}:{sql_port}" in otelproc["ports"] and f"{admin_port}:{admin_port}" in otelproc["ports"]
    grpc_port = config.receivers.otlp.protocols.grpc.endpoint.rsplit(":", 1)[1]
    # the Collector forwards to otelproc's gRPC receiver
    collector_config = yaml.safe_load((ROOT / "otel-collector-config.yaml").read_text())
    assert _mount_target(services["otel-collector"], "otel-collector-config.yaml") in services["otel-collector"]["command"][0]
    assert collector_config["exporters"]["otlp/otelproc"]["endpoint"] == f"otelproc:{grpc_port}"
    # the app sends to the Collector
    endpoint = urlparse(services["app"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert endpoint.hostname == "otel-collector" and f"{endpoint.port}:{endpoint.port}" in services["otel-collector"]["ports"]
    # Prometheus scrapes otelproc's admin endpoint
    prometheus = yaml.safe_load((ROOT / "examples/compose/prometheus.yml").read_text())
    assert _mount_target(services["prometheus"], "examples/compose/prometheus.yml") in services["prometheus"]["command"][0]
    targets = [t for job in prometheus["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    assert targets == [f"otelproc:{admin_port}"]
    # Grafana: provisioning and dashboards mounted where the provisioning files say, data sources at otelproc
    grafana = services["grafana"]
    assert _mount_target(grafana, "dashboards/provisioning") == "/etc/grafana/provisioning"
    provider = yaml.safe_load((ROOT / "dashboards/provisioning/dashboards/otelproc.yaml").read_text())["providers"][0]
    assert _mount_target(grafana, "dashboards/otelproc") == provider["options"]["path"]
    assert grafana["environment"]["OTELPROC_SQL_ADDRESS"] == f"otelproc:{sql_port}"
    assert grafana["environment"]["OTELPROC_SQL_PASSWORD"] == otelproc["environment"]["OTELPROC_SQL_PASSWORD"]
    datasources = yaml.safe_load((ROOT / "dashboards/provisioning/datasources/otelproc.yaml").read_text())["datasources"]
    sql = next(d for d in datasources if d["uid"] == "otelproc-sql")
    assert sql["user"].endswith(f"{config.sql.postgres.username}}}") and "OTELPROC_SQL_ADDRESS" in sql["url"]
    assert urlparse(grafana["environment"]["PROMETHEUS_URL"]).port == 9090 and "9090:9090" in services["prometheus"]["ports"]
