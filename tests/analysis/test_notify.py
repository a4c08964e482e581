"""Notifications to real local receivers: a Slack-compatible endpoint, a signed webhook, SMTP with
STARTTLS and login; cooldown, retries while the receiver is down, and the ``alerts`` rows."""

from __future__ import annotations

import asyncio
import hmac
import hashlib

import pytest

from otelproc.analysis.notify import Notifier, NotificationsConfig
from tests.analysis.receivers import HookReceiver, SmtpReceiver
from tests.sinks import until

SECRET = "hook-secret-0123456789"
FAST_RETRY = {"initial_interval": "50ms", "max_interval": "200ms", "max_elapsed_time": "30s"}


def event(kind: str, pid: str = "p1", **extra) -> dict:
    return {"event": kind, "pattern_id": pid, "fingerprint": f"fp-{pid}", "name": f"DB_DOWN: connection to <host> refused",
            "status": "active", "severity": "high", "service_name": "checkout", "release": "1.4.2", "label": "DB_DOWN",
            "occurrences": 3, **extra}  # fmt: skip


@pytest.fixture
def hooks():
    receiver = HookReceiver()
    yield receiver
    receiver.close()


async def started(store, **config) -> Notifier:
    notifier = Notifier.from_config(NotificationsConfig.model_validate({"retry_on_failure": FAST_RETRY, **config}), store)
    await notifier.start()
    return notifier


def alerts(store) -> list[dict]:
    result = store.query("SELECT event, channel, status, attempts, pattern_id, sent_at IS NOT NULL AS sent, error "
                         "FROM alerts WHERE channel IS NOT NULL ORDER BY created_at")  # fmt: skip
    return [dict(zip(result.columns, row)) for row in result.rows]


async def test_slack_gets_blocks_with_pattern_counts_links_and_ai(open_store, hooks):
    store = open_store()
    notifier = await started(
        store, channels={"slack/ops": {"url": hooks.url}}, send_to=["slack/ops"],
        links={"trace": "https://logfire.example/trace/{trace_id}", "pattern": "https://grafana.example/d/p?var-pattern={pattern_id}"},
    )  # fmt: skip
    notifier.accept([event("created", trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
                           ai_root_cause="The database host is down", ai_suggested_fix="Fail over")])  # fmt: skip
    (hook,) = await asyncio.to_thread(hooks.wait_for, 1)
    body = hook.json()
    assert body["text"].startswith("New error pattern: DB_DOWN: connection to &lt;host&gt; refused")
    kinds = [b["type"] for b in body["blocks"]]
    assert kinds[0] == "header" and "actions" in kinds and "context" in kinds
    text = str(body["blocks"])
    for expected in ("*Pattern*\\np1", "*Service*\\ncheckout", "*Release*\\n1.4.2", "3 total", "The database host is down"):
        assert expected in text
    buttons = next(b for b in body["blocks"] if b["type"] == "actions")["elements"]
    assert [b["url"] for b in buttons] == [
        "https://logfire.example/trace/4bf92f3577b34da6a3ce929d0e0e4736", "https://grafana.example/d/p?var-pattern=p1"]
    await until(lambda: alerts(store) and alerts(store)[0]["status"] == "sent")
    assert alerts(store)[0] | {"error": None} == {"event": "created", "channel": "slack/ops", "status": "sent",
                                                  "attempts": 1, "pattern_id": "p1", "sent": True, "error": None}
    await notifier.close()


