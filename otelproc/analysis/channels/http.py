"""What the HTTP channels share: one POST, and its outcome as an ``ExportError``."""

from __future__ import annotations

import httpx

from otelproc.errors import ExportError
from otelproc.exporters.retry import parse_retry_after

# As for OTLP: throttling and server trouble are worth another try, other refusals are not.
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


async def post(client: httpx.AsyncClient, url: str, *, content: bytes, headers: dict[str, str], timeout: float) -> None:
    try:
        response = await client.post(url, content=content, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:  # refused, reset, timed out: the receiver may come back
        raise ExportError(f"{type(exc).__name__}: {exc}", retryable=True) from exc
    if response.is_success:
        return
    raise ExportError(
        f"HTTP {response.status_code}: {response.text[:200]}",
        retryable=response.status_code in RETRYABLE_STATUS,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )


def safe_url(url: str) -> str:
    """The URL without its path and query (a Slack webhook's path is its secret), for logs."""
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}{f':{parsed.port}' if parsed.port else ''}"
