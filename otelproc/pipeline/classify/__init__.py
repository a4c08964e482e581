"""Stage: classify each error row into a category, a label and a severity.

The rules are data (``otelproc/defaults/rules.yaml``, the built-ins, plus an
optional user file that extends and overrides them). They are validated and
compiled once, in ``Classifier.from_config``, into polars expressions: one
boolean column per rule, and the index of the first rule that matches each row
(a flat ``coalesce`` of ``when(rule_i).then(i)``). Nothing runs per row in
Python; see ``compiler.Plan`` for why shared values are computed once per batch.

Reads (``batch.errors``): ``error_type``, ``message``, ``stack_trace``,
``stage``, ``http_status_code``, ``server_address``, ``attributes`` and any
other column a rule names under ``match.columns``; the label templates read
``stage``, ``server_address``, ``attributes``, ``message``, ``http_status_code``,
``db_system``, ``gen_ai_system``, ``service_name`` and ``error_type``.

Adds: ``category`` (infrastructure, data, model, prompt, integration,
unknown), ``label`` (e.g. ``PG_AUTH_FAILED``), ``severity`` (low, medium, high,
critical) and ``rule`` (the name of the rule that matched; null for the default).

Runs on rows the core's scan has redacted and fingerprinted (the stage order is
``otelproc.pipeline.STAGES``). Rules see the text as received
(``raw.<column>``, kept by redaction: some rules need words a redactor takes
out, such as ``invalid_api_key``). Rows are classified once per *kind*: the
fingerprint (type, message template, source) plus every other column the rules
read (stage, status, attributes, ...). The first row of a new kind is run through
the rules and the outcome is remembered for the rows of that kind that follow,
in this batch and later ones, so a steady stream of known errors costs a join and
no regex. Two rows of one pattern in one context thus always get the same
label, even where their raw messages differ in a host or number the template
leaves out.

The rules file format is documented at the top of ``config/rules.yaml``.

Modules: ``schema`` (the rules file's model and validation), ``ruleset`` (loading,
merging a user file into the built-ins), ``compiler`` (rules to polars
expressions), ``stage`` (``Classifier``, the stage, and its config).
"""

from otelproc.pipeline.classify.ruleset import BUILTIN_RULES, RuleSet, load_rules, merge_rules, parse_rules
from otelproc.pipeline.classify.schema import (
    CATEGORIES,
    SEVERITIES,
    TEMPLATE_VARIABLES,
    Outcome,
    Rule,
    lower_pattern,
    regex_problem,
)
from otelproc.pipeline.classify.stage import Classifier, ClassifyConfig

__all__ = [
    "BUILTIN_RULES",
    "CATEGORIES",
    "SEVERITIES",
    "TEMPLATE_VARIABLES",
    "ClassifyConfig",
    "Classifier",
    "Outcome",
    "Rule",
    "RuleSet",
    "load_rules",
    "lower_pattern",
    "merge_rules",
    "parse_rules",
    "regex_problem",
]
