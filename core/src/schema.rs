//! The OTLP messages otelproc reads, as a table: every field's number, name and type.
//!
//! It is what `validate` checks a request against (wire types, lengths, UTF-8 in string
//! fields, nesting) and what error messages name fields by. Field numbers follow
//! opentelemetry-proto (common/v1, resource/v1, trace/v1, logs/v1, metrics/v1 and the
//! collector services); a test compares this table with protobuf's own descriptors.
//! Fields not in the table are unknown fields: checked for well-formedness and kept.

use crate::wire::{Problem, Reader, WireError, WireResult, FIXED32, FIXED64, LEN, VARINT};

/// Messages nested deeper than this are refused (upb's default recursion limit is 100).
pub const MAX_DEPTH: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Varint,
    Fixed64,
    Fixed32,
    Str,
    Bytes,
    Message(Msg),
    /// repeated scalars: packed (length-delimited) or one per tag
    PackedVarint,
    PackedFixed64,
}

impl Kind {
    fn expected(self) -> &'static str {
        match self {
            Kind::Varint => "varint",
            Kind::Fixed64 => "fixed64/double",
            Kind::Fixed32 => "fixed32",
            Kind::Str => "string",
            Kind::Bytes => "bytes",
            Kind::Message(_) => "message",
            Kind::PackedVarint => "repeated varint",
            Kind::PackedFixed64 => "repeated fixed64/double",
        }
    }

    fn accepts(self, wire_type: u8) -> bool {
        match self {
            Kind::Varint => wire_type == VARINT,
            Kind::Fixed64 => wire_type == FIXED64,
            Kind::Fixed32 => wire_type == FIXED32,
            Kind::Str | Kind::Bytes | Kind::Message(_) => wire_type == LEN,
            Kind::PackedVarint => wire_type == LEN || wire_type == VARINT,
            Kind::PackedFixed64 => wire_type == LEN || wire_type == FIXED64,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub number: u32,
    pub name: &'static str,
    pub kind: Kind,
    pub repeated: bool,
}

const fn f(number: u32, name: &'static str, kind: Kind) -> Field {
    Field { number, name, kind, repeated: false }
}

const fn r(number: u32, name: &'static str, kind: Kind) -> Field {
    Field { number, name, kind, repeated: true }
}

/// Every message type of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Msg {
    AnyValue,
    ArrayValue,
    KeyValueList,
    KeyValue,
    InstrumentationScope,
    EntityRef,
    Resource,
    ExportTraceServiceRequest,
    ResourceSpans,
    ScopeSpans,
    Span,
    SpanEvent,
    SpanLink,
    Status,
    ExportLogsServiceRequest,
    ResourceLogs,
    ScopeLogs,
    LogRecord,
    ExportMetricsServiceRequest,
    ResourceMetrics,
    ScopeMetrics,
    Metric,
    Gauge,
    Sum,
    Histogram,
    ExponentialHistogram,
    Summary,
    NumberDataPoint,
    HistogramDataPoint,
    ExponentialHistogramDataPoint,
    Buckets,
    SummaryDataPoint,
    ValueAtQuantile,
    Exemplar,
}

use Kind::*;
use Msg as M;

