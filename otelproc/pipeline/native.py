"""The one place that imports the Rust core (``otelproc._core``, built from ``core/``).

- ``Core``: one pass over a request's bytes (validate, count, detect, extract the error rows),
  then redaction and grouping of those rows, and the splice of ``diagnostic.*`` attributes;
- ``Redactor``: the redaction rules, compiled once (also for prompts and notifications);
- ``Grouping``: the normalizers and the fingerprint, compiled once;
- ``WireFormatError``: a request that is not valid OTLP protobuf, with what is wrong and where.
"""

from otelproc._core import Core, Grouping, Redactor, WireFormatError

__all__ = ["Core", "Grouping", "Redactor", "WireFormatError"]
