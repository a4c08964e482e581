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

use crate::columns::{Column, Values};
use crate::extract::{fields, Extractor, ResourceInfo};
use crate::redact::Redactor;
use crate::schema::{read_field, validate, FieldValue, Kind, Msg, Site, MAX_DEPTH};
use crate::value::{FastHash, Value};
use crate::wire::{Problem, Reader, WireError, WireResult};

pub const STATUS_ERROR: u64 = 2;
pub const SEVERITY_ERROR: i64 = 17;
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
    /// The columns (index, rank) an attribute key fills.
    pub fn targets(&self, key: &str) -> Option<&[(usize, usize)]> {
        self.targets.get(key).map(Vec::as_slice)
    }

    pub fn template_column(&self) -> Option<usize> {
        self.template_column
    }

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

impl ResourceCount {
    fn of(resource: &ResourceInfo<'_>) -> Self {
        ResourceCount {
            service_name: resource.service_name.clone(),
            service_version: resource.service_version.clone(),
            ..Default::default()
        }
    }
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
        rows: Extractor::new(config, redactor),
        rows_limit: ROWS_LIMIT_FLOOR.saturating_add(data.len().saturating_mul(ROWS_LIMIT_PER_REQUEST_BYTE)),
    };
    scanner.request(Reader::new(data, 0))?;
    Ok(scanner.out)
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

struct Scanner<'a, 'c> {
    out: Scan,
    rows: Extractor<'a, 'c>,
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

impl<'a, 'c> Scanner<'a, 'c> {
    fn request(&mut self, reader: Reader<'a>) -> WireResult<()> {
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
    fn split_resource(msg: Msg, reader: Reader<'a>) -> WireResult<(Option<Reader<'a>>, Children<'a>)> {
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

    fn split_scope(msg: Msg, reader: Reader<'a>) -> WireResult<(Option<&'a str>, Children<'a>)> {
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

    fn resource_spans(&mut self, reader: Reader<'a>) -> WireResult<()> {
        let (resource, scopes) = Self::split_resource(Msg::ResourceSpans, reader)?;
        let info = ResourceInfo::read(resource);
        let mut count = ResourceCount::of(&info);
        for (scope_site, scope) in scopes {
            let (scope_name, spans) = Self::split_scope(Msg::ScopeSpans, scope).map_err(|e| scope_site.wrap(e))?;
            for (span_site, span) in spans {
                let check = check_span(span, 3).map_err(|e| scope_site.wrap(span_site.wrap(e)))?;
                count.items += 1;
                let is_error = if check.pending {
                    false
                } else {
                    check.level.is_some_and(|l| l >= SEVERITY_ERROR)
                        || check.status_error
                        || check.exception_event.is_some()
                };
                if is_error {
                    count.errors += 1;
                    self.rows.span(&mut self.out, span, check.exception_event, scope_name, &info);
                    self.check_rows_size(span).map_err(|e| scope_site.wrap(span_site.wrap(e)))?;
                }
            }
        }
        self.out.items += count.items;
        if count.items > 0 {
            self.out.resources.push(count);
        }
        Ok(())
    }

    fn resource_logs(&mut self, reader: Reader<'a>) -> WireResult<()> {
        let (resource, scopes) = Self::split_resource(Msg::ResourceLogs, reader)?;
        let info = ResourceInfo::read(resource);
        let mut count = ResourceCount::of(&info);
        for (scope_site, scope) in scopes {
            let (scope_name, records) = Self::split_scope(Msg::ScopeLogs, scope).map_err(|e| scope_site.wrap(e))?;
            for (record_site, record) in records {
                let check = check_log(record, 3).map_err(|e| scope_site.wrap(record_site.wrap(e)))?;
                count.items += 1;
                if check.severity >= SEVERITY_ERROR || check.has_exception_attributes {
                    count.errors += 1;
                    self.rows.log(&mut self.out, record, check.severity, scope_name, &info);
                    self.check_rows_size(record).map_err(|e| scope_site.wrap(record_site.wrap(e)))?;
                }
                if check.feedback || check.feedback_event_name {
                    self.rows.feedback(&mut self.out, record, &info);
                    self.check_rows_size(record).map_err(|e| scope_site.wrap(record_site.wrap(e)))?;
                }
            }
        }
        self.out.items += count.items;
        if count.items > 0 {
            self.out.resources.push(count);
        }
        Ok(())
    }

    /// Refuses a request whose rows outgrow `rows_limit`: each error row holds its resource's
    /// attributes, so a small request of many tiny error items under a large resource would
    /// otherwise take gigabytes (found by the robustness tests: 230 KB asked for 1 GB).
    fn check_rows_size(&self, item: Reader<'_>) -> WireResult<()> {
        let size: usize = self.out.columns.iter().chain(&self.out.feedback).map(Column::text_bytes).sum();
        if size > self.rows_limit {
            return Err(WireError::new(Problem::RowsTooLarge { limit: self.rows_limit }, item.base()));
        }
        Ok(())
    }

    fn resource_metrics(&mut self, reader: Reader<'a>) -> WireResult<()> {
        let (resource, scopes) = Self::split_resource(Msg::ResourceMetrics, reader)?;
        let mut count = ResourceCount::of(&ResourceInfo::read(resource));
        for (scope_site, scope) in scopes {
            let (_, metrics) = Self::split_scope(Msg::ScopeMetrics, scope).map_err(|e| scope_site.wrap(e))?;
            for (metric_site, metric) in metrics {
                let points = count_data_points(metric, 3).map_err(|e| scope_site.wrap(metric_site.wrap(e)))?;
                count.items += points;
            }
        }
        self.out.items += count.items;
        if count.items > 0 {
            self.out.resources.push(count);
        }
        Ok(())
    }
}

/// The scope's name: its last `name` field, as protobuf reads a field sent twice.
fn scope_name_of(scope: Reader<'_>) -> Option<&str> {
    let names = fields(Msg::InstrumentationScope, scope).filter_map(|(n, v)| match (n, v) {
        (1, FieldValue::Str(s)) => Some(s),
        _ => None,
    });
    names.last().filter(|s| !s.is_empty())
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
