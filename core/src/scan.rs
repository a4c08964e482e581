//! One pass over an OTLP export request's bytes: validate it completely, count its items per
//! resource, find the error spans and error log records, and extract the error rows' fields
//! into columns. Nothing is built for an item that is not an error.
//!
//! An item is an error when (the contract in ARCHITECTURE.md):
//! - span: status ERROR, or an `exception` event, or Logfire's `logfire.level_num >= 17`;
//!   Logfire's `pending_span` placeholders never are;
//! - log record: `severity_number >= 17`, or `exception.*` attributes.
//!
//! Log records whose event name is `user.feedback` (the `event_name` field or an
//! `event.name` attribute) also become feedback rows.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::columns::{Column, Values};
use crate::redact::Redactor;
use crate::schema::{read_field, validate, FieldValue, Kind, Msg, Site, MAX_DEPTH};
use crate::value::{dedup_last_wins, hex, key_value, write_json_str, FastHash, Value};
use crate::wire::{Problem, Reader, WireError, WireResult};

pub const STATUS_ERROR: u64 = 2;
pub const SEVERITY_ERROR: i64 = 17;
const SPAN_KINDS: [&str; 6] = ["unspecified", "internal", "server", "client", "producer", "consumer"];
pub const FEEDBACK_EVENT: &str = "user.feedback";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Traces,
    Logs,
    Metrics,
}

impl Signal {
    pub fn parse(name: &str) -> Option<Signal> {
        match name {
            "traces" => Some(Signal::Traces),
            "logs" => Some(Signal::Logs),
            "metrics" => Some(Signal::Metrics),
            _ => None,
        }
    }

    pub fn request(self) -> Msg {
        match self {
            Signal::Traces => Msg::ExportTraceServiceRequest,
            Signal::Logs => Msg::ExportLogsServiceRequest,
            Signal::Metrics => Msg::ExportMetricsServiceRequest,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemKind {
    Span,
    Log,
}

impl ItemKind {
    pub fn name(self) -> &'static str {
        match self {
            ItemKind::Span => "span",
            ItemKind::Log => "log",
        }
    }
}

/// The fields of an error row that come from the item itself rather than from an attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowField {
    Row,
    Kind,
    OccurredAt,
    TraceId,
    SpanId,
    ParentSpanId,
    ScopeName,
    SpanName,
    SpanKind,
    StatusMessage,
    SeverityNumber,
    SeverityText,
    ErrorType,
    Message,
    StackTrace,
    Attributes,
    ExistingDiagnostics,
}

impl RowField {
    pub fn parse(name: &str) -> Option<RowField> {
        Some(match name {
            "row" => RowField::Row,
            "kind" => RowField::Kind,
            "occurred_at" => RowField::OccurredAt,
            "trace_id" => RowField::TraceId,
            "span_id" => RowField::SpanId,
            "parent_span_id" => RowField::ParentSpanId,
            "scope_name" => RowField::ScopeName,
            "span_name" => RowField::SpanName,
            "span_kind" => RowField::SpanKind,
            "status_message" => RowField::StatusMessage,
            "severity_number" => RowField::SeverityNumber,
            "severity_text" => RowField::SeverityText,
            "error_type" => RowField::ErrorType,
            "message" => RowField::Message,
            "stack_trace" => RowField::StackTrace,
            "attributes" => RowField::Attributes,
            "existing_diagnostics" => RowField::ExistingDiagnostics,
            _ => return None,
        })
    }

    fn values(self) -> Values {
        match self {
            RowField::Row => Values::U32(Vec::new()),
            RowField::OccurredAt => Values::TimestampUs(Vec::new()),
            RowField::SeverityNumber => Values::I32(Vec::new()),
            RowField::ExistingDiagnostics => Values::Bool(Vec::new()),
            _ => Values::Str { offsets: Vec::new(), data: Vec::new() },
        }
    }
}

/// Where a column of the error frame gets its values.
#[derive(Clone, Debug)]
pub enum Source {
    Field(RowField),
    /// the first of these attribute keys the item (or its resource) has: text, or integer
    Attribute {
        keys: Vec<String>,
        integer: bool,
    },
}

#[derive(Clone, Debug)]
pub struct ColumnSpec {
    pub name: String,
    pub source: Source,
}

/// What the scan extracts: the error frame's columns, in order (the Python side owns this
/// table, `pipeline/columns.py`), and the request size limit.
#[derive(Clone, Debug)]
pub struct ScanConfig {
    pub columns: Vec<ColumnSpec>,
    /// attribute key -> (column index, rank: lower wins)
    targets: HashMap<String, Vec<(usize, usize)>, FastHash>,
    /// The column holding a producer's message template, which an exception's message replaces.
    template_column: Option<usize>,
}

impl ScanConfig {
    pub fn new(columns: Vec<ColumnSpec>) -> Self {
        let mut targets: HashMap<String, Vec<(usize, usize)>, FastHash> = HashMap::default();
        for (index, spec) in columns.iter().enumerate() {
            if let Source::Attribute { keys, .. } = &spec.source {
                for (rank, key) in keys.iter().enumerate() {
                    targets.entry(key.clone()).or_default().push((index, rank));
                }
            }
        }
        let template_column = columns.iter().position(|c| c.name == "msg_template");
        ScanConfig { columns, targets, template_column }
    }
}

/// Items of one resource: what the per-minute counts and the release tracking need.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceCount {
    pub service_name: String,
    pub service_version: Option<String>,
    pub items: u64,
    pub errors: u64,
}

