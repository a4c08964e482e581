"""Stack-trace parsing (the core's parser, through ``otelproc.stacktrace``): real Python
tracebacks checked against the interpreter's own frames (``traceback.extract_tb``), and a table
of Python, JavaScript, JVM, Go, .NET and Ruby cases."""

from __future__ import annotations

import re
import traceback

import pytest

from otelproc.stacktrace import (
    ParsedException,
    detect_language,
    parse_stack_trace,
)

# --------------------------------------------------------------------------------------
# Real Python exceptions, raised in real functions of this module


def read_settings(path):
    settings = {"db": "pg"}
    return settings[path]


def open_db():
    try:
        read_settings("cache")
    except KeyError as exc:
        raise ConnectionError("cannot open the database") from exc


def start():
    try:
        open_db()
    except ConnectionError:
        cleanup = None
        cleanup.close()  # AttributeError while handling the ConnectionError


def descend(n):
    if n == 0:
        raise RecursionError("too deep for the test")
    return descend(n - 1)


def fan_out():
    raise ExceptionGroup("fan-out failed", [ValueError("bad shard"), TypeError("wrong type")])


def gather():
    try:
        fan_out()
    except* ValueError:
        raise RuntimeError("retry failed")


def caught(fn, *args) -> BaseException:
    try:
        fn(*args)
    except BaseException as exc:  # noqa: BLE001 - the test wants whatever it raised
        return exc
    raise AssertionError("expected an exception")


def chain_of(exc: BaseException) -> list[BaseException]:
    """Oldest first, as Python prints them (and Sentry wants them)."""
    out = []
    while exc is not None:
        out.append(exc)
        exc = exc.__cause__ if exc.__cause__ is not None else (None if exc.__suppress_context__ else exc.__context__)
    return out[::-1]


def assert_frames_match(parsed: ParsedException, exc: BaseException) -> None:
    expected = traceback.extract_tb(exc.__traceback__)
    got = [(f.abs_path, f.lineno, f.function, f.context_line) for f in parsed.frames]
    assert got == [(fs.filename, fs.lineno, fs.name, fs.line) for fs in expected]
    for frame in parsed.frames:
        assert frame.in_app is True  # this test file is app code
        assert frame.module == "test_stacktrace"
        assert frame.filename == "test_stacktrace.py"


@pytest.mark.parametrize(
    "fn, args",
    [(read_settings, ("nope",)), (open_db, ()), (start, ()), (descend, (40,))],
    ids=["plain", "cause", "context+cause", "recursion"],
)
def test_real_python_traceback_matches_the_interpreter(fn, args):
    exc = caught(fn, *args)
    parsed = parse_stack_trace("".join(traceback.format_exception(exc)), "python")
    chain = chain_of(exc)
    assert [p.type for p in parsed] == [type(e).__name__ for e in chain]
    assert [p.value for p in parsed] == [str(e) for e in chain]
    for p, e in zip(parsed, chain):
        assert_frames_match(p, e)
    # How each hangs off the next one.
    expected_sources = [
        "__cause__" if e.__cause__ is not None else "__context__" for e in chain[1:]
    ]
    assert [p.source for p in parsed[:-1]] == expected_sources
    assert parsed[-1].source is None


def test_recursion_is_expanded_back_into_every_frame():
    exc = caught(descend, 200)
    text = "".join(traceback.format_exception(exc))
    assert "[Previous line repeated" in text
    (parsed,) = parse_stack_trace(text)
    assert len(parsed.frames) == len(traceback.extract_tb(exc.__traceback__)) == 202
    assert_frames_match(parsed, exc)


def test_real_recursion_error():
    def forever():
        return forever()

    exc = caught(forever)
    (parsed,) = parse_stack_trace("".join(traceback.format_exception(exc)))
    assert parsed.type == "RecursionError"
    assert len(parsed.frames) == len(traceback.extract_tb(exc.__traceback__))


