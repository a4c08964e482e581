"""Stack traces as text (Python, JavaScript, Java) parsed into frames.

Owned by the Sentry exporter's work; ``LIBRARY_PATH_PATTERN`` is shared with
``pipeline.fingerprint`` so both agree on what is in-app.

``parse_stack_trace(text, language)`` returns a tuple of ``ParsedException`` in
Sentry's order: the oldest exception of a chain first, the one that was finally
raised (the event's exception) last, and in each one the frames oldest call
first (the frame that raised last). Pure functions, no I/O, never raises on
odd input: what cannot be read is left out.

- Python: the output of ``traceback.format_exception`` completely, including
  chains ("The above exception was the direct cause…", "During handling of the
  above exception…"), ``ExceptionGroup`` trees (Python 3.11+ boxed output),
  ``[Previous line repeated N more times]`` (expanded back into the frames the
  interpreter had), ``File "<string>"``, ``<frozen …>`` modules, carets.
- JavaScript: V8 (``at fn (file:line:col)``) and Firefox/Safari
  (``fn@file:line:col``), best-effort.
- Java (and other JVM languages): ``at pkg.Class.method(File.java:42)``,
  ``Caused by:``, ``... 12 more`` (filled in from the enclosing trace), best-effort;
  ``Suppressed:`` blocks are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

# A frame whose file path matches this is library or standard-library code, not the app's.
LIBRARY_PATH_PATTERN = (
    r"(?:[\\/](?:site|dist)-packages[\\/]"
    r"|[\\/]lib[\\/]python\d+(?:\.\d+)?[\\/]"
    r"|^[A-Za-z]:[\\/](?:[^\\/]+[\\/])*?Python\d+[\\/]Lib[\\/]"  # Windows CPython's standard library
    r"|[\\/]node_modules[\\/]"
    r"|^<frozen |^<string>$|^internal[\\/]|^node:)"
)
_LIBRARY_PATH = re.compile(LIBRARY_PATH_PATTERN)

Language = Literal["python", "javascript", "java"]

# At most this many frames per exception when "[Previous line repeated N more times]"
# is expanded (the interpreter's recursion limit keeps real traces far below it).
MAX_EXPANDED_FRAMES = 10_000

# JVM packages that are the platform or common frameworks, not the app.
JVM_LIBRARY_PREFIXES = (
    "java.", "javax.", "jdk.", "sun.", "com.sun.", "kotlin.", "kotlinx.", "scala.",
    "groovy.", "org.codehaus.groovy.", "org.junit.", "org.apache.", "org.springframework.",
    "io.netty.", "reactor.", "okhttp3.", "com.google.", "org.hibernate.", "org.eclipse.jetty.",
)  # fmt: skip


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
    # How it hangs off the exception after it: "__cause__" / "__context__" (Python),
    # "cause" (Java), "exceptions[i]" (member i of a group); None for the last one.
    source: str | None = None
    # Tree ids as Sentry's mechanism wants them; set only when the trace holds a group.
    exception_id: int | None = None
    parent_id: int | None = None
    is_exception_group: bool = False


def is_library_path(path: str | None) -> bool:
    return bool(path) and _LIBRARY_PATH.search(path) is not None  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# Entry point


def detect_language(text: str, hint: str | None = None) -> Language | None:
    """The trace's language from ``telemetry.sdk.language`` when it names one, else from its shape."""
    if hint:
        h = hint.lower()
        if h == "python":
            return "python"
        if h in ("nodejs", "node", "webjs", "javascript", "js", "typescript"):
            return "javascript"
        if h in ("java", "kotlin", "scala", "groovy", "jvm"):
            return "java"
    if _PY_TB_HEADER.search(text) or _PY_FRAME_ANY.search(text):
        return "python"
    if _JAVA_FRAME_ANY.search(text):
        return "java"
    if _V8_FRAME_ANY.search(text) or _GECKO_FRAME_ANY.search(text):
        return "javascript"
    return None


def parse_stack_trace(text: str | None, language: str | None = None) -> tuple[ParsedException, ...]:
    """Exceptions (oldest first, each with frames oldest first) read from a stack trace's text.

    ``language`` is a hint (``telemetry.sdk.language`` values work); a trace whose
    language is unknown yields an empty tuple.
    """
    if not text or not text.strip():
        return ()
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lang = detect_language(text, language)
    if lang == "python" and not (_PY_TB_HEADER.search(text) or _PY_FRAME_ANY.search(text)):
        # A hint of "python" on a trace that is visibly something else (a JVM service's
        # error re-raised through a Python gateway, say): trust the shape.
        lang = detect_language(text) or "python"
    if lang == "python":
        return parse_python(text)
    if lang == "javascript":
        return parse_javascript(text)
    if lang == "java":
        return parse_java(text)
    return ()


