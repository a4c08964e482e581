from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from otelproc.store import StorageConfig, Store, ThresholdsConfig


@pytest.fixture
def open_store(tmp_path: Path) -> Iterator[Callable[..., Store]]:
    """open_store(**storage_options) -> a started Store on tmp_path; closed at teardown."""
    opened: list[Store] = []

    def factory(thresholds: ThresholdsConfig | None = None, **options: Any) -> Store:
        options.setdefault("flush_interval", 0.05)
        store = Store.from_config(StorageConfig(path=tmp_path / "otelproc.duckdb", **options), thresholds).start()
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()