def test_exception_group_members_become_values_of_one_tree():
    exc = caught(gather)
    parsed = parse_stack_trace("".join(traceback.format_exception(exc)))
    by_type = {p.type: p for p in parsed}
    # The final group is last with id 0; every other value points at its parent.
    root = parsed[-1]
    assert root.type == "ExceptionGroup" and root.is_exception_group and root.exception_id == 0
    assert root.parent_id is None
    assert sorted(p.exception_id for p in parsed) == list(range(len(parsed)))
    ids = {p.exception_id: p for p in parsed}
    assert all(p.parent_id in ids for p in parsed[:-1])
    # RuntimeError was raised while handling the ValueError part (a group of one).
    runtime = by_type["RuntimeError"]
    assert runtime.value == "retry failed"
    assert runtime.frames[-1].function == "gather"
    assert ids[runtime.parent_id] is root and runtime.source.startswith("exceptions[")
    values = [p for p in parsed if p.type == "ValueError"]
    assert len(values) == 1 and values[0].value == "bad shard"
    assert ids[values[0].parent_id].is_exception_group
    assert by_type["TypeError"].value == "wrong type"
    # The group that was raised carries fan_out's frames.
    raised_groups = [p for p in parsed if p.type == "ExceptionGroup" and p.value.startswith("fan-out failed")]
    assert raised_groups and all(g.frames[-1].function == "fan_out" for g in raised_groups)


def test_file_string_and_no_source_line():
    namespace: dict = {}
    exec(compile("def boom():\n    raise ValueError('from exec')\n", "<string>", "exec"), namespace)
    exc = caught(namespace["boom"])
    (parsed,) = parse_stack_trace("".join(traceback.format_exception(exc)))
    inner = parsed.frames[-1]
    assert (inner.abs_path, inner.lineno, inner.function) == ("<string>", 2, "boom")
    assert inner.context_line is None and inner.module is None and inner.in_app is False
    assert_frame_places_match(parsed, exc)


def assert_frame_places_match(parsed: ParsedException, exc: BaseException) -> None:
    expected = traceback.extract_tb(exc.__traceback__)
    assert [(f.abs_path, f.lineno, f.function) for f in parsed.frames] == [
        (fs.filename, fs.lineno, fs.name) for fs in expected
    ]


# --------------------------------------------------------------------------------------
# The table: (name, language hint, text, expected)
# expected: list of (type, value, module, [(function, lineno, module, in_app), ...]) oldest first

PY_FROZEN = """\
Traceback (most recent call last):
  File "/srv/app/main.py", line 3, in <module>
    import plugins.missing
  File "<frozen importlib._bootstrap>", line 1176, in _find_and_load
  File "<frozen importlib._bootstrap>", line 1140, in _find_and_load_unlocked
ModuleNotFoundError: No module named 'plugins.missing'
"""

PY_LIBRARY = """\
Traceback (most recent call last):
  File "/srv/app/src/shop/orders.py", line 88, in place_order
    conn = engine.connect()
           ^^^^^^^^^^^^^^^^
  File "/usr/local/lib/python3.12/site-packages/sqlalchemy/engine/base.py", line 3273, in connect
    return self._connection_cls(self)
  File "/usr/lib/python3.12/socket.py", line 836, in create_connection
    sock.connect(sa)
sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) connection refused
	Is the server running on host "db" and accepting TCP/IP connections?
"""

PY_SYNTAX = """\
Traceback (most recent call last):
  File "/srv/app/loader.py", line 12, in load
    exec(source)
  File "<string>", line 1
    def broken(:
               ^
SyntaxError: invalid syntax
"""

PY_WINDOWS = r"""
Traceback (most recent call last):
  File "C:\app\service.py", line 5, in run
    handle()
  File "C:\Python312\Lib\site-packages\httpx\_client.py", line 1014, in send
    raise exc
httpx.ConnectTimeout: timed out
"""

PY_NO_FRAMES = "ValueError: boom\n"

