"""Stack traces as text, parsed into exceptions and frames by the core's parser (the one the
grouping uses: ``core/src/stacktrace/``), for the Sentry exporter's exception interface.

``parse_stack_trace(text, language)`` returns a tuple of ``ParsedException`` in Sentry's order:
the oldest exception of a chain first, the one that was finally raised (the event's exception)
last, and in each one the frames oldest call first (the frame that raised last). It never raises
on odd input: what cannot be read is left out.

- Python: ``traceback.format_exception`` output completely, including chains ("The above
  exception was the direct cause…", "During handling of the above exception…"),
  ``ExceptionGroup`` trees (the boxed output of 3.11+), ``[Previous line repeated N more
  times]`` (expanded back into the frames the interpreter had), ``File "<string>"``,
  ``<frozen …>`` modules, carets.
- JavaScript: V8 (``at fn (file:line:col)``) and Firefox/Safari (``fn@file:line:col``).
- JVM: ``at pkg.Class.method(File.java:42)``, ``Caused by:``, ``... 12 more`` (filled in from
  the enclosing trace); ``Suppressed:`` blocks are skipped.
- Go: panics and goroutine dumps; .NET: ``Exception.ToString()`` with inner exceptions; Ruby:
  backtraces and ``full_message``.

What is the application's code (``Frame.in_app``) is decided by where a frame lives (Python's
standard library and ``site-packages``, ``node_modules``, gems, Go's module cache) and by the
libraries the grouping names (``pipeline/libraries.py``): ``LIBRARY_PACKAGES`` (top-level
Python packages; a package in ``site-packages`` that is none of them is the application installed
as a package) and ``LIBRARY_PREFIXES`` (JVM, .NET and Go namespaces).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from otelproc.pipeline import native
from otelproc.pipeline.libraries import LIBRARY_PREFIXES, library_packages

__all__ = [
    "Frame",
    "Language",
    "ParsedException",
    "detect_language",
    "parse_stack_trace",
]

Language = Literal["python", "javascript", "java", "go", "dotnet", "ruby"]

@dataclass(frozen=True, slots=True)
class Frame:
    """One stack frame, named as in Sentry's stack trace interface."""

    filename: str | None = None  # relative to the import root / package dir when known
    abs_path: str | None = None  # the path exactly as printed
    function: str | None = None
    module: str | None = None
    lineno: int | None = None
    colno: int | None = None
    context_line: str | None = None  # the source line printed under the frame (Python)
    in_app: bool = False


@dataclass(frozen=True, slots=True)
class ParsedException:
    """One exception of a chain or group, in Sentry's exception interface terms."""

    type: str | None
    value: str | None
    module: str | None = None  # where the type lives (None for builtins)
    frames: tuple[Frame, ...] = ()  # oldest call first
    # How it hangs off the exception after it: "__cause__" / "__context__" (Python), "cause"
    # (JVM), "InnerException" (.NET), "exceptions[i]" (member i of a group); None for the last one.
    source: str | None = None
    # Tree ids as Sentry's mechanism wants them; set only when the trace holds a group.
    exception_id: int | None = None
    parent_id: int | None = None
    is_exception_group: bool = False


@lru_cache(maxsize=1)
def _parser() -> native.StackTraceParser:
    return native.StackTraceParser(library_packages=list(library_packages()), library_prefixes=list(LIBRARY_PREFIXES))


def detect_language(text: str, hint: str | None = None) -> Language | None:
    """The trace's language from ``telemetry.sdk.language`` when it names one the text does not
    contradict, else from its shape."""
    return _parser().language(text, hint)  # type: ignore[return-value]


_BUILTIN_MODULES = frozenset({"builtins", "__main__", "exceptions"})


def _split_type(language: str | None, qualified: str | None) -> tuple[str | None, str | None]:
    """("ConnectionError", "requests.exceptions") from "requests.exceptions.ConnectionError"
    (Python and the JVM print types with their module; other languages' types stay whole)."""
    if qualified is None or language not in ("python", "java"):
        return qualified, None
    module, dot, name = qualified.rpartition(".")
    if dot and module and name:
        return name, (None if module in _BUILTIN_MODULES else module)
    return qualified, None


def parse_stack_trace(text: str | None, language: str | None = None) -> tuple[ParsedException, ...]:
    """Exceptions (oldest first, each with frames oldest first) read from a stack trace's text.

    ``language`` is a hint (``telemetry.sdk.language`` values work); a trace whose language is
    unknown yields an empty tuple.
    """
    if not text or not text.strip():
        return ()
    found, exceptions = _parser().parse(text, language)
    out = []
    for type_, value, frames, source, exception_id, parent_id, is_group in exceptions:
        name, module = _split_type(found, type_)
        out.append(ParsedException(
            type=name, value=value, module=module,
            frames=tuple(Frame(abs_path=p, filename=f, module=m, function=fn, lineno=ln, colno=cn, context_line=cl,
                               in_app=ia) for p, f, m, fn, ln, cn, cl, ia in frames),
            source=source, exception_id=exception_id, parent_id=parent_id, is_exception_group=is_group,
        ))  # fmt: skip
    return tuple(out)
