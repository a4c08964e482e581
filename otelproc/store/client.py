"""What ``otelproc sql`` / ``patterns`` / ``resolve`` call: the running server first, else the file.

While ``otelproc serve`` holds the database, no other process can open the file
(DuckDB allows one writing process and takes an exclusive lock), so every
function here first asks the server's admin endpoint (``POST /sql``,
``POST /patterns/{id}/resolve``). When nothing answers there, the database is
opened directly: read-only for queries, read-write for ``resolve``. The
read-only rules (``otelproc.store.query``) are the same on both paths, and rows
come back in the same JSON-ready form.

Errors are ``QueryError`` (an ``OtelprocError``) with a message for the user.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import httpx

from otelproc.store.query import QueryError, run_read_only

STORAGE_HEADER = "x-otelproc-storage"  # the admin server names the database file it serves on every answer

CONNECT_TIMEOUT = 1.0
TOP_PATTERNS_SQL = """
WITH recent AS (
    SELECT fingerprint, count(*) AS n FROM error_events  -- occurrences: causes and log records, not symptoms
    WHERE occurred_at > now() - INTERVAL '24 hours' AND caused_by IS NULL GROUP BY fingerprint
), feedback AS (
    SELECT pattern_id, count(*) AS n,
           arg_max(comment, received_at) FILTER (WHERE comment IS NOT NULL AND comment <> '') AS latest
    FROM user_feedback WHERE pattern_id IS NOT NULL GROUP BY pattern_id
)
SELECT p.id, p.status, p.severity, p.total_occurrences AS total, coalesce(r.n, 0) AS last_24h,
       p.service_name AS service, p.error_type AS exception_type,
       strftime(timezone('UTC', p.first_seen), '%Y-%m-%dT%H:%M:%SZ') AS first_seen,
       strftime(timezone('UTC', p.last_seen), '%Y-%m-%dT%H:%M:%SZ') AS last_seen,
       p.first_release, coalesce(f.n, 0) AS feedback, f.latest AS latest_feedback, p.name
