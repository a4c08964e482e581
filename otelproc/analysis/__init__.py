"""Background work: AI analysis of new patterns (``ai``, ``prompt``); never on the request path.

Public API (imported on first use, so ``import otelproc.analysis`` stays cheap and
never imports litellm):

- ``AIConfig`` (``diagnostics.ai``), ``PatternAnalyzer`` (``from_config(cfg, store)``,
  ``async run()``, ``run_once()``, ``annotate(batch)`` — the pipeline stage —,
  ``notify()``, ``close()``, ``health()``), from ``otelproc.analysis.ai``;
- ``build_prompt``, ``parse_answer``, ``Analysis``, ``MalformedAnswer``, from
  ``otelproc.analysis.prompt``.
"""

_EXPORTS = {
    "AIConfig": "otelproc.analysis.ai",
    "PatternAnalyzer": "otelproc.analysis.ai",
    "build_prompt": "otelproc.analysis.prompt",
    "parse_answer": "otelproc.analysis.prompt",
    "Analysis": "otelproc.analysis.prompt",
    "MalformedAnswer": "otelproc.analysis.prompt",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(name)
