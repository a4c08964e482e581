"""Config of the store (``storage:``) and of the pattern thresholds (``diagnostics.thresholds:``).

```yaml
storage:
  path: data/otelproc.duckdb
  flush_interval: 1s              # the writer commits at least this often
  flush_rows: 50000               # ... and as soon as this many error rows wait
  max_tracked_fingerprints: 100000
  memory_limit: 256MiB            # DuckDB's buffer pool
  retention: {days: 30, cold_path: data/cold, interval: 1h}
diagnostics:
  thresholds:
    pattern:  {count: 3,   window: 24h}   # create pattern
    escalate: {count: 10,  window: 1h}    # escalate severity
    alert:    {count: 100}                # alert + auto-report
```
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from otelproc.config_types import ByteSize, Component, Duration

# The in-memory window index keeps event times as 39-bit offsets (about 6.3 days); a window
# must leave room for the lateness margin and clock skew inside that span.
MAX_WINDOW = 4 * 86400.0


class RetentionConfig(Component):
    """Hot -> cold: old error events move to Parquet files partitioned by day (seed 001's policy)."""

    # error_events older than this many days leave the hot table for Parquet.
    days: int = Field(30, ge=1)
    # Directory of the Parquet files (<cold_path>/date=YYYY-MM-DD/*.parquet); default: "cold"
    # next to the database file.
    cold_path: Path | None = None
    # How often the service runs retention.
    interval: Duration = Field(3600.0, gt=0)


class StorageConfig(Component):
    """The DuckDB database and its writer thread."""

    # The database file; its directory is created when missing.
    path: Path = Path("data/otelproc.duckdb")
    # Longest time an accepted error row waits in memory before it is committed.
    flush_interval: Duration = Field(1.0, gt=0, le=60)
    # Commit early when this many error rows are waiting.
    flush_rows: int = Field(50_000, ge=1)
    # Fingerprints whose window state is kept in memory; colder ones are evicted (LRU)
    # and rebuilt from the database when they recur.
    max_tracked_fingerprints: int = Field(100_000, ge=16)
    # Error rows allowed to wait for the writer; beyond this the stage raises
    # BackpressureError instead of growing memory (the writer is failing or far behind).
    max_pending_rows: int = Field(1_000_000, ge=1000)
    # DuckDB's buffer pool (its own default is 80% of physical memory); beyond it, large queries
    # spill to a temporary directory next to the database. None leaves DuckDB's default.
    memory_limit: ByteSize | None = Field(256 * 2**20, ge=64 * 2**20)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)

    def cold_dir(self) -> Path:
        cold = self.retention.cold_path or self.path.parent / "cold"
        return Path(cold).absolute()


class WindowThreshold(Component):
    # Occurrences of one fingerprint within the window that trigger the action.
    count: int = Field(ge=1)
    # The window, ending at (and including) each event: 24h, 1h, 90m…
    window: Duration

    @field_validator("window")
    @classmethod
    def _window(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than 0")
        if value > MAX_WINDOW:
            raise ValueError("must be at most 96h")
        if value * 1e6 != int(value * 1e6):
            raise ValueError("must be a whole number of microseconds")
        return value


class CountThreshold(Component):
    # Total occurrences of one fingerprint that trigger the action.
    count: int = Field(ge=1)


class ThresholdsConfig(Component):
    """When a fingerprint becomes a pattern, when it escalates, when it alerts (seed 001's table)."""

    pattern: WindowThreshold = Field(default_factory=lambda: WindowThreshold(count=3, window=86400.0))
    escalate: WindowThreshold = Field(default_factory=lambda: WindowThreshold(count=10, window=3600.0))
    alert: CountThreshold = Field(default_factory=lambda: CountThreshold(count=100))
