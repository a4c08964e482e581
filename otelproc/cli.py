"""The `otelproc` command: serve | check-config | sql | patterns | report | resolve | regroup | playbooks test."""

from __future__ import annotations

import argparse
import os
import shutil
import sys

from otelproc.errors import ConfigError, OtelprocError

# gRPC's C core writes every failed TLS handshake and GOAWAY to stderr at info level, in its own
# format; otelproc logs what matters itself (an exporter names the cause and the fix).
# A GRPC_VERBOSITY the user set wins.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


def _load(path: str | None):
    from otelproc.config import load_config

    return load_config(path)


def cmd_serve(args: argparse.Namespace) -> int:
    from otelproc.log import setup_logging
    from otelproc.service import serve

    config = _load(args.config)
    logs = config.service.telemetry.logs
    setup_logging(args.log_level or logs.level, args.log_format or logs.format)
    return serve(config)


def cmd_check_config(args: argparse.Namespace) -> int:
    config = _load(args.path)
    from otelproc.pipeline.classify import Classifier

    Classifier.from_config(config.diagnostics.classify_config())  # rule files are validated too
    from otelproc.analysis.playbooks import load as load_playbooks

    playbooks = load_playbooks(config.playbooks, set(config.notifications.channels))  # and playbook files
    routes = {signal.value: names for signal, names in config.routes().items()}
    print(f"{args.path}: OK")
    for signal, names in routes.items():
        print(f"  {signal}: {', '.join(names) if names else '(not forwarded)'}")
    if config.notifications.channels:
        print(f"  notifications: {', '.join(config.notifications.channels)}")
    if playbooks:
        print(f"  playbooks: {', '.join(pb.name for pb in playbooks)}")
    if not args.probe:
        return 0
    import asyncio

    from otelproc.exporters.probe import probe_all

    if not config.exporters:
        print("no exporters to probe")
        return 0
    print("probing the exporters:")
    results = asyncio.run(probe_all(config.exporters, config.routes()))
    for result in results:
        print(f"  {result.exporter} ({result.target}): {'ok' if result.ok else 'FAILED'}")
        for step in result.steps:
            print(f"    {step.name}: {'ok' if step.ok else 'FAILED'}: {step.detail}")
    return 0 if all(result.ok for result in results) else 1


def _store_target(args: argparse.Namespace) -> tuple[str, str]:
    config = _load(args.config)
    return str(config.storage.path), f"http://{config.admin.endpoint}"


def _terminal_width() -> int | None:
    """The terminal's width when printing to one (COLUMNS, when set, says it), else None:
    output piped into a file or another program is never cut."""
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def _print_rows(columns: list[str], rows: list[list], output_format: str) -> None:
    from otelproc.store import client

    if output_format == "table":
        print(client.format_table(columns, rows, width=_terminal_width()))
    else:
        print({"csv": client.format_csv, "json": client.format_json}[output_format](columns, rows))


def cmd_sql(args: argparse.Namespace) -> int:
    from otelproc.store import client

    db_path, admin_url = _store_target(args)
    _print_rows(*client.run_query(db_path, admin_url, args.query, api_key=args.api_key), args.format)
    return 0


def cmd_patterns(args: argparse.Namespace) -> int:
    from otelproc.store import client

    db_path, admin_url = _store_target(args)
    columns, rows = client.top_patterns(db_path, admin_url, limit=args.limit, status=args.status, api_key=args.api_key)
    if args.format == "table" and rows:
        # On screen, a column empty in every row (no feedback yet, say) only takes room.
        keep = [i for i in range(len(columns)) if any(row[i] not in (None, "") for row in rows)]
        columns, rows = [columns[i] for i in keep], [[row[i] for i in keep] for row in rows]
    _print_rows(columns, rows, args.format)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from otelproc.config_types import parse_duration
    from otelproc.store import client

    config = _load(args.config)
    try:
        since = parse_duration(args.since)
    except ValueError as exc:
        raise OtelprocError(f"--since: {exc}") from None
    report = client.report(config, since, args.service, args.format, api_key=args.api_key)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report["body"])
        print(f"report {report['id']} written to {args.out}", file=sys.stderr)
    else:
        print(report["body"])
    return 0


