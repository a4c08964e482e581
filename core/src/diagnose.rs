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
        let mut classes_of: HashMap<Option<&str>, String, FastHash> = HashMap::default();
        for row in 0..rows {
            let inputs = inputs(row);
            let (class, template, source) = match &self.version {
                Version::V1(v1) => self.group_v1(v1, &inputs, &mut hits, &mut classes_of),
                Version::V2(v2) => self.group_v2(v2, &inputs, &mut hits),
            };
            let fingerprint = hashes
                .entry(hash_parts(&[Some(&class), Some(&template), Some(&source)]))
                .or_insert_with(|| {
                    let (hashed_template, hashed_source) = match &self.version {
                        Version::V1(_) => (Cow::Borrowed(template.as_str()), Cow::Borrowed(source.as_str())),
                        Version::V2(v2) => (v2.hashed_template(&template), v2.hashed_source(&source)),
                    };
                    sha256_hex(&format!("{class}|{hashed_template}|{hashed_source}"))
                })
                .clone();
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

    fn group_v1<'a>(
        &self,
        v1: &GroupingV1,
        inputs: &Inputs<'a>,
        hits: &mut [u64],
        classes_of: &mut HashMap<Option<&'a str>, String, FastHash>,
    ) -> (String, String, String) {
        let class = classes_of.entry(inputs.error_type).or_insert_with(|| v1.error_class(inputs.error_type)).clone();
        let template_key = hash_parts(&[Some(&class), inputs.message, inputs.msg_template]);
        let template = self.templates.get_or_insert(template_key, || v1.message_template(&class, inputs, Some(hits)));
        let shape = inputs.shape.unwrap_or_else(|| shape_hash(inputs.stack_trace.unwrap_or("\u{0}"), inputs.message));
        let source_key = hash_parts(&[
            Some(&format!("{shape:032x}")),
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
                    self.facts
                        .get_or_insert(hash_parts(&[Some("py"), Some(shape)]), || Arc::new(v2.trace_facts(Some(trace))))
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
                let key =
                    hash_parts(&[inputs.code_namespace, inputs.code_function, inputs.code_filepath, inputs.span_name]);
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
    /// shapes of stack traces that held no secret
    pub clean_shapes: Seen,
}

impl Diagnoser {
    /// Redacts the scan's error text and adds the grouping columns.
    pub fn diagnose(&self, scan: &mut Scan) {
        let rows = scan.errors.len();
        let c = &self.columns;
        // each row's trace shape, computed once: redaction and grouping both key on it
        let mut shapes: Vec<Option<u128>> = {
            let text = |i: usize, row: usize| scan.columns.get(i).and_then(|c| c.str_at(row));
            (0..rows)
                .map(|row| Some(shape_hash(text(c.stack_trace, row).unwrap_or("\u{0}"), text(c.message, row))))
                .collect()
        };
        if let Some(redactor) = &self.redactor {
            self.redact(redactor, scan, &mut shapes);
        }
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
            shape: shapes.get(row).copied().flatten(),
        });
        scan.columns.extend(grouped);
    }

    /// Each redacted column in place, its text as received kept as `raw.<name>`.
    /// A row whose trace or message changes has its shape (`shapes`) forgotten.
    fn redact(&self, redactor: &Redactor, scan: &mut Scan, shapes: &mut [Option<u128>]) {
        let rows = shapes.len();
        let message = scan.columns.get(self.columns.message);
        // Whether each row's message held a secret: a stack trace is its shape (the trace
        // without the message) around the message, and a shape seen clean is not searched again.
        let clean_messages: Vec<bool> = (0..rows)
            .map(|row| message.and_then(|m| m.str_at(row)).is_none_or(|m| !redactor.rules().any_match(m)))
            .collect();
        // every redacted column first (from the columns as received), then put in place
        let mut redacted_columns = Vec::with_capacity(self.columns.redacted.len());
        for &index in &self.columns.redacted {
            let Some(column) = scan.columns.get(index) else { continue };
            // built only from the first row redaction changes (the rows before copied as they are)
            let mut redacted: Option<Column> = None;
            for (row, &message_clean) in clean_messages.iter().enumerate() {
                let text = column.str_at(row);
                let out = match text {
                    Some(text) if index == self.columns.stack_trace => {
                        let shape = shapes.get(row).copied().flatten();
                        Some(self.redact_trace(
                            redactor,
                            text,
                            message.and_then(|m| m.str_at(row)),
                            message_clean,
                            shape,
                        ))
                    }
                    Some(text) if index == self.columns.message && message_clean => Some(Cow::Borrowed(text)),
                    Some(text) => Some(redactor.redact(text)),
                    None => None,
                };
                if redacted.is_none() && matches!(out, Some(Cow::Owned(_))) {
                    let mut new = Column::strings(&column.name);
                    (0..row).for_each(|earlier| new.push_str(column.str_at(earlier)));
                    redacted = Some(new);
                }
                if matches!(out, Some(Cow::Owned(_)))
                    && (index == self.columns.stack_trace || index == self.columns.message)
                {
                    if let Some(shape) = shapes.get_mut(row) {
                        *shape = None;
                    }
                }
                if let Some(new) = redacted.as_mut() {
                    new.push_str(out.as_deref());
                }
            }
            redacted_columns.push((index, redacted));
        }
        // The text as received goes to `raw.<name>` only for a column redaction changed: the
        // rules of classify read it (and the column itself where there is none).
        for (index, redacted) in redacted_columns {
            let (Some(slot), Some(mut redacted)) = (scan.columns.get_mut(index), redacted) else { continue };
            std::mem::swap(slot, &mut redacted);
            redacted.name = format!("raw.{}", redacted.name);
            scan.columns.push(redacted);
        }
    }

    /// A stack trace redacted: searched whole unless its message is clean, its shape was seen
    /// clean before, and nothing matches around the message where shape and message meet.
    fn redact_trace<'t>(
        &self,
        redactor: &Redactor,
        trace: &'t str,
        message: Option<&str>,
        message_clean: bool,
        shape: Option<u128>,
    ) -> Cow<'t, str> {
        let message = message.filter(|m| !m.is_empty() && message_clean);
        let (Some(message), Some(key)) = (message, shape) else { return redactor.redact(trace) };
        if !self.clean_shapes.contains(key) {
            let out = redactor.redact(trace);
            if matches!(out, Cow::Borrowed(_)) {
                self.clean_shapes.insert(key);
            }
            return out;
        }
        // The shape and the message are clean apart; a secret could still span their seam.
        for at in occurrences(trace.as_bytes(), message.as_bytes()) {
            let start = floor_char_boundary(trace, at.saturating_sub(SEAM));
            let end = ceil_char_boundary(trace, at + message.len() + SEAM);
            if trace.get(start..end).is_some_and(|seam| redactor.rules().any_match(seam)) {
                return redactor.redact(trace);
            }
        }
        Cow::Borrowed(trace)
    }
}

