//! The error rows' fields, taken out of error spans and error log records (only those) into
//! columns, as the scan finds them. Buffers are reused from row to row and attribute values are
//! redacted once per distinct value in a request: an error row costs a few allocations, not
//! dozens.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::Hasher;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::json;
use crate::redact::Redactor;
use crate::scan::{ErrorItem, ItemKind, RowField, Scan, ScanConfig, Source, SEVERITY_ERROR};
use crate::schema::{read_field, FieldValue, Msg};
use crate::value::{dedup_last_wins, key_value, kv_items, write_json_str, FastHash, FxHasher, Value};
use crate::wire::Reader;

const SPAN_KINDS: [&str; 6] = ["unspecified", "internal", "server", "client", "producer", "consumer"];

/// A resource's attributes, as a Python dict would hold them.
pub struct ResourceInfo<'a> {
    pub attrs: Vec<(&'a str, Value<'a>)>,
    pub service_name: String,
    pub service_version: Option<String>,
}

impl<'a> ResourceInfo<'a> {
    pub fn read(resource: Option<Reader<'a>>) -> ResourceInfo<'a> {
        let attrs = match resource {
            Some(reader) => dedup_last_wins(kv_items(reader)),
            None => Vec::new(),
        };
        let mut info = ResourceInfo { attrs, service_name: "unknown_service".into(), service_version: None };
        for (key, value) in &info.attrs {
            match *key {
                "service.name" => {
                    if let Some(name) = value.as_str() {
                        info.service_name = name.to_owned();
                    }
                }
                "service.version" => info.service_version = value.as_str().map(str::to_owned),
                _ => {}
            }
        }
        info
    }

    fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.attrs.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

/// One error row's item fields while it is extracted.
struct Row<'a> {
    kind: ItemKind,
    occurred_at: i64,
    trace_id: Option<&'a [u8]>,
    span_id: Option<&'a [u8]>,
    parent_span_id: Option<&'a [u8]>,
    span_name: Option<&'a str>,
    span_kind: Option<&'static str>,
    status_message: Option<&'a str>,
    severity_number: i32,
    severity_text: Option<Cow<'a, str>>,
    error_type: Option<Cow<'a, str>>,
    message: Option<Cow<'a, str>>,
    stack_trace: Option<Cow<'a, str>>,
    /// the item's `msg_template` is not its template: an exception's message is
    suppress_template: bool,
}

impl<'a> Row<'a> {
    fn new(kind: ItemKind) -> Self {
        Row {
            kind,
            occurred_at: 0,
            trace_id: None,
            span_id: None,
            parent_span_id: None,
            span_name: None,
            span_kind: None,
            status_message: None,
            severity_number: SEVERITY_ERROR as i32,
            severity_text: None,
            error_type: None,
            message: None,
            stack_trace: None,
            suppress_template: false,
        }
    }
}

/// Extracts the error rows of one request into its `Scan`.
pub struct Extractor<'a, 'c> {
    config: &'c ScanConfig,
    redactor: Option<&'c Redactor>,
    now_us: i64,
    // reused from row to row
    own: Vec<(&'a str, Value<'a>)>,
    merged: Vec<(&'a str, Value<'a>)>,
    event_attrs: Vec<(&'a str, Value<'a>)>,
    best: Vec<Option<(usize, Value<'a>)>>,
    json: String,
    /// `"key": value` JSON members, redacted, by a hash of the raw attribute
    members: HashMap<u64, String, FastHash>,
}

fn non_empty(s: &str) -> Option<&str> {
    if s.is_empty() {
        None
    } else {
        Some(s)
    }
}

fn non_empty_bytes(b: &[u8]) -> Option<&[u8]> {
    if b.is_empty() {
        None
    } else {
        Some(b)
    }
}

fn lookup<'v, 'a>(attrs: &'v [(&'a str, Value<'a>)], key: &str) -> Option<&'v Value<'a>> {
    attrs.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// The (number, value) of every known field of an already validated message.
pub fn fields<'a>(msg: Msg, mut reader: Reader<'a>) -> impl Iterator<Item = (u32, FieldValue<'a>)> {
    std::iter::from_fn(move || {
        while !reader.at_end() {
            let tag = reader.tag().ok()?;
            match read_field(msg, &mut reader, tag) {
                Ok((Some(field), value)) => return Some((field.number, value)),
                Ok((None, _)) => continue,
                Err(_) => return None,
            }
        }
        None
    })
}

fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

impl<'a, 'c> Extractor<'a, 'c> {
    pub fn new(config: &'c ScanConfig, redactor: Option<&'c Redactor>) -> Self {
        Extractor {
            config,
            redactor,
            now_us: now_us(),
            own: Vec::new(),
            merged: Vec::new(),
            event_attrs: Vec::new(),
            best: Vec::new(),
            json: String::new(),
            members: HashMap::default(),
        }
    }

