"""User feedback (seed 001, section 6): OTLP log records with ``event.name = user.feedback``.

The core picks them out of each logs request as it scans it (the LogRecord's ``event_name``
field, or an ``event.name`` attribute) into ``batch.feedback`` (``FEEDBACK_SCHEMA`` in
``pipeline/batch.py``). The records themselves are forwarded like any other.

``FeedbackRecorder`` stores them in ``user_feedback`` in the background (a worker thread,
never on the request path):

- ``contact`` is never stored in clear: with ``diagnostics.feedback.contact_key`` it is
  encrypted (AES-256-GCM, key = SHA-256 of the configured secret; stored as
  ``enc:v1:<base64url(nonce + ciphertext)>``, read back with ``decrypt_contact``); without a
  key it is replaced by ``[REDACTED:contact]`` (so one still sees that a contact was given).
- ``comment`` and the ``attributes`` JSON are redacted (and ``contact`` is removed from the JSON).
- Linking: a feedback row gets the ``fingerprint`` of the error it concerns, the given
  ``error.fingerprint`` (a fingerprint or a pattern id) or else the error of the same trace
  nearest in time, and that fingerprint's ``pattern_id`` once it has a pattern. Rows are
  linked again every ``link_interval`` for ``link_window``, so feedback that arrives before
  its error (or before the error's pattern exists) is linked when it does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import polars as pl
from prometheus_client import Counter
from pydantic import Field

from otelproc.config_types import Component, Duration
from otelproc.pipeline.redact import Redactor

if TYPE_CHECKING:
    from otelproc.store.duckdb import Store

log = logging.getLogger("otelproc.analysis.feedback")

REDACTED_CONTACT = "[REDACTED:contact]"
ENCRYPTED_PREFIX = "enc:v1:"

FEEDBACK_STORED = Counter("otelproc_feedback_records", "user.feedback log records stored")


class FeedbackConfig(Component):
    contact_key: str | None = Field(
        None, min_length=16, repr=False, description="secret the contact is encrypted with (else it is redacted)"
    )
    link_interval: Duration = Field(5.0, gt=0, description="how often unlinked feedback is matched to errors again")
    link_window: Duration = Field(7 * 86400.0, gt=0, description="how long unlinked feedback keeps being matched")


# -- contact encryption -------------------------------------------------------------------------------


def _aesgcm(secret: str):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(hashlib.sha256(secret.encode()).digest())


def encrypt_contact(contact: str, secret: str) -> str:
    nonce = os.urandom(12)
    sealed = _aesgcm(secret).encrypt(nonce, contact.encode(), b"otelproc.user_feedback.contact")
    return ENCRYPTED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt_contact(stored: str, secret: str) -> str:
    """The contact a ``user_feedback.contact`` value holds (``cryptography.exceptions.InvalidTag`` if the key is wrong)."""
    if not stored.startswith(ENCRYPTED_PREFIX):
        raise ValueError("this contact was not stored encrypted")
    data = base64.urlsafe_b64decode(stored.removeprefix(ENCRYPTED_PREFIX))
    return _aesgcm(secret).decrypt(data[:12], data[12:], b"otelproc.user_feedback.contact").decode()


# -- storing and linking ------------------------------------------------------------------------------

_INSERT_SQL = """
INSERT INTO user_feedback (id, received_at, occurred_at, trace_id, span_id, service_name, service_version,
                           deployment_environment, rating, rating_value, comment, contact, error_fingerprint, attributes)
SELECT id, now(), occurred_at, trace_id, span_id, service_name, service_version, deployment_environment, rating,
       TRY_CAST(rating AS DOUBLE), comment, contact, error_fingerprint, attributes::JSON
FROM _feedback_rows
"""
_LINK_SQL = """
UPDATE user_feedback SET fingerprint = c.fingerprint, pattern_id = pt.id,
       linked_at = CASE WHEN pt.id IS NOT NULL THEN now() END
