"""Exact threshold semantics of the patterns stage (seed 001: 3 in 24 h, 10 in 1 h, 100 in total)."""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from otelproc.store import ThresholdsConfig
from otelproc.store.patterns import OUTPUT_SCHEMA, pattern_id_for
from tests.store.helpers import at, batch_of, error_frame, error_row, events

COLUMNS = ["pattern_id", "pattern_status", "occurrences", "occurrences_1h", "occurrences_24h", "severity"]


def run(store, frame: pl.DataFrame) -> pl.DataFrame:
    return store.tracker(batch_of(frame)).errors


def one(store, t: datetime, fingerprint: str = "fp-a", **values) -> dict:
    return run(store, events([t], fingerprint, **values)).select(COLUMNS + ["first_seen", "new_in_release"]).to_dicts()[0]


def test_output_columns_and_row_order(open_store):
    store = open_store()
    frame = events([at(3), at(1), at(2)])
    out = run(store, frame)
    assert out.get_column("row").to_list() == [0, 1, 2]  # rows keep their order
    for name, dtype in OUTPUT_SCHEMA.items():
        assert out.schema[name] == dtype, name
    assert set(frame.columns) <= set(out.columns)


def test_two_in_24h_is_no_pattern(open_store):
    store = open_store()
    out = run(store, events([at(0), at(23)]))
    assert out.get_column("pattern_status").to_list() == ["candidate", "candidate"]
    assert out.get_column("pattern_id").to_list() == [None, None]
    assert out.get_column("occurrences_24h").to_list() == [1, 2]
    store.flush()
    assert store.query("SELECT count(*) FROM error_patterns").rows == [[0]]
    assert store.query("SELECT total_occurrences, pattern_id FROM error_fingerprints").rows == [[2, None]]


@pytest.mark.parametrize("batching", ["one batch", "one event per batch"])
def test_the_third_in_24h_creates_the_pattern(open_store, batching):
    store = open_store()
    times = [at(0), at(10), at(20)]
    if batching == "one batch":
        rows = run(store, events(times)).select(COLUMNS).to_dicts()
    else:
        rows = [run(store, events([t])).select(COLUMNS).to_dicts()[0] for t in times]
    pid = pattern_id_for("fp-a")
    assert [r["pattern_status"] for r in rows] == ["candidate", "candidate", "active"]
    assert [r["pattern_id"] for r in rows] == [None, None, pid]
    assert [r["occurrences"] for r in rows] == [1, 2, 3]
    assert [r["occurrences_24h"] for r in rows] == [1, 2, 3]
    store.flush()
    assert store.query(
        "SELECT id, status, total_occurrences, first_seen, last_seen, severity, name FROM error_patterns"
    ).rows == [[pid, "active", 3, at(0).isoformat(), at(20).isoformat(), "medium",
                "PG_CONNECTION_FAILED: connection to server at <ip> port <int> failed"]]  # fmt: skip
    assert store.query("SELECT pattern_id, pattern_status FROM error_events ORDER BY occurred_at").rows == [
        [None, "candidate"], [None, "candidate"], [pid, "active"]
    ]  # fmt: skip


def test_ten_within_an_hour_escalates_once(open_store):
    store = open_store()
    times = [at(0, minutes=6 * i) for i in range(10)] + [at(0, minutes=55 + i) for i in range(10)]  # 20 in 74 min
    out = run(store, events(times)).select(COLUMNS).to_dicts()
    assert [r["occurrences_1h"] for r in out[:10]] == list(range(1, 11))
    assert [r["pattern_status"] for r in out[:10]] == ["candidate"] * 2 + ["active"] * 7 + ["escalated"]
    assert [r["severity"] for r in out[:10]] == ["medium"] * 9 + ["high"]
    assert {r["severity"] for r in out[10:]} == {"high"}  # raised one step, once
    assert {r["pattern_status"] for r in out[10:]} == {"escalated"}
    store.flush()
    assert store.query("SELECT status, severity, escalated_at FROM error_patterns").rows == [
        ["escalated", "high", at(0, minutes=54).isoformat()]
    ]


def test_nine_in_an_hour_do_not_escalate(open_store):
    store = open_store()
    # 10 events, but any hour-long window (t-1h, t] holds at most 9 of them
    times = [at(0, minutes=7 * i) for i in range(9)] + [at(1, minutes=7)]
    out = run(store, events(times))
    assert out.get_column("occurrences_1h").max() == 9
    assert "escalated" not in out.get_column("pattern_status").to_list()


def test_events_25h_apart_do_not_count_together(open_store):
    store = open_store()
    rows = [one(store, at(25 * i)) for i in range(4)]
    assert [r["occurrences_24h"] for r in rows] == [1, 1, 1, 1]
    assert [r["occurrences"] for r in rows] == [1, 2, 3, 4]
    assert {r["pattern_status"] for r in rows} == {"candidate"}


