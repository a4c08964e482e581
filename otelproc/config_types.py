"""Building blocks every component's Config model uses.

Each component (receiver, stage, store, exporter) defines its own pydantic
``Config`` next to its code; ``otelproc.config`` composes them into the file's
shape. Unknown keys are refused everywhere, so a typo names itself.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> float:
    """Seconds from a Collector-style duration ("5s", "1m30s", "250ms", "24h") or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 5s, 250ms or 24h")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text == "0":
            return 0.0
        pos, total = 0, 0.0
        for match in _DURATION_PART.finditer(text):
            if match.start() != pos:
                break
            total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
            pos = match.end()
        if pos == len(text) and text:
            return total
    raise ValueError(f"{value!r} is not a duration; use forms such as 5s, 250ms, 1m30s or 24h")


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", re.IGNORECASE)
_SIZE_FACTOR = {None: 1, "b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2, "gb": 1000**3, "gib": 1024**3}


def parse_byte_size(value: object) -> int:
    """Bytes from a number or a size such as "20MiB", "512KiB", "1GB"."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and (m := _SIZE.match(value)):
        return int(float(m.group(1)) * _SIZE_FACTOR[m.group(2) and m.group(2).lower()])
    raise ValueError(f"{value!r} is not a size; use a number of bytes or forms such as 20MiB or 512KiB")


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds, written in config as 5s, 250ms, 24h…"""

ByteSize = Annotated[int, BeforeValidator(parse_byte_size)]
"""Bytes, written in config as 20MiB, 512KiB or a plain number."""


class Component(BaseModel):
    """Base of every config model: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


def split_endpoint(endpoint: str) -> tuple[str, int]:
    """("0.0.0.0", 4317) from "0.0.0.0:4317", "[::1]:4317" or ":4317"."""
    host, sep, port = endpoint.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{endpoint!r} is not host:port")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def validation_problems(error: ValidationError, prefix: str = "") -> list[str]:
    """One line per problem, each starting with the key path: ``exporters.otlp/a.endpoint: …``."""
    problems = []
    for e in error.errors():
        parts = [prefix] if prefix else []
        for item in e["loc"]:
            if isinstance(item, int) and parts:
                parts[-1] = f"{parts[-1]}[{item}]"
            elif not (isinstance(item, str) and item.startswith("function-")):
                parts.append(str(item))
        message = "unknown key" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, ")
        problems.append(f"{'.'.join(parts) or '(top level)'}: {message}")
    return problems
