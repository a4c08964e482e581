"""The applications that fail: Python modules generated per service and release, compiled
under the path they would have in that release's deployment, and run for real.

Each service's package is deployed under a root that changes across its four releases
(site-packages, a ``src/`` layout, ``/app`` and ``/srv`` roots, a container's workspace, a
zipapp), and each release moves the functions of a module around (their order, comments
between them), so paths and line numbers differ while the module and function names, as
Python imports them, stay. The modules are compiled with ``compile(source, path)`` and their
lines put in ``linecache``, so tracebacks are Python's own, source lines included. Releases run
in one process here, and two may put their modules at one path: each call installs its own
release's lines for its paths first (``show_release``), as a deployment of that release would
show them (else a traceback would print another release's source under a frame).
"""

from __future__ import annotations

import linecache
import random
import types
from dataclasses import dataclass
from textwrap import indent
from typing import Callable

from tests.corpus.kinds import KINDS, Kind
from tests.corpus.runtime import NAMESPACE


@dataclass(frozen=True)
class Service:
    name: str
    language: str
    package: str = ""
    roots: tuple[str, ...] = ()  # where the package lives, per release
    versions: tuple[str, ...] = ("1.8.0", "1.9.0", "1.9.1", "2.0.0")


SERVICES: dict[str, Service] = {
    s.name: s
    for s in (
        Service("checkout", "python", "app",
                ("/app/", "/app/", "/usr/local/lib/python3.12/site-packages/", "/opt/app-root/src/")),
        Service("billing", "python", "billing",
                ("/home/deploy/billing/src/", "/home/deploy/billing/src/", "/srv/billing/releases/20250611T0930/",
                 "/srv/billing/releases/20250702T1415/")),
        Service("agent", "python", "agent", ("/workspace/agent/src/", "/app/src/", "/app/src/", "/var/task/")),
        Service("gateway", "python", "gateway",
                ("/opt/gateway/gateway.pyz/", "/opt/gateway/gateway.pyz/", "/opt/gateway/gateway-2.0.pyz/",
                 "/usr/lib/python3/dist-packages/")),
        Service("search", "python", "search", ("/app/",) * 4),
        # the holdout corpus's services (tests/corpus/kinds_holdout.py)
        Service("ingest", "python", "ingest",
                ("/app/", "/usr/local/lib/python3.11/site-packages/", "/opt/ingest/.venv/lib/python3.11/site-packages/",
                 "/srv/ingest/current/src/")),
        Service("assistant", "python", "assistant", ("/code/", "/code/", "/app/src/", "/var/task/")),
        # the second holdout corpus's services (tests/corpus/kinds_holdout2.py)
        Service("worker", "python", "worker",
                ("/app/", "/app/", "/usr/src/app/", "/usr/local/lib/python3.12/site-packages/")),
        Service("analytics", "python", "analytics",
                ("/opt/analytics/src/", "/home/airflow/.local/lib/python3.11/site-packages/",
                 "/home/airflow/.local/lib/python3.11/site-packages/", "/opt/airflow/dags/repo/src/")),
        Service("notify", "python", "notify", ("/srv/notify/", "/srv/notify/", "/app/", "/app/")),
        Service("rag", "python", "rag", ("/app/", "/workspace/rag/src/", "/app/", "/var/task/")),
        # the third holdout corpus's services (tests/corpus/kinds_holdout3.py)
        Service("saas", "python", "saas",
                ("/app/", "/app/", "/opt/saas/venv/lib/python3.12/site-packages/", "/srv/saas/current/")),
        Service("etl", "python", "etl",
                ("/opt/dagster/app/", "/opt/dagster/app/", "/usr/local/lib/python3.11/site-packages/",
                 "/opt/prefect/flows/")),
        Service("ml", "python", "ml",
                ("/workspace/ml/", "/app/", "/app/", "/opt/conda/lib/python3.10/site-packages/")),
        Service("web", "nodejs"),
        Service("ledger", "java"),
        Service("edge", "go"),
        Service("invoicing", "dotnet"),
        Service("storefront", "ruby"),
    )
}  # fmt: skip

