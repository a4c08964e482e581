"""Playbooks: matching, conditions (counts, rates, x baseline), each action, errors named by file and key."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from otelproc.analysis.playbooks import PlaybookStage, parse_text
from otelproc.errors import ConfigError
from otelproc.pipeline.batch import Batch
from otelproc.signals import Signal

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


def rows(n: int, *, label="PG_CONNECTION_FAILED", fp="fp1", env="production", every=timedelta(seconds=1), end=NOW, **extra):
    return pl.DataFrame({
        "occurred_at": [end - every * (n - 1 - i) for i in range(n)], "fingerprint": [fp] * n, "label": [label] * n,
        "deployment_environment": [env] * n, "severity": ["medium"] * n, "pattern_id": [f"p-{fp}"] * n,
        "service_name": ["checkout"] * n, "stage": [None] * n, "occurrences": list(range(1, n + 1)),
        **{k: [v] * n for k, v in extra.items()},
    }, schema_overrides={"stage": pl.String})  # fmt: skip


def stage(text: str, channels=frozenset({"slack/ops"})) -> PlaybookStage:
    return PlaybookStage(parse_text(text, "test.yaml", set(channels)))


def run(st: PlaybookStage, frame: pl.DataFrame) -> tuple[pl.DataFrame, list]:
    fired = []
    st.on_fire[:] = [fired.extend]
    return st(Batch(Signal.TRACES, None, 0, errors=frame)).errors, fired


def test_match_on_label_glob_and_environment():
    st = stage("playbooks:\n  - name: pg\n    match: {label: 'PG_*', environment: [production]}\n"
               "    actions: [{annotate: {runbook_url: 'https://rb/pg'}}]\n")  # fmt: skip
    out, _ = run(st, pl.concat([rows(1), rows(1, env="staging", fp="b"), rows(1, label="OTHER", fp="c")]))
    assert out.get_column("playbook").to_list() == ["pg", None, None]
    assert out.get_column("playbook_runbook_url").to_list() == ["https://rb/pg", None, None]


def test_count_condition_holds_from_the_error_that_crosses_it_and_severity_is_raised():
    st = stage("playbooks:\n  - name: pg\n    conditions: ['count_1m > 3']\n    actions: [{set_severity: critical}]\n")
    out, _ = run(st, rows(6))
    assert out.get_column("playbook").to_list() == [None, None, None, "pg", "pg", "pg"]
    assert out.get_column("severity").to_list() == ["medium"] * 3 + ["critical"] * 3
    # Counts carry across batches (a later batch sees the earlier errors in its window).
    out, _ = run(st, rows(1, end=NOW + timedelta(seconds=10)))
    assert out.get_column("playbook").to_list() == ["pg"]


def test_set_severity_never_lowers():
    st = stage("playbooks:\n  - name: calm\n    actions: [{set_severity: low}]\n")
    out, _ = run(st, rows(2))
    assert out.get_column("severity").to_list() == ["medium", "medium"]


def test_rate_against_baseline():
    st = stage("playbooks:\n  - name: surge\n    conditions: ['rate_1m > 3x baseline', 'count_1m >= 10']\n"
               "    baseline: 1h\n    actions: [{annotate: {runbook_url: 'https://rb'}}]\n")  # fmt: skip
    steady = rows(60, every=timedelta(minutes=1), end=NOW - timedelta(minutes=1))  # 1 a minute for an hour
    out, _ = run(st, steady)
    assert out.get_column("playbook").null_count() == 60
    out, _ = run(st, rows(12, every=timedelta(seconds=2)))  # 12 in the last minute: 12x the baseline
    assert out.get_column("playbook").to_list()[-1] == "surge"
    # count_1m >= 10 holds from the 9th (with the steady error of a minute ago in its window)
    assert out.get_column("playbook").to_list()[:8] == [None] * 8 and out.get_column("playbook").to_list()[8] == "surge"


def test_notify_and_report_fire_once_per_pattern_and_cooldown():
    st = stage("playbooks:\n  - name: pg\n    cooldown: 10m\n    actions: [{notify: slack/ops}, {report: {since: 6h}}]\n")
    _, fired = run(st, pl.concat([rows(3), rows(2, fp="other")]))
    assert sorted(f.row["fingerprint"] for f in fired) == ["fp1", "other"]
    event = fired[0].event()
    assert event["event"] == "playbook" and event["playbook"] == "pg" and event["pattern_id"].startswith("p-")
    assert fired[0].playbook.notify_channels() == ["slack/ops"] and fired[0].playbook.report().since == 6 * 3600
    _, fired = run(st, rows(2, end=NOW + timedelta(minutes=5)))
    assert fired == []  # within the cooldown
    _, fired = run(st, rows(1, end=NOW + timedelta(minutes=11)))
    assert [f.row["fingerprint"] for f in fired] == ["fp1"]


def test_the_first_matching_playbook_names_the_row():
    st = stage("playbooks:\n  - name: first\n    match: {label: PG_CONNECTION_FAILED}\n    actions: [{set_severity: high}]\n"
               "  - name: second\n    actions: [{set_severity: critical}]\n")  # fmt: skip
    out, _ = run(st, rows(1))
    assert out.get_column("playbook").to_list() == ["first"]
    assert out.get_column("severity").to_list() == ["critical"]  # severity: the highest of all that matched


@pytest.mark.parametrize(
    "text, problem",
    [
        ("playbooks:\n  - name: x\n    conditions: ['rate_5m > lots']\n    actions: [{set_severity: high}]\n",
         "test.yaml: playbooks[0].conditions: cannot read 'rate_5m > lots'"),
        ("playbooks:\n  - name: x\n    match: {lable: X}\n    actions: [{set_severity: high}]\n",
         "test.yaml: playbooks[0].match.lable: unknown key"),
        ("playbooks:\n  - name: x\n    actions: [{notify: slack/nowhere}]\n",
         "test.yaml: playbooks[0].actions[0].notify: 'slack/nowhere' is not defined under notifications.channels"),
        ("playbooks:\n  - name: x\n    actions: [{set_severity: high, notify: slack/ops}]\n",
         "test.yaml: playbooks[0].actions[0]: an action is exactly one of notify, set_severity, annotate, report"),
        ("playbooks:\n  - name: x\n    actions: []\n", "test.yaml: playbooks[0].actions: List should have at least 1 item"),
    ],
)
def test_bad_playbooks_are_named_by_file_and_key(text, problem):
    with pytest.raises(ConfigError) as err:
        parse_text(text, "test.yaml", {"slack/ops"})
    assert any(p.startswith(problem) for p in err.value.problems), err.value.problems