    /// Epoch microseconds of a time in nanoseconds; now when it is unset.
    fn timestamp(&self, nanos: u64) -> i64 {
        if nanos == 0 || nanos > i64::MAX as u64 {
            return self.now_us;
        }
        (nanos / 1000) as i64
    }

    /// `{**resource, **own}` into `self.merged`.
    fn overlay(&mut self, resource: &ResourceInfo<'a>) {
        self.merged.clear();
        self.merged.extend_from_slice(&resource.attrs);
        for &(key, value) in &self.own {
            match self.merged.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => self.merged.push((key, value)),
            }
        }
    }

    /// Reads a span's attributes (last value of a key wins, at its first place) into `self.own`.
    fn own_attributes(&mut self, pairs: impl Iterator<Item = (&'a str, Value<'a>)>) {
        self.own.clear();
        for (key, value) in pairs {
            match self.own.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => self.own.push((key, value)),
            }
        }
    }

    pub fn span(
        &mut self,
        out: &mut Scan,
        span: Reader<'a>,
        exception_event: Option<Reader<'a>>,
        scope_name: Option<&'a str>,
        resource: &ResourceInfo<'a>,
    ) {
        let mut row = Row::new(ItemKind::Span);
        // an absent kind is 0 (UNSPECIFIED), as protobuf reads it
        let (mut start, mut end, mut kind) = (0u64, 0u64, 0u64);
        let mut attributes = Vec::new();
        for (number, value) in fields(Msg::Span, span) {
            match (number, value) {
                (1, FieldValue::Bytes(b)) => row.trace_id = non_empty_bytes(b),
                (2, FieldValue::Bytes(b)) => row.span_id = non_empty_bytes(b),
                (4, FieldValue::Bytes(b)) => row.parent_span_id = non_empty_bytes(b),
                (5, FieldValue::Str(s)) => row.span_name = non_empty(s),
                (6, FieldValue::Varint(k)) => kind = k,
                (7, FieldValue::Fixed64(t)) => start = t,
                (8, FieldValue::Fixed64(t)) => end = t,
                (9, FieldValue::Message(kv)) => attributes.push(kv),
                (15, FieldValue::Message(status)) => {
                    for (n, v) in fields(Msg::Status, status) {
                        if let (2, FieldValue::Str(s)) = (n, v) {
                            row.status_message = non_empty(s);
                        }
                    }
                }
                _ => {}
            }
        }
        self.own_attributes(attributes.into_iter().filter_map(|kv| key_value(kv).ok()));
        self.overlay(resource);
        row.span_kind = SPAN_KINDS.get(kind as usize).copied();
        let level = lookup(&self.merged, "logfire.level_num").and_then(|v| match v {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        });
        row.severity_number = level.map(|l| l as i32).unwrap_or(SEVERITY_ERROR as i32);
        row.severity_text = lookup(&self.merged, "logfire.level_name").and_then(Value::text);
        match exception_event {
            Some(event) => {
                // A span's template describes the span, not the exception raised in it.
                row.suppress_template = true;
                let mut time = 0u64;
                self.event_attrs.clear();
                for (number, value) in fields(Msg::SpanEvent, event) {
                    match (number, value) {
                        (1, FieldValue::Fixed64(t)) => time = t,
                        (3, FieldValue::Message(kv)) => {
                            if let Ok((key, value)) = key_value(kv) {
                                match self.event_attrs.iter_mut().find(|(k, _)| *k == key) {
                                    Some(slot) => slot.1 = value,
                                    None => self.event_attrs.push((key, value)),
                                }
                            }
                        }
                        _ => {}
                    }
                }
                row.occurred_at = self.timestamp(if time != 0 { time } else { end });
                row.error_type = lookup(&self.event_attrs, "exception.type").and_then(Value::text);
                row.message = lookup(&self.event_attrs, "exception.message").and_then(Value::text);
                row.stack_trace = lookup(&self.event_attrs, "exception.stacktrace").and_then(Value::text);
                if row.error_type.is_none() && row.message.is_none() {
                    row.message = row.status_message.map(Cow::Borrowed);
                }
            }
            None => {
                row.occurred_at = self.timestamp(if end != 0 { end } else { start });
                row.message = row
                    .status_message
                    .map(Cow::Borrowed)
                    .or_else(|| lookup(&self.merged, "logfire.msg").and_then(Value::text))
                    .or_else(|| row.span_name.map(Cow::Borrowed));
            }
        }
        self.push_row(out, row, span, scope_name);
    }

