//! The per-error-row work after the scan, over whole columns: redaction of the error text
//! (the text as received stays in `raw.<column>` for classification alone), then the
//! grouping: error class, message template, source frame and fingerprint.
//!
//! What is the same from one occurrence of an error to the next is computed once: the
//! source per trace shape (the stack trace without its message), the template per message,
//! the hash per distinct key; remembered across requests in bounded memos.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::columns::Column;
use crate::grouping_v1::{GroupingV1, Inputs};
use crate::grouping_v2::{GroupingV2, RowTrace, TraceFacts};
use crate::redact::Redactor;
use crate::scan::Scan;
use crate::value::{hex, FastHash, FxHasher};

/// Entries a memo holds before it starts over (each is a short string and two words).
const MEMO_LIMIT: usize = 50_000;

/// Outcomes remembered by a 128-bit hash of their inputs.
pub struct Memo<T = String> {
    map: Mutex<HashMap<u128, T, FastHash>>,
}

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Memo { map: Mutex::new(HashMap::default()) }
    }
}

impl<T: Clone> Memo<T> {
    pub fn get_or_insert(&self, key: u128, compute: impl FnOnce() -> T) -> T {
        if let Some(found) = self.map.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return found;
        }
        let value = compute();
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= MEMO_LIMIT {
                map.clear();
            }
            map.insert(key, value.clone());
        }
        value
    }

    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn clear(&self) {
        if let Ok(mut map) = self.map.lock() {
            map.clear();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A 128-bit hash of several optional texts (two FxHash states with different seeds; the
/// parts are length-prefixed so ("ab", "c") and ("a", "bc") differ).
pub fn hash_parts(parts: &[Option<&str>]) -> u128 {
    let mut a = FxHasher::default();
    let mut b = FxHasher::default();
    b.write_u64(0x9e37_79b9_7f4a_7c15);
    for part in parts {
        match part {
            None => {
                a.write_u8(0);
                b.write_u8(0);
            }
            Some(text) => {
                a.write_usize(text.len() + 1);
                b.write_usize(text.len() + 1);
                a.write(text.as_bytes());
                b.write(text.as_bytes());
            }
        }
    }
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

pub fn sha256_hex(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

/// Which columns of the error frame the per-row work reads and rewrites.
pub struct RowColumns {
    /// redacted in place; the text as received goes to `raw.<name>`
    pub redacted: Vec<usize>,
    pub error_type: usize,
    pub message: usize,
    pub msg_template: usize,
    pub stack_trace: usize,
    pub code_namespace: usize,
    pub code_function: usize,
    pub code_filepath: usize,
    pub span_name: usize,
}

/// The grouping version the core computes.
pub enum Version {
    V1(Box<GroupingV1>),
    V2(Box<GroupingV2>),
}

/// The grouping with what it remembers: the source per trace shape, the template per message
/// (version 2: what a stack trace says per trace).
pub struct Grouper {
    pub version: Version,
    sources: Memo,
    templates: Memo,
    facts: Memo<Arc<Option<TraceFacts>>>,
    /// matches of each normalizer so far (for /metrics)
    pub normalizer_hits: Vec<AtomicU64>,
}

/// The grouping columns of some rows, in this order.
pub const GROUPING_COLUMNS: [&str; 4] = ["error_class", "message_template", "source", "fingerprint"];

impl Grouper {
    pub fn new(v1: GroupingV1) -> Grouper {
        let rules = v1.normalizers().rules().len();
        Grouper::with(Version::V1(Box::new(v1)), rules)
    }

    pub fn new_v2(v2: GroupingV2) -> Grouper {
        let rules = v2.parameterizer().len();
        Grouper::with(Version::V2(Box::new(v2)), rules)
    }

    fn with(version: Version, rules: usize) -> Grouper {
        Grouper {
            version,
            sources: Memo::default(),
            templates: Memo::default(),
            facts: Memo::default(),
            normalizer_hits: (0..rules).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Forgets what it remembers (the benchmarks measure the work, not the memos).
    pub fn forget(&self) {
        self.sources.clear();
        self.templates.clear();
        self.facts.clear();
    }

    /// The normalizers' names, in order.
    pub fn normalizer_names(&self) -> Vec<String> {
        match &self.version {
            Version::V1(v1) => v1.normalizers().rules().iter().map(|r| r.name.clone()).collect(),
            Version::V2(v2) => v2.parameterizer().rule_names().map(str::to_owned).collect(),
        }
    }

    /// Messages -> templates (the normalizers alone).
    pub fn normalize(&self, message: Option<&str>) -> String {
        match &self.version {
            Version::V1(v1) => v1.normalize(message, None),
            Version::V2(v2) => v2.normalize(message.unwrap_or(""), None),
        }
    }

    /// `error_class`, `message_template`, `source`, `fingerprint` for `rows` rows.
    pub fn group<'a>(&self, rows: usize, inputs: impl Fn(usize) -> Inputs<'a>) -> [Column; 4] {
        let [mut classes, mut templates, mut sources, mut fingerprints] = GROUPING_COLUMNS.map(Column::strings);
        let mut hashes: HashMap<u128, String, FastHash> = HashMap::default();
        let mut hits = vec![0u64; self.normalizer_hits.len()];
        for row in 0..rows {
            let inputs = inputs(row);
            let (class, template, source) = match &self.version {
                Version::V1(v1) => self.group_v1(v1, &inputs, &mut hits),
                Version::V2(v2) => self.group_v2(v2, &inputs, &mut hits),
            };
            let key = format!("{class}|{template}|{source}");
            let fingerprint = hashes.entry(hash_parts(&[Some(&key)])).or_insert_with(|| sha256_hex(&key)).clone();
            classes.push_str(Some(&class));
            templates.push_str(Some(&template));
            sources.push_str(Some(&source));
            fingerprints.push_str(Some(&fingerprint));
        }
        for (counter, n) in self.normalizer_hits.iter().zip(hits) {
            counter.fetch_add(n, Ordering::Relaxed);
        }
        [classes, templates, sources, fingerprints]
    }

    fn group_v1(&self, v1: &GroupingV1, inputs: &Inputs<'_>, hits: &mut [u64]) -> (String, String, String) {
        let class = v1.error_class(inputs.error_type);
        let template_key = hash_parts(&[Some(&class), inputs.message, inputs.msg_template]);
        let template = self.templates.get_or_insert(template_key, || v1.message_template(&class, inputs, Some(hits)));
        let shape = v1.trace_shape(inputs.stack_trace, inputs.message);
        let source_key = hash_parts(&[
            shape.as_deref(),
            inputs.code_namespace,
            inputs.code_function,
            inputs.code_filepath,
            inputs.span_name,
        ]);
        let source = self.sources.get_or_insert(source_key, || v1.source(inputs));
        (class, template, source)
    }

    fn group_v2(&self, v2: &GroupingV2, inputs: &Inputs<'_>, hits: &mut [u64]) -> (String, String, String) {
        let mut own: Option<(Option<&str>, Option<Cow<'_, str>>)> = None;
        let facts: Arc<Option<TraceFacts>> = match inputs.stack_trace.filter(|t| !t.trim_ascii().is_empty()) {
            Some(trace) => match crate::stacktrace::python::final_exception(trace) {
                // A Python trace: what its frames say is remembered per trace without its last
                // exception's lines (one error site, whatever the message); those are read anew.
                Some(raised) => {
                    own = Some((raised.type_name, raised.value));
                    let shape = &trace[..raised.start];
                    self.facts.get_or_insert(hash_parts(&[Some("py"), Some(shape)]), || {
                        Arc::new(v2.trace_facts(Some(trace)))
                    })
                }
                None => self.facts.get_or_insert(hash_parts(&[Some(trace)]), || Arc::new(v2.trace_facts(Some(trace)))),
            },
            None => Arc::new(None),
        };
        let trace = facts.as_ref().as_ref().map(|f| match &own {
            Some((class, message)) => RowTrace {
                facts: f,
                class: class.map(crate::stacktrace::class_name),
                message: match (class, message) {
                    (_, Some(m)) => Some(m.as_ref()),
                    (Some(_), None) => Some(""),
                    (None, None) => None,
                },
            },
            None => RowTrace::of(f),
        });
        let mut class = v2.error_class(inputs.error_type);
        if class.is_empty() {
            class = trace.and_then(|t| t.class).unwrap_or_default().to_owned();
        }
        let message = v2.message(&class, trace, inputs.message);
        let cause = trace.and_then(|t| t.facts.cause.as_deref());
        let template_key = hash_parts(&[
            Some(&class),
            Some(message),
            cause,
            inputs.msg_template,
            Some(if trace.is_some() { "t" } else { "" }),
            trace.map(|t| t.facts.format.as_ref().map_or("", |_| "f")),
        ]);
        let template = self.templates.get_or_insert(template_key, || v2.template(&class, inputs, trace, Some(hits)));
        let source = match trace.and_then(|t| t.facts.source.clone()) {
            Some(source) => source,
            None => {
                let key = hash_parts(&[inputs.code_namespace, inputs.code_function, inputs.code_filepath, inputs.span_name]);
                self.sources.get_or_insert(key, || v2.attribute_source(inputs))
            }
        };
        (class, template, source)
    }
}

pub struct Diagnoser {
    pub redactor: Option<Arc<Redactor>>,
    pub grouper: Arc<Grouper>,
    pub columns: RowColumns,
}

impl Diagnoser {
    /// Redacts the scan's error text and adds the grouping columns.
    pub fn diagnose(&self, scan: &mut Scan) {
        let rows = scan.errors.len();
        if let Some(redactor) = &self.redactor {
            let mut raw = Vec::with_capacity(self.columns.redacted.len());
            for &index in &self.columns.redacted {
                let Some(column) = scan.columns.get(index) else { continue };
                let mut redacted = Column::strings(&column.name);
                let mut changed = false;
                for row in 0..rows {
                    match column.str_at(row) {
                        Some(text) => {
                            let out = redactor.redact(text);
                            changed |= matches!(out, std::borrow::Cow::Owned(_));
                            redacted.push_str(Some(&out));
                        }
                        None => redacted.push_str(None),
                    }
                }
                let mut original = if changed { redacted } else { column.clone() };
                if let Some(slot) = scan.columns.get_mut(index) {
                    std::mem::swap(slot, &mut original);
                }
                original.name = format!("raw.{}", original.name);
                raw.push(original);
            }
            scan.columns.extend(raw);
        }
        let c = &self.columns;
        let columns = &scan.columns;
        let text = |i: usize, row: usize| columns.get(i).and_then(|c| c.str_at(row));
        let grouped = self.grouper.group(rows, |row| Inputs {
            error_type: text(c.error_type, row),
            message: text(c.message, row),
            msg_template: text(c.msg_template, row),
            stack_trace: text(c.stack_trace, row),
            code_namespace: text(c.code_namespace, row),
            code_function: text(c.code_function, row),
            code_filepath: text(c.code_filepath, row),
            span_name: text(c.span_name, row),
        });
        scan.columns.extend(grouped);
    }
}
