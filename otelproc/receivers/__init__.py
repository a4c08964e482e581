"""Receivers: the protocol edges where OTLP arrives (gRPC :4317, HTTP :4318).

A receiver decodes a request once and hands it to a ``Consumer``; it knows
nothing of pipelines or exporters. The consumer answers with what it rejected
(OTLP partial success) or raises ``BackpressureError`` when it cannot take more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from google.protobuf.message import Message

from otelproc.signals import Signal


@dataclass(frozen=True, slots=True)
class ConsumeResult:
    rejected: int = 0  # items refused, reported as OTLP partial success
    message: str = ""


class Consumer(Protocol):
    async def consume(self, signal: Signal, request: Message, raw: bytes) -> ConsumeResult:
        """Take one decoded request; ``raw`` is its protobuf encoding (as received when it came as protobuf).

        Raises ``otelproc.errors.BackpressureError`` when a queue or the memory ceiling is full.
        """
        ...
