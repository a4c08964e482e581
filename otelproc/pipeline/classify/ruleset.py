"""A rule set: the built-in rules file extended by a user's, validated and in order.

``load_rules`` reads both files, ``parse_rules`` validates one (a ``ConfigError`` whose
lines name the rule and key at fault), ``merge_rules`` applies a user file to the
built-ins (replace by name, insert by position, disable, conditions, default) and
``_checked`` resolves the cross-references between rules and named conditions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from otelproc.errors import ConfigError
from otelproc.pipeline.classify.schema import DEFAULT_OUTCOME, INFERENCE_TIERS, Match, Outcome, Rule, RulesFile

BUILTIN_RULES = Path(__file__).resolve().parents[2] / "defaults" / "rules.yaml"


@dataclass(frozen=True)
class RuleSet:
    """The rules in the order they are tried, the named conditions and the default.

    ``tiers[i]`` says where ``rules[i]`` comes from: ``rule`` (the ``rules:`` list) or the
    inference tier (``stage``, ``semantic_conventions``, ``package``, ``exception_type``,
    ``message``);
    the rules of ``rules:`` come first, then each tier in that order.
    """

    rules: tuple[Rule, ...]
    conditions: dict[str, Match] = field(default_factory=dict)
    default: Outcome = field(default_factory=lambda: DEFAULT_OUTCOME)
    tiers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.tiers:
            object.__setattr__(self, "tiers", ("rule",) * len(self.rules))

    def names(self) -> list[str]:
        return [r.name for r in self.rules]

    def category_sources(self) -> list[str]:
        """``diagnostic.category_source`` of each rule: ``rule``, or ``inferred`` for an inference tier."""
        return ["rule" if tier == "rule" else "inferred" for tier in self.tiers]

    def literal_labels(self) -> dict[str, set[str]]:
        """The labels the rules give without template variables, with their categories."""
        out: dict[str, set[str]] = {}
        for outcome in (*self.rules, self.default):
            for label in (outcome.label, outcome.label_fallback):
                if label and "{" not in label:
                    out.setdefault(label, set()).add(outcome.category)
        return out


def where(section: str, name: str) -> str:
    """How a problem names a rule: ``rules[NAME]`` or ``inferred.package[NAME]``."""
    return f"rules[{name}]" if section == "rule" else f"inferred.{section}[{name}]"



def _loc_path(loc: tuple[Any, ...], raw: Any) -> str:
    """pydantic's error location as ``rules[pg_auth_failed].match.message``."""
    out = ""
    node = raw
    keyed_by_name = False
    for i, part in enumerate(loc):
        if isinstance(part, int):
            name = None
            if keyed_by_name and isinstance(node, list) and part < len(node) and isinstance(node[part], dict):
                name = node[part].get("name")
            out += f"[{name}]" if isinstance(name, str) and name else f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            keyed_by_name = False
            continue
        if i > 0 and loc[i - 1] in ("conditions", "columns", "attributes") and isinstance(node, dict) and part in node:
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
        keyed_by_name = (part == "rules" and i == 0) or (part in INFERENCE_TIERS and i == 1 and loc[0] == "inferred")
        node = node.get(part) if isinstance(node, dict) else None
    return out


_PLAIN_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "required",
}


def _problems(exc: ValidationError, raw: Any, prefix: str) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        path = _loc_path(loc, raw)
        msg = _PLAIN_MESSAGES.get(err["type"], err["msg"])
        problems.append(f"{prefix}{path}: {msg}" if path else f"{prefix}{msg}")
    return problems