PY_INDENTED_IN_A_LOG = """\
    Traceback (most recent call last):
      File "/srv/app/jobs.py", line 7, in run
        step()
    KeyError: 'step'
"""

PY_MULTILINE_SOURCE_313 = """\
Traceback (most recent call last):
  File "/srv/app/calc.py", line 4, in total
    return sum(
           ~~~^
        price for price in prices
        ^^^^^^^^^^^^^^^^^^^^^^^^^
    )
    ^
TypeError: unsupported operand type(s) for +: 'int' and 'str'
"""

V8 = """\
TypeError: Cannot read properties of undefined (reading 'id')
    at getUser (/srv/app/src/users.js:14:22)
    at async Promise.all (index 0)
    at Layer.handle [as handle_request] (/srv/app/node_modules/express/lib/router/layer.js:95:5)
    at processTicksAndRejections (node:internal/process/task_queues:95:5)
    at /srv/app/src/server.ts:40:7
"""

FIREFOX = """\
loadCart@https://shop.example.com/static/cart.js:120:17
onClick/<@https://shop.example.com/static/app.js:33:9
@https://shop.example.com/static/app.js:1:1
"""

JAVA = """\
Exception in thread "main" java.lang.IllegalStateException: order service unavailable
	at com.shop.orders.OrderService.place(OrderService.java:57)
	at com.shop.api.OrderController.post(OrderController.java:31)
	at java.base/java.lang.Thread.run(Thread.java:833)
	Suppressed: java.io.IOException: close failed
		at com.shop.db.Pool.close(Pool.java:12)
		... 3 more
Caused by: java.sql.SQLException: Connection refused
	at org.postgresql.Driver.connect(Driver.java:285)
	at com.shop.db.Pool.get(Pool.java:40)
	at com.shop.orders.OrderService.place(OrderService.java:55)
	... 2 more
Caused by: java.net.ConnectException: Connection refused (Connection refused)
	at java.base/sun.nio.ch.Net.connect0(Native Method)
	at org.postgresql.core.PGStream.<init>(PGStream.java:95)
	... 4 more
"""

GO = """\
panic: runtime error: index out of range [5] with length 3

goroutine 9 [running]:
main.pickBackend(...)
\t/build/edge/balancer/balancer.go:40
main.(*Balancer).Next(0xc0000b2000)
\t/build/edge/balancer/balancer.go:120 +0x65
net/http.(*conn).serve(0xc000190000, {0x9b1e40, 0xc0001e2000})
\t/usr/local/go/src/net/http/server.go:2039 +0x5ba
created by net/http.(*Server).Serve in goroutine 1
\t/usr/local/go/src/net/http/server.go:3285 +0x4b4
"""

DOTNET = """\
System.Net.Http.HttpRequestException: Connection refused (tax.internal:8080)
 ---> System.Net.Sockets.SocketException (111): Connection refused
   at System.Net.Http.HttpConnectionPool.ConnectToTcpHostAsync(String host, Int32 port, CancellationToken cancellationToken)
   --- End of inner exception stack trace ---
   at Acme.Invoicing.Tax.TaxClient.GetRateAsync(String region) in /src/Acme.Invoicing/Tax/TaxClient.cs:line 45
   at Acme.Invoicing.Tax.TaxClient.<RefreshAsync>d__7.MoveNext() in /src/Acme.Invoicing/Tax/TaxClient.cs:line 88
"""

RUBY = """\
/app/app/models/cart.rb:45:in 'Cart#load_items': Error connecting to Redis on 10.0.7.3:6379 (Redis::CannotConnectError)
\tfrom /app/vendor/bundle/ruby/3.3.0/gems/redis-client-0.22.2/lib/redis_client.rb:146:in 'RedisClient#call'
\tfrom /app/app/controllers/carts_controller.rb:12:in `show'
"""