# --------------------------------------------------------------------------------------
# Shared: a tree of exceptions flattened into Sentry's list


@dataclass(slots=True)
class _Node:
    type: str | None
    value: str | None
    module: str | None
    frames: tuple[Frame, ...]
    is_group: bool = False
    children: list[_Node] = field(default_factory=list)
    previous: _Node | None = None  # the exception this one was raised from / while handling
    previous_source: str | None = None


def _flatten(root: _Node | None) -> tuple[ParsedException, ...]:
    """Pre-order walk from the final exception (id 0), then reversed: oldest first, root last."""
    if root is None:
        return ()
    walked: list[tuple[_Node, int, int | None, str | None]] = []
    has_group = False
    stack: list[tuple[_Node, int | None, str | None]] = [(root, None, None)]
    while stack:
        node, parent, source = stack.pop()
        my_id = len(walked)
        walked.append((node, my_id, parent, source))
        has_group = has_group or node.is_group
        # Pushed in reverse so the previous exception is walked before the group members.
        for i in range(len(node.children) - 1, -1, -1):
            stack.append((node.children[i], my_id, f"exceptions[{i}]"))
        if node.previous is not None:
            stack.append((node.previous, my_id, node.previous_source))
    out = [
        ParsedException(
            type=node.type,
            value=node.value,
            module=node.module,
            frames=node.frames,
            source=source,
            exception_id=my_id if has_group else None,
            parent_id=parent if has_group else None,
            is_exception_group=node.is_group,
        )
        for node, my_id, parent, source in walked
    ]
    out.reverse()
    return tuple(out)


def _split_type(qualified: str) -> tuple[str, str | None]:
    """("ConnectionError", "requests.exceptions") from "requests.exceptions.ConnectionError"."""
    module, dot, name = qualified.rpartition(".")
    if dot and module and name:
        return name, module
    return qualified, None


def _dotted_module(path: str, extensions: tuple[str, ...]) -> tuple[str | None, str | None]:
    """(module, filename) derived from a source path.

    After ``site-packages/``, ``dist-packages/``, ``lib/pythonX.Y/``, ``node_modules/``
    or ``src/`` the rest is the module path; a relative path is one as it stands; an
    absolute path with none of those markers gives just the file's stem (what a
    script run from its own directory is imported as).
    """
    p = path.replace("\\", "/")
    rest = None
    for marker in _MODULE_ROOT_MARKERS:  # later markers take precedence
        for m in marker.finditer(p):
            rest = p[m.end() :]
    if rest is None:
        absolute = p.startswith("/") or bool(re.match(r"^[A-Za-z]:/", p)) or "://" in p
        rest = p.rsplit("/", 1)[-1] if absolute else p.lstrip("./")
    filename = rest or None
    stem = rest
    for ext in extensions:
        if stem.endswith(ext):
            stem = stem[: -len(ext)]
            break
    parts = [part for part in stem.split("/") if part and part != "."]
    if parts and parts[-1] == "__init__":
        parts.pop()
    return (".".join(parts) or None), filename


_MODULE_ROOT_MARKERS = (
    re.compile(r"(?:^|/)src/"),
    re.compile(r"(?:^|/)lib/python\d+(?:\.\d+)?/"),
    re.compile(r"(?:^|/)(?:site|dist)-packages/"),
    re.compile(r"(?:^|/)node_modules/"),
)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


# --------------------------------------------------------------------------------------
# Python

_PY_TB_HEADER = re.compile(r"^[ \t|+]*(?:Exception Group )?Traceback \(most recent call last\):\s*$", re.M)
_PY_FRAME_ANY = re.compile(r'^[ \t|]*File "[^"\n]*", line \d+', re.M)
_PY_FRAME = re.compile(r'^(?P<indent>\s*)File "(?P<path>[^"]*)", line (?P<lineno>\d+)(?:, in (?P<func>.+?))?\s*$')
_PY_REPEAT = re.compile(r"^\s*\[Previous line repeated (?P<n>\d+) more times?\]\s*$")
_PY_CARETS = re.compile(r"^\s*[~^]+[~^\s]*$")
_PY_GROUP_HEADER = "Exception Group Traceback (most recent call last):"
_PY_HEADER = "Traceback (most recent call last):"
_PY_SEPARATORS = {
    "The above exception was the direct cause of the following exception:": "__cause__",
    "During handling of the above exception, another exception occurred:": "__context__",
}
_PY_TYPE_LINE = re.compile(r"^(?P<type>[A-Za-z_][\w.<>]*)(?::(?P<value>.*))?$")
_PY_GROUP_CHILD_SEP = re.compile(r"^\+-+(?: (?:\d+|\.\.\.) -+)?\s*$")
_PY_EXTENSIONS = (".py", ".pyc", ".pyw", ".pyx", ".pyi")