FROM error_patterns p LEFT JOIN recent r ON r.fingerprint = p.fingerprint LEFT JOIN feedback f ON f.pattern_id = p.id
WHERE $status::VARCHAR IS NULL OR p.status = $status::VARCHAR
ORDER BY last_24h DESC, p.total_occurrences DESC, p.last_seen DESC
LIMIT $limit
"""


class _NoServer(Exception):
    """Nothing answered at the admin endpoint."""


def _headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _post(admin_url: str, path: str, payload: dict | None, api_key: str | None, timeout: float,
          db_path: str | Path) -> httpx.Response:  # fmt: skip
    """``path`` on the running server whose database is ``db_path``; ``_NoServer`` when none answers."""
    try:
        response = httpx.post(
            admin_url.rstrip("/") + path,
            json=payload,
            headers=_headers(api_key),
            timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT),
        )
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise _NoServer(str(exc)) from exc
    if response.status_code == 404 and "error" not in response.text:
        raise _NoServer("no otelproc admin routes at this address")  # another server answers there
    if response.status_code == 401:
        raise QueryError(f"the admin endpoint {admin_url} refused the request: {_error_of(response)} (--api-key)")
    served = response.headers.get(STORAGE_HEADER)
    if served is not None and Path(served) != Path(db_path).resolve():
        raise QueryError(
            f"the otelproc at {admin_url} serves {served}, not {Path(db_path).resolve()} (this config's storage.path): "
            "two configs share admin.endpoint; give each its own"
        )
    return response


def _error_of(response: httpx.Response) -> str:
    try:
        return response.json().get("error") or response.text
    except ValueError:
        return response.text or f"HTTP {response.status_code}"


def _open(db_path: str | Path, admin_url: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    path = Path(db_path)
    if not path.exists():
        raise QueryError(f"no database at {path} (has `otelproc serve` run with this config?), and no server at {admin_url}")
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        if "lock" in str(exc).lower():
            raise QueryError(
                f"{path} is held by a running otelproc, but its admin endpoint {admin_url} did not answer; "
                "check admin.endpoint in the config"
            ) from exc
        raise QueryError(f"cannot open {path}: {exc}") from exc


def run_query(
    db_path: str | Path,
    admin_url: str,
    query: str,
    params: list | dict | None = None,
    *,
    api_key: str | None = None,
    max_rows: int = 100_000,
    timeout: float = 60.0,
) -> tuple[list[str], list[list[Any]]]:
    """(columns, rows) of one read-only statement, from the running server or else the file."""
    try:
        payload = {"query": query, "params": params, "max_rows": max_rows}
        response = _post(admin_url, "/sql", payload, api_key, timeout, db_path)
    except _NoServer:
        con = _open(db_path, admin_url, read_only=True)
        try:
            result = run_read_only(con, query, params, max_rows=max_rows, timeout=timeout)
        finally:
            con.close()
        return result.columns, result.rows
    if response.status_code != 200:
        raise QueryError(_error_of(response))
    body = response.json()
    return body["columns"], body["rows"]


def top_patterns(
    db_path: str | Path,
    admin_url: str,
    limit: int = 20,
    status: str | None = None,
    *,
    api_key: str | None = None,
) -> tuple[list[str], list[list[Any]]]:
    """The patterns with the most occurrences in the last 24 h (then in total), optionally of one status."""
    return run_query(db_path, admin_url, TOP_PATTERNS_SQL, {"status": status, "limit": int(limit)}, api_key=api_key)


def resolve(db_path: str | Path, admin_url: str, pattern: str, *, api_key: str | None = None) -> str:
    """Mark a pattern (id or fingerprint) resolved; through the server when it runs. Returns a line for the user."""
    try:
        response = _post(admin_url, f"/patterns/{quote(pattern, safe='')}/resolve", None, api_key, 30.0, db_path)
    except _NoServer:
        con = _open(db_path, admin_url, read_only=False)
        try:
            rows = con.execute(
                "UPDATE error_patterns SET status = 'resolved', resolved_at = now(), updated_at = now() "
                "WHERE id = $1 OR fingerprint = $1 RETURNING id, fingerprint",
                [pattern],
            ).fetchall()
        finally:
            con.close()
        row = rows[0] if rows else None
        if row is None:
            raise QueryError(f"no pattern has id or fingerprint {pattern!r}")
        return f"pattern {row[0]} resolved (fingerprint {row[1]})"
    if response.status_code != 200:
        raise QueryError(_error_of(response))
    body = response.json()
    return f"pattern {body['id']} resolved (fingerprint {body['fingerprint']})"


def report(config, since: float, service: str | None, fmt: str, *, api_key: str | None = None) -> dict:
    """A new manual report: made by the running server (``POST /reports``), else from the file
    (opened read-write: the report is stored there too). Returns the stored report."""
    admin_url = f"http://{config.admin.endpoint}"
    try:
        response = _post(admin_url, "/reports", {"since": since, "service": service, "format": fmt}, api_key,
                         config.reports.summary_timeout + 60, config.storage.path)  # fmt: skip
    except _NoServer:
        return _report_from_file(config, since, service, fmt, admin_url)
    if response.status_code != 200:
        raise QueryError(_error_of(response))
    return response.json()


class _DatabaseFile:
    """The database file opened by the CLI (no server): migrated, with cursors, as the store gives them."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self.is_open = True

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self.con.cursor()


def _report_from_file(config, since: float, service: str | None, fmt: str, admin_url: str) -> dict:
    import asyncio

    from otelproc.analysis.ai import PatternAnalyzer
    from otelproc.analysis.reports import Reporter, ReportRequest
    from otelproc.pipeline.redact import Redactor
    from otelproc.store import schema

    con = _open(config.storage.path, admin_url, read_only=False)
    try:
        schema.migrate(con)
        database = _DatabaseFile(con)
        redactor = Redactor.from_config(config.diagnostics.redaction)
        analyzer = PatternAnalyzer.from_config(config.diagnostics.ai, database, redactor)  # only its budgeted calls
        reporter = Reporter.from_config(config.reports, database, redactor, analyzer)
        report = asyncio.run(reporter.generate(ReportRequest(since=since, service=service, format=fmt)))
    finally:
        con.close()
    return {"id": report["id"], "body": report["body"], "markdown": report["markdown"], "format": fmt}