def test_window_excludes_its_start_and_includes_the_event(open_store):
    store = open_store()
    rows = run(store, events([at(0), at(24), at(24, seconds=-0.000001) + timedelta(hours=24)])).select(COLUMNS).to_dicts()
    # (t - 24h, t]: the event exactly 24 h earlier is out, one a microsecond later is in
    assert [r["occurrences_24h"] for r in rows] == [1, 1, 2]


def test_same_timestamp_counts_in_arrival_order(open_store):
    store = open_store()
    out = run(store, events([at(0)] * 3))
    assert out.get_column("occurrences_24h").to_list() == [1, 2, 3]
    assert out.get_column("pattern_status").to_list() == ["candidate", "candidate", "active"]
    later = one(store, at(0))
    assert later["occurrences_24h"] == 4


def test_out_of_order_rows_in_one_batch(open_store):
    store = open_store()
    out = run(store, events([at(3), at(1), at(2)])).select(COLUMNS).to_dicts()
    assert [r["occurrences_24h"] for r in out] == [3, 1, 2]
    assert [r["occurrences"] for r in out] == [3, 1, 2]  # rows of a batch are processed in event-time order
    assert [r["pattern_status"] for r in out] == ["active", "candidate", "candidate"]


def test_late_event_lands_in_its_own_window(open_store):
    store = open_store()
    assert one(store, at(0))["occurrences_24h"] == 1
    assert one(store, at(10))["occurrences_24h"] == 2
    assert one(store, at(30))["occurrences_24h"] == 2  # (6h, 30h]: 10h and 30h
    late = one(store, at(11))  # arrives last, belongs between 10h and 30h
    assert (late["occurrences_24h"], late["occurrences_1h"]) == (3, 1)  # 0h, 10h, itself; 10h is exactly 1h before
    assert late["pattern_status"] == "active"  # its window holds 3: the pattern is created
    assert late["occurrences"] == 4
    after = one(store, at(30, minutes=59))
    assert (after["occurrences_24h"], after["occurrences_1h"]) == (4, 2)  # 10h, 11h (late), 30h, itself
    assert after["first_seen"] == at(0)


def test_very_late_event_is_counted_from_the_database(open_store):
    store = open_store()
    run(store, events([at(0), at(1)]))
    store.flush()
    run(store, events([at(0), at(1)], fingerprint="fp-b"))  # still in the writer's buffer
    one(store, at(24 * 5), fingerprint="fp-other")  # moves the in-memory horizon days ahead
    late = one(store, at(2))
    assert store.tracker.slow_rows >= 1
    assert (late["occurrences_24h"], late["occurrences"], late["pattern_status"]) == (3, 3, "active")
    late_b = run(store, events([at(1, minutes=30), at(2)], fingerprint="fp-b")).select(COLUMNS).to_dicts()
    assert [r["occurrences_24h"] for r in late_b] == [3, 4]  # counts the unflushed rows too
    assert [r["occurrences_1h"] for r in late_b] == [2, 2]


def test_counts_survive_a_restart(open_store, tmp_path):
    path = tmp_path / "restart.duckdb"
    store = open_store(path=path)
    one(store, at(0))
    one(store, at(0, minutes=30))
    store.close()
    store = open_store(path=path)
    third = one(store, at(0, minutes=40))
    assert (third["occurrences"], third["occurrences_24h"], third["occurrences_1h"]) == (3, 3, 3)
    assert third["pattern_status"] == "active"
    for i in range(6):
        one(store, at(0, minutes=41 + i))
    store.close()
    store = open_store(path=path)
    tenth = one(store, at(0, minutes=50))
    assert (tenth["occurrences_1h"], tenth["pattern_status"], tenth["severity"]) == (10, "escalated", "high")
    store.close()
    store = open_store(path=path)
    eleventh = one(store, at(0, minutes=51))
    assert (eleventh["occurrences"], eleventh["pattern_status"], eleventh["severity"]) == (11, "escalated", "high")
    assert eleventh["first_seen"] == at(0)


def _random_batches(seed: int, fingerprints: int, batches: int) -> list[pl.DataFrame]:
    rng = random.Random(seed)
    out = []
    for b in range(batches):
        rows = []
        for _ in range(rng.randint(1, 12)):
            fp = f"fp-{rng.randrange(fingerprints):03d}"
            minutes = b * 10 + rng.uniform(-90, 5)  # mostly in order, some up to 1.5 h late
            rows.append(error_row(at(0, minutes=minutes), fp, severity=rng.choice(["low", "medium", "high"])))
        out.append(error_frame(rows))
    return out