/// An error item's place in the request (for splicing) and what enrichment must respect.
#[derive(Clone, Debug)]
pub struct ErrorItem {
    pub kind: ItemKind,
    /// the item message's content range in the request
    pub start: usize,
    pub end: usize,
    /// `diagnostic.*` keys the item's own attributes already have (never overwritten)
    pub diagnostic_keys: Vec<String>,
    /// the item (or its resource) carries `diagnostic.fingerprint`: an upstream otelproc enriched it
    pub existing: bool,
}

/// The outcome of scanning one request.
#[derive(Debug)]
pub struct Scan {
    pub signal: Signal,
    pub items: u64,
    pub resources: Vec<ResourceCount>,
    pub errors: Vec<ErrorItem>,
    /// the error rows, one column per `ScanConfig::columns`
    pub columns: Vec<Column>,
    pub feedback: Vec<Column>,
    pub feedback_rows: usize,
}

/// The feedback frame's columns (the contract `analysis/feedback.py` reads).
pub const FEEDBACK_COLUMNS: [&str; 11] = [
    "occurred_at",
    "trace_id",
    "span_id",
    "service_name",
    "service_version",
    "deployment_environment",
    "rating",
    "comment",
    "contact",
    "error_fingerprint",
    "attributes",
];

/// The text an error and feedback rows of a request may hold: this much, plus this many times
/// the request's size (escaping in JSON and the columns that repeat a text stay well below).
pub const ROWS_LIMIT_FLOOR: usize = 64 << 20;
pub const ROWS_LIMIT_PER_REQUEST_BYTE: usize = 16;

/// Scans `data`, a serialized Export<Signal>ServiceRequest.
/// `redactor`, when given, takes secrets out of each error row's attributes JSON.
pub fn scan(
    signal: Signal,
    data: &[u8],
    config: &ScanConfig,
    limit: usize,
    redactor: Option<&Redactor>,
) -> WireResult<Scan> {
    if data.len() > limit {
        return Err(WireError::new(Problem::TooLarge { size: data.len(), limit }, 0));
    }
    let mut scanner = Scanner {
        config,
        out: Scan {
            signal,
            items: 0,
            resources: Vec::new(),
            errors: Vec::new(),
            columns: config
                .columns
                .iter()
                .map(|spec| {
                    let values = match &spec.source {
                        Source::Field(field) => field.values(),
                        Source::Attribute { integer: true, .. } => Values::I64(Vec::new()),
                        Source::Attribute { .. } => Values::Str { offsets: Vec::new(), data: Vec::new() },
                    };
                    Column::new(&spec.name, values)
                })
                .collect(),
            feedback: FEEDBACK_COLUMNS
                .iter()
                .map(|&name| {
                    let values = if name == "occurred_at" {
                        Values::TimestampUs(Vec::new())
                    } else {
                        Values::Str { offsets: Vec::new(), data: Vec::new() }
                    };
                    Column::new(name, values)
                })
                .collect(),
            feedback_rows: 0,
        },
        now_us: now_us(),
        redactor,
        rows_limit: ROWS_LIMIT_FLOOR.saturating_add(data.len().saturating_mul(ROWS_LIMIT_PER_REQUEST_BYTE)),
    };
    scanner.request(Reader::new(data, 0))?;
    Ok(scanner.out)
}

fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// A resource's attributes, as a Python dict would hold them, and their JSON.
struct ResourceInfo<'a> {
    attrs: Vec<(&'a str, Value<'a>)>,
    json: Option<String>,
    count: ResourceCount,
}

