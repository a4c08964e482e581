"""The rules compiled to polars expressions, run over whole frames.

``compile_plan(ruleset)`` turns a rule set into a ``Plan``: a few steps of
expressions, each one ``with_columns``, and the output expressions that pick each
row's outcome. Nothing runs per row in Python; see ``Plan`` for why shared values
are computed once per batch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import polars as pl

from otelproc.pipeline.batch import ATTRIBUTE_COLUMN_PREFIX
from otelproc.pipeline.classify.ruleset import RuleSet
from otelproc.pipeline.classify.schema import TEMPLATE_VAR, UNAVAILABLE, Match, Rule, ValueMatch, lower_pattern

# An HTTP status written in an exception message: httpx ("Server error '503 …'"),
# requests ("503 Server Error: …"), aiohttp ("503, message=…"), urllib
# ("HTTP Error 503: …"), Twilio ("HTTP 400 error: …"), the OpenAI and Anthropic SDKs ("Error code: 429 - …"),
# .NET's HttpClient ("Response status code does not indicate success: 503 (Service Unavailable).").
_STATUS_IN_MESSAGE = r"(?:^|HTTP Error |HTTP |[Ee]rror '|Error code: |[Ss]tatus(?: code)?[=:] ?|does not indicate success: )([1-9][0-9]{2})\b"
# The host of a URL; in a message also urllib3's host='…' and aiohttp's "connect to host …".
_URL_HOST = r"(?i)\b[a-z][a-z0-9+.-]*://(?:[^\s/@]*@)?([a-z0-9_.-]*[a-z0-9])"
_MESSAGE_HOST = r"(?i)(?:\b[a-z][a-z0-9+.-]*://(?:[^\s/@]*@)?|\bhost[=: ]+[\"']?)([a-z0-9_.-]*[a-z0-9])"
# The exception line of a Python stack trace: the first line after the last frame ("  File ...",
# then its indented source and caret lines) that is not indented, as traceback prints it:
# "module.Class: message" (the module left out for builtins), the message to the end.
_EXCEPTION_LINE = r"(?s)^.*\n  File [^\n]*\n(?:[ \t][^\n]*\n|\n)*(?P<type>[A-Za-z_][A-Za-z0-9_.]*)(?:: (?P<message>.*?))?\s*$"


def _null_false(expr: pl.Expr) -> pl.Expr:
    return expr.fill_null(False)


def _all(exprs: list[pl.Expr]) -> pl.Expr:
    if not exprs:
        return pl.lit(True)
    out = exprs[0]
    for e in exprs[1:]:
        out = out & e
    return out


def _any(exprs: list[pl.Expr]) -> pl.Expr:
    out = exprs[0]
    for e in exprs[1:]:
        out = out | e
    return out


def _identifier(expr: pl.Expr) -> pl.Expr:
    """Uppercase, runs of anything else than A-Z/0-9 as one '_', trimmed; empty becomes null."""
    out = expr.str.to_uppercase().str.replace_all(r"[^A-Z0-9]+", "_").str.strip_chars("_")
    return pl.when(out.str.len_chars() > 0).then(out)


def _attr(key: str) -> pl.Expr:
    """An attribute's value as text. ``detect`` extracts the keys rules use into ``attr.<key>``
    columns (see ``Classifier.attribute_keys``); frames without one get it from the JSON."""
    return pl.col(ATTRIBUTE_COLUMN_PREFIX + key)


def attr_from_json(key: str) -> pl.Expr:
    escaped = key.replace("\\", "\\\\").replace("'", "\\'")
    return pl.col("attributes").str.json_path_match(f"$['{escaped}']").alias(ATTRIBUTE_COLUMN_PREFIX + key)


def status_expr() -> pl.Expr:
    """The HTTP status of the row: the http_status_code column, else one written in the message."""
    from_message = pl.col("message").str.extract(_STATUS_IN_MESSAGE, 1).cast(pl.Int64, strict=False)
    return pl.coalesce(pl.col("http_status_code"), from_message)


def upstream_expr() -> pl.Expr:
    """The remote service's name (see TEMPLATE_VARIABLES['upstream']), not yet uppercased."""
    host = pl.coalesce(
        pl.col("server_address"),
        _attr("server.address"),
        _attr("net.peer.name"),
        _attr("url.full").str.extract(_URL_HOST, 1),
        _attr("http.url").str.extract(_URL_HOST, 1),
        pl.col("message").str.extract(_MESSAGE_HOST, 1),
    ).str.to_lowercase()
    host = host.str.replace(r":[0-9]+$", "").str.strip_chars(".")
    is_ip = host.str.contains(r"^[0-9.]+$") | host.str.contains(":")
    name = (
        host.str.replace(r"\.svc(?:\.cluster\.local)?$", "")
        .str.replace(r"\.(?:(?:co|com|org|net|gov|ac|edu)\.[a-z]{2}|[a-z]{2,})$", "")
        .str.extract(r"([^.]+)$", 1)
    )
    return pl.coalesce(_attr("peer.service"), pl.when(~is_ip.fill_null(False)).then(name))