def test_eviction_and_rebuild_give_identical_counts(open_store, tmp_path):
    thresholds = ThresholdsConfig(pattern={"count": 3, "window": "24h"}, escalate={"count": 4, "window": "1h"},
                                  alert={"count": 9})  # fmt: skip
    batches = _random_batches(7, fingerprints=40, batches=60)
    outputs = []
    for cap in (100_000, 16):
        store = open_store(thresholds, path=tmp_path / f"cap{cap}.duckdb", max_tracked_fingerprints=cap)
        frames = []
        for frame in batches:
            frames.append(run(store, frame).select(COLUMNS + ["first_seen", "fingerprint"]))
            store.flush()  # rows committed: evictable
        outputs.append(pl.concat(frames))
        if cap == 16:
            assert store.tracker.rebuilds > 20
            assert len(store.tracker._states) <= 16 + 12
    assert outputs[0].equals(outputs[1])


def test_alert_at_100_in_total(open_store, caplog):
    store = open_store()
    received = []
    store.on_alert.append(received.append)
    times = [at(0, minutes=20 * i) for i in range(99)]  # 3 per hour: no escalation
    with caplog.at_level(logging.WARNING, logger="otelproc.store.patterns"):
        out = run(store, events(times))
        assert out.get_column("pattern_status")[-1] == "active"
        hundredth = one(store, at(40))
        more = one(store, at(40, minutes=1))
    assert (hundredth["occurrences"], hundredth["pattern_status"]) == (100, "alerted")
    assert more["pattern_status"] == "alerted"
    assert len([r for r in caplog.records if r.getMessage() == "pattern alerted"]) == 1
    store.flush()
    store._hooks.submit(lambda: None).result()  # hooks run on their own thread
    assert store.query("SELECT pattern_id, occurrences, threshold, kind FROM alerts").rows == [
        [pattern_id_for("fp-a"), 100, 100, "occurrences"]
    ]
    assert [a["occurrences"] for a in received] == [100]
    assert store.query("SELECT status, alerted_at FROM error_patterns").rows == [["alerted", at(40).isoformat()]]


def test_thresholds_are_configurable(open_store):
    thresholds = ThresholdsConfig.model_validate(
        {"pattern": {"count": 2, "window": "30m"}, "escalate": {"count": 3, "window": "10m"}, "alert": {"count": 5}}
    )
    store = open_store(thresholds)
    out = run(store, events([at(0), at(0, minutes=31), at(0, minutes=40), at(0, minutes=45), at(0, minutes=46)]))
    # 45m: (35m, 45m] holds 2; 46m: 3 in 10 min escalates and is the 5th in total: alerted wins the tie
    assert out.get_column("pattern_status").to_list() == ["candidate", "candidate", "active", "active", "alerted"]
    assert out.get_column("severity").to_list() == ["medium"] * 4 + ["high"]
    assert out.get_column("occurrences_24h").to_list() == [1, 2, 3, 4, 5]  # the 1h/24h columns stay 1h/24h
    store.flush()
    assert store.query("SELECT status, severity, escalated_at IS NOT NULL FROM error_patterns").rows == [
        ["alerted", "high", True]
    ]


def test_resolve_then_recurrence_regresses(open_store):
    store = open_store()
    now = datetime.now(timezone.utc)
    run(store, events([now - timedelta(minutes=3 - i) for i in range(3)]))
    pid = pattern_id_for("fp-a")
    assert store.resolve(pid)["status"] == "resolved"
    assert store.query("SELECT status, resolved_at IS NOT NULL FROM error_patterns").rows == [["resolved", True]]
    late = one(store, now - timedelta(minutes=1))  # happened before the fix: stays resolved
    assert late["pattern_status"] == "resolved"
    again = one(store, now + timedelta(seconds=5))
    assert again["pattern_status"] == "regressed"
    store.flush()
    assert store.query("SELECT status, regressed_at IS NOT NULL FROM error_patterns").rows == [["regressed", True]]
    assert store.resolve("fp-a")["id"] == pid  # by fingerprint too
    with pytest.raises(KeyError):
        store.resolve("no-such-pattern")


def test_resolve_survives_restart(open_store, tmp_path):
    path = tmp_path / "r.duckdb"
    store = open_store(path=path)
    now = datetime.now(timezone.utc)
    run(store, events([now - timedelta(minutes=1)] * 3))
    store.resolve("fp-a")
    store.close()
    store = open_store(path=path)
    assert one(store, now + timedelta(seconds=1))["pattern_status"] == "regressed"
    store.close()
    store = open_store(path=path)
    store.resolve(pattern_id_for("fp-a"))  # before any batch since the start
    assert one(store, now - timedelta(seconds=30))["pattern_status"] == "resolved"  # older than the resolution
    assert one(store, now + timedelta(seconds=2))["pattern_status"] == "regressed"