impl<'a> ResourceInfo<'a> {
    fn read(resource: Option<Reader<'a>>) -> ResourceInfo<'a> {
        let attrs = match resource {
            Some(reader) => dedup_last_wins(crate::value::kv_items(reader)),
            None => Vec::new(),
        };
        let mut count = ResourceCount { service_name: "unknown_service".into(), ..Default::default() };
        for (key, value) in &attrs {
            match *key {
                "service.name" => {
                    if let Some(name) = value.as_str() {
                        count.service_name = name.to_owned();
                    }
                }
                "service.version" => count.service_version = value.as_str().map(str::to_owned),
                _ => {}
            }
        }
        ResourceInfo { attrs, json: None, count }
    }

    fn json(&mut self) -> &str {
        let attrs = &self.attrs;
        self.json.get_or_insert_with(|| attrs_json(attrs))
    }

    fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.attrs.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

fn attrs_json(attrs: &[(&str, Value<'_>)]) -> String {
    let mut out = String::from("{");
    for (i, (key, value)) in attrs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_json_str(&mut out, key, false);
        out.push_str(": ");
        value.write_json(&mut out, false, 0);
    }
    out.push('}');
    out
}

/// What the first pass learned of a span.
struct SpanCheck<'a> {
    status_error: bool,
    exception_event: Option<Reader<'a>>,
    level: Option<i64>,
    pending: bool,
}

/// What the first pass learned of a log record.
struct LogCheck {
    severity: i64,
    has_exception_attributes: bool,
    /// an `event.name` attribute says `user.feedback`
    feedback: bool,
    /// the `event_name` field says `user.feedback` (either makes a feedback record)
    feedback_event_name: bool,
}

/// The scopes of a resource, or the items of a scope, with where each sits.
type Children<'a> = Vec<(Site<'a>, Reader<'a>)>;

struct Scanner<'c> {
    config: &'c ScanConfig,
    out: Scan,
    now_us: i64,
    redactor: Option<&'c Redactor>,
    /// the most text the rows may hold (see `check_rows_size`)
    rows_limit: usize,
}

/// Walks a container message (request, resource, scope): known message fields are handed to
/// `child` with where they sit, everything else is checked against the table.
fn walk_container<'a>(
    msg: Msg,
    mut reader: Reader<'a>,
    depth: usize,
    mut child: impl FnMut(Site<'a>, Reader<'a>) -> WireResult<()>,
) -> WireResult<()> {
    if depth > MAX_DEPTH {
        return Err(WireError::new(Problem::TooDeep(MAX_DEPTH), reader.offset()));
    }
    let whole = reader;
    while !reader.at_end() {
        let tag = reader.tag()?;
        let (field, value) = read_field(msg, &mut reader, tag)?;
        if let (Some(field), FieldValue::Message(content)) = (field, value) {
            child(Site { msg, whole, field, tag_start: tag.start }, content)?;
        }
    }
    Ok(())
}

fn validate_child(site: Site<'_>, content: Reader<'_>, depth: usize) -> WireResult<()> {
    match site.field.kind {
        Kind::Message(msg) => validate(msg, content, depth + 1).map_err(|e| site.wrap(e)),
        _ => Ok(()),
    }
}

impl<'c> Scanner<'c> {
    fn request(&mut self, reader: Reader<'_>) -> WireResult<()> {
        let signal = self.out.signal;
        walk_container(signal.request(), reader, 0, |site, content| {
            let result = match signal {
                Signal::Traces => self.resource_spans(content),
                Signal::Logs => self.resource_logs(content),
                Signal::Metrics => self.resource_metrics(content),
            };
            result.map_err(|e| site.wrap(e))
        })
    }