def parse_python(text: str) -> tuple[ParsedException, ...]:
    """Exceptions from ``traceback.format_exception`` output, oldest first."""
    return _flatten(_py_block(text.split("\n"), depth=0))


def _py_block(lines: list[str], depth: int) -> _Node | None:
    """A chain of exceptions at one nesting level; returns the last (final) one."""
    segments: list[list[str]] = [[]]
    kinds: list[str] = []
    for line in lines:
        kind = _PY_SEPARATORS.get(line.strip())
        if kind is not None:
            kinds.append(kind)
            segments.append([])
        else:
            segments[-1].append(line)
    node: _Node | None = None
    for i, seg in enumerate(segments):
        current = _py_segment(seg, depth)
        if current is None:
            continue
        if node is not None:
            current.previous = node
            current.previous_source = kinds[i - 1]
        node = current
    return node


def _py_segment(lines: list[str], depth: int) -> _Node | None:
    """One exception; when it is a group, its boxed members are parsed recursively."""
    # A group's members start at its first "+-+---- 1 ----" line; everything before
    # it (boxed at the same column when the group is the outermost) is its own part.
    children_at = next((j for j, line in enumerate(lines) if line.lstrip().startswith("+-+")), None)
    if children_at is None or depth > 50:
        return _py_plain(lines)
    col = _indent(lines[children_at])
    own = [_strip_margin(line, col) for line in lines[:children_at]]
    own = [_PY_HEADER if line.strip().removeprefix("+ ").strip() == _PY_GROUP_HEADER else line for line in own]
    node = _py_plain(own)
    if node is None:
        node = _Node(type="ExceptionGroup", value=None, module=None, frames=())
    node.is_group = True

    # Members: after "+-+---- 1 ----" the lines are boxed at col + 2; "+---- 2 ----"
    # starts the next one; "+--------" (dashes only) closes the box.
    member_col = col + 2
    members: list[list[str]] = []
    current: list[str] | None = None
    for j in range(children_at, len(lines)):
        line = lines[j]
        if j == children_at:
            current = []
            continue
        tail = line[member_col:]
        if tail.startswith("+") and _PY_GROUP_CHILD_SEP.match(tail.rstrip()):
            if current is not None:
                members.append(current)
            current = [] if re.search(r"\d|\.\.\.", tail) else None
            continue
        if current is not None:
            current.append(_strip_margin(line, member_col))
    if current:
        members.append(current)
    for member in members:
        body = "\n".join(member).strip()
        if not body or re.fullmatch(r"and \d+ more exceptions?", body) or body.startswith("... (max_group_depth"):
            continue
        child = _py_block(member, depth + 1)
        if child is not None:
            node.children.append(child)
    return node


def _strip_margin(line: str, col: int) -> str:
    """A line of a boxed block without the box: "    | text" -> "text", "    +-+--" -> "+-+--"."""
    head, tail = line[:col], line[col:]
    if head.strip():
        return line
    if tail.startswith("| "):
        return tail[2:]
    if tail.rstrip() == "|":
        return ""
    return tail