def parse_rules(data: Any, *, source: str = "rules file") -> RulesFile:
    """Validate the parsed YAML of a rules file; ConfigError names the rule and field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: expected a mapping with a `rules:` list, got {type(data).__name__}"])
    try:
        parsed = RulesFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems(exc, data, "")) from None
    seen: set[str] = set()
    problems = []
    for section, rules in parsed.sections().items():
        for rule in rules:
            if rule.name in seen:
                problems.append(f"{where(section, rule.name)}: duplicate rule name")
            seen.add(rule.name)
            for field_name in ("label", "label_fallback"):
                if "{stage_suffix}" in (getattr(rule, field_name) or "") and not rule.match.stage_prefix:
                    problems.append(
                        f"{where(section, rule.name)}.{field_name}: {{stage_suffix}} needs match.stage_prefix (the part it removes)"
                    )
    if problems:
        raise ConfigError(problems)
    return parsed


def _read(path: Path | Any) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"rules: cannot read {path}: {exc.strerror or exc}"]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"rules: {path} is not valid YAML: {exc}"]) from None


def merge_rules(builtins: RulesFile, user: RulesFile | None) -> RuleSet:
    """Apply a user file to the built-ins, section by section (``rules`` and each inference tier).

    - a user rule whose name is a built-in's replaces it in place (or moves it, if it has a position);
    - a new rule goes before the built-ins of its section (in file order), unless its position
      says ``after_builtins``, ``before:NAME`` or ``after:NAME`` (NAME in the same section);
    - ``disable`` removes built-ins by name; ``conditions`` replace or add named conditions;
      ``default`` replaces the default.
    """
    conditions = dict(builtins.conditions)
    default = builtins.default or DEFAULT_OUTCOME
    problems: list[str] = []
    disabled: set[str] = set()
    if user is not None:
        builtin_names = {r.name for rules in builtins.sections().values() for r in rules}
        for name in user.disable:
            if name not in builtin_names:
                problems.append(f"disable[{name}]: no built-in rule named {name!r}")
        disabled = set(user.disable)
        conditions.update(user.conditions)
        if user.default is not None:
            default = user.default
    user_sections = user.sections() if user is not None else {}
    builtin_tier = {r.name: section for section, rules in builtins.sections().items() for r in rules}
    for section, rules in user_sections.items():
        for rule in rules:
            tier = builtin_tier.get(rule.name, section)
            if tier != section:
                problems.append(f"{where(section, rule.name)}: a built-in rule of this name is in "
                                f"{'rules' if tier == 'rule' else 'inferred.' + tier}; replace it there")  # fmt: skip
    rules: list[Rule] = []
    tiers: list[str] = []
    for section, builtin_rules in builtins.sections().items():
        merged = _merge_section(section, [r for r in builtin_rules if r.name not in disabled],
                                user_sections.get(section, []), problems)  # fmt: skip
        rules += merged
        tiers += [section] * len(merged)
    if problems:
        raise ConfigError(problems)
    return _checked(RuleSet(tuple(rules), conditions, default, tuple(tiers)))


def _merge_section(section: str, rules: list[Rule], user_rules: list[Rule], problems: list[str]) -> list[Rule]:
    head: list[Rule] = []
    tail: list[Rule] = []
    relative: list[Rule] = []
    for rule in user_rules:
        index = next((i for i, r in enumerate(rules) if r.name == rule.name), None)
        if index is not None and rule.position is None:
            rules[index] = rule
            continue
        if index is not None:
            del rules[index]
        if rule.position in (None, "before_builtins"):
            head.append(rule)
        elif rule.position == "after_builtins":
            tail.append(rule)
        else:
            relative.append(rule)
    ordered = head + rules + tail
    for rule in relative:
        side, _, target = (rule.position or "").partition(":")
        at = next((i for i, r in enumerate(ordered) if r.name == target), None)
        if at is None:
            problems.append(f"{where(section, rule.name)}.position: no rule named {target!r} in this section")
            continue
        ordered.insert(at if side == "before" else at + 1, rule)
    return ordered


def _checked(ruleset: RuleSet) -> RuleSet:
    """Cross-references: every named condition exists, and conditions do not refer to themselves."""
    problems: list[str] = []

    def refs(m: Match) -> list[str]:
        out = list(m.condition or [])
        for sub in m.any or []:
            out += refs(sub)
        if m.not_ is not None:
            out += refs(m.not_)
        return out

    for rule, tier in zip(ruleset.rules, ruleset.tiers):
        for name in refs(rule.match):
            if name not in ruleset.conditions:
                problems.append(f"{where(tier, rule.name)}.match.condition: unknown condition {name!r}")
    for cname, cond in ruleset.conditions.items():
        for name in refs(cond):
            if name not in ruleset.conditions:
                problems.append(f"conditions[{cname}].condition: unknown condition {name!r}")

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in trail:
            problems.append(f"conditions[{trail[0]}].condition: refers to itself ({' -> '.join(trail + (name,))})")
            return
        cond = ruleset.conditions.get(name)
        if cond is not None:
            for ref in refs(cond):
                visit(ref, trail + (name,))

    if not problems:
        for cname in ruleset.conditions:
            visit(cname, ())
            if problems:
                break
    if problems:
        raise ConfigError(problems)
    return ruleset


def load_builtin_rules() -> RulesFile:
    return parse_rules(_read(BUILTIN_RULES), source=str(BUILTIN_RULES))


def load_rules(path: Path | str | None = None, *, builtins: bool = True) -> RuleSet:
    """The built-in rules extended by the user file at ``path`` (if any), validated.

    Raises ``ConfigError`` whose lines name the rule and field at fault, e.g.
    ``rules[pg_auth_failed].match.message: invalid regex …``. Used by
    ``Classifier.from_config`` and ``otelproc check-config``.
    """
    base = load_builtin_rules() if builtins else RulesFile()
    user = parse_rules(_read(Path(path)), source=str(path)) if path is not None else None
    return merge_rules(base, user)

