"""Storage: error events and patterns in an embedded DuckDB database.

Public API:

- ``Store`` (``otelproc.store.duckdb``): the database, its writer thread, read-only
  queries (``query``), ``resolve``, ``count_items`` / ``record_counts``, ``health``,
  ``run_maintenance`` (retention), ``on_alert`` hooks; ``Store.tracker`` is the
  ``patterns`` pipeline stage.
- ``PatternTracker`` (``otelproc.store.patterns``): that stage.
- ``StorageConfig``, ``ThresholdsConfig``, ``RetentionConfig`` (``otelproc.store.config``).
- ``otelproc.store.client``: what the CLI uses (``run_query``, ``top_patterns``,
  ``resolve``, ``format_table`` / ``format_csv`` / ``format_json``).
"""

from otelproc.store.config import RetentionConfig, StorageConfig, ThresholdsConfig
from otelproc.store.duckdb import Store
from otelproc.store.query import QueryError, QueryResult, ReadOnlyError
from otelproc.store.patterns import PatternTracker

__all__ = [
    "PatternTracker",
    "QueryError",
    "QueryResult",
    "ReadOnlyError",
    "RetentionConfig",
    "StorageConfig",
    "Store",
    "ThresholdsConfig",
]

for _name in __all__:
    globals()[_name].__module__ = "otelproc.store"
