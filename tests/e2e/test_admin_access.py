"""The admin endpoint off loopback (as in the container image): without `admin.api_key` the
endpoints that serve stored data are closed, with a line at start and a 401 naming the setting,
while the probes stay open; with a key they need it. `otelproc serve` and the `otelproc sql` CLI
as subprocesses, the real OpenTelemetry SDK sending meanwhile."""

from __future__ import annotations

import json

import httpx
import yaml
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from otelproc.admin.access import data_is_closed
from otelproc.config import load_config
from tests.e2e.harness import ROOT, Otelproc, free_port
from tests.e2e.patterns_helpers import cli
from tests.otel_helpers import SpanRecorder

# Every route that serves stored data, and one that does not exist yet: a later endpoint is closed too.
DATA_REQUESTS = [("POST", "/sql", {"query": "SELECT count(*) FROM error_events"}),
                 ("POST", "/patterns/0123456789abcdef/resolve", None),
                 ("GET", "/reports", None),
                 ("GET", "/reports/1", None)]  # fmt: skip


def _off_loopback(tmp_path, **admin) -> Otelproc:
    """otelproc with its admin endpoint on 0.0.0.0 (reached here through 127.0.0.1)."""
    port = free_port()
    proc = Otelproc(tmp_path, admin={"endpoint": f"0.0.0.0:{port}", **admin},
                    service={"telemetry": {"logs": {"format": "json"}}})  # fmt: skip
    proc.admin_port = port
    return proc


def _send_an_error(proc: Otelproc) -> None:
    recorder = SpanRecorder()
    try:
        with recorder.tracer.start_as_current_span("charge"):
            raise RuntimeError("card declined")
    except RuntimeError:
        pass
    exporter = OTLPSpanExporter(endpoint=proc.grpc_endpoint, insecure=True)
    assert exporter.export(recorder.exporter.get_finished_spans()) is SpanExportResult.SUCCESS
    exporter.shutdown()


def test_off_loopback_without_a_key_data_endpoints_are_closed_and_probes_open(tmp_path):
    with _off_loopback(tmp_path) as proc:
        _send_an_error(proc)  # receiving is not affected
        base = proc.admin_url
        for path in ("/health/live", "/health/ready", "/health", "/health/deep", "/metrics"):
            assert httpx.get(base + path, timeout=5).status_code == 200, path
        for method, path, body in DATA_REQUESTS:
            response = httpx.request(method, base + path, json=body, timeout=5)
            assert response.status_code == 401, (path, response.text)
            error = response.json()["error"]
            assert "admin.api_key" in error and "OTELPROC_ADMIN_API_KEY" in error, error
        result = cli("sql", "SELECT 1", config=proc.config_path, check=False)
        assert result.returncode == 1 and "admin.api_key" in result.stderr, result.stderr
        assert proc.stop() == 0
    lines = [json.loads(line) for line in proc.log().splitlines() if line.startswith("{")]
    closed = [line for line in lines if line.get("event") == "admin_data_closed"]
    assert len(closed) == 1 and closed[0]["level"] == "warning"
    assert f"0.0.0.0:{proc.admin_port}" in closed[0]["msg"] and "admin.api_key" in closed[0]["msg"]


def test_off_loopback_with_a_key_data_endpoints_need_it(tmp_path):
    with _off_loopback(tmp_path, api_key="k-3f9a") as proc:
        _send_an_error(proc)
        base = proc.admin_url
        assert httpx.get(base + "/health/ready", timeout=5).status_code == 200
        assert httpx.get(base + "/metrics", timeout=5).status_code == 401  # with a key, only the probes are open
        query = {"query": "SELECT 1 AS one"}
        refused = httpx.post(base + "/sql", json=query, timeout=5)
        assert refused.status_code == 401 and "admin.api_key" in refused.json()["error"]
        answer = httpx.post(base + "/sql", json=query, headers={"Authorization": "Bearer k-3f9a"}, timeout=5)
        assert answer.status_code == 200 and answer.json()["rows"] == [[1]]
        assert "1" in cli("sql", "SELECT 1 AS one", "--api-key", "k-3f9a", config=proc.config_path).stdout
        assert "admin_data_closed" not in proc.log()
        assert proc.stop() == 0


def test_the_container_config_closes_data_until_the_key_is_set(monkeypatch):
    monkeypatch.delenv("OTELPROC_ADMIN_API_KEY", raising=False)
    config = load_config(ROOT / "config" / "docker.yaml")
    assert config.admin.endpoint.startswith("0.0.0.0:") and data_is_closed(config.admin.endpoint, config.admin.api_key)
    monkeypatch.setenv("OTELPROC_ADMIN_API_KEY", "from-the-environment")
    config = load_config(ROOT / "config" / "docker.yaml")
    assert config.admin.api_key == "from-the-environment"
    assert not data_is_closed(config.admin.endpoint, config.admin.api_key)


def test_a_cli_whose_config_names_another_database_is_not_answered_from_this_server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    with Otelproc(served) as proc:
        other = yaml.safe_load(proc.config_path.read_text())
        other["storage"] = {"path": str(tmp_path / "b.duckdb")}  # same admin.endpoint, another file
        other_config = tmp_path / "b.yaml"
        other_config.write_text(yaml.safe_dump(other))
        refused = cli("sql", "SELECT count(*) FROM error_events", config=other_config, check=False)
        assert refused.returncode == 1, refused.stdout
        assert f"serves {proc.db_path.resolve()}, not {(tmp_path / 'b.duckdb').resolve()}" in refused.stderr
        assert "share admin.endpoint" in refused.stderr
        assert cli("sql", "SELECT 1 AS one", config=proc.config_path).returncode == 0  # its own config: answered