/// Characters on each side of a message in its stack trace searched for a secret across the seam.
const SEAM: usize = 256;

fn floor_char_boundary(s: &str, mut at: usize) -> usize {
    while at > 0 && !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_char_boundary(s: &str, mut at: usize) -> usize {
    at = at.min(s.len());
    while at < s.len() && !s.is_char_boundary(at) {
        at += 1;
    }
    at
}

/// A 128-bit hash of `trace` with every occurrence of `message` cut out (the trace's shape,
/// the same for every occurrence of one error site), without building it.
pub fn shape_hash(trace: &str, message: Option<&str>) -> u128 {
    let mut a = FxHasher::default();
    let mut b = FxHasher::default();
    b.write_u64(0x9e37_79b9_7f4a_7c15);
    let mut feed = |bytes: &[u8]| {
        a.write(bytes);
        b.write(bytes);
    };
    match message.filter(|m| !m.is_empty()) {
        Some(m) => {
            let mut from = 0;
            for at in occurrences(trace.as_bytes(), m.as_bytes()) {
                if at >= from {
                    feed(trace.as_bytes().get(from..at).unwrap_or_default());
                    from = at + m.len();
                }
            }
            feed(trace.as_bytes().get(from..).unwrap_or_default());
        }
        None => feed(trace.as_bytes()),
    }
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

/// Where `needle` occurs in `haystack`: candidates found (memchr) by the needle's rarest-looking
/// byte (a digit or punctuation before a capital, before a lowercase letter or a space), each
/// compared whole. A message occurs in its stack trace once or twice; building a two-way
/// searcher for it would cost more than the search.
fn occurrences<'h>(haystack: &'h [u8], needle: &'h [u8]) -> impl Iterator<Item = usize> + 'h {
    let rank = |b: u8| match b {
        b'a'..=b'z' | b' ' => 0,
        b'A'..=b'Z' => 1,
        _ => 2,
    };
    let anchor = needle.iter().enumerate().max_by_key(|&(i, &b)| (rank(b), std::cmp::Reverse(i))).map(|(i, &b)| (i, b));
    anchor.into_iter().flat_map(move |(offset, byte)| {
        memchr::memchr_iter(byte, haystack).filter_map(move |hit| {
            let at = hit.checked_sub(offset)?;
            (haystack.get(at..at + needle.len()) == Some(needle)).then_some(at)
        })
    })
}

/// Hashes remembered as seen (bounded: starts over when full).
#[derive(Default)]
pub struct Seen {
    set: Mutex<std::collections::HashSet<u128, FastHash>>,
}

impl Seen {
    pub fn contains(&self, key: u128) -> bool {
        self.set.lock().is_ok_and(|set| set.contains(&key))
    }

    pub fn insert(&self, key: u128) {
        if let Ok(mut set) = self.set.lock() {
            if set.len() >= MEMO_LIMIT {
                set.clear();
            }
            set.insert(key);
        }
    }
}