# shared helpers (class 4): name -> module in the service's package
HELPER_MODULES = {"get_json": "http.client", "cached_json": "common.cache", "partner_call": "clients.partner"}
RELEASES = 4


def _path(service: Service, release: int, module: str) -> str:
    return f"{service.roots[release]}{service.package}/{module.replace('.', '/')}.py"


def _load(name: str, path: str, source: str, namespace: dict, lines: dict) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__file__ = path
    module.__dict__.update(namespace)
    lines[path] = (len(source), None, source.splitlines(True), path)  # mtime None: kept
    linecache.cache[path] = lines[path]
    exec(compile(source, path, "exec"), module.__dict__)
    return module



def _moved(rng: random.Random, blocks: list[str]) -> str:
    """The blocks in a release's order, with comments of varying length between them."""
    rng.shuffle(blocks)
    out = []
    for block in blocks:
        out.extend(f"# {rng.choice(['keep in sync with the API docs', 'see ADR-12', 'TODO: metrics', 'hot path'])}"
                   for _ in range(rng.randint(0, 6)))  # fmt: skip
        out.append(block)
        out.append("\n")
    return "\n".join(out)


class Application:
    """Every Python service's modules for every release; ``entry(kind, release)`` is the function to call."""

    def __init__(self, seed: int = 11, kinds: list[Kind] = KINDS):
        self._entries: dict[tuple[str, int], Callable] = {}
        self._lines: dict[tuple[str, int], dict] = {}  # (service, release) -> linecache entries
        python = [k for k in kinds if k.language == "python"]
        for service in (s for s in SERVICES.values() if s.language == "python"):
            mine = [k for k in python if k.service == service.name]
            for release in range(RELEASES):
                rng = random.Random(f"{seed}/{service.name}/{release}")
                lines = self._lines[(service.name, release)] = {}
                helpers = self._helpers(service, release, mine, rng, lines)
                by_module: dict[str, list[Kind]] = {}
                for kind in mine:
                    by_module.setdefault(kind.module, []).append(kind)
                for module_name, members in sorted(by_module.items()):
                    blocks = [self._function(kind) for kind in members]
                    header = f'"""{service.package}.{module_name}"""\n'
                    source = header + "\n" * rng.randint(1, 3) + _moved(rng, blocks)
                    path = _path(service, release, module_name)
                    module = _load(f"{service.package}.{module_name}", path, source, {**NAMESPACE, **helpers}, lines)
                    for kind in members:
                        self._entries[(kind.id, release)] = getattr(module, kind.function)

    @staticmethod
    def _function(kind: Kind) -> str:
        if kind.helper:
            body = f"    return _{kind.helper}(V)"
            return f"def {kind.function}(V):\n{body}\n"
        return (
            f"def {kind.function}(V):\n    return _{kind.function}(V)\n\n\n"
            f"def _{kind.function}(V):\n{indent(kind.code, '    ')}\n"
        )

    @staticmethod
    def _helpers(service: Service, release: int, kinds: list[Kind], rng: random.Random, lines: dict) -> dict[str, Callable]:
        out = {}
        for name, module_name in HELPER_MODULES.items():
            codes = {k.code for k in kinds if k.helper == name}
            if not codes:
                continue
            assert len(codes) == 1, f"helper {name} runs one code"
            source = (f'"""{service.package}.{module_name}: shared by every caller"""\n' + "\n" * rng.randint(1, 9)
                      + f"def {name}(V):\n{indent(codes.pop(), '    ')}\n")  # fmt: skip
            module = _load(f"{service.package}.{module_name}", _path(service, release, module_name), source, NAMESPACE,
                           lines)
            out[f"_{name}"] = getattr(module, name)
        return out

    def entry(self, kind: Kind, release: int) -> Callable:
        return self._entries[(kind.id, release)]

    def show_release(self, kind: Kind, release: int) -> None:
        """Puts the source lines of ``kind``'s service in ``release`` in ``linecache``."""
        linecache.cache.update(self._lines.get((kind.service, release), {}))
