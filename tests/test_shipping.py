"""Shipping: the release and CI workflows (GitHub's workflow schema, check-jsonschema's copy; what they
build, smoke-test and publish), the wheel smoke test they run (.ci/wheel_smoke.py), and what the
Dockerfile shares with them. Building wheels and images needs more than a test run has; README
("Install", "Releases") says how each was checked."""

from __future__ import annotations

import fnmatch
import re
import runpy
import subprocess
import sys
import tomllib

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

import otelproc
from tests.test_compose import ROOT, tool

WORKFLOWS = ROOT / ".github" / "workflows"
SMOKE = ROOT / ".ci" / "wheel_smoke.py"


def workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(flow: dict) -> dict:
    return flow[True]  # YAML 1.1 reads the key `on` as true


def steps(job: dict) -> str:
    """A job's steps as text: each one's action, script and inputs."""
    return "\n".join(f"{step.get('uses', '')}\n{step.get('run', '')}\n{yaml.safe_dump(step.get('with', {}), width=1000)}"
                     for step in job["steps"])  # fmt: skip


@pytest.mark.parametrize("name", ["release.yml", "ci.yml"])
def test_workflow_follows_the_github_workflow_schema(name):
    result = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(WORKFLOWS / name)],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path):
    broken = workflow("release.yml")
    broken["jobs"]["publish"]["steps"] = {"uses": "pypa/gh-action-pypi-publish@release/v1"}  # not a list
    path = tmp_path / "release.yml"
    path.write_text(yaml.safe_dump(broken))
    result = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode != 0


def test_release_builds_the_sdist_and_a_wheel_per_platform():
    jobs = workflow("release.yml")["jobs"]
    builds = {name: job for name, job in jobs.items() if "PyO3/maturin-action" in steps(job)}
    assert set(builds) == {"sdist", "linux", "macos"}
    assert "command: sdist" in steps(builds["sdist"])
    # the sdist alone builds a wheel that passes the smoke test
    assert "pip\" install dist/otelproc-*.tar.gz" in steps(builds["sdist"]) and "wheel_smoke.py" in steps(builds["sdist"])
    assert builds["linux"]["strategy"]["matrix"]["target"] == ["x86_64", "aarch64"]
    assert 'manylinux: "2_17"' in (WORKFLOWS / "release.yml").read_text()
    macos = {(row["runner"], row["target"]) for row in builds["macos"]["strategy"]["matrix"]["include"]}
    assert macos == {("macos-15-intel", "x86_64"), ("macos-15", "aarch64")}
    for name in ("linux", "macos"):
        assert "--release --locked --out dist" in steps(builds[name]), f"{name} must build from Cargo.lock"


def test_every_wheel_is_smoke_tested_from_wheels_alone_before_publishing():
    jobs = workflow("release.yml")["jobs"]
    assert jobs["smoke-linux"]["needs"] == "linux" and jobs["smoke-macos"]["needs"] == "macos"
    assert jobs["smoke-linux"]["strategy"]["matrix"]["platform"] == ["amd64", "arm64"]
    assert jobs["smoke-macos"]["strategy"]["matrix"]["include"] == jobs["macos"]["strategy"]["matrix"]["include"]
    for name in ("smoke-linux", "smoke-macos"):
        text = steps(jobs[name])
        assert "--only-binary :all:" in text and re.search(r"wheel_smoke\.py\"? --installed", text), name
    assert {"sdist", "smoke-linux", "smoke-macos"} <= set(jobs["publish"]["needs"])


def test_release_publishes_to_pypi_only_from_a_version_tag_with_trusted_publishing():
    flow = workflow("release.yml")
    on = triggers(flow)
    assert on["push"] == {"tags": ["v*"]} and "workflow_dispatch" in on
    assert flow["permissions"] == {"contents": "read"}  # no job but publish may mint an OIDC token
    publish = flow["jobs"]["publish"]
    assert publish["if"] == "github.event_name == 'push' && startsWith(github.ref, 'refs/tags/v')"
    assert publish["permissions"] == {"id-token": "write"} and publish["environment"]["name"] == "pypi"
    assert "pypa/gh-action-pypi-publish@release/v1" in steps(publish)
    assert "password" not in steps(publish) and "secrets." not in (WORKFLOWS / "release.yml").read_text()
    # a tag that does not name pyproject's version builds nothing
    assert all(flow["jobs"][name]["needs"] == "check-version" for name in ("sdist", "linux", "macos"))