async def test_webhook_is_signed_and_redacted(open_store, hooks):
    store = open_store()
    notifier = await started(store, channels={"webhook/pager": {"url": hooks.url, "secret": SECRET}}, send_to=["webhook/pager"])
    notifier.accept([event("alerted", message_template="login failed for alice@example.com with password=hunter2")])
    (hook,) = await asyncio.to_thread(hooks.wait_for, 1)
    expected = "sha256=" + hmac.new(SECRET.encode(), hook.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(hook.headers["x-otelproc-signature-256"], expected)
    assert hook.headers["x-otelproc-event"] == "alerted"
    body = hook.json()
    assert body["event"] == "alerted" and body["pattern_id"] == "p1" and body["id"] == hook.headers["x-otelproc-delivery"]
    assert "alice@example.com" not in hook.body.decode() and "hunter2" not in hook.body.decode()
    assert "[REDACTED:email]" in body["message_template"]
    await notifier.close()


async def test_once_per_cooldown_per_pattern_and_channel_unless_the_event_says_more(open_store, hooks):
    store = open_store()
    notifier = await started(store, channels={"webhook/a": {"url": hooks.url}}, send_to=["webhook/a"], cooldown="1h")
    notifier.accept([event("created"), event("escalated"), event("created", "p2")])  # one batch: p1 merged
    await asyncio.to_thread(hooks.wait_for, 2)
    notifier.accept([event("anomaly")])  # says less than escalated: within the cooldown, suppressed
    notifier.accept([event("regressed", "p2")])  # says more than created: goes through
    notifier.accept([event("regressed", "p2")])  # the same again: suppressed
    received = await asyncio.to_thread(hooks.wait_for, 3)
    await asyncio.sleep(0.3)
    assert len(hooks.received) == 3
    by_pattern = sorted((h.json()["pattern_id"], h.json()["event"], tuple(h.json().get("also", []))) for h in received)
    assert by_pattern == [("p1", "escalated", ("created",)), ("p2", "created", ()), ("p2", "regressed", ())]
    assert notifier.stats["suppressed"] == 2
    await notifier.close()
    # A restart remembers what was sent within the cooldown.
    again = await started(store, channels={"webhook/a": {"url": hooks.url}}, send_to=["webhook/a"], cooldown="1h")
    assert again.accept([event("escalated")]) == []
    await again.close()


async def test_receiver_down_for_a_while_gets_it_later_exactly_once(open_store, hooks):
    store = open_store()
    hooks.down()
    notifier = await started(store, channels={"slack/ops": {"url": hooks.url}}, send_to=["slack/ops"])
    notifier.accept([event("alerted")])
    await until(lambda: notifier.stats["retries"] >= 3, timeout=10)
    hooks.up()
    hooks.fail(2)  # back, but answering 503 twice first
    await asyncio.to_thread(hooks.wait_for, 1)
    await until(lambda: alerts(store) and alerts(store)[0]["status"] == "sent")
    row = alerts(store)[0]
    assert row["attempts"] >= 6 and hooks.refused == 2
    await asyncio.sleep(0.3)
    assert len(hooks.received) == 1
    await notifier.close()


async def test_permanent_refusal_is_recorded_failed(open_store):
    store = open_store()
    notifier = await started(store, channels={"webhook/gone": {"url": "http://127.0.0.1:9/unreachable"}},
                             send_to=["webhook/gone"], retry_on_failure={"initial_interval": "50ms", "max_interval": "100ms",
                                                                        "max_elapsed_time": "300ms"})  # fmt: skip
    notifier.accept([event("created")])
    await until(lambda: alerts(store) and alerts(store)[0]["status"] == "failed", timeout=10)
    assert alerts(store)[0]["error"] and notifier.health()["status"] == "degraded"
    await notifier.close()


async def test_email_over_starttls_with_login(open_store, tmp_path):
    smtp = SmtpReceiver(tmp_path)
    try:
        store = open_store()
        notifier = await started(store, channels={"email/oncall": {
            "smtp": f"127.0.0.1:{smtp.port}", "from": "otelproc@example.com", "to": ["oncall@example.com"],
            "username": SmtpReceiver.USER, "password": SmtpReceiver.PASSWORD, "ca_file": str(smtp.cert),
        }}, send_to=["email/oncall"])  # fmt: skip
        notifier.accept([event("escalated", ai_root_cause="Pool exhausted")])
        ((rcpt, msg),) = await asyncio.to_thread(smtp.wait_for, 1)
        assert rcpt == ["oncall@example.com"]
        assert msg["Subject"].strip() == "[otelproc] Error pattern escalated: DB_DOWN: connection to <host> refused"
        body = msg.get_content()
        assert "Pool exhausted" in body and "checkout" in body and "p1" in body
        await until(lambda: alerts(store) and alerts(store)[0]["status"] == "sent")
        await notifier.close()
    finally:
        smtp.close()


async def test_email_to_a_refused_recipient_fails_without_retrying(open_store, tmp_path):
    smtp = SmtpReceiver(tmp_path)
    try:
        store = open_store()
        notifier = await started(store, channels={"email/oncall": {
            "smtp": f"127.0.0.1:{smtp.port}", "from": "otelproc@example.com", "to": ["nobody@elsewhere.test"],
            "username": SmtpReceiver.USER, "password": SmtpReceiver.PASSWORD, "ca_file": str(smtp.cert),
        }}, send_to=["email/oncall"])  # fmt: skip
        notifier.accept([event("created")])
        await until(lambda: alerts(store) and alerts(store)[0]["status"] == "failed")
        assert alerts(store)[0]["attempts"] == 1 and "550" in alerts(store)[0]["error"]
        assert smtp.messages == []
        await notifier.close()
    finally:
        smtp.close()
