//! The per-error-row work after the scan, over whole columns: redaction of the error text
//! (the text as received stays in `raw.<column>` for classification alone), then the
//! grouping: error class, message template, source frame and fingerprint.
//!
//! What is the same from one occurrence of an error to the next is computed once: the
//! source per trace shape (the stack trace without its message), the template per message,
//! the hash per distinct key; remembered across requests in bounded memos.

use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::columns::Column;
use crate::grouping_v1::{GroupingV1, Inputs};
use crate::redact::Redactor;
use crate::scan::Scan;
use crate::value::{hex, FastHash, FxHasher};

/// Entries a memo holds before it starts over (each is a short string and two words).
const MEMO_LIMIT: usize = 50_000;

/// Outcomes remembered by a 128-bit hash of their inputs.
pub struct Memo {
    map: Mutex<HashMap<u128, String, FastHash>>,
}

impl Default for Memo {
    fn default() -> Self {
        Memo { map: Mutex::new(HashMap::default()) }
    }
}

impl Memo {
    pub fn get_or_insert(&self, key: u128, compute: impl FnOnce() -> String) -> String {
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

/// The grouping with what it remembers: the source per trace shape, the template per message.
pub struct Grouper {
    pub v1: GroupingV1,
    sources: Memo,
    templates: Memo,
    /// matches of each normalizer so far (for /metrics)
    pub normalizer_hits: Vec<AtomicU64>,
}

/// The grouping columns of some rows, in this order.
pub const GROUPING_COLUMNS: [&str; 4] = ["error_class", "message_template", "source", "fingerprint"];

impl Grouper {
    pub fn new(v1: GroupingV1) -> Grouper {
        let normalizer_hits = v1.normalizers().rules().iter().map(|_| AtomicU64::new(0)).collect();
        Grouper { v1, sources: Memo::default(), templates: Memo::default(), normalizer_hits }
    }

    /// `error_class`, `message_template`, `source`, `fingerprint` for `rows` rows.
    pub fn group<'a>(&self, rows: usize, inputs: impl Fn(usize) -> Inputs<'a>) -> [Column; 4] {
        let [mut classes, mut templates, mut sources, mut fingerprints] = GROUPING_COLUMNS.map(Column::strings);
        let mut hashes: HashMap<u128, String, FastHash> = HashMap::default();
        let mut hits = vec![0u64; self.normalizer_hits.len()];
        for row in 0..rows {
            let inputs = inputs(row);
            let class = self.v1.error_class(inputs.error_type);
            let template_key = hash_parts(&[Some(&class), inputs.message, inputs.msg_template]);
            let template = self
                .templates
                .get_or_insert(template_key, || self.v1.message_template(&class, &inputs, Some(&mut hits)));
            let shape = self.v1.trace_shape(inputs.stack_trace, inputs.message);
            let source_key = hash_parts(&[
                shape.as_deref(),
                inputs.code_namespace,
                inputs.code_function,
                inputs.code_filepath,
                inputs.span_name,
            ]);
            let source = self.sources.get_or_insert(source_key, || self.v1.source(&inputs));
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