impl Msg {
    /// The protobuf full name (what the descriptor test compares against).
    pub fn full_name(self) -> &'static str {
        match self {
            M::AnyValue => "opentelemetry.proto.common.v1.AnyValue",
            M::ArrayValue => "opentelemetry.proto.common.v1.ArrayValue",
            M::KeyValueList => "opentelemetry.proto.common.v1.KeyValueList",
            M::KeyValue => "opentelemetry.proto.common.v1.KeyValue",
            M::InstrumentationScope => "opentelemetry.proto.common.v1.InstrumentationScope",
            M::EntityRef => "opentelemetry.proto.common.v1.EntityRef",
            M::Resource => "opentelemetry.proto.resource.v1.Resource",
            M::ExportTraceServiceRequest => "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest",
            M::ResourceSpans => "opentelemetry.proto.trace.v1.ResourceSpans",
            M::ScopeSpans => "opentelemetry.proto.trace.v1.ScopeSpans",
            M::Span => "opentelemetry.proto.trace.v1.Span",
            M::SpanEvent => "opentelemetry.proto.trace.v1.Span.Event",
            M::SpanLink => "opentelemetry.proto.trace.v1.Span.Link",
            M::Status => "opentelemetry.proto.trace.v1.Status",
            M::ExportLogsServiceRequest => "opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest",
            M::ResourceLogs => "opentelemetry.proto.logs.v1.ResourceLogs",
            M::ScopeLogs => "opentelemetry.proto.logs.v1.ScopeLogs",
            M::LogRecord => "opentelemetry.proto.logs.v1.LogRecord",
            M::ExportMetricsServiceRequest => "opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest",
            M::ResourceMetrics => "opentelemetry.proto.metrics.v1.ResourceMetrics",
            M::ScopeMetrics => "opentelemetry.proto.metrics.v1.ScopeMetrics",
            M::Metric => "opentelemetry.proto.metrics.v1.Metric",
            M::Gauge => "opentelemetry.proto.metrics.v1.Gauge",
            M::Sum => "opentelemetry.proto.metrics.v1.Sum",
            M::Histogram => "opentelemetry.proto.metrics.v1.Histogram",
            M::ExponentialHistogram => "opentelemetry.proto.metrics.v1.ExponentialHistogram",
            M::Summary => "opentelemetry.proto.metrics.v1.Summary",
            M::NumberDataPoint => "opentelemetry.proto.metrics.v1.NumberDataPoint",
            M::HistogramDataPoint => "opentelemetry.proto.metrics.v1.HistogramDataPoint",
            M::ExponentialHistogramDataPoint => "opentelemetry.proto.metrics.v1.ExponentialHistogramDataPoint",
            M::Buckets => "opentelemetry.proto.metrics.v1.ExponentialHistogramDataPoint.Buckets",
            M::SummaryDataPoint => "opentelemetry.proto.metrics.v1.SummaryDataPoint",
            M::ValueAtQuantile => "opentelemetry.proto.metrics.v1.SummaryDataPoint.ValueAtQuantile",
            M::Exemplar => "opentelemetry.proto.metrics.v1.Exemplar",
        }
    }

    pub const fn fields(self) -> &'static [Field] {
        match self {
            M::AnyValue => {
                const FIELDS: &[Field] = &[
                    f(1, "string_value", Str),
                    f(2, "bool_value", Varint),
                    f(3, "int_value", Varint),
                    f(4, "double_value", Fixed64),
                    f(5, "array_value", Message(M::ArrayValue)),
                    f(6, "kvlist_value", Message(M::KeyValueList)),
                    f(7, "bytes_value", Bytes),
                    f(8, "string_value_strindex", Varint),
                ];
                FIELDS
            }
            M::ArrayValue => {
                const FIELDS: &[Field] = &[r(1, "values", Message(M::AnyValue))];
                FIELDS
            }
            M::KeyValueList => {
                const FIELDS: &[Field] = &[r(1, "values", Message(M::KeyValue))];
                FIELDS
            }
            M::KeyValue => {
                const FIELDS: &[Field] =
                    &[f(1, "key", Str), f(2, "value", Message(M::AnyValue)), f(3, "key_strindex", Varint)];
                FIELDS
            }
            M::InstrumentationScope => {
                const FIELDS: &[Field] = &[
                    f(1, "name", Str),
                    f(2, "version", Str),
                    r(3, "attributes", Message(M::KeyValue)),
                    f(4, "dropped_attributes_count", Varint),
                ];
                FIELDS
            }
            M::EntityRef => {
                const FIELDS: &[Field] =
                    &[f(1, "schema_url", Str), f(2, "type", Str), r(3, "id_keys", Str), r(4, "description_keys", Str)];
                FIELDS
            }
            M::Resource => {
                const FIELDS: &[Field] = &[
                    r(1, "attributes", Message(M::KeyValue)),
                    f(2, "dropped_attributes_count", Varint),
                    r(3, "entity_refs", Message(M::EntityRef)),
                ];
                FIELDS
            }
            M::ExportTraceServiceRequest => {
                const FIELDS: &[Field] = &[r(1, "resource_spans", Message(M::ResourceSpans))];
                FIELDS
            }
            M::ResourceSpans => {
                const FIELDS: &[Field] = &[
                    f(1, "resource", Message(M::Resource)),
                    r(2, "scope_spans", Message(M::ScopeSpans)),
                    f(3, "schema_url", Str),
                ];
                FIELDS
            }
            M::ScopeSpans => {
                const FIELDS: &[Field] = &[
                    f(1, "scope", Message(M::InstrumentationScope)),
                    r(2, "spans", Message(M::Span)),
                    f(3, "schema_url", Str),
                ];
                FIELDS
            }
            M::Span => {
                const FIELDS: &[Field] = &[
                    f(1, "trace_id", Bytes),
                    f(2, "span_id", Bytes),
                    f(3, "trace_state", Str),
                    f(4, "parent_span_id", Bytes),
                    f(5, "name", Str),
                    f(6, "kind", Varint),
                    f(7, "start_time_unix_nano", Fixed64),
                    f(8, "end_time_unix_nano", Fixed64),
                    r(9, "attributes", Message(M::KeyValue)),
                    f(10, "dropped_attributes_count", Varint),
                    r(11, "events", Message(M::SpanEvent)),
                    f(12, "dropped_events_count", Varint),
                    r(13, "links", Message(M::SpanLink)),
                    f(14, "dropped_links_count", Varint),
                    f(15, "status", Message(M::Status)),
                    f(16, "flags", Fixed32),
                ];
                FIELDS
            }
            M::SpanEvent => {
                const FIELDS: &[Field] = &[
                    f(1, "time_unix_nano", Fixed64),
                    f(2, "name", Str),
                    r(3, "attributes", Message(M::KeyValue)),
                    f(4, "dropped_attributes_count", Varint),
                ];
                FIELDS
            }
            M::SpanLink => {
                const FIELDS: &[Field] = &[
                    f(1, "trace_id", Bytes),
                    f(2, "span_id", Bytes),
                    f(3, "trace_state", Str),
                    r(4, "attributes", Message(M::KeyValue)),
                    f(5, "dropped_attributes_count", Varint),
                    f(6, "flags", Fixed32),
                ];
                FIELDS
            }
            M::Status => {
                const FIELDS: &[Field] = &[f(2, "message", Str), f(3, "code", Varint)];
                FIELDS
            }
            M::ExportLogsServiceRequest => {
                const FIELDS: &[Field] = &[r(1, "resource_logs", Message(M::ResourceLogs))];
                FIELDS
            }
            M::ResourceLogs => {
                const FIELDS: &[Field] = &[
                    f(1, "resource", Message(M::Resource)),
                    r(2, "scope_logs", Message(M::ScopeLogs)),
                    f(3, "schema_url", Str),
                ];
                FIELDS
            }
            M::ScopeLogs => {
                const FIELDS: &[Field] = &[
                    f(1, "scope", Message(M::InstrumentationScope)),
                    r(2, "log_records", Message(M::LogRecord)),
                    f(3, "schema_url", Str),
                ];
                FIELDS
            }
            M::LogRecord => {
                const FIELDS: &[Field] = &[
                    f(1, "time_unix_nano", Fixed64),
                    f(2, "severity_number", Varint),
                    f(3, "severity_text", Str),
                    f(5, "body", Message(M::AnyValue)),
                    r(6, "attributes", Message(M::KeyValue)),
                    f(7, "dropped_attributes_count", Varint),
                    f(8, "flags", Fixed32),
                    f(9, "trace_id", Bytes),
                    f(10, "span_id", Bytes),
                    f(11, "observed_time_unix_nano", Fixed64),
                    f(12, "event_name", Str),
                ];
                FIELDS
            }
            M::ExportMetricsServiceRequest => {
                const FIELDS: &[Field] = &[r(1, "resource_metrics", Message(M::ResourceMetrics))];
                FIELDS
            }
            M::ResourceMetrics => {
                const FIELDS: &[Field] = &[
                    f(1, "resource", Message(M::Resource)),
                    r(2, "scope_metrics", Message(M::ScopeMetrics)),
                    f(3, "schema_url", Str),
                ];
                FIELDS
            }
            M::ScopeMetrics => {
                const FIELDS: &[Field] = &[
                    f(1, "scope", Message(M::InstrumentationScope)),
                    r(2, "metrics", Message(M::Metric)),
                    f(3, "schema_url", Str),
                ];
                FIELDS
            }
            M::Metric => {
                const FIELDS: &[Field] = &[
                    f(1, "name", Str),
                    f(2, "description", Str),
                    f(3, "unit", Str),
                    f(5, "gauge", Message(M::Gauge)),
                    f(7, "sum", Message(M::Sum)),
                    f(9, "histogram", Message(M::Histogram)),
                    f(10, "exponential_histogram", Message(M::ExponentialHistogram)),
                    f(11, "summary", Message(M::Summary)),
                    r(12, "metadata", Message(M::KeyValue)),
                ];
                FIELDS
            }
            M::Gauge => {
                const FIELDS: &[Field] = &[r(1, "data_points", Message(M::NumberDataPoint))];
                FIELDS
            }
            M::Sum => {
                const FIELDS: &[Field] = &[
                    r(1, "data_points", Message(M::NumberDataPoint)),
                    f(2, "aggregation_temporality", Varint),
                    f(3, "is_monotonic", Varint),
                ];
                FIELDS
            }
            M::Histogram => {
                const FIELDS: &[Field] =
                    &[r(1, "data_points", Message(M::HistogramDataPoint)), f(2, "aggregation_temporality", Varint)];
                FIELDS
            }
            M::ExponentialHistogram => {
                const FIELDS: &[Field] = &[
                    r(1, "data_points", Message(M::ExponentialHistogramDataPoint)),
                    f(2, "aggregation_temporality", Varint),
                ];
                FIELDS
            }
            M::Summary => {
                const FIELDS: &[Field] = &[r(1, "data_points", Message(M::SummaryDataPoint))];
                FIELDS
            }
            M::NumberDataPoint => {
                const FIELDS: &[Field] = &[
                    f(2, "start_time_unix_nano", Fixed64),
                    f(3, "time_unix_nano", Fixed64),
                    f(4, "as_double", Fixed64),
                    r(5, "exemplars", Message(M::Exemplar)),
                    f(6, "as_int", Fixed64),
                    r(7, "attributes", Message(M::KeyValue)),
                    f(8, "flags", Varint),
                ];
                FIELDS
            }
            M::HistogramDataPoint => {
                const FIELDS: &[Field] = &[
                    f(2, "start_time_unix_nano", Fixed64),
                    f(3, "time_unix_nano", Fixed64),
                    f(4, "count", Fixed64),
                    f(5, "sum", Fixed64),
                    r(6, "bucket_counts", PackedFixed64),
                    r(7, "explicit_bounds", PackedFixed64),
                    r(8, "exemplars", Message(M::Exemplar)),
                    r(9, "attributes", Message(M::KeyValue)),
                    f(10, "flags", Varint),
                    f(11, "min", Fixed64),
                    f(12, "max", Fixed64),
                ];
                FIELDS
            }
            M::ExponentialHistogramDataPoint => {
                const FIELDS: &[Field] = &[
                    r(1, "attributes", Message(M::KeyValue)),
                    f(2, "start_time_unix_nano", Fixed64),
                    f(3, "time_unix_nano", Fixed64),
                    f(4, "count", Fixed64),
                    f(5, "sum", Fixed64),
                    f(6, "scale", Varint),
                    f(7, "zero_count", Fixed64),
                    f(8, "positive", Message(M::Buckets)),
                    f(9, "negative", Message(M::Buckets)),
                    f(10, "flags", Varint),
                    r(11, "exemplars", Message(M::Exemplar)),
                    f(12, "min", Fixed64),
                    f(13, "max", Fixed64),
                    f(14, "zero_threshold", Fixed64),
                ];
                FIELDS
            }
            M::Buckets => {
                const FIELDS: &[Field] = &[f(1, "offset", Varint), r(2, "bucket_counts", PackedVarint)];
                FIELDS
            }
            M::SummaryDataPoint => {
                const FIELDS: &[Field] = &[
                    f(2, "start_time_unix_nano", Fixed64),
                    f(3, "time_unix_nano", Fixed64),
                    f(4, "count", Fixed64),
                    f(5, "sum", Fixed64),
                    r(6, "quantile_values", Message(M::ValueAtQuantile)),
                    r(7, "attributes", Message(M::KeyValue)),
                    f(8, "flags", Varint),
                ];
                FIELDS
            }
            M::ValueAtQuantile => {
                const FIELDS: &[Field] = &[f(1, "quantile", Fixed64), f(2, "value", Fixed64)];
                FIELDS
            }
            M::Exemplar => {
                const FIELDS: &[Field] = &[
                    f(2, "time_unix_nano", Fixed64),
                    f(3, "as_double", Fixed64),
                    f(4, "span_id", Bytes),
                    f(5, "trace_id", Bytes),
                    f(6, "as_int", Fixed64),
                    r(7, "filtered_attributes", Message(M::KeyValue)),
                ];
                FIELDS
            }
        }
    }

    /// The field `number` of this message: one lookup in a table built at compile time.
    #[inline]
    pub fn field(self, number: u32) -> Option<&'static Field> {
        FIELD_INDEX.get(self as usize)?.get(number as usize)?.as_ref()
    }

    /// Every message of the table (for the descriptor test).
    pub const ALL: [Msg; 34] = [
        M::AnyValue,
        M::ArrayValue,
        M::KeyValueList,
        M::KeyValue,
        M::InstrumentationScope,
        M::EntityRef,
        M::Resource,
        M::ExportTraceServiceRequest,
        M::ResourceSpans,
        M::ScopeSpans,
        M::Span,
        M::SpanEvent,
        M::SpanLink,
        M::Status,
        M::ExportLogsServiceRequest,
        M::ResourceLogs,
        M::ScopeLogs,
        M::LogRecord,
        M::ExportMetricsServiceRequest,
        M::ResourceMetrics,
        M::ScopeMetrics,
        M::Metric,
        M::Gauge,
        M::Sum,
        M::Histogram,
        M::ExponentialHistogram,
        M::Summary,
        M::NumberDataPoint,
        M::HistogramDataPoint,
        M::ExponentialHistogramDataPoint,
        M::Buckets,
        M::SummaryDataPoint,
        M::ValueAtQuantile,
        M::Exemplar,
    ];
}