    /// Collects a resource-level message's resource and scope containers first: the resource
    /// may come after the scopes on the wire, and every error row needs it.
    fn split_resource<'a>(msg: Msg, reader: Reader<'a>) -> WireResult<(Option<Reader<'a>>, Children<'a>)> {
        let mut resource = None;
        let mut scopes = Vec::new();
        walk_container(msg, reader, 1, |site, content| {
            if site.field.number == 1 {
                validate(Msg::Resource, content, 2).map_err(|e| site.wrap(e))?;
                resource = Some(content);
            } else if site.field.number == 2 {
                scopes.push((site, content));
            }
            Ok(())
        })?;
        Ok((resource, scopes))
    }

    fn split_scope<'a>(msg: Msg, reader: Reader<'a>) -> WireResult<(Option<&'a str>, Children<'a>)> {
        let mut scope_name = None;
        let mut items = Vec::new();
        walk_container(msg, reader, 2, |site, content| {
            if site.field.number == 1 {
                validate(Msg::InstrumentationScope, content, 3).map_err(|e| site.wrap(e))?;
                scope_name = scope_name_of(content);
            } else if site.field.number == 2 {
                items.push((site, content));
            }
            Ok(())
        })?;
        Ok((scope_name, items))
    }

    fn resource_spans(&mut self, reader: Reader<'_>) -> WireResult<()> {
        let (resource, scopes) = Self::split_resource(Msg::ResourceSpans, reader)?;
        let mut info = ResourceInfo::read(resource);
        for (scope_site, scope) in scopes {
            let (scope_name, spans) = Self::split_scope(Msg::ScopeSpans, scope).map_err(|e| scope_site.wrap(e))?;
            for (span_site, span) in spans {
                let check = check_span(span, 3).map_err(|e| scope_site.wrap(span_site.wrap(e)))?;
                info.count.items += 1;
                let is_error = if check.pending {
                    false
                } else {
                    check.level.is_some_and(|l| l >= SEVERITY_ERROR)
                        || check.status_error
                        || check.exception_event.is_some()
                };
                if is_error {
                    info.count.errors += 1;
                    self.error_span(span, &check, scope_name, &mut info);
                    self.check_rows_size(span).map_err(|e| scope_site.wrap(span_site.wrap(e)))?;
                }
            }
        }
        self.out.items += info.count.items;
        if info.count.items > 0 {
            self.out.resources.push(info.count);
        }
        Ok(())
    }

    fn resource_logs(&mut self, reader: Reader<'_>) -> WireResult<()> {
        let (resource, scopes) = Self::split_resource(Msg::ResourceLogs, reader)?;
        let mut info = ResourceInfo::read(resource);
        for (scope_site, scope) in scopes {
            let (scope_name, records) = Self::split_scope(Msg::ScopeLogs, scope).map_err(|e| scope_site.wrap(e))?;
            for (record_site, record) in records {
                let check = check_log(record, 3).map_err(|e| scope_site.wrap(record_site.wrap(e)))?;
                info.count.items += 1;
                if check.severity >= SEVERITY_ERROR || check.has_exception_attributes {
                    info.count.errors += 1;
                    self.error_log(record, &check, scope_name, &mut info);
                    self.check_rows_size(record).map_err(|e| scope_site.wrap(record_site.wrap(e)))?;
                }
                if check.feedback || check.feedback_event_name {
                    self.feedback(record, &info);
                    self.check_rows_size(record).map_err(|e| scope_site.wrap(record_site.wrap(e)))?;
                }
            }
        }
        self.out.items += info.count.items;
        if info.count.items > 0 {
            self.out.resources.push(info.count);
        }
        Ok(())
    }

    fn resource_metrics(&mut self, reader: Reader<'_>) -> WireResult<()> {
        let (resource, scopes) = Self::split_resource(Msg::ResourceMetrics, reader)?;
        let mut info = ResourceInfo::read(resource);
        for (scope_site, scope) in scopes {
            let (_, metrics) = Self::split_scope(Msg::ScopeMetrics, scope).map_err(|e| scope_site.wrap(e))?;
            for (metric_site, metric) in metrics {
                let points = count_data_points(metric, 3).map_err(|e| scope_site.wrap(metric_site.wrap(e)))?;
                info.count.items += points;
            }
        }
        self.out.items += info.count.items;
        if info.count.items > 0 {
            self.out.resources.push(info.count);
        }
        Ok(())
    }

    /// Refuses a request whose rows outgrow `rows_limit`: each error row holds its resource's
    /// attributes, so a small request of many tiny error items under a large resource would
    /// otherwise take gigabytes (found by the robustness tests: 230 KB asked for 1 GB).
    fn check_rows_size(&self, item: Reader<'_>) -> WireResult<()> {
        let size: usize = (self.out.columns.iter().chain(&self.out.feedback))
            .map(|column| match &column.values {
                Values::Str { data, .. } => data.len(),
                _ => 0,
            })
            .sum();
        if size > self.rows_limit {
            return Err(WireError::new(Problem::RowsTooLarge { limit: self.rows_limit }, item.base()));
        }
        Ok(())
    }

    // -- extraction: error items only ---------------------------------------------------

    fn error_span(
        &mut self,
        span: Reader<'_>,
        check: &SpanCheck<'_>,
        scope_name: Option<&str>,
        resource: &mut ResourceInfo<'_>,
    ) {
        let mut row = Row::new(ItemKind::Span);
        let mut own = Vec::new();
        // an absent kind is 0 (UNSPECIFIED), as protobuf reads it
        let (mut start, mut end, mut kind) = (0u64, 0u64, 0u64);
        for (number, value) in fields(Msg::Span, span) {
            match (number, value) {
                (1, FieldValue::Bytes(b)) => row.trace_id = non_empty_hex(b),
                (2, FieldValue::Bytes(b)) => row.span_id = non_empty_hex(b),
                (4, FieldValue::Bytes(b)) => row.parent_span_id = non_empty_hex(b),
                (5, FieldValue::Str(s)) => row.span_name = non_empty(s),
                (6, FieldValue::Varint(k)) => kind = k,
                (7, FieldValue::Fixed64(t)) => start = t,
                (8, FieldValue::Fixed64(t)) => end = t,
                (9, FieldValue::Message(kv)) => {
                    if let Ok(pair) = key_value(kv) {
                        own.push(pair);
                    }
                }
                (15, FieldValue::Message(status)) => {
                    for (n, v) in fields(Msg::Status, status) {
                        if let (2, FieldValue::Str(s)) = (n, v) {
                            row.status_message = non_empty(s).map(str::to_owned);
                        }
                    }
                }
                _ => {}
            }
        }
        row.span_kind = SPAN_KINDS.get(kind as usize).copied();
        row.scope_name = scope_name.map(str::to_owned);
        let own = dedup_last_wins(own.into_iter());
        let merged = overlay(&resource.attrs, &own);
        let level = merged.iter().find(|(k, _)| *k == "logfire.level_num").and_then(|(_, v)| match v {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        });
        row.severity_number = level.map(|l| l as i32).unwrap_or(SEVERITY_ERROR as i32);
        row.severity_text = merged.iter().find(|(k, _)| *k == "logfire.level_name").and_then(|(_, v)| v.text());
        match check.exception_event {
            Some(event) => {
                // A span's template describes the span, not the exception raised in it.
                row.suppress_template = true;
                let mut time = 0u64;
                let mut attrs = Vec::new();
                for (number, value) in fields(Msg::SpanEvent, event) {
                    match (number, value) {
                        (1, FieldValue::Fixed64(t)) => time = t,
                        (3, FieldValue::Message(kv)) => {
                            if let Ok(pair) = key_value(kv) {
                                attrs.push(pair);
                            }
                        }
                        _ => {}
                    }
                }
                let attrs = dedup_last_wins(attrs.into_iter());
                row.occurred_at = self.timestamp(if time != 0 { time } else { end });
                row.error_type = lookup(&attrs, "exception.type").and_then(|v| v.text());
                row.message = lookup(&attrs, "exception.message").and_then(|v| v.text());
                row.stack_trace = lookup(&attrs, "exception.stacktrace").and_then(|v| v.text());
                if row.error_type.is_none() && row.message.is_none() {
                    row.message = row.status_message.clone();
                }
            }
            None => {
                row.occurred_at = self.timestamp(if end != 0 { end } else { start });
                row.message =
                    row.status_message.clone().or_else(|| lookup(&merged, "logfire.msg").and_then(|v| v.text()));
                if row.message.is_none() {
                    row.message = row.span_name.map(str::to_owned);
                }
            }
        }
        self.push_row(row, span, resource, &own, &merged);
    }

    fn error_log(
        &mut self,
        record: Reader<'_>,
        check: &LogCheck,
        scope_name: Option<&str>,
        resource: &mut ResourceInfo<'_>,
    ) {
        let mut row = Row::new(ItemKind::Log);
        let mut own = Vec::new();
        let (mut time, mut observed) = (0u64, 0u64);
        let mut body = Value::Empty;
        let mut severity_text = None;
        let mut event_name = None;
        for (number, value) in fields(Msg::LogRecord, record) {
            match (number, value) {
                (1, FieldValue::Fixed64(t)) => time = t,
                (11, FieldValue::Fixed64(t)) => observed = t,
                (3, FieldValue::Str(s)) => severity_text = non_empty(s),
                (5, FieldValue::Message(v)) => body = Value::read(v).unwrap_or(Value::Empty),
                (6, FieldValue::Message(kv)) => {
                    if let Ok(pair) = key_value(kv) {
                        own.push(pair);
                    }
                }
                (9, FieldValue::Bytes(b)) => row.trace_id = non_empty_hex(b),
                (10, FieldValue::Bytes(b)) => row.span_id = non_empty_hex(b),
                (12, FieldValue::Str(s)) => event_name = non_empty(s),
                _ => {}
            }
        }
        let own = dedup_last_wins(own.into_iter());
        let merged = overlay(&resource.attrs, &own);
        row.occurred_at = self.timestamp(if time != 0 { time } else { observed });
        row.scope_name = scope_name.map(str::to_owned);
        row.span_name = event_name;
        row.severity_number = if check.severity != 0 { check.severity as i32 } else { SEVERITY_ERROR as i32 };
        row.severity_text = severity_text.map(str::to_owned);
        row.error_type = lookup(&own, "exception.type").and_then(|v| v.text());
        row.message = lookup(&own, "exception.message").and_then(|v| v.text()).or_else(|| body.text());
        row.stack_trace = lookup(&own, "exception.stacktrace").and_then(|v| v.text());
        // the exception's message identifies it, not the log line's template
        row.suppress_template = row.error_type.is_some();
        self.push_row(row, record, resource, &own, &merged);
    }

    fn feedback(&mut self, record: Reader<'_>, resource: &ResourceInfo<'_>) {
        let mut own = Vec::new();
        let (mut time, mut observed) = (0u64, 0u64);
        let (mut trace_id, mut span_id) = (None, None);
        for (number, value) in fields(Msg::LogRecord, record) {
            match (number, value) {
                (1, FieldValue::Fixed64(t)) => time = t,
                (11, FieldValue::Fixed64(t)) => observed = t,
                (6, FieldValue::Message(kv)) => {
                    if let Ok(pair) = key_value(kv) {
                        own.push(pair);
                    }
                }
                (9, FieldValue::Bytes(b)) => trace_id = non_empty_hex(b),
                (10, FieldValue::Bytes(b)) => span_id = non_empty_hex(b),
                _ => {}
            }
        }
        let own = dedup_last_wins(own.into_iter());
        let text = |key: &str| lookup(&own, key).and_then(|v| v.text());
        let resource_text = |keys: &[&str]| keys.iter().find_map(|k| resource.get(k).and_then(|v| v.text()));
        let occurred_at = self.timestamp(if time != 0 { time } else { observed });
        let values: [Option<String>; 10] = [
            trace_id,
            span_id,
            Some(resource.count.service_name.clone()),
            resource.count.service_version.clone(),
            resource_text(&["deployment.environment.name", "deployment.environment"]),
            text("rating"),
            text("comment"),
            text("contact"),
            text("error.fingerprint"),
            // stored as it is: redacted, and without the contact (which is kept apart, sealed)
            Some({
                let kept: Vec<_> = own.iter().filter(|(k, _)| *k != "contact").copied().collect();
                match self.redactor {
                    Some(redactor) => redactor.attributes_json(&kept),
                    None => attrs_json(&kept),
                }
            }),
        ];
        let mut columns = self.out.feedback.iter_mut();
        if let Some(column) = columns.next() {
            column.push_i64(Some(occurred_at));
        }
        for (column, value) in columns.zip(values.iter()) {
            column.push_str(value.as_deref());
        }
        self.out.feedback_rows += 1;
    }

    fn timestamp(&self, nanos: u64) -> i64 {
        if nanos == 0 || nanos > i64::MAX as u64 {
            return self.now_us;
        }
        (nanos / 1000) as i64
    }

    fn push_row(
        &mut self,
        row: Row<'_>,
        item: Reader<'_>,
        resource: &mut ResourceInfo<'_>,
        own: &[(&str, Value<'_>)],
        merged: &[(&str, Value<'_>)],
    ) {
        let index = self.out.errors.len();
        let existing = merged.iter().any(|(k, _)| *k == "diagnostic.fingerprint");
        let diagnostic_keys =
            own.iter().filter(|(k, _)| k.starts_with("diagnostic.")).map(|(k, _)| (*k).to_owned()).collect();
        self.out.errors.push(ErrorItem {
            kind: row.kind,
            start: item.base(),
            end: item.base() + item.content().len(),
            diagnostic_keys,
            existing,
        });
        // the resource's attributes overlaid by the item's own, as JSON (redacted); without
        // redaction, the resource's part is encoded once per resource
        let json = match self.redactor {
            Some(redactor) => redactor.attributes_json(merged),
            None if own.is_empty() => resource.json().to_owned(),
            None if resource.attrs.is_empty()
                || own.iter().any(|(k, _)| resource.attrs.iter().any(|(r, _)| r == k)) =>
            {
                attrs_json(merged)
            }
            None => {
                let resource_json = resource.json();
                let own_json = attrs_json(own);
                format!(
                    "{}, {}",
                    resource_json.strip_suffix('}').unwrap_or(resource_json),
                    own_json.strip_prefix('{').unwrap_or(&own_json)
                )
            }
        };
        // attribute columns: for each, the value of its best-ranked key present
        let mut best: Vec<Option<(usize, &Value<'_>)>> = vec![None; self.config.columns.len()];
        for (key, value) in merged {
            if matches!(value, Value::Empty) {
                continue;
            }
            if let Some(targets) = self.config.targets.get(*key) {
                for &(column, rank) in targets {
                    if let Some(slot) = best.get_mut(column) {
                        if slot.is_none_or(|(held, _)| rank < held) {
                            *slot = Some((rank, value));
                        }
                    }
                }
            }
        }
        for (i, (spec, column)) in self.config.columns.iter().zip(self.out.columns.iter_mut()).enumerate() {
            match &spec.source {
                Source::Attribute { integer, .. } => {
                    let value = best.get(i).copied().flatten().map(|(_, v)| v);
                    let suppressed = row.suppress_template && Some(i) == self.config.template_column;
                    if *integer {
                        column.push_i64(value.and_then(Value::as_int).filter(|_| !suppressed));
                    } else {
                        let text = if suppressed { None } else { value.and_then(Value::text) };
                        column.push_str(text.as_deref());
                    }
                }
                Source::Field(field) => match field {
                    RowField::Row => column.push_u32(Some(index as u32)),
                    RowField::Kind => column.push_str(Some(row.kind.name())),
                    RowField::OccurredAt => column.push_i64(Some(row.occurred_at)),
                    RowField::TraceId => column.push_str(row.trace_id.as_deref()),
                    RowField::SpanId => column.push_str(row.span_id.as_deref()),
                    RowField::ParentSpanId => column.push_str(row.parent_span_id.as_deref()),
                    RowField::ScopeName => column.push_str(row.scope_name.as_deref().and_then(non_empty)),
                    RowField::SpanName => column.push_str(row.span_name),
                    RowField::SpanKind => column.push_str(row.span_kind),
                    RowField::StatusMessage => column.push_str(row.status_message.as_deref()),
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

/// One error row's item fields while it is extracted.
struct Row<'a> {
    kind: ItemKind,
    occurred_at: i64,
    trace_id: Option<String>,
    span_id: Option<String>,
    parent_span_id: Option<String>,
    scope_name: Option<String>,
    span_name: Option<&'a str>,
    span_kind: Option<&'static str>,
    status_message: Option<String>,
    severity_number: i32,
    severity_text: Option<String>,
    error_type: Option<String>,
    message: Option<String>,
    stack_trace: Option<String>,
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
            scope_name: None,
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

fn non_empty(s: &str) -> Option<&str> {
    if s.is_empty() {
        None
    } else {
        Some(s)
    }
}

fn non_empty_hex(b: &[u8]) -> Option<String> {
    if b.is_empty() {
        None
    } else {
        Some(hex(b))
    }
}

fn lookup<'a, 'b>(attrs: &'b [(&str, Value<'a>)], key: &str) -> Option<&'b Value<'a>> {
    attrs.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// `{**resource, **own}`: the resource's keys in their order with the item's values where it
/// has them, then the item's other keys.
fn overlay<'a, 'b>(resource: &[(&'a str, Value<'b>)], own: &[(&'a str, Value<'b>)]) -> Vec<(&'a str, Value<'b>)> {
    if own.is_empty() {
        return resource.to_vec();
    }
    dedup_last_wins(resource.iter().chain(own.iter()).copied())
}

/// The (number, value) of every field of an already validated message.
fn fields<'a>(msg: Msg, mut reader: Reader<'a>) -> impl Iterator<Item = (u32, FieldValue<'a>)> {
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

/// The scope's name: its last `name` field, as protobuf reads a field sent twice.
fn scope_name_of(scope: Reader<'_>) -> Option<&str> {
    let names = fields(Msg::InstrumentationScope, scope).filter_map(|(n, v)| match (n, v) {
        (1, FieldValue::Str(s)) => Some(s),
        _ => None,
    });
    names.last().and_then(non_empty)
}

// -- the first pass: validation and the error decision, for every item ----------------------

fn check_span(mut reader: Reader<'_>, depth: usize) -> WireResult<SpanCheck<'_>> {
    let mut check = SpanCheck { status_error: false, exception_event: None, level: None, pending: false };
    let whole = reader;
    while !reader.at_end() {
        let tag = reader.tag()?;
        let (field, value) = read_field(Msg::Span, &mut reader, tag)?;
        let (Some(field), FieldValue::Message(content)) = (field, value) else { continue };
        let site = || Site { msg: Msg::Span, whole, field, tag_start: tag.start };
        match field.number {
            9 => check_logfire_attribute(content, depth + 1, &mut check).map_err(|e| site().wrap(e))?,
            11 => {
                if is_exception_event(content, depth + 1).map_err(|e| site().wrap(e))? {
                    check.exception_event = Some(content);
                }
            }
            15 => {
                if let Some(code) = status_code(content, depth + 1).map_err(|e| site().wrap(e))? {
                    check.status_error = code == STATUS_ERROR;
                }
            }
            _ => validate_child(site(), content, depth)?,
        }
    }
    Ok(check)
}

/// Validates one span attribute; Logfire's level and span type are noted.
fn check_logfire_attribute(reader: Reader<'_>, depth: usize, check: &mut SpanCheck<'_>) -> WireResult<()> {
    let (key, value) = check_key_value(reader, depth)?;
    // a key sent twice has its last value, as in the attributes' JSON
    match key {
        "logfire.level_num" => {
            check.level = match read_value(value) {
                Some(Value::Int(level)) => Some(level),
                _ => None,
            }
        }
        "logfire.span_type" => check.pending = matches!(read_value(value), Some(Value::Str("pending_span"))),
        _ => {}
    }
    Ok(())
}

/// Validates a `KeyValue`; returns its key and its value's bytes (read only where wanted).
#[inline]
fn check_key_value(reader: Reader<'_>, depth: usize) -> WireResult<(&str, Option<Reader<'_>>)> {
    match simple_key_value(reader) {
        Some(pair) => Ok(pair),
        None => check_key_value_generic(reader, depth),
    }
}

/// The shape nearly every attribute has on the wire: an ASCII key under 128 bytes, then a
/// string (ASCII, under 128 bytes), integer, boolean or double value, in field order. Such a
/// `KeyValue` is checked here without the table; anything else (None) takes the general path,
/// which checks it completely.
#[inline(always)]
fn simple_key_value(reader: Reader<'_>) -> Option<(&str, Option<Reader<'_>>)> {
    let buf = reader.content();
    let (&[0x0a, key_len], rest) = buf.split_first_chunk::<2>()? else { return None };
    let key_len = usize::from(key_len);
    if key_len >= 0x80 {
        return None;
    }
    let key = rest.get(..key_len)?;
    let rest = rest.get(key_len..)?;
    let (&[0x12, value_len], value) = rest.split_first_chunk::<2>()? else { return None };
    if usize::from(value_len) != value.len() || !key.is_ascii() {
        return None;
    }
    let scalar_ok = match value {
        [] => true,
        [0x0a, len, text @ ..] => usize::from(*len) == text.len() && text.is_ascii(),
        [0x10 | 0x18, rest @ ..] => {
            rest.last().is_some_and(|&b| b < 0x80) && rest.iter().rev().skip(1).all(|&b| b >= 0x80) && rest.len() <= 10
        }
        [0x21, rest @ ..] => rest.len() == 8,
        _ => false,
    };
    if !scalar_ok {
        return None;
    }
    // SAFETY: checked to be ASCII just above.
    let key = unsafe { std::str::from_utf8_unchecked(key) };
    let value_base = reader.base() + 4 + key_len;
    Some((key, Some(Reader::new(value, value_base))))
}

fn check_key_value_generic(mut reader: Reader<'_>, depth: usize) -> WireResult<(&str, Option<Reader<'_>>)> {
    if depth > MAX_DEPTH {
        return Err(WireError::new(Problem::TooDeep(MAX_DEPTH), reader.offset()));
    }
    let mut key = "";
    let mut value = None;
    while !reader.at_end() {
        let tag = reader.tag()?;
        match read_field(Msg::KeyValue, &mut reader, tag)? {
            (Some(_), FieldValue::Str(k)) => key = k,
            (Some(field), FieldValue::Message(content)) => {
                validate(Msg::AnyValue, content, depth + 1).map_err(|e| e.within(field.name, None))?;
                value = Some(content);
            }
            _ => {}
        }
    }
    Ok((key, value))
}

fn read_value(content: Option<Reader<'_>>) -> Option<Value<'_>> {
    content.and_then(|c| Value::read(c).ok())
}

fn is_exception_event(mut reader: Reader<'_>, depth: usize) -> WireResult<bool> {
    let mut exception = false;
    let whole = reader;
    while !reader.at_end() {
        let tag = reader.tag()?;
        let (field, value) = read_field(Msg::SpanEvent, &mut reader, tag)?;
        let Some(field) = field else { continue };
        match value {
            FieldValue::Str(name) => exception = name == "exception",
            FieldValue::Message(content) => {
                validate_child(Site { msg: Msg::SpanEvent, whole, field, tag_start: tag.start }, content, depth)?
            }
            _ => {}
        }
    }
    Ok(exception)
}

/// A status's code, None when it has none (a status sent twice is one merged status, as
/// protobuf reads it: its last code wins, a status without one keeps the code before).
fn status_code(mut reader: Reader<'_>, depth: usize) -> WireResult<Option<u64>> {
    if depth > MAX_DEPTH {
        return Err(WireError::new(Problem::TooDeep(MAX_DEPTH), reader.offset()));
    }
    let mut code = None;
    while !reader.at_end() {
        let tag = reader.tag()?;
        if let (Some(field), FieldValue::Varint(c)) = read_field(Msg::Status, &mut reader, tag)? {
            if field.number == 3 {
                code = Some(c);
            }
        }
    }
    Ok(code)
}

fn check_log(mut reader: Reader<'_>, depth: usize) -> WireResult<LogCheck> {
    let mut check =
        LogCheck { severity: 0, has_exception_attributes: false, feedback: false, feedback_event_name: false };
    let whole = reader;
    while !reader.at_end() {
        let tag = reader.tag()?;
        let (field, value) = read_field(Msg::LogRecord, &mut reader, tag)?;
        let Some(field) = field else { continue };
        let site = || Site { msg: Msg::LogRecord, whole, field, tag_start: tag.start };
        match (field.number, value) {
            (2, FieldValue::Varint(severity)) => check.severity = severity as i32 as i64,
            (12, FieldValue::Str(name)) => check.feedback_event_name = name == FEEDBACK_EVENT,
            (6, FieldValue::Message(content)) => {
                let (key, value) = check_key_value(content, depth + 1).map_err(|e| site().wrap(e))?;
                if key.starts_with("exception.") {
                    check.has_exception_attributes = true;
                }
                if key == "event.name" {
                    if let Some(Value::Str(FEEDBACK_EVENT)) = read_value(value) {
                        check.feedback = true;
                    }
                }
            }
            (_, FieldValue::Message(content)) => validate_child(site(), content, depth)?,
            _ => {}
        }
    }
    Ok(check)
}

/// Validates a `Metric` and counts its data points.
fn count_data_points(reader: Reader<'_>, depth: usize) -> WireResult<u64> {
    let mut points = 0;
    walk_container(Msg::Metric, reader, depth, |site, content| match site.field.kind {
        Kind::Message(msg @ (Msg::Gauge | Msg::Sum | Msg::Histogram | Msg::ExponentialHistogram | Msg::Summary)) => {
            walk_container(msg, content, depth + 1, |point_site, point| {
                if point_site.field.number == 1 {
                    points += 1;
                }
                validate_child(point_site, point, depth + 1)
            })
            .map_err(|e| site.wrap(e))
        }
        _ => validate_child(site, content, depth),
    })?;
    Ok(points)
}
