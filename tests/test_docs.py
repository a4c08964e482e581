"""Every YAML example in the docs and config/ is a valid config (or rules file)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from otelproc.analysis.playbooks import load as load_playbooks, parse_text
from otelproc.config import load_config, parse_config
from otelproc.pipeline.classify import ClassifyConfig, Classifier

ROOT = Path(__file__).resolve().parent.parent
YAML_BLOCK = re.compile(r"```yaml\n(.*?)```", re.S)
ENV_REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)")
# What a user of each example would have set.
EXAMPLE_ENVIRONMENT = {
    "LOGFIRE_TOKEN": "pylf_v1_us_" + "0" * 40,
    "SENTRY_DSN": "https://public@o0.ingest.sentry.io/1",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/XXXX",
    "OTELPROC_FEEDBACK_KEY": "c2VjcmV0LWtleS1mb3ItdGhlLWV4YW1wbGU=",
}


def readme_examples() -> list[str]:
    return YAML_BLOCK.findall((ROOT / "README.md").read_text())


def test_readme_has_yaml_examples():
    assert len(readme_examples()) >= 2


@pytest.mark.parametrize("index", range(len(readme_examples())))
def test_readme_yaml_example_is_valid(index, tmp_path, monkeypatch):
    text = readme_examples()[index]
    for name in ENV_REFERENCE.findall(text):
        monkeypatch.setenv(name, EXAMPLE_ENVIRONMENT.get(name, "example"))
    data = yaml.safe_load(text)
    if isinstance(data.get("playbooks"), list):  # a playbook file
        assert parse_text(text, "README.md")
    elif ("rules" in data or "inferred" in data) and "receivers" not in data:
        path = tmp_path / "rules.yaml"
        path.write_text(text)
        assert Classifier.from_config(ClassifyConfig(rules=path)).ruleset.rules
    else:
        parse_config(data)


@pytest.mark.parametrize("name", ["otelproc.yaml", "docker.yaml", "rules.yaml"])
def test_shipped_configs_are_valid(name):
    path = ROOT / "config" / name
    if name == "rules.yaml":
        assert Classifier.from_config(ClassifyConfig(rules=path)).ruleset.rules
    else:
        load_config(path)


def test_shipped_example_playbooks_are_valid():
    assert len(load_playbooks(ROOT / "config" / "playbooks")) >= 3


@pytest.mark.parametrize("name", ["otelproc.yaml", "docker.yaml"])
def test_shipped_config_comments_name_files_that_exist(name):
    text = (ROOT / "config" / name).read_text()
    comments = "\n".join(line.split("#", 1)[1] for line in text.splitlines() if "#" in line)
    for path in re.findall(r"(?<![\w/])((?:config|otelproc|dashboards|bench)/[\w./-]*\w)", comments):
        assert (ROOT / path).exists(), f"config/{name} points to {path}, which does not exist"


def test_the_default_configs_commented_exporter_works_in_place(monkeypatch):
    monkeypatch.setenv("LOGFIRE_TOKEN", EXAMPLE_ENVIRONMENT["LOGFIRE_TOKEN"])
    text = (ROOT / "config" / "otelproc.yaml").read_text()
    example = re.search(r"^# exporters:\n(?:#   .*\n)+", text, re.M).group(0)
    uncommented = "\n".join(line[2:] for line in example.splitlines())
    config = parse_config(yaml.safe_load(text.replace("exporters: {}\n", uncommented + "\n")))
    assert list(config.exporters) == ["logfire"]


def test_embedded_default_is_the_architecture_default():
    config = load_config(None)
    assert config.receivers.otlp.protocols.grpc.endpoint == "0.0.0.0:4317"
    assert config.receivers.otlp.protocols.http.endpoint == "0.0.0.0:4318"
    assert str(config.storage.path) == "data/otelproc.duckdb"
    assert config.admin.endpoint == "127.0.0.1:13133"
    assert config.exporters == {}


# -- README's code is run, not only read ------------------------------------------------------------

PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)
SH_BLOCK = re.compile(r"```sh\n(.*?)```", re.S)
PLACEHOLDER = re.compile(r"[<\[…]")


WRITING_COMMANDS = {"regroup", "resolve"}  # with the server stopped, these open the database file to write


def readme_commands() -> list[str]:
    """The `otelproc …` command lines of README's sh blocks that need nothing filled in."""
    commands = []
    for block in SH_BLOCK.findall((ROOT / "README.md").read_text()):
        for line in block.splitlines():
            line = line.split("  #", 1)[0].strip()
            if re.match(r"^(\.venv/bin/)?otelproc ", line) and not PLACEHOLDER.search(line):
                commands.append(line)
    return commands