/// Every message's fields by number (numbers are below 17 in OTLP).
static FIELD_INDEX: [[Option<Field>; 17]; Msg::ALL.len()] = {
    let mut index = [[None; 17]; Msg::ALL.len()];
    let mut m = 0;
    while m < Msg::ALL.len() {
        let fields = Msg::ALL[m].fields();
        let mut i = 0;
        while i < fields.len() {
            let field = fields[i];
            index[Msg::ALL[m] as usize][field.number as usize] = Some(field);
            i += 1;
        }
        m += 1;
    }
    index
};

/// A field's value as read, borrowed from the request.
#[derive(Clone, Copy, Debug)]
pub enum FieldValue<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Str(&'a str),
    Bytes(&'a [u8]),
    Message(Reader<'a>),
    /// a packed repeated field, or a field the table does not know (skipped)
    Other,
}

/// Reads one field's value per the table: a known field must have its type's wire type, a
/// string must be UTF-8. Returns the field (None for an unknown field) and its value.
#[inline(always)]
pub fn read_field<'a>(
    msg: Msg,
    reader: &mut Reader<'a>,
    tag: crate::wire::Tag,
) -> WireResult<(Option<&'static Field>, FieldValue<'a>)> {
    let Some(field) = msg.field(tag.number) else {
        reader.skip(tag.wire_type)?;
        return Ok((None, FieldValue::Other));
    };
    if !field.kind.accepts(tag.wire_type) {
        return Err(WireError::new(
            Problem::WrongWireType { got: tag.wire_type, expected: field.kind.expected() },
            tag.start,
        )
        .within(field.name, None));
    }
    let value = match (field.kind, tag.wire_type) {
        (Varint, _) => FieldValue::Varint(reader.varint()?),
        (Fixed64, _) => FieldValue::Fixed64(reader.fixed64()?),
        (Fixed32, _) => FieldValue::Fixed32(reader.fixed32()?),
        (Str, _) => FieldValue::Str(
            reader.len_delimited().and_then(|content| content.utf8()).map_err(|e| e.within(field.name, None))?,
        ),
        (Bytes, _) => FieldValue::Bytes(reader.len_delimited().map_err(|e| e.within(field.name, None))?.content()),
        (Message(_), _) => FieldValue::Message(reader.len_delimited().map_err(|e| e.within(field.name, None))?),
        (PackedVarint, VARINT) => {
            reader.varint()?;
            FieldValue::Other
        }
        (PackedFixed64, FIXED64) => {
            reader.fixed64()?;
            FieldValue::Other
        }
        (PackedVarint, _) => {
            let mut packed = reader.len_delimited()?;
            while !packed.at_end() {
                packed.varint().map_err(|e| e.within(field.name, None))?;
            }
            FieldValue::Other
        }
        (PackedFixed64, _) => {
            let packed = reader.len_delimited()?;
            if packed.content().len() % 8 != 0 {
                return Err(WireError::new(Problem::Truncated, packed.base()).within(field.name, None));
            }
            FieldValue::Other
        }
    };
    Ok((Some(field), value))
}

/// Where a field sits in its message, to name it in an error: `spans[7]`. The index among
/// the message's fields of that number is only counted when there is an error to report.
#[derive(Clone, Copy)]
pub struct Site<'a> {
    pub msg: Msg,
    /// the enclosing message's whole content
    pub whole: Reader<'a>,
    pub field: &'static Field,
    pub tag_start: usize,
}