CASES = [
    (
        "python-frozen",
        "python",
        PY_FROZEN,
        [
            ("ModuleNotFoundError", "No module named 'plugins.missing'", None, [
                ("<module>", 3, "main", True),
                ("_find_and_load", 1176, "importlib._bootstrap", False),
                ("_find_and_load_unlocked", 1140, "importlib._bootstrap", False),
            ]),
        ],
    ),
    (
        "python-library-frames-and-module-qualified-type",
        None,
        PY_LIBRARY,
        [
            ("OperationalError",
             "(psycopg2.OperationalError) connection refused\n"
             "\tIs the server running on host \"db\" and accepting TCP/IP connections?",
             "sqlalchemy.exc", [
                ("place_order", 88, "shop.orders", True),
                ("connect", 3273, "sqlalchemy.engine.base", False),
                ("create_connection", 836, "socket", False),
            ]),
        ],
    ),
    (
        "python-syntax-error",
        "python",
        PY_SYNTAX,
        [
            ("SyntaxError", "invalid syntax", None, [
                ("load", 12, "loader", True),
                (None, 1, None, False),
            ]),
        ],
    ),
    (
        "python-windows-paths",
        "python",
        PY_WINDOWS,
        [
            ("ConnectTimeout", "timed out", "httpx", [
                ("run", 5, "service", True),
                ("send", 1014, "httpx._client", False),
            ]),
        ],
    ),
    ("python-no-frames", "python", PY_NO_FRAMES, [("ValueError", "boom", None, [])]),
    (
        "python-indented-in-a-log",
        None,
        PY_INDENTED_IN_A_LOG,
        [("KeyError", "'step'", None, [("run", 7, "jobs", True)])],
    ),
    (
        "python-3.13-multiline-source",
        "python",
        PY_MULTILINE_SOURCE_313,
        [("TypeError", "unsupported operand type(s) for +: 'int' and 'str'", None, [("total", 4, "calc", True)])],
    ),
    (
        "javascript-v8",
        "nodejs",
        V8,
        [
            ("TypeError", "Cannot read properties of undefined (reading 'id')", None, [
                ("<anonymous>", 40, "server", True),
                ("processTicksAndRejections", 95, "internal.process.task_queues", False),
                ("Layer.handle [as handle_request]", 95, "express.lib.router.layer", False),
                ("Promise.all", None, None, False),
                ("getUser", 14, "users", True),
            ]),
        ],
    ),
    (
        "javascript-firefox",
        "webjs",
        FIREFOX,
        [
            (None, None, None, [
                ("<anonymous>", 1, None, True),
                ("onClick/<", 33, None, True),
                ("loadCart", 120, None, True),
            ]),
        ],
    ),
    (
        "java-caused-by-and-more",
        "java",
        JAVA,
        [
            ("ConnectException", "Connection refused (Connection refused)", "java.net", [
                # "... 4 more": the last four frames of the enclosing trace
                ("run", 833, "java.lang.Thread", False),
                ("post", 31, "com.shop.api.OrderController", True),
                ("place", 55, "com.shop.orders.OrderService", True),
                ("get", 40, "com.shop.db.Pool", True),
                ("<init>", 95, "org.postgresql.core.PGStream", False),  # the JDBC driver is a library
                ("connect0", None, "sun.nio.ch.Net", False),
            ]),
            ("SQLException", "Connection refused", "java.sql", [
                ("run", 833, "java.lang.Thread", False),
                ("post", 31, "com.shop.api.OrderController", True),
                ("place", 55, "com.shop.orders.OrderService", True),
                ("get", 40, "com.shop.db.Pool", True),
                ("connect", 285, "org.postgresql.Driver", False),
            ]),
            ("IllegalStateException", "order service unavailable", "java.lang", [
                ("run", 833, "java.lang.Thread", False),
                ("post", 31, "com.shop.api.OrderController", True),
                ("place", 57, "com.shop.orders.OrderService", True),
            ]),
        ],
    ),
    (
        "go-panic-with-its-goroutine",
        "go",
        GO,
        [
            (None, "runtime error: index out of range [5] with length 3", None, [
                ("(*Server).Serve", 3285, "net/http", False),  # "created by": where the goroutine began
                ("(*conn).serve", 2039, "net/http", False),
                ("(*Balancer).Next", 120, "main", True),
                ("pickBackend", 40, "main", True),
            ]),
        ],
    ),
    (
        "dotnet-inner-exception",
        "dotnet",
        DOTNET,
        [
            ("System.Net.Sockets.SocketException", "Connection refused", None, [
                ("ConnectToTcpHostAsync", None, "System.Net.Http.HttpConnectionPool", False),
            ]),
            ("System.Net.Http.HttpRequestException", "Connection refused (tax.internal:8080)", None, [
                ("MoveNext", 88, "Acme.Invoicing.Tax.TaxClient.<RefreshAsync>d__7", True),
                ("GetRateAsync", 45, "Acme.Invoicing.Tax.TaxClient", True),
            ]),
        ],
    ),
    (
        "ruby-full-message",
        None,
        RUBY,
        [
            ("Redis::CannotConnectError", "Error connecting to Redis on 10.0.7.3:6379", None, [
                ("show", 12, "app.controllers.carts_controller", True),
                ("RedisClient#call", 146, "lib.redis_client", False),
                ("Cart#load_items", 45, "app.models.cart", True),
            ]),
        ],
    ),
    ("not-a-stack-trace", None, "something went wrong\nand then some more", []),
    ("empty", "python", "", []),
]


