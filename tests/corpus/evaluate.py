"""How well otelproc grouped and classified the corpus, read back from its DuckDB file.

Definitions (``Scores``):

* **Items**: the error spans that are causes and the error log records (each the occurrence of
  one kind). Symptom spans (class 8: an ancestor of the failing span that ended ERROR because
  the exception reached it) are scored apart, below.
* **Grouping accuracy** (Loghub's "grouping accuracy", Zhu et al., ICSE-SEIP 2019): an item is
  grouped correctly when the set of items sharing its fingerprint equals the set of items of its
  kind; the accuracy is the share of items grouped correctly. A kind split over two fingerprints,
  or a fingerprint holding two kinds, makes all of their items wrong.
* **Splits**: kinds whose items have more than one fingerprint. **Merges**: pairs of kinds that
  share a fingerprint.
* **Fingerprints vs kinds**: distinct fingerprints of the items, and the number of kinds.
* **Category accuracy**: the share of items whose ``category`` is the kind's expected one;
  **unknown**: the share of items in category ``unknown``.
* **Symptoms**: a symptom is correct when its ``caused_by`` is its cause span's fingerprint and
  its own fingerprint makes no pattern (has no ``error_patterns`` row), unless that fingerprint
  is its cause's (the SDK records the same exception on every span it passes, so a handler's
  span may share its cause's fingerprint).
* **Patterns of symptoms only**: patterns whose fingerprint no cause or log record has (what
  symptom spans made on their own).
* **Missing**: items sent that are not in ``error_events`` (should be none).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from tests.corpus.emit import Item
from tests.corpus.kinds import BY_ID, CLASS_NAMES, Kind


@dataclass
class Scores:
    items: int
    kinds: int
    fingerprints: int
    grouping_accuracy: float
    category_accuracy: float
    unknown_share: float
    symptoms: int
    symptoms_correct: int
    missing: int
    splits: dict[str, int] = field(default_factory=dict)  # kind -> its number of fingerprints
    # kind -> fingerprint part (error_class, message_template, source) -> its distinct values, for a split kind
    split_parts: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    merges: list[tuple[str, str]] = field(default_factory=list)
    miscategorised: dict[str, tuple[str, dict[str, int]]] = field(default_factory=dict)  # kind -> (expected, got)
    per_kind_accuracy: dict[str, float] = field(default_factory=dict)
    symptom_failures: dict[str, int] = field(default_factory=dict)  # kind -> wrong symptoms
    patterns: int = 0
    symptom_patterns: int = 0  # patterns whose fingerprint only symptoms have
    by_id: dict[str, Kind] = field(default_factory=lambda: BY_ID, repr=False)  # the kinds scored

    @property
    def symptom_accuracy(self) -> float:
        return self.symptoms_correct / self.symptoms if self.symptoms else 1.0

    def summary(self) -> dict:
        return {
            "items": self.items, "kinds": self.kinds, "fingerprints": self.fingerprints,
            "grouping_accuracy": round(self.grouping_accuracy, 4), "split_kinds": len(self.splits),
            "merged_pairs": len(self.merges), "category_accuracy": round(self.category_accuracy, 4),
            "unknown_share": round(self.unknown_share, 4), "symptoms": self.symptoms,
            "symptom_accuracy": round(self.symptom_accuracy, 4), "patterns": self.patterns,
            "patterns_of_symptoms_only": self.symptom_patterns, "missing": self.missing,
        }  # fmt: skip

    def report(self, worst: int = 15) -> str:
        lines = [f"{k}: {v}" for k, v in self.summary().items()]
        by_class: dict[int, list[str]] = defaultdict(list)
        for kind, n in sorted(self.splits.items()):
            by_class[self.by_id[kind].cls].append(f"  split   {kind}: {n} fingerprints")
            for part, values in self.split_parts.get(kind, {}).items():
                shown = " | ".join(v[:90] for v in values[:3]) + (" | ..." if len(values) > 3 else "")
                by_class[self.by_id[kind].cls].append(f"            {part} varies: {shown}")
        for a, b in self.merges:
            by_class[self.by_id[a].cls].append(f"  merged  {a} + {b}")
        for kind, (expected, got) in sorted(self.miscategorised.items()):
            by_class[self.by_id[kind].cls].append(f"  category {kind}: expected {expected}, got {dict(got)}")
        for kind, n in sorted(self.symptom_failures.items()):
            by_class[8].append(f"  symptom {kind}: {n} symptom spans not linked to their cause or made a pattern")
        kinds_of: dict[int, list[str]] = defaultdict(list)
        for kind in self.per_kind_accuracy:
            kinds_of[self.by_id[kind].cls].append(kind)
        for cls in sorted(set(by_class) | set(kinds_of)):
            kinds = kinds_of.get(cls, [])
            mean = sum(self.per_kind_accuracy[k] for k in kinds) / len(kinds) if kinds else 1.0
            lines.append(f"class {cls} ({CLASS_NAMES[cls]}): {len(kinds)} kinds, mean grouping accuracy {mean:.2f}")
            lines += by_class.get(cls, [])
        lines.append(f"worst kinds (grouping accuracy of their items):")
        for kind, acc in sorted(self.per_kind_accuracy.items(), key=lambda kv: (kv[1], kv[0]))[:worst]:
            lines.append(f"  {acc:.2f} {kind} (class {self.by_id[kind].cls})")
        return "\n".join(lines)


PARTS = ("error_class", "message_template", "source")


def read_events(db_path: Path) -> tuple[dict[str, tuple], set[str]]:
    """key -> (fingerprint, category, caused_by, error_class, message_template, source) of every
    stored error item; the patterns' fingerprints."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        columns = {r[0] for r in con.execute("DESCRIBE error_events").fetchall()}
        caused_by = "caused_by" if "caused_by" in columns else "NULL"  # an otelproc before symptoms were linked
        rows = con.execute(
            f"SELECT kind, span_id, request_id, fingerprint, category, {caused_by},"
            " regexp_replace(coalesce(error_type, ''), '^.*\\.', ''), message_template, source FROM error_events"
        ).fetchall()
        patterns = {r[0] for r in con.execute("SELECT fingerprint FROM error_patterns").fetchall()}
    finally:
        con.close()
    events = {}
    for kind, span_id, request_id, *values in rows:
        # a log record, or a Logfire log (a span named by its request id)
        is_log = kind == "log" or (request_id or "").startswith("lf-")
        events[f"log:{request_id}" if is_log else f"span:{span_id}"] = tuple(values)
    return events, patterns


