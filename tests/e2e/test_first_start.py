"""A new user's first minutes: `otelproc serve` with no exporter says what to do next; an app
with the real OpenTelemetry SDK, configured by the environment variable that line names, sends
its errors; `otelproc patterns` shows them with their service and exception type, whole on a
wide terminal (a real pseudo-terminal), fitted to a narrow one, and as JSON."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

from tests.e2e.harness import ROOT, Otelproc
from tests.e2e.patterns_helpers import cli_many, wait_committed

APP = textwrap.dedent(
    '''
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()  # service.name from OTEL_SERVICE_NAME
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # endpoint from OTEL_EXPORTER_OTLP_ENDPOINT
    tracer = provider.get_tracer("warehouse")


    class ReservationTimedOut(Exception):
        pass


    def reserve(n):
        raise ReservationTimedOut(
            f"reservation {n} timed out while the warehouse management system was recounting the stock of every shelf"
        )


    for n in range(3):
        try:
            with tracer.start_as_current_span("reserve"):
                reserve(n)
        except ReservationTimedOut:
            pass
    provider.shutdown()
    '''
)


def run_in_terminal(argv: list[str], columns: int, env: dict[str, str]) -> str:
    """``argv``'s output on a pseudo-terminal ``columns`` wide."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env, close_fds=True)
    os.close(slave)
    out, deadline = b"", time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other end closed
                break
            if not chunk:
                break
            out += chunk
        elif process.poll() is not None:
            break
    os.close(master)
    assert process.wait(10) == 0, out
    return out.decode().replace("\r\n", "\n")


def test_first_start_next_steps_and_patterns_with_service_and_type(tmp_path):
    with Otelproc(tmp_path) as proc:  # no exporters
        line = next(line for line in proc.log().splitlines() if "event=no_exporters" in line)
        assert "level=warning" in line and "nothing is forwarded" in line
        endpoint = re.search(r"OTEL_EXPORTER_OTLP_ENDPOINT=(http://[0-9.:]+)", line).group(1)
        assert endpoint == proc.http_url, line  # the HTTP receiver, first
        assert f"OTEL_EXPORTER_OTLP_ENDPOINT=http://{proc.grpc_endpoint} with OTEL_EXPORTER_OTLP_PROTOCOL=grpc" in line
        assert f'base_url=\\"{proc.http_url}\\"' in line  # the Logfire SDK
        assert "`otelproc patterns`" in line and "`exporters:`" in line and "otelproc serve --config FILE" in line

        app = tmp_path / "warehouse_app.py"
        app.write_text(APP)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTEST_"))}
        env |= {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_SERVICE_NAME": "warehouse"}
        result = subprocess.run([sys.executable, str(app)], cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=60)  # fmt: skip
        assert result.returncode == 0, result.stderr
        wait_committed(proc, 3)

        config = proc.config_path
        as_json, piped = cli_many([("patterns", "--format", "json"), ("patterns",)], config=config)
        patterns = json.loads(as_json.stdout)
        assert len(patterns) == 1
        pattern = patterns[0]
        assert (pattern["service"], pattern["exception_type"], pattern["total"]) == ("warehouse", "__main__.ReservationTimedOut", 3)
        name = pattern["name"]
        assert len(name) > 80 and name.endswith("recounting the stock of every shelf"), name

        terminal_env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        command = [sys.executable, "-m", "otelproc", "patterns", "--config", str(config)]
        with ThreadPoolExecutor(2) as pool:
            wide, narrow = (out.splitlines() for out in pool.map(lambda columns: run_in_terminal(command, columns, terminal_env), (300, 200)))
        header = [cell.strip() for cell in wide[0].split("|")]
        assert header[5:7] == ["service", "exception_type"] and header[-1] == "name", header
        row = [cell.strip() for cell in wide[2].split("|")]
        assert row[5:7] == ["warehouse", "__main__.ReservationTimedOut"] and row[-1] == name, row  # whole
        assert all(len(line) <= 300 for line in wide)

        assert all(len(line) <= 200 for line in narrow), narrow
        row = [cell.strip() for cell in narrow[2].split("|")]
        assert row[0] == pattern["id"] and row[6] == "__main__.ReservationTimedOut"  # ids and short columns stay whole
        assert row[-1].endswith("…") and name.startswith(row[-1][:-1]), row  # the name gives way

        assert name in piped.stdout  # into a pipe: nothing is cut
        assert proc.stop() == 0