def otelproc_command() -> list[str]:
    """The console script `make run` installs (this virtualenv's), else the module."""
    script = Path(sys.prefix) / "bin" / "otelproc"
    return [str(script)] if script.exists() else [sys.executable, "-m", "otelproc"]


def test_readme_python_examples_and_commands_run(tmp_path):
    """Each Python example of README sends to a running otelproc (host names pointed at it), and
    each `otelproc` command line then runs as written, from a directory laid out as this one."""
    from tests.e2e.harness import Otelproc, free_port
    from tests.e2e.patterns_helpers import admin_sql

    blocks = PYTHON_BLOCK.findall((ROOT / "README.md").read_text())
    assert len(blocks) >= 3
    work = tmp_path / "checkout"
    (work / "config").mkdir(parents=True)
    # as a user's app runs: no SDK settings from this shell, not under pytest (Logfire sends nothing there)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LOGFIRE_", "PYTEST_"))}
    env["OTELPROC_SQL_PASSWORD"] = "readme-example"  # the PostgreSQL endpoint's, as README sets it
    sql_port = free_port()
    sql = {"postgres": {"endpoint": f"127.0.0.1:{sql_port}", "username": "grafana", "password": env["OTELPROC_SQL_PASSWORD"]}}
    with Otelproc(tmp_path, storage={"path": str(work / "data" / "otelproc.duckdb")}, sql=sql) as proc:
        running = []
        for index, block in enumerate(blocks):  # side by side: each is mostly a Python start-up
            code = block.replace("http://otelproc:4318", proc.http_url).replace("otelproc:4317", proc.grpc_endpoint)
            code = code.replace("port=5433", f"port={sql_port}")
            script = tmp_path / f"example_{index}.py"
            script.write_text(code)
            running.append((code, subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=env, text=True,
                                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)))  # fmt: skip
        for code, example in running:
            _, stderr = example.communicate(timeout=60)
            assert example.returncode == 0, (code, stderr)
            assert "Warning" not in stderr, stderr
        deadline = time.monotonic() + 15
        while (found := admin_sql(proc, "SELECT count(*) FROM error_events")[1][0][0]) < 3:
            assert time.monotonic() < deadline, f"{found} errors stored from README's examples"
            time.sleep(0.1)
        assert proc.stop() == 0
    # the commands: config/ as in this repository (its admin endpoint moved to a free port)
    for name in ("otelproc.yaml", "rules.yaml"):
        text = (ROOT / "config" / name).read_text()
        (work / "config" / name).write_text(text.replace("127.0.0.1:13133", f"127.0.0.1:{proc.admin_port}"))
    def run(line: str) -> subprocess.Popen:
        return subprocess.Popen(otelproc_command() + shlex.split(line)[1:], cwd=work, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip

    # the readers together; a command that writes the file needs it to itself, so it runs after
    lines = readme_commands()
    writing = [line for line in lines if shlex.split(line)[1] in WRITING_COMMANDS]
    commands = {line: run(line) for line in lines if line not in writing}
    outputs = {}
    for line, command in [*commands.items(), *((line, None) for line in writing)]:
        command = command or run(line)
        stdout, stderr = command.communicate(timeout=60)
        assert command.returncode == 0, (line, stderr)
        outputs[line] = stdout
    sql = next(out for line, out in outputs.items() if line.startswith("otelproc sql"))
    rows = {line.split("|")[0].strip(): line.split("|")[1].strip() for line in sql.splitlines()[2:-1]}
    assert rows == {"CONNECTION_REFUSED": "1", "MISSING_KEY": "1", "UNKNOWN_ERROR": "1"}, sql  # the span, the log record, Logfire's
    assert any(line.endswith("otelproc patterns") for line in outputs), outputs
    regroup = next(out for line, out in outputs.items() if " regroup" in line)
    assert regroup.startswith("grouping version 2: 3 stored errors of 3 fingerprints fingerprinted again"), regroup