    pub fn log(
        &mut self,
        out: &mut Scan,
        record: Reader<'a>,
        severity: i64,
        scope_name: Option<&'a str>,
        resource: &ResourceInfo<'a>,
    ) {
        let mut row = Row::new(ItemKind::Log);
        let (mut time, mut observed) = (0u64, 0u64);
        let mut body = Value::Empty;
        let mut attributes = Vec::new();
        for (number, value) in fields(Msg::LogRecord, record) {
            match (number, value) {
                (1, FieldValue::Fixed64(t)) => time = t,
                (11, FieldValue::Fixed64(t)) => observed = t,
                (3, FieldValue::Str(s)) => row.severity_text = non_empty(s).map(Cow::Borrowed),
                (5, FieldValue::Message(v)) => body = Value::read(v).unwrap_or(Value::Empty),
                (6, FieldValue::Message(kv)) => attributes.push(kv),
                (9, FieldValue::Bytes(b)) => row.trace_id = non_empty_bytes(b),
                (10, FieldValue::Bytes(b)) => row.span_id = non_empty_bytes(b),
                (12, FieldValue::Str(s)) => row.span_name = non_empty(s),
                _ => {}
            }
        }
        self.own_attributes(attributes.into_iter().filter_map(|kv| key_value(kv).ok()));
        self.overlay(resource);
        row.occurred_at = self.timestamp(if time != 0 { time } else { observed });
        row.severity_number = if severity != 0 { severity as i32 } else { SEVERITY_ERROR as i32 };
        row.error_type = lookup(&self.own, "exception.type").and_then(Value::text);
        row.message = lookup(&self.own, "exception.message").and_then(Value::text).or_else(|| body.text());
        row.stack_trace = lookup(&self.own, "exception.stacktrace").and_then(Value::text);
        // the exception's message identifies it, not the log line's template
        row.suppress_template = row.error_type.is_some();
        self.push_row(out, row, record, scope_name);
    }

    /// A `user.feedback` log record into the feedback columns.
    pub fn feedback(&mut self, out: &mut Scan, record: Reader<'a>, resource: &ResourceInfo<'a>) {
        let (mut time, mut observed) = (0u64, 0u64);
        let (mut trace_id, mut span_id) = (None, None);
        let mut attributes = Vec::new();
        for (number, value) in fields(Msg::LogRecord, record) {
            match (number, value) {
                (1, FieldValue::Fixed64(t)) => time = t,
                (11, FieldValue::Fixed64(t)) => observed = t,
                (6, FieldValue::Message(kv)) => attributes.push(kv),
                (9, FieldValue::Bytes(b)) => trace_id = non_empty_bytes(b),
                (10, FieldValue::Bytes(b)) => span_id = non_empty_bytes(b),
                _ => {}
            }
        }
        self.own_attributes(attributes.into_iter().filter_map(|kv| key_value(kv).ok()));
        let text = |key: &str| lookup(&self.own, key).and_then(Value::text);
        let resource_text = |keys: &[&str]| keys.iter().find_map(|k| resource.get(k).and_then(Value::text));
        let values: [Option<Cow<'_, str>>; 6] = [
            resource.service_version.as_deref().map(Cow::Borrowed),
            resource_text(&["deployment.environment.name", "deployment.environment"]),
            text("rating"),
            text("comment"),
            text("contact"),
            text("error.fingerprint"),
        ];
        // stored as it is: redacted, and without the contact (which is kept apart, sealed)
        let kept: Vec<_> = self.own.iter().filter(|(k, _)| *k != "contact").copied().collect();
        let attributes = self.attributes_json(&kept).to_owned();
        let occurred_at = self.timestamp(if time != 0 { time } else { observed });
        let mut columns = out.feedback.iter_mut();
        if let Some(column) = columns.next() {
            column.push_i64(Some(occurred_at));
        }
        if let Some(column) = columns.next() {
            column.push_hex(trace_id);
        }
        if let Some(column) = columns.next() {
            column.push_hex(span_id);
        }
        if let Some(column) = columns.next() {
            column.push_str(Some(&resource.service_name));
        }
        // `values` first: zip polls its first iterator first, so the column after the last
        // value (`attributes`) is not taken from `columns` and dropped when `values` runs out.
        for (value, column) in values.iter().zip(columns.by_ref()) {
            column.push_str(value.as_deref());
        }
        if let Some(column) = columns.next() {
            column.push_str(Some(&attributes));
        }
        out.feedback_rows += 1;
    }