def test_first_release_and_new_in_release(open_store):
    store = open_store()
    run(store, events([at(0), at(1), at(2)], "fp-old", service_version="1.0.0"))
    deployed = run(store, events([at(3), at(3.1), at(3.2)], "fp-new", service_version="1.1.0"))
    assert deployed.get_column("new_in_release").to_list() == [True] * 3
    old_in_new = one(store, at(3.3), "fp-old", service_version="1.1.0")
    assert old_in_new["new_in_release"] is False
    straggler = one(store, at(3.4), "fp-straggler", service_version="1.0.0")  # an old pod, old release
    assert straggler["new_in_release"] is False
    other_service = one(store, at(3.5), "fp-first", service_name="billing", service_version="7.0")
    assert other_service["new_in_release"] is False  # the service's first release: nothing to compare
    store.flush()
    assert store.query("SELECT fingerprint, first_release, new_in_release FROM error_patterns ORDER BY 1").rows == [
        ["fp-new", "1.1.0", True], ["fp-old", "1.0.0", False]
    ]  # fmt: skip
    assert store.query("SELECT service_name, release FROM service_releases ORDER BY 1, 2").rows == [
        ["billing", "7.0"], ["checkout", "1.0.0"], ["checkout", "1.1.0"]
    ]  # fmt: skip


def test_rows_without_fingerprint_are_stored_but_not_counted(open_store):
    store = open_store()
    out = run(store, error_frame([error_row(at(0), None), error_row(at(0), "fp-a")]))
    assert out.get_column("pattern_status").to_list() == [None, "candidate"]
    assert out.get_column("occurrences").to_list() == [None, 1]
    assert out.get_column("first_seen").to_list() == [None, at(0)]
    store.flush()
    assert store.query("SELECT count(*) FROM error_events").rows == [[2]]


def test_empty_batch(open_store):
    store = open_store()
    out = run(store, error_frame([]))
    assert out.is_empty() and set(OUTPUT_SCHEMA) <= set(out.columns)
    assert out.schema["severity"] == pl.String


def _reference_counts(batches: list[pl.DataFrame]) -> list[tuple[int, int, int]]:
    """Brute force: for every row, (total in processing order, events in (t-1h, t], in (t-24h, t])."""
    seen: dict[str, list[tuple[datetime, int]]] = {}
    totals: dict[str, int] = {}
    out, next_id = [], 0
    for frame in batches:
        rows = frame.select("fingerprint", "occurred_at").rows()
        ids = list(range(next_id, next_id + len(rows)))
        next_id += len(rows)
        for fp, t in rows:  # the whole batch is "seen" before its rows are counted
            seen.setdefault(fp, [])
        batch_events = {}
        for (fp, t), i in zip(rows, ids):
            seen[fp].append((t, i))
            batch_events.setdefault(fp, []).append((t, i))
        stamped = {}
        for fp, evs in batch_events.items():
            for t, i in sorted(evs):
                totals[fp] = totals.get(fp, 0) + 1
                le = [(u, j) for u, j in seen[fp] if (u, j) <= (t, i)]
                stamped[i] = (
                    totals[fp],
                    sum(1 for u, _ in le if u > t - timedelta(hours=1)),
                    sum(1 for u, _ in le if u > t - timedelta(hours=24)),
                )
        out.extend(stamped[i] for i in ids)
    return out


def test_counts_match_brute_force_across_days_evictions_and_code_reuse(open_store, tmp_path, monkeypatch):
    import otelproc.store.patterns as patterns

    rng = random.Random(11)
    batches = []
    for b in range(70):  # 70 batches an hour apart: the in-memory horizon moves several times
        rows = []
        for _ in range(rng.randint(1, 10)):
            late = rng.choice([0, 0, 0, 0.5, 2, 30])  # hours; some far behind the horizon
            t = at(b) - timedelta(hours=late, minutes=rng.uniform(0, 50))
            rows.append(error_row(t, f"fp-{rng.randrange(25):02d}"))
        batches.append(error_frame(rows))
    expected = _reference_counts(batches)
    monkeypatch.setattr(patterns, "MAX_CODE", 40)  # forces codes to be renumbered
    store = open_store(max_tracked_fingerprints=16)
    tracker = store.tracker
    renumbered, renumber = [], tracker._renumber
    monkeypatch.setattr(tracker, "_renumber", lambda: (renumbered.append(1), renumber()))
    got, bases = [], set()
    for frame in batches:
        bases.add(tracker._index.base)
        got.extend(run(store, frame).select("occurrences", "occurrences_1h", "occurrences_24h").rows())
        store.flush()
    assert got == expected
    assert tracker.slow_rows > 0 and tracker.rebuilds > 0 and renumbered and len(bases) > 3