FROM (
    SELECT p.id, coalesce(gp.fingerprint, gf.fingerprint, t.fingerprint) AS fingerprint
    FROM user_feedback p
    LEFT JOIN error_patterns gp ON gp.fingerprint = p.error_fingerprint OR gp.id = p.error_fingerprint
    LEFT JOIN error_fingerprints gf ON gf.fingerprint = p.error_fingerprint
    LEFT JOIN (
        -- a symptom span stands for its cause: the feedback is about that failure
        SELECT f.id, arg_min(coalesce(e.caused_by, e.fingerprint),
                             abs(epoch(e.occurred_at) - epoch(coalesce(f.occurred_at, e.occurred_at)))) AS fingerprint
        FROM user_feedback f JOIN error_events e ON e.trace_id = f.trace_id
        WHERE f.pattern_id IS NULL AND f.trace_id IS NOT NULL AND e.fingerprint IS NOT NULL
          AND f.received_at > now() - to_seconds($window)
        GROUP BY f.id
    ) t ON t.id = p.id
    WHERE p.pattern_id IS NULL AND p.received_at > now() - to_seconds($window)
) c LEFT JOIN error_patterns pt ON pt.fingerprint = c.fingerprint
WHERE user_feedback.id = c.id AND c.fingerprint IS NOT NULL
  AND (user_feedback.fingerprint IS DISTINCT FROM c.fingerprint OR pt.id IS NOT NULL)
"""


class FeedbackRecorder:
    def __init__(self, config: FeedbackConfig, store: "Store", redactor: Redactor | None = None):
        self.config = config
        self.store = store
        self.redactor = redactor or Redactor()
        self._db_lock = threading.Lock()
        self._closed = False
        self._tasks: set[asyncio.Future] = set()
        self.stats = {"stored": 0, "linked": 0, "failures": 0}
        self.last_error: str | None = None

    @classmethod
    def from_config(cls, config: FeedbackConfig, store: "Store", redactor: Redactor | None = None) -> "FeedbackRecorder":
        return cls(config, store, redactor)

    def prepare(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Rows as stored: an id, the contact encrypted or redacted, the comment redacted (the
        core has already redacted the attributes and taken the contact out of them)."""
        key = self.config.contact_key
        contacts = frame.get_column("contact").to_list()
        sealed = [None if c is None else encrypt_contact(c, key) if key else REDACTED_CONTACT for c in contacts]
        return frame.with_columns(
            id=pl.Series([str(uuid.uuid4()) for _ in range(frame.height)], dtype=pl.String),
            contact=pl.Series(sealed, dtype=pl.String),
            comment=pl.Series(self.redactor.redact_texts(frame.get_column("comment").to_list()), dtype=pl.String),
        )

    def submit(self, frame: pl.DataFrame) -> None:
        """From the event loop: store in a worker thread (the request is not held)."""
        if frame.is_empty():
            return
        task = asyncio.ensure_future(asyncio.to_thread(self._store, frame))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _store(self, frame: pl.DataFrame) -> None:
        try:
            rows = self.prepare(frame)
            with self._db_lock:
                if self._closed or not self.store.is_open:
                    return
                cursor = self.store.cursor()
                try:
                    cursor.register("_feedback_rows", rows.to_arrow())
                    cursor.execute(_INSERT_SQL)
                    cursor.unregister("_feedback_rows")
                    self._link(cursor)
                finally:
                    cursor.close()
            self.stats["stored"] += rows.height
            FEEDBACK_STORED.inc(rows.height)
        except Exception as exc:  # noqa: BLE001 - counted and reported; the records were forwarded anyway
            self.stats["failures"] += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("user feedback could not be stored")

    def _link(self, cursor) -> int:
        linked = cursor.execute(_LINK_SQL, {"window": self.config.link_window}).fetchall()
        n = linked[0][0] if linked else 0
        self.stats["linked"] += n
        return n

    def link(self) -> int:
        with self._db_lock:
            if self._closed or not self.store.is_open:
                return 0
            cursor = self.store.cursor()
            try:
                return self._link(cursor)
            finally:
                cursor.close()

    async def run(self) -> None:
        """Link pending feedback every ``link_interval`` (cancel to stop)."""
        while True:
            await asyncio.sleep(self.config.link_interval)
            try:
                await asyncio.to_thread(self.link)
            except Exception as exc:  # noqa: BLE001 - tried again at the next interval
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("linking user feedback failed")

    def close(self) -> None:
        with self._db_lock:
            self._closed = True

    def health(self) -> dict:
        return {"status": "degraded" if self.stats["failures"] else "healthy", **self.stats,
                "contact": "encrypted" if self.config.contact_key else "redacted", "last_error": self.last_error}  # fmt: skip
