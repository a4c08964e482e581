"""otelproc: an OpenTelemetry processor that diagnoses error spans and logs.

Public API: ``Config`` / ``load_config``, ``Batch`` and ``Stage`` (the pipeline's
unit and signature), ``Service`` and ``serve``.
"""

from otelproc._version import __version__

__all__ = ["__version__", "Config", "load_config", "Batch", "Stage", "Service", "serve"]


def __getattr__(name: str):
    # Imported on first use, so `import otelproc` stays cheap for the CLI's fast paths.
    if name in ("Config", "load_config"):
        from otelproc import config

        return getattr(config, name)
    if name in ("Batch", "Stage"):
        from otelproc.pipeline import batch

        return getattr(batch, name)
    if name in ("Service", "serve"):
        from otelproc import service

        return getattr(service, name)
    raise AttributeError(name)