def cmd_playbooks_test(args: argparse.Namespace) -> int:
    from pathlib import Path

    from otelproc.config_types import parse_duration
    from otelproc.store import client

    config = _load(args.config)
    try:
        since = parse_duration(args.since)
    except ValueError as exc:
        raise OtelprocError(f"--since: {exc}") from None
    path = Path(args.file)
    paths = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")) if path.is_dir() else [path]
    try:
        files = {str(p): p.read_text() for p in paths}
    except OSError as exc:
        raise ConfigError([f"{exc.filename}: cannot read: {exc.strerror}"]) from None
    print("\n".join(client.playbooks_test(config, files, since, api_key=args.api_key)))
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    from otelproc.store import client

    db_path, admin_url = _store_target(args)
    print(client.resolve(db_path, admin_url, args.pattern, api_key=args.api_key))
    return 0


def cmd_regroup(args: argparse.Namespace) -> int:
    from otelproc.store import client

    done = client.regroup(_load(args.config), api_key=args.api_key)
    print(
        f"grouping version {done['version']}: {done['events']} stored errors of {done['fingerprints']} fingerprints "
        f"fingerprinted again; {done['aliases']} new fingerprints now join their stored patterns "
        f"({done['joined']} of them join what the previous version split)"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otelproc", description="OpenTelemetry processor that diagnoses errors")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the processor")
    serve.add_argument("--config", help="config file (default: the embedded default)")
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    serve.add_argument("--log-format", choices=["logfmt", "json"])
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("path")
    check.add_argument("--probe", action="store_true",
                       help="also try each exporter's endpoint: TCP connect, TLS handshake, an empty OTLP export")  # fmt: skip
    check.set_defaults(func=cmd_check_config)

    def store_command(name: str, help: str):
        p = sub.add_parser(name, help=help)
        p.add_argument("--config", help="config file naming the database and admin endpoint")
        p.add_argument("--api-key", help="admin API key, when the running server requires one")
        return p

    sql = store_command("sql", "read-only SQL over the database (works while `serve` runs)")
    sql.add_argument("query")
    sql.add_argument("--format", choices=["table", "csv", "json"], default="table")
    sql.set_defaults(func=cmd_sql)

    patterns = store_command("patterns", "top error patterns")
    patterns.add_argument("--limit", type=int, default=20)
    patterns.add_argument("--status", help="only patterns with this status")
    patterns.add_argument("--format", choices=["table", "csv", "json"], default="table")
    patterns.set_defaults(func=cmd_patterns)

    report = store_command("report", "a diagnostic report, stored in diagnostic_reports (works while `serve` runs)")
    report.add_argument("--since", default="24h", help="period covered, ending now (default 24h)")
    report.add_argument("--service", help="only this service.name")
    report.add_argument("--format", choices=["markdown", "json"], default="markdown")
    report.add_argument("--out", help="write the report to this file instead of stdout")
    report.set_defaults(func=cmd_report)

    regroup = store_command(
        "regroup", "fingerprint stored errors with the configured grouping version; their history is kept (works while `serve` runs)"
    )
    regroup.set_defaults(func=cmd_regroup)

    playbooks = sub.add_parser("playbooks", help="playbooks as code")
    playbooks_sub = playbooks.add_subparsers(dest="playbooks_command", required=True)
    test = playbooks_sub.add_parser("test", help="replay stored errors through playbooks, print what would fire")
    test.add_argument("file", help="a playbook file or a directory of them")
    test.add_argument("--since", default="7d", help="stored errors of this period (default 7d)")
    test.add_argument("--config", help="config file naming the database, admin endpoint and channels")
    test.add_argument("--api-key", help="admin API key, when the running server requires one")
    test.set_defaults(func=cmd_playbooks_test)

    resolve = store_command("resolve", "mark a pattern resolved (by id or fingerprint)")
    resolve.add_argument("pattern")
    resolve.set_defaults(func=cmd_resolve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print("invalid configuration:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except OtelprocError as exc:
        print(f"otelproc {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