# The attributes each template variable reads (see _variable and upstream_expr).
VARIABLE_ATTRIBUTES: dict[str, set[str]] = {
    "upstream": {"server.address", "net.peer.name", "url.full", "http.url", "peer.service"},
    "messaging_system": {"messaging.system"},
    "rpc_system": {"rpc.system.name", "rpc.system"},
    "rpc_service": {"rpc.service", "rpc.method"},
    "faas_invoked": {"faas.invoked_name"},
}


def _variable(name: str) -> pl.Expr:
    """One template variable (all but stage_suffix, which depends on the rule), identifier-safe."""
    if name == "stage":
        raw = pl.col("stage")
    elif name == "upstream":
        raw = upstream_expr()
    elif name == "status":
        raw = pl.col(_STATUS).cast(pl.String)
    elif name == "status_class":
        raw = (pl.col(_STATUS) // 100).cast(pl.String) + pl.lit("XX")
    elif name == "db_system":
        raw = pl.col("db_system")
    elif name == "gen_ai_system":
        raw = pl.col("gen_ai_system")
    elif name == "service":
        raw = pl.col("service_name")
    elif name == "error_type":
        raw = _snake(pl.col("error_type").str.extract(r"([^.]+)$", 1))
    elif name == "messaging_system":
        raw = _attr("messaging.system")
    elif name == "rpc_system":
        raw = pl.coalesce(_attr("rpc.system.name"), _attr("rpc.system"))
    elif name == "rpc_service":
        service = pl.coalesce(_attr("rpc.service"), _attr("rpc.method").str.extract(r"^([^/]+)/", 1))
        raw = _snake(service.str.extract(r"([^.]+)$", 1))
    elif name == "faas_invoked":
        raw = _attr("faas.invoked_name")
    else:  # guarded by validation
        raise ValueError(f"unknown template variable {name!r}")
    return _identifier(raw)



def _snake(expr: pl.Expr) -> pl.Expr:
    """CamelCase words split by underscores (UniqueViolation -> Unique_Violation)."""
    return expr.str.replace_all(r"([A-Z]+)([A-Z][a-z])", "${1}_${2}").str.replace_all(r"([a-z0-9])([A-Z])", "${1}_${2}")


def _type_expr(names: list[str]) -> pl.Expr:
    """Whether the exception's class is one of the classes of a `type:` list (no regex).

    ``Name`` matches ``Name`` in any module (``OperationalError`` and
    ``psycopg.OperationalError``); ``pkg.Name`` matches ``pkg.Name`` and
    ``pkg.<submodules>.Name`` (``openai.RateLimitError`` matches ``openai._exceptions.RateLimitError``).
    """
    parts: list[pl.Expr] = []
    bare = [n for n in names if "." not in n]
    if bare:
        parts.append(pl.col(_TYPE_NAME).is_in(bare))
    for n in names:
        if "." in n:
            module, _, cls = n.rpartition(".")
            parts.append((pl.col(_TYPE_NAME) == cls) & pl.col(_QUALIFIED).str.starts_with(module + "."))
    return _null_false(_any(parts))


def _package_expr(packages: list[str]) -> pl.Expr:
    """Whether the exception's module is one of ``packages`` or inside one (hash look-ups, no regex)."""
    parts: list[pl.Expr] = []
    for depth, column in enumerate(_PACKAGES, 1):
        names = [p for p in packages if p.count(".") == depth - 1]
        if names:
            parts.append(pl.col(column).is_in(names))
    parts += [pl.col(_QUALIFIED).str.starts_with(p + ".") for p in packages if p.count(".") >= len(_PACKAGES)]
    return _null_false(_any(parts))


def exception_line_expr() -> pl.Expr:
    """The stack trace's exception line as a struct of ``type`` and ``message`` (null without frames)."""
    return pl.col("stack_trace").str.extract_groups(_EXCEPTION_LINE)


def message_expr(line: pl.Expr) -> pl.Expr:
    """The message the rules read: the stack trace's exception line's where there is one, else the
    message. A log record from logging's handler carries only the first argument as exception.message
    ("111" for "[Errno 111] Connection refused", "utf-8" for a UnicodeDecodeError); the line has it all."""
    return pl.coalesce(line.struct.field("message"), pl.col("message"))


def qualified_type_expr(line: pl.Expr) -> pl.Expr:
    """The exception's class, module-qualified where the row allows: error_type when it has a
    module, else the stack trace's class when it names the same class (or error_type is absent)."""
    sent, traced = pl.col("error_type"), line.struct.field("type")
    return (
        pl.when(sent.str.contains(".", literal=True)).then(sent)
        .when(sent.is_null() | (traced.str.extract(r"([^.]+)$", 1) == sent)).then(traced)
        .otherwise(sent)
    )  # fmt: skip


# Working columns of a classification, dropped before the frame is returned.
_PREFIX = "__classify_"
_STATUS = f"{_PREFIX}status"
_LINE = f"{_PREFIX}exception_line"  # the stack trace's exception line: struct of type, message
_QUALIFIED = f"{_PREFIX}qualified_type"  # see qualified_type_expr
_TYPE_NAME = f"{_PREFIX}type_name"  # the class without its module
_PACKAGES = (f"{_PREFIX}package_1", f"{_PREFIX}package_2")  # the class's first one and two module names
_MESSAGE = f"{_PREFIX}message"  # the message as Python prints it: see message_expr
_LOWER = {
    "stack_trace": f"{_PREFIX}stack_trace_lc",
    _MESSAGE: f"{_PREFIX}message_lc",
    "stage": f"{_PREFIX}stage_lc",
}
_INDEX = f"{_PREFIX}rule_index"


def _cond_col(name: str) -> str:
    return f"{_PREFIX}cond_{name}"


def _rule_col(index: int) -> str:
    return f"{_PREFIX}rule_{index}"


def _var_col(name: str) -> str:
    return f"{_PREFIX}var_{name}"


@dataclass(frozen=True)
class Plan:
    """The compiled rules: ``steps`` of expressions, each step one ``with_columns``.

    Values shared by many rules (the HTTP status, template variables, named
    conditions) are computed once, in their own column, before the rules that
    use them: polars compiles a regex each time an expression runs, so every
    regex of the rule set appears once in the plan. Each rule's boolean is a
    column; the first matching rule is a flat ``coalesce`` of ``when(rule_i).then(i)``
    over them (a 100-branch nested ``when/then`` chain costs several times more).
    """

    steps: tuple[tuple[pl.Expr, ...], ...]
    outputs: tuple[pl.Expr, ...]
    # Attributes the rules only ask the presence of (``exists``): the stage keys kinds on whether
    # they are there, not on their values (db.query.text, url.full ... differ on every call).
    presence_only: frozenset[str] = frozenset()


class _Compiler:
    def __init__(self, ruleset: RuleSet):
        self.ruleset = ruleset
        self.uses_status = False
        self.uses_type_name = False
        self.uses_package = False
        self.uses_qualified = False  # type, type_regex or package: the class as qualified as known
        self.uses_line_message = False
        self.lowered: set[str] = set()
        self.present_attributes: set[str] = set()  # attributes asked about with `exists` only
        self.valued_attributes: set[str] = set()  # attributes whose values a condition or a label reads
        self.levels: dict[str, int] = {}  # named condition -> step it is computed in (0-based)
        self.cond_exprs: dict[str, pl.Expr] = {}

    # -- conditions

    def _refs(self, m: Match) -> list[str]:
        out = list(m.condition or [])
        for sub in m.any or []:
            out += self._refs(sub)
        if m.not_ is not None:
            out += self._refs(m.not_)
        return out

    def _schedule(self, name: str) -> int:
        """Compile a named condition (and those it uses); its step is 1 + the deepest it uses."""
        if name not in self.levels:
            cond = self.ruleset.conditions[name]
            self.levels[name] = 1 + max((self._schedule(ref) for ref in self._refs(cond)), default=-1)
            self.cond_exprs[name] = self.match(cond)
        return self.levels[name]

    def _text(self, m: Match, column: str, pattern: str) -> pl.Expr:
        if m.ignore_case:
            self.lowered.add(column)
            return _null_false(pl.col(_LOWER[column]).str.contains(lower_pattern(pattern)))
        return _null_false(pl.col(column).str.contains(pattern))

    def value(self, expr: pl.Expr, vm: ValueMatch) -> pl.Expr:
        text = expr.cast(pl.String)
        parts: list[pl.Expr] = []
        if vm.equals is not None:
            parts.append(_null_false(text.is_in(vm.equals)))
        if vm.regex is not None:
            parts.append(_null_false(text.str.contains(vm.regex)))
        if vm.prefix:
            parts.append(_null_false(_any([text.str.starts_with(p) for p in vm.prefix])))
        if vm.exists is not None:
            parts.append(text.is_not_null() if vm.exists else text.is_null())
        if vm.min is not None or vm.max is not None:
            number = text.cast(pl.Float64, strict=False)
            if vm.min is not None:
                parts.append(_null_false(number >= vm.min))
            if vm.max is not None:
                parts.append(_null_false(number <= vm.max))
        return _all(parts)

    def match(self, m: Match) -> pl.Expr:
        parts: list[pl.Expr] = []
        if m.type:
            self.uses_type_name = self.uses_qualified = True
            parts.append(_type_expr(m.type))
        if m.type_regex is not None:
            self.uses_qualified = True
            parts.append(_null_false(pl.col(_QUALIFIED).str.contains(m.type_regex)))
        if m.package:
            self.uses_qualified = self.uses_package = True
            parts.append(_package_expr(m.package))
        if m.message is not None:
            self.uses_line_message = True
            parts.append(self._text(m, _MESSAGE, m.message))
        if m.stack_trace is not None:
            parts.append(self._text(m, "stack_trace", m.stack_trace))
        if m.stage:
            parts.append(_null_false(pl.col("stage").is_in(m.stage)))
        if m.stage_prefix:
            parts.append(_null_false(_any([pl.col("stage").str.starts_with(p) for p in m.stage_prefix])))
        if m.stage_regex is not None:
            if m.stage_regex.startswith("(?i)"):  # as ignore_case does for messages: lowercase once, no (?i)
                self.lowered.add("stage")
                parts.append(_null_false(pl.col(_LOWER["stage"]).str.contains(lower_pattern(m.stage_regex[4:]))))
            else:
                parts.append(_null_false(pl.col("stage").str.contains(m.stage_regex)))
        if m.status:
            self.uses_status = True
            status = pl.col(_STATUS)
            parts.append(_null_false(_any([status.is_between(lo, hi) for lo, hi in m.status])))
        for name, vm in (m.columns or {}).items():
            parts.append(self.value(pl.col(name), vm))
        for key, vm in (m.attributes or {}).items():
            (self.present_attributes if vm.model_fields_set == {"exists"} else self.valued_attributes).add(key)
            parts.append(self.value(_attr(key), vm))
        for name in m.condition or []:
            self._schedule(name)
            parts.append(pl.col(_cond_col(name)))
        if m.any:
            parts.append(_any([self.match(sub) for sub in m.any]))
        if m.not_ is not None:
            parts.append(~self.match(m.not_))
        return _all(parts)

    # -- labels

    def _template(self, template: str, rule: Rule, unavailable: str | None) -> pl.Expr:
        parts: list[pl.Expr] = []
        pos = 0
        for m in TEMPLATE_VAR.finditer(template):
            if m.start() > pos:
                parts.append(pl.lit(template[pos : m.start()]))
            name = m.group(1)
            if name == "stage_suffix":
                prefixes = "|".join(re.escape(p) for p in sorted(rule.match.stage_prefix or [], key=len, reverse=True))
                var = _identifier(pl.col("stage").str.replace(f"^(?:{prefixes})", ""))
            else:
                var = pl.col(_var_col(name))
            parts.append(var.fill_null(pl.lit(unavailable)) if unavailable is not None else var)
            pos = m.end()
        if pos < len(template):
            parts.append(pl.lit(template[pos:]))
        return pl.concat_str(parts, separator="")

    def _label(self, rule: Rule) -> pl.Expr:
        expr = self._template(rule.label, rule, None)
        if rule.label_fallback:
            expr = expr.fill_null(self._template(rule.label_fallback, rule, None))
        return expr.fill_null(self._template(rule.label, rule, UNAVAILABLE))

    # -- the plan

    def compile(self) -> Plan:
        rules = self.ruleset.rules
        default = self.ruleset.default
        rule_exprs = [self.match(rule.match) for rule in rules]
        variables = sorted(set().union(*(r.variables() for r in rules)) - {"stage_suffix"}) if rules else []
        if {"status", "status_class"} & set(variables):
            self.uses_status = True

        steps: list[list[pl.Expr]] = []
        if self.uses_qualified or self.uses_line_message:
            line = pl.col(_LINE)
            steps.append([exception_line_expr().alias(_LINE)])
            derived = []
            if self.uses_qualified:
                derived.append(qualified_type_expr(line).alias(_QUALIFIED))
            if self.uses_line_message:
                derived.append(message_expr(line).alias(_MESSAGE))
            steps.append(derived)
        first: list[pl.Expr] = []
        if self.uses_status:
            first.append(status_expr().alias(_STATUS))
        if self.uses_type_name:
            first.append(pl.col(_QUALIFIED).str.split(".").list.last().alias(_TYPE_NAME))
        if self.uses_package:
            first += [pl.col(_QUALIFIED).str.extract(rf"^((?:[^.]+\.){{{d - 1}}}[^.]+)\.", 1).alias(c) for d, c in enumerate(_PACKAGES, 1)]
        first += [pl.col(column).str.to_lowercase().alias(_LOWER[column]) for column in sorted(self.lowered)]
        if first:
            steps.append(first)
        depth = max(self.levels.values(), default=-1) + 1
        for level in range(depth):
            steps.append([self.cond_exprs[n].alias(_cond_col(n)) for n, lv in self.levels.items() if lv == level])
        if rule_exprs:
            steps.append([e.alias(_rule_col(i)) for i, e in enumerate(rule_exprs)] + [_variable(name).alias(_var_col(name)) for name in variables])
            index = pl.coalesce([pl.when(pl.col(_rule_col(i))).then(pl.lit(i, dtype=pl.UInt32)) for i in range(len(rule_exprs))])
            steps.append([index.alias(_INDEX)])
        else:
            steps.append([pl.lit(None, dtype=pl.UInt32).alias(_INDEX)])

        idx = pl.col(_INDEX)
        label: Any = None
        for i, rule in enumerate(rules):
            if rule.variables():
                then = self._label(rule)
                label = pl.when(idx == i).then(then) if label is None else label.when(idx == i).then(then)
        static = _lookup(idx, [r.label if not r.variables() else "" for r in rules], default.label)
        outputs = (
            _lookup(idx, [r.category for r in rules], default.category).alias("category"),
            (label.otherwise(static) if label is not None else static).alias("label"),
            _lookup(idx, [r.severity for r in rules], default.severity).alias("severity"),
            _lookup(idx, [r.name for r in rules], None).alias("rule"),
            _lookup(idx, self.ruleset.category_sources(), None).alias("category_source"),
        )
        for name in variables:
            self.valued_attributes |= VARIABLE_ATTRIBUTES.get(name, set())
        presence_only = frozenset(self.present_attributes - self.valued_attributes)
        return Plan(tuple(tuple(step) for step in steps if step), outputs, presence_only)


def _lookup(idx: pl.Expr, values: list[str], fallback: str | None) -> pl.Expr:
    """values[idx] for each row, ``fallback`` where no rule matched (idx null)."""
    if not values:
        return pl.lit(fallback, dtype=pl.String)
    return idx.replace_strict(dict(enumerate(values)), default=fallback, return_dtype=pl.String)




def compile_plan(ruleset: RuleSet) -> Plan:
    """The rule set as a ``Plan`` (done once, when the stage is built)."""
    return _Compiler(ruleset).compile()


def working_column(name: str) -> bool:
    """Whether ``name`` is one of the plan's own columns (dropped before the frame is returned)."""
    return name.startswith(_PREFIX)
