"""Stack traces as text (Python, JavaScript, Java) parsed into frames.

Owned by the Sentry exporter's work; ``LIBRARY_PATH_PATTERN`` is shared with
``pipeline.fingerprint`` so both agree on what is in-app.
"""

from __future__ import annotations

# A frame whose file path matches this is library or standard-library code, not the app's.
LIBRARY_PATH_PATTERN = (
    r"(?:[\\/](?:site|dist)-packages[\\/]"
    r"|[\\/]lib[\\/]python\d+(?:\.\d+)?[\\/]"
    r"|[\\/]node_modules[\\/]"
    r"|^<frozen |^<string>$|^internal[\\/]|^node:)"
)
