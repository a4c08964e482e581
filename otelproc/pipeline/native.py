"""The one place that imports the Rust core (``otelproc._core``, built from ``core/``).

- ``Core``: one pass over a request's bytes (validate, count, detect, extract the error rows),
  then redaction and grouping of those rows, and the splice of ``diagnostic.*`` attributes;
- ``Redactor``: the redaction rules, compiled once (also for prompts and notifications);
- ``Grouping``: the normalizers and the fingerprint (version 1 or 2), compiled once;
- ``StackTraceParser``: stack traces of six languages read into exceptions and frames (the
  grouping's own parser, for the exporters);
- ``WireFormatError``: a request that is not valid OTLP protobuf, with what is wrong and where.
"""

from otelproc._core import Core, Grouping, Redactor, StackTraceParser, WireFormatError

__all__ = ["Core", "Grouping", "Redactor", "StackTraceParser", "WireFormatError"]