@pytest.mark.parametrize("name, language, text, expected", CASES, ids=[c[0] for c in CASES])
def test_parse_table(name, language, text, expected):
    parsed = parse_stack_trace(text, language)
    got = [
        (p.type, p.value, p.module, [(f.function, f.lineno, f.module, f.in_app) for f in p.frames])
        for p in parsed
    ]
    assert got == expected


@pytest.mark.parametrize(
    "text, hint, language",
    [
        (PY_LIBRARY, None, "python"),
        (JAVA, None, "java"),
        (V8, None, "javascript"),
        (FIREFOX, None, "javascript"),
        (V8, "nodejs", "javascript"),
        (GO, None, "go"),
        (DOTNET, None, "dotnet"),
        (RUBY, None, "ruby"),
        ("plain text", "go", None),
    ],
)
def test_language_detection(text, hint, language):
    assert detect_language(text, hint) == language


def test_a_hint_that_contradicts_the_shape_loses():
    assert parse_stack_trace(JAVA, "python")[-1].type == "IllegalStateException"


def test_javascript_columns_and_paths():
    (parsed,) = parse_stack_trace(V8, "nodejs")
    inner = parsed.frames[-1]
    assert (inner.abs_path, inner.filename, inner.lineno, inner.colno) == ("/srv/app/src/users.js", "users.js", 14, 22)
    lib = parsed.frames[2]
    assert lib.filename == "express/lib/router/layer.js" and not lib.in_app


def _frame_at(path: str):
    """The one frame of a trace whose frame is at ``path`` (a Python or a JavaScript one)."""
    if path.endswith(".py") or path.startswith("<"):
        text = f'Traceback (most recent call last):\n  File "{path}", line 3, in f\nValueError: x\n'
    else:
        text = f"Error: x\n    at f ({path}:3:1)\n"
    (parsed,) = parse_stack_trace(text)
    (frame,) = parsed.frames
    return frame


@pytest.mark.parametrize(
    "path, library",
    [
        ("/usr/lib/python3.12/json/decoder.py", True),
        ("/venv/lib/python3.11/site-packages/httpx/_client.py", True),
        ("/srv/app/node_modules/express/index.js", True),
        ("<frozen importlib._bootstrap>", True),
        ("node:internal/process/task_queues", True),
        ("/srv/app/shop/orders.py", False),
        # an application installed as a package is still the application
        ("/usr/local/lib/python3.12/site-packages/shop/orders.py", False),
    ],
)
def test_library_frames_are_not_in_app(path, library):
    assert _frame_at(path).in_app is not library