    /// The attributes as a JSON object (Python's `json` formatting), each `"key": value` member
    /// redacted on its own (so `"db.password": "…"` keeps its key's context) and once per
    /// distinct attribute in the request; a member redaction would break is `"[REDACTED]"`.
    fn attributes_json(&mut self, attrs: &[(&str, Value<'_>)]) -> &str {
        self.json.clear();
        self.json.push('{');
        for (i, (key, value)) in attrs.iter().enumerate() {
            if i > 0 {
                self.json.push_str(", ");
            }
            let Some(redactor) = self.redactor else {
                write_json_str(&mut self.json, key, false);
                self.json.push_str(": ");
                value.write_json(&mut self.json, false, 0);
                continue;
            };
            let mut hasher = FxHasher::default();
            hasher.write(key.as_bytes());
            hasher.write_u8(0xff);
            value.hash_raw(&mut hasher);
            let member = self.members.entry(hasher.finish()).or_insert_with(|| redacted_member(redactor, key, value));
            self.json.push_str(member);
        }
        self.json.push('}');
        &self.json
    }

    fn push_row(&mut self, out: &mut Scan, row: Row<'a>, item: Reader<'a>, scope_name: Option<&'a str>) {
        let index = out.errors.len();
        let existing = self.merged.iter().any(|(k, _)| *k == "diagnostic.fingerprint");
        let diagnostic_keys =
            self.own.iter().filter(|(k, _)| k.starts_with("diagnostic.")).map(|(k, _)| (*k).to_owned()).collect();
        out.errors.push(ErrorItem {
            kind: row.kind,
            start: item.base(),
            end: item.base() + item.content().len(),
            diagnostic_keys,
            existing,
        });
        // attribute columns: for each, the value of its best-ranked key present
        let config = self.config;
        self.best.clear();
        self.best.resize(config.columns.len(), None);
        for &(key, value) in &self.merged {
            if matches!(value, Value::Empty) {
                continue;
            }
            if let Some(targets) = config.targets(key) {
                for &(column, rank) in targets {
                    if let Some(slot) = self.best.get_mut(column) {
                        if slot.is_none_or(|(held, _)| rank < held) {
                            *slot = Some((rank, value));
                        }
                    }
                }
            }
        }
        let merged = std::mem::take(&mut self.merged);
        let json = self.attributes_json(&merged).to_owned();
        self.merged = merged;
        for (i, (spec, column)) in config.columns.iter().zip(out.columns.iter_mut()).enumerate() {
            match &spec.source {
                Source::Attribute { integer, .. } => {
                    let value = self.best.get(i).copied().flatten().map(|(_, v)| v);
                    let suppressed = row.suppress_template && Some(i) == config.template_column();
                    if *integer {
                        column.push_i64(value.and_then(|v| v.as_int()).filter(|_| !suppressed));
                    } else {
                        let text = if suppressed { None } else { value.as_ref().and_then(Value::text) };
                        column.push_str(text.as_deref());
                    }
                }
                Source::Field(field) => match field {
                    RowField::Row => column.push_u32(Some(index as u32)),
                    RowField::Kind => column.push_str(Some(row.kind.name())),
                    RowField::OccurredAt => column.push_i64(Some(row.occurred_at)),
                    RowField::TraceId => column.push_hex(row.trace_id),
                    RowField::SpanId => column.push_hex(row.span_id),
                    RowField::ParentSpanId => column.push_hex(row.parent_span_id),
                    RowField::ScopeName => column.push_str(scope_name),
                    RowField::SpanName => column.push_str(row.span_name),
                    RowField::SpanKind => column.push_str(row.span_kind),
                    RowField::StatusMessage => column.push_str(row.status_message),
                    RowField::SeverityNumber => column.push_i32(Some(row.severity_number)),
                    RowField::SeverityText => column.push_str(row.severity_text.as_deref()),
                    RowField::ErrorType => column.push_str(row.error_type.as_deref()),
                    RowField::Message => column.push_str(row.message.as_deref()),
                    RowField::StackTrace => column.push_str(row.stack_trace.as_deref()),
                    RowField::Attributes => column.push_str(Some(&json)),
                    RowField::ExistingDiagnostics => column.push_bool(Some(existing)),
                },
            }
        }
    }
}

/// `"key": value`, redacted, still a valid JSON member.
fn redacted_member(redactor: &Redactor, key: &str, value: &Value<'_>) -> String {
    let mut member = String::new();
    write_json_str(&mut member, key, false);
    member.push_str(": ");
    // each string in the value redacted on its own, then the member as a whole
    value.write_json_with(&mut member, false, 0, redactor);
    let whole = redactor.redact(&member);
    if let Cow::Owned(changed) = whole {
        if json::is_valid(&format!("{{{changed}}}")) {
            return changed;
        }
        member.clear();
        write_json_str(&mut member, key, false);
        member.push_str(": \"[REDACTED]\"");
    }
    member
}