def _py_plain(lines: list[str]) -> _Node | None:
    """One exception: optional header, frames, then the "Type: message" line(s)."""
    frames: list[Frame] = []
    i, n = 0, len(lines)
    seen_header = False
    frame_indent = 0
    rest_at: int | None = None
    while i < n:
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            i += 1
            continue
        if stripped == _PY_HEADER and not frames and not seen_header:
            seen_header = True
            i += 1
            continue
        m = _PY_FRAME.match(line)
        if m:
            frame_indent = len(m.group("indent"))
            context_line = None
            i += 1
            # Source lines are printed more indented than the File line; 3.13 may print
            # several for one multi-line statement, carets under them.
            while i < n and lines[i].strip() and _indent(lines[i]) > frame_indent:
                nxt = lines[i]
                if _PY_FRAME.match(nxt) or _PY_REPEAT.match(nxt):
                    break
                if not _PY_CARETS.match(nxt) and context_line is None:
                    context_line = nxt.strip()
                i += 1
            frames.append(_py_frame(m.group("path"), int(m.group("lineno")), m.group("func"), context_line))
            continue
        r = _PY_REPEAT.match(line)
        if r and frames:
            more = min(int(r.group("n")), max(0, MAX_EXPANDED_FRAMES - len(frames)))
            frames.extend([frames[-1]] * more)
            i += 1
            continue
        if _PY_CARETS.match(line) and frames:
            i += 1
            continue
        rest_at = i
        break
    if rest_at is None:
        if not frames:
            return None
        return _Node(type=None, value=None, module=None, frames=tuple(frames))
    rest = [line for line in lines[rest_at:]]
    while rest and not rest[-1].strip():
        rest.pop()
    first = rest[0].strip()
    m = _PY_TYPE_LINE.match(first)
    if m is None:
        exc_type, module, value = None, None, "\n".join(r.strip() for r in rest)
    else:
        exc_type, module = _split_type(m.group("type"))
        value = m.group("value")
        if value is not None:
            value = value[1:] if value.startswith(" ") else value
            if len(rest) > 1:
                value = "\n".join([value, *(r.rstrip() for r in rest[1:])])
            value = value.rstrip()
        elif len(rest) > 1:
            value = "\n".join(r.rstrip() for r in rest[1:]).strip() or None
        if module in ("builtins", "__main__", "exceptions"):
            module = None
    return _Node(type=exc_type, value=value, module=module, frames=tuple(frames))


def _py_frame(path: str, lineno: int, function: str | None, context_line: str | None) -> Frame:
    if path.startswith("<frozen ") and path.endswith(">"):
        module: str | None = path[len("<frozen ") : -1]
        filename: str | None = path
    elif path.startswith("<"):
        module, filename = None, path
    else:
        module, filename = _dotted_module(path, _PY_EXTENSIONS)
    return Frame(
        filename=filename,
        abs_path=path,
        function=function,
        module=module,
        lineno=lineno,
        context_line=context_line,
        in_app=not is_library_path(path),
    )


# --------------------------------------------------------------------------------------
# JavaScript