def score(items: list[Item], events: dict[str, tuple], patterns: set[str], by_id: dict[str, Kind] = BY_ID) -> Scores:
    counted = [i for i in items if i.role != "symptom" and i.key in events]
    missing = sum(1 for i in items if i.key not in events)
    fp_of = {i.key: events[i.key][0] for i in counted}
    by_fp: dict[str, set[str]] = defaultdict(set)
    by_kind: dict[str, set[str]] = defaultdict(set)
    for i in counted:
        by_fp[fp_of[i.key]].add(i.key)
        by_kind[i.kind].add(i.key)
    correct = {i.key for i in counted if by_fp[fp_of[i.key]] == by_kind[i.kind]}
    kind_fps: dict[str, set[str]] = defaultdict(set)
    fp_kinds: dict[str, set[str]] = defaultdict(set)
    for i in counted:
        kind_fps[i.kind].add(fp_of[i.key])
        fp_kinds[fp_of[i.key]].add(i.kind)
    merges = sorted({(a, b) for kinds in fp_kinds.values() for a in kinds for b in kinds if a < b})
    categories: dict[str, Counter] = defaultdict(Counter)
    for i in counted:
        categories[i.kind][events[i.key][1]] += 1
    right = sum(c[by_id[k].category] for k, c in categories.items())
    unknown = sum(c["unknown"] for c in categories.values())
    symptoms = [i for i in items if i.role == "symptom" and i.key in events and i.cause in events]
    wrong_symptoms: Counter = Counter()
    for s in symptoms:
        fp, _, caused_by = events[s.key][:3]
        cause_fp = events[s.cause][0]
        if not (caused_by == cause_fp and (fp not in patterns or fp == cause_fp)):
            wrong_symptoms[s.kind] += 1
    split_parts = {}
    for kind, fps in kind_fps.items():
        if len(fps) > 1:
            keys = by_kind[kind]
            split_parts[kind] = {
                part: sorted({str(events[k][3 + p]) for k in keys})
                for p, part in enumerate(PARTS)
                if len({events[k][3 + p] for k in keys}) > 1
            }
    cause_fps = set(fp_of.values())
    symptom_fps = {events[s.key][0] for s in symptoms} - cause_fps
    n = len(counted) or 1
    return Scores(
        items=len(counted), kinds=len(by_kind), fingerprints=len(by_fp),
        grouping_accuracy=len(correct) / n, category_accuracy=right / n, unknown_share=unknown / n,
        symptoms=len(symptoms), symptoms_correct=len(symptoms) - sum(wrong_symptoms.values()), missing=missing,
        splits={k: len(f) for k, f in kind_fps.items() if len(f) > 1}, split_parts=split_parts, merges=merges,
        miscategorised={k: (by_id[k].category, dict(c)) for k, c in categories.items() if set(c) != {by_id[k].category}},
        per_kind_accuracy={k: sum(1 for key in keys if key in correct) / len(keys) for k, keys in by_kind.items()},
        symptom_failures=dict(wrong_symptoms), patterns=len(patterns), symptom_patterns=len(patterns & symptom_fps),
        by_id=by_id,
    )  # fmt: skip