def test_ci_runs_the_suite_the_way_ci_does():
    test = workflow("ci.yml")["jobs"]["test"]
    assert "python-version: '3.11'" in steps(test) and "clippy" in steps(test)
    assert test["steps"][-1] == {"run": ".ci/run"}


def test_the_wheel_smoke_test_passes_on_this_install(tmp_path):
    # from another directory, as the release workflow runs it
    result = subprocess.run([sys.executable, str(SMOKE)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "wheel smoke test passed" in result.stdout and "otelproc check-config" in result.stdout


def test_the_wheel_smoke_test_checks_every_data_file_of_the_package():
    listed = subprocess.run(["git", "ls-files", "otelproc"], cwd=ROOT, capture_output=True, text=True, check=True)
    data = {path.removeprefix("otelproc/") for path in listed.stdout.split() if not path.endswith(".py")}
    smoke = runpy.run_path(str(SMOKE), run_name="wheel_smoke")  # not __main__: its checks do not run
    assert data and set(smoke["PACKAGE_DATA"]) == data


def test_the_wheel_smoke_test_refuses_a_source_tree_for_an_installed_wheel(tmp_path):
    if not otelproc.__file__.startswith(str(ROOT)):
        pytest.skip("otelproc is installed from a wheel here, not from this checkout (make test installs it editable)")
    result = subprocess.run([sys.executable, str(SMOKE), "--installed"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.returncode != 0 and f"imported from {ROOT / 'otelproc'}" in result.stderr


def test_docker_and_release_build_with_the_same_maturin_and_a_rust_the_core_accepts():
    dockerfile = (ROOT / "Dockerfile").read_text()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    maturin = re.search(r"maturin==([\d.]+)", dockerfile).group(1)
    assert workflow("release.yml")["env"]["MATURIN_VERSION"] == f"v{maturin}"
    build_requirement = next(r for r in pyproject["build-system"]["requires"] if r.startswith("maturin"))
    assert Version(maturin) in SpecifierSet(build_requirement.removeprefix("maturin"))
    rust, rust_suite = re.search(r"^FROM rust:([\d.]+)-slim-(\w+) AS build$", dockerfile, re.M).groups()
    python, python_suite = re.search(r"^FROM python:([\d.]+)-slim-(\w+)$", dockerfile, re.M).groups()
    core = tomllib.loads((ROOT / "core" / "Cargo.toml").read_text())
    assert Version(rust) >= Version(core["package"]["rust-version"])
    assert Version(python) in SpecifierSet(pyproject["project"]["requires-python"])
    assert rust_suite == python_suite  # the wheel links against the glibc it runs on


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore's patterns leave out ``path`` (a pattern that names a directory leaves out all in it)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(
        fnmatch.fnmatch(prefix, pattern)
        or (pattern.startswith("**/") and fnmatch.fnmatch(prefix.rsplit("/", 1)[-1], pattern[3:]))
        for prefix in prefixes
        for pattern in patterns
    )


def test_the_docker_context_holds_what_the_dockerfile_copies():
    ignored = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    dockerfile = (ROOT / "Dockerfile").read_text()
    sources = [
        *(m.group(1).split()[:-1] for m in re.finditer(r"^COPY (?!--from)(?:--\S+ )*(.+)$", dockerfile, re.M)),
        *([m.group(1)] for m in re.finditer(r"--mount=type=bind,source=([^,\s]+)", dockerfile)),
    ]
    paths = [path for group in sources for path in group]
    assert {"core", "otelproc", "pyproject.toml", ".ci/wheel_smoke.py"} <= set(paths)
    for path in paths:
        assert (ROOT / path).exists(), f"the Dockerfile copies {path}, which does not exist"
        assert not dockerignored(path, ignored), f".dockerignore leaves out {path}"
    # what must stay out of the context: local build output the build stage would otherwise copy
    assert {"core/target", "otelproc/_core*.so", ".venv"} <= set(ignored)