_V8_FRAME_ANY = re.compile(r"^\s+at .+?:\d+(?::\d+)?\)?\s*$", re.M)
_GECKO_FRAME_ANY = re.compile(r"^[^\s@]*@\S+:\d+(?::\d+)?\s*$", re.M)
_V8_FRAME = re.compile(r"^\s*at (?:(?P<func>.+?) \((?P<loc>.+)\)|(?P<bare>.+))\s*$")
_GECKO_FRAME = re.compile(r"^\s*(?P<func>[^@\s]*)@(?P<loc>.+?)\s*$")
_JS_LOCATION = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(?::(?P<col>\d+))?$")
_JS_TYPE_LINE = re.compile(r"^(?:Uncaught )?(?P<type>[A-Za-z_$][\w$.]*)(?::(?P<value>.*))?$")
_JS_EXTENSIONS = (".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".mts", ".cts")


def parse_javascript(text: str) -> tuple[ParsedException, ...]:
    """One exception from a V8 or Firefox/Safari ``error.stack``; frames reversed to oldest first."""
    lines = text.split("\n")
    header: list[str] = []
    frames: list[Frame] = []
    for line in lines:
        if not line.strip():
            continue
        frame = _js_frame(line)
        if frame is not None:
            frames.append(frame)
        elif not frames:
            header.append(line.rstrip())
    if not header and not frames:
        return ()
    exc_type = value = None
    if header:
        m = _JS_TYPE_LINE.match(header[0].strip())
        if m:
            exc_type = m.group("type")
            value = m.group("value")
            value = value[1:] if value and value.startswith(" ") else value
            if len(header) > 1:
                value = "\n".join([value or "", *header[1:]]).strip()
        else:
            value = "\n".join(header).strip()
    frames.reverse()
    return _flatten(_Node(type=exc_type, value=value, module=None, frames=tuple(frames)))


def _js_frame(line: str) -> Frame | None:
    m = _V8_FRAME.match(line)
    if m:
        func = m.group("func")
        loc = m.group("loc") if func is not None else m.group("bare")
        if func is not None and func.startswith("async "):
            func = func[len("async ") :]
    else:
        m = _GECKO_FRAME.match(line)
        if not m or not _JS_LOCATION.match(m.group("loc")):
            return None
        func, loc = m.group("func") or None, m.group("loc")
    lm = _JS_LOCATION.match(loc)
    if lm is None:
        # "native", "<anonymous>", "index 0" (Promise.all): a function without a place.
        return Frame(function=func or loc, in_app=False)
    path = lm.group("file")
    if path.startswith("<") or "://" in path:
        module, filename = None, path
    else:
        module, filename = _dotted_module(path.removeprefix("node:"), _JS_EXTENSIONS)
    return Frame(
        filename=filename,
        abs_path=path,
        function=func or "<anonymous>",
        module=module,
        lineno=int(lm.group("line")),
        colno=int(lm.group("col")) if lm.group("col") else None,
        in_app=not is_library_path(path) and not path.startswith("<"),
    )


# --------------------------------------------------------------------------------------
# Java

_JAVA_FRAME_ANY = re.compile(r"^\s*at [\w$.]+(?:/[\w$./@-]*)?\.[\w$<>]+\([^)]*(?:\.\w+:\d+|Native Method|Unknown Source)\)", re.M)
_JAVA_FRAME = re.compile(
    r"^\s*at (?:[^\s/(]*/+)?(?P<cls>[\w$.]+)\.(?P<meth>[\w$<>]+)\((?P<loc>[^)]*)\)(?:\s*~?\[.*\])?\s*$"
)
_JAVA_MORE = re.compile(r"^\s*\.\.\. (?P<n>\d+) (?:more|common frames omitted)\s*$")
_JAVA_HEADER = re.compile(
    r'^(?:Exception in thread "[^"]*" |Caused by: )?(?P<type>[A-Za-z_$][\w$.]*)(?::(?P<value>.*))?$'
)


def parse_java(text: str) -> tuple[ParsedException, ...]:
    """Exceptions from ``Throwable.printStackTrace()`` output: causes first, the thrown one last."""
    blocks: list[tuple[str, list[str], list[Frame], int]] = []  # header, message lines, frames (as printed), "... N more"
    suppressed_indent: int | None = None
    for raw in text.split("\n"):
        line = raw.rstrip()
        if not line.strip():
            continue
        ind = _indent(line)
        if suppressed_indent is not None:
            if ind > suppressed_indent:
                continue
            suppressed_indent = None
        stripped = line.strip()
        if stripped.startswith("Suppressed: "):
            suppressed_indent = ind
            continue
        fm = _JAVA_FRAME.match(line)
        if fm and blocks:
            blocks[-1][2].append(_java_frame(fm.group("cls"), fm.group("meth"), fm.group("loc")))
            continue
        mm = _JAVA_MORE.match(line)
        if mm and blocks:
            blocks[-1] = (*blocks[-1][:3], int(mm.group("n")))
            continue
        if stripped.startswith("Caused by: ") or not blocks:
            blocks.append((stripped, [], [], 0))
        elif not blocks[-1][2]:
            blocks[-1][1].append(stripped)  # a multi-line message
    root: _Node | None = None
    previous_frames: list[Frame] = []
    nodes: list[_Node] = []
    for header, more_lines, frames, common in blocks:
        if common and previous_frames:
            frames = frames + previous_frames[-common:]
        previous_frames = frames
        m = _JAVA_HEADER.match(header)
        if m:
            exc_type, module = _split_type(m.group("type"))
            value = m.group("value")
            value = value[1:] if value and value.startswith(" ") else value
        else:
            exc_type, module, value = None, None, header
        if more_lines:
            value = "\n".join([value or "", *more_lines]).strip()
        nodes.append(_Node(type=exc_type, value=value, module=module, frames=tuple(reversed(frames))))
    for i in range(len(nodes) - 1):
        nodes[i].previous = nodes[i + 1]
        nodes[i].previous_source = "cause"
    root = nodes[0] if nodes else None
    return _flatten(root)


def _java_frame(cls: str, method: str, loc: str) -> Frame:
    filename: str | None = None
    lineno: int | None = None
    if ":" in loc:
        name, _, num = loc.rpartition(":")
        filename = name or None
        lineno = int(num) if num.isdigit() else None
    elif loc and loc not in ("Native Method", "Unknown Source"):
        filename = loc
    return Frame(
        filename=filename,
        function=method,
        module=cls,
        lineno=lineno,
        in_app=not cls.startswith(JVM_LIBRARY_PREFIXES),
    )