impl Site<'_> {
    #[cold]
    pub fn wrap(&self, error: WireError) -> WireError {
        let index = if self.field.repeated {
            let mut reader = self.whole;
            let mut count = 0u32;
            while !reader.at_end() {
                let Ok(tag) = reader.tag() else { break };
                if tag.start >= self.tag_start {
                    break;
                }
                if tag.number == self.field.number {
                    count += 1;
                }
                if reader.skip(tag.wire_type).is_err() {
                    break;
                }
            }
            Some(count)
        } else {
            None
        };
        error.within(self.field.name, index)
    }
}

/// Checks a whole message and everything under it against the table.
pub fn validate(msg: Msg, mut reader: Reader<'_>, depth: usize) -> WireResult<()> {
    if depth > MAX_DEPTH {
        return Err(WireError::new(Problem::TooDeep(MAX_DEPTH), reader.offset()));
    }
    let whole = reader;
    while !reader.at_end() {
        let tag = reader.tag()?;
        let (field, value) = read_field(msg, &mut reader, tag)?;
        if let (Some(field), FieldValue::Message(content)) = (field, value) {
            if let Kind::Message(child) = field.kind {
                validate(child, content, depth + 1)
                    .map_err(|e| Site { msg, whole, field, tag_start: tag.start }.wrap(e))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_numbers_are_unique_and_small_enough_for_the_counters() {
        for msg in Msg::ALL {
            let fields = msg.fields();
            for (i, a) in fields.iter().enumerate() {
                assert!(a.number < 17, "{}.{}", msg.full_name(), a.name);
                for b in fields.iter().skip(i + 1) {
                    assert_ne!(a.number, b.number, "{}", msg.full_name());
                }
            }
        }
    }

    #[test]
    fn a_known_field_with_the_wrong_wire_type_is_named() {
        // Status.code (3) sent as a length-delimited field
        let bytes = [0x1a, 0x01, 0x02];
        let err = validate(Msg::Status, Reader::new(&bytes, 0), 0).err();
        let err = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(err.starts_with("code: wrong wire type 2"), "{err}");
    }

    #[test]
    fn unknown_fields_are_skipped_when_well_formed() {
        // field 99 varint, then Status.message = "x"
        let bytes = [0x98, 0x06, 0x01, 0x12, 0x01, b'x'];
        assert!(validate(Msg::Status, Reader::new(&bytes, 0), 0).is_ok());
    }

    #[test]
    fn invalid_utf8_in_a_string_field_is_refused() {
        let bytes = [0x12, 0x02, 0xc3, 0x28];
        let err = validate(Msg::Status, Reader::new(&bytes, 0), 0).err();
        assert_eq!(err.map(|e| e.problem.clone()), Some(Problem::InvalidUtf8));
    }

    #[test]
    fn nesting_is_bounded() {
        // AnyValue{array_value{values[AnyValue{array_value{...}}]}} 200 levels deep
        let mut bytes: Vec<u8> = Vec::new();
        for _ in 0..200 {
            let mut array = Vec::new();
            crate::wire::put_len_field(&mut array, 1, &bytes);
            let mut any = Vec::new();
            crate::wire::put_len_field(&mut any, 5, &array);
            bytes = any;
        }
        let err = validate(Msg::AnyValue, Reader::new(&bytes, 0), 0).err();
        assert_eq!(err.map(|e| e.problem.clone()), Some(Problem::TooDeep(MAX_DEPTH)));
    }
}