def playbooks_test(config, files: dict[str, str], since: float, *, api_key: str | None = None) -> list[str]:
    """The dry run: replayed by the running server (``POST /playbooks/test``), else on the file (read-only)."""
    from otelproc.analysis.playbooks import dry_run, parse_text

    channels = set(config.notifications.channels)
    playbooks = [pb for name, text in files.items() for pb in parse_text(text, name, channels)]  # ConfigError: exit 2
    admin_url = f"http://{config.admin.endpoint}"
    try:
        payload = {"files": files, "since": since}
        response = _post(admin_url, "/playbooks/test", payload, api_key, 300.0, config.storage.path)
    except _NoServer:
        con = _open(config.storage.path, admin_url, read_only=True)
        try:
            return dry_run(playbooks, con.cursor(), since)
        finally:
            con.close()
    if response.status_code != 200:
        raise QueryError(_error_of(response))
    return response.json()["lines"]


# -- output formats ---------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# Only columns wider than this are cut to fit a terminal, and not below it: ids, numbers and
# timestamps stay whole; when the short columns alone do not fit, the terminal wraps the lines.
MIN_COLUMN_WIDTH = 20


def _fit(widths: list[int], width: int) -> list[int]:
    """Column widths that fit a line of ``width`` characters if they can: the widest give way first."""
    over = sum(widths) + 3 * (len(widths) - 1) - width
    fitted = list(widths)
    for i in sorted(range(len(widths)), key=lambda i: -widths[i]):
        if over <= 0:
            break
        cut = min(over, fitted[i] - MIN_COLUMN_WIDTH)
        if cut > 0:
            fitted[i] -= cut
            over -= cut
    return fitted


def format_table(columns: list[str], rows: list[list[Any]], width: int | None = None) -> str:
    """An aligned text table, newlines shown as ⏎. With ``width`` (a terminal's), the widest
    columns are cut (…) until a line fits in it (see ``MIN_COLUMN_WIDTH``); without, nothing is cut."""
    cells = [[_cell(v).replace("\n", "⏎") for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    if width is not None:
        widths = _fit(widths, width)
    numeric = [bool(rows) and all(isinstance(r[i], (int, float)) or r[i] is None for r in rows) for i in range(len(columns))]

    def clip(text: str, w: int) -> str:
        return text if len(text) <= w else text[: w - 1] + "…"

    def line(values: list[str]) -> str:
        return " | ".join(
            clip(v, w).rjust(w) if num else clip(v, w).ljust(w) for v, w, num in zip(values, widths, numeric)
        ).rstrip()

    out = [line(list(columns)), "-+-".join("-" * w for w in widths)]
    out.extend(line(r) for r in cells)
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)


def format_csv(columns: list[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else json.dumps(v) if isinstance(v, (list, dict)) else v for v in row])
    return buffer.getvalue().rstrip("\n")


def format_json(columns: list[str], rows: list[list[Any]]) -> str:
    """A JSON array of objects, one per row (duplicate column names keep the last value)."""
    return json.dumps([dict(zip(columns, row)) for row in rows], indent=2, ensure_ascii=False, default=str)


def regroup(config, *, api_key: str | None = None) -> dict:
    """``otelproc regroup``: through the server when it runs, else on the database file."""
    from otelproc.pipeline.grouping_history import GroupingHistory
    from otelproc.pipeline.grouping_history import regroup as regroup_stored
    from otelproc.store import schema

    admin_url = f"http://{config.admin.endpoint}"
    try:
        response = _post(admin_url, "/grouping/regroup", None, api_key, 600.0, config.storage.path)
    except _NoServer:
        con = _open(config.storage.path, admin_url, read_only=False)
        try:
            schema.migrate(con)
            return regroup_stored(GroupingHistory(con, config.diagnostics.grouping))
        finally:
            con.close()
    if response.status_code != 200:
        raise QueryError(f"regroup failed: {_error_of(response)}")
    return response.json()
