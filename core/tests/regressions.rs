//! Inputs the property and fuzz tests found wrong once, kept as plain examples (the seeds in
//! `proptest-regressions/` replay them too, but only as long as the generator is unchanged).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use otelproc_core::scan::{scan, Scan, Signal};

/// A request of one resource, one scope and these items (spans or log records).
fn request_of(items: &[Vec<u8>]) -> Vec<u8> {
    let mut scope = Vec::new();
    for item in items {
        len_field(&mut scope, 2, item);
    }
    let mut resource = Vec::new();
    len_field(&mut resource, 2, &scope);
    let mut data = Vec::new();
    len_field(&mut data, 1, &resource);
    data
}

fn scanned(signal: Signal, data: &[u8]) -> Scan {
    scan_and_check(signal, data, &config()).unwrap()
}

#[test]
fn a_record_is_feedback_by_its_event_name_attribute_whatever_its_event_name_field() {
    // event.name = user.feedback as an attribute, and an event_name field naming something
    // else after it (protobuf's own order: field 12 comes after the attributes, 6)
    let mut record = Vec::new();
    len_field(&mut record, 6, &string_kv("event.name", "user.feedback"));
    len_field(&mut record, 6, &int_kv("rating", 2));
    len_field(&mut record, 12, b"browser.click");
    assert_eq!(scanned(Signal::Logs, &request_of(&[record])).feedback_rows, 1);

    let mut by_field = Vec::new();
    len_field(&mut by_field, 6, &string_kv("event.name", "other"));
    len_field(&mut by_field, 12, b"user.feedback");
    assert_eq!(scanned(Signal::Logs, &request_of(&[by_field])).feedback_rows, 1);
}

#[test]
fn a_logfire_marker_sent_twice_counts_with_its_last_value() {
    // the attributes' JSON (a dict: the last value of a key) says what the span is
    let level_then_none = {
        let mut span = Vec::new();
        len_field(&mut span, 9, &int_kv("logfire.level_num", 21));
        len_field(&mut span, 9, &kv_bytes("logfire.level_num", &[]));
        span
    };
    let none_then_level = {
        let mut span = Vec::new();
        len_field(&mut span, 9, &string_kv("logfire.level_num", "21"));
        len_field(&mut span, 9, &int_kv("logfire.level_num", 17));
        span
    };
    let pending_then_span = {
        let mut span = Vec::new();
        len_field(&mut span, 9, &int_kv("logfire.level_num", 17));
        len_field(&mut span, 9, &string_kv("logfire.span_type", "pending_span"));
        len_field(&mut span, 9, &string_kv("logfire.span_type", "span"));
        span
    };
    let span_then_pending = {
        let mut span = Vec::new();
        len_field(&mut span, 9, &int_kv("logfire.level_num", 17));
        len_field(&mut span, 9, &string_kv("logfire.span_type", "span"));
        len_field(&mut span, 9, &string_kv("logfire.span_type", "pending_span"));
        span
    };
    let scan =
        scanned(Signal::Traces, &request_of(&[level_then_none, none_then_level, pending_then_span, span_then_pending]));
    assert_eq!(scan.items, 4);
    let rows: Vec<usize> = scan.errors.iter().map(|e| e.start).collect();
    assert_eq!(rows.len(), 2, "the second and third spans are errors");
}

/// Many minimal error items (a status of ERROR and nothing else) under a resource with large
/// attributes: each row holds the resource's attributes.
fn amplifying_request(signal: Signal, items: usize) -> Vec<u8> {
    let mut resource = Vec::new();
    for i in 0..200 {
        len_field(&mut resource, 1, &string_kv(&format!("k8s.label.{i}"), &"x".repeat(1000)));
    }
    let mut item = Vec::new();
    match signal {
        Signal::Traces => {
            let mut status = Vec::new();
            varint_field(&mut status, 3, 2);
            len_field(&mut item, 15, &status);
        }
        _ => {
            varint_field(&mut item, 2, 17);
            len_field(&mut item, 12, b"user.feedback");
        }
    }
    let mut scope = Vec::new();
    for _ in 0..items {
        len_field(&mut scope, 2, &item);
    }
    let mut resource_items = Vec::new();
    len_field(&mut resource_items, 1, &resource);
    len_field(&mut resource_items, 2, &scope);
    let mut data = Vec::new();
    len_field(&mut data, 1, &resource_items);
    data
}

#[test]
fn a_small_request_cannot_ask_for_gigabytes_of_rows() {
    // 200 KB of resource attributes and 20,000 error items of a few bytes: half a megabyte
    // that would have made 4 GB of rows (and with more items, any amount of memory)
    for signal in [Signal::Traces, Signal::Logs] {
        let data = amplifying_request(signal, 20_000);
        assert!(data.len() < 600_000);
        let started = std::time::Instant::now();
        let error = scan(signal, &data, &config(), LIMIT, None).expect_err("refused");
        assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
        let limit = otelproc_core::scan::ROWS_LIMIT_FLOOR + 16 * data.len();
        assert_eq!(error.problem, otelproc_core::wire::Problem::RowsTooLarge { limit });
        let message = error.to_string();
        assert!(message.starts_with("resource_"), "{message}");
        assert!(message.contains("would hold more than"), "{message}");
    }
    // the same resource over a few hundred error items, as a real batch has, is scanned
    let scan = scanned(Signal::Traces, &amplifying_request(Signal::Traces, 300));
    assert_eq!(scan.errors.len(), 300);
}

#[test]
fn a_status_sent_twice_is_one_merged_status() {
    // protobuf merges a message field sent twice: {code: ERROR} then {message: "x"} is an
    // ERROR status with a message; a later explicit code replaces an earlier one
    let status = |fields: &[(u32, &[u8])]| {
        let mut status = Vec::new();
        for (number, content) in fields {
            if *number == 3 {
                varint_field(&mut status, 3, u64::from(content[0]));
            } else {
                len_field(&mut status, 2, content);
            }
        }
        let mut span = Vec::new();
        len_field(&mut span, 15, &status);
        span
    };
    let merged = [status(&[(3, &[2])]), status(&[(2, b"x")])].concat();
    let replaced = [status(&[(3, &[2])]), status(&[(3, &[0])])].concat();
    let scan = scanned(Signal::Traces, &request_of(&[merged, replaced]));
    assert_eq!(scan.items, 2);
    assert_eq!(scan.errors.len(), 1);
    let message = scan.columns.iter().find(|c| c.name == "status_message").unwrap();
    assert_eq!(message.str_at(0), Some("x"));
}

#[test]
fn a_scope_name_sent_twice_is_the_last() {
    let mut scope = Vec::new();
    len_field(&mut scope, 1, b"first");
    len_field(&mut scope, 1, b"last");
    let mut status = Vec::new();
    varint_field(&mut status, 3, 2);
    let mut span = Vec::new();
    len_field(&mut span, 15, &status);
    let mut scope_spans = Vec::new();
    len_field(&mut scope_spans, 1, &scope);
    len_field(&mut scope_spans, 2, &span);
    let mut resource_spans = Vec::new();
    len_field(&mut resource_spans, 2, &scope_spans);
    let mut data = Vec::new();
    len_field(&mut data, 1, &resource_spans);
    let scan = scanned(Signal::Traces, &data);
    let column = scan.columns.iter().find(|c| c.name == "scope_name").unwrap();
    assert_eq!(column.str_at(0), Some("last"));
}

/// One error span (status ERROR) with these extra fields.
fn error_span(fields: &[u8]) -> Vec<u8> {
    let mut status = Vec::new();
    varint_field(&mut status, 3, 2);
    let mut span = fields.to_vec();
    len_field(&mut span, 15, &status);
    span
}

fn column<'a>(scan: &'a Scan, name: &str) -> &'a otelproc_core::columns::Column {
    scan.columns.iter().find(|c| c.name == name).unwrap()
}

#[test]
fn a_span_without_a_kind_is_unspecified_as_one_with_kind_zero() {
    // protobuf does not write a kind of 0 (UNSPECIFIED): absent and 0 are the same span
    let mut explicit = Vec::new();
    varint_field(&mut explicit, 6, 0);
    let scan = scanned(Signal::Traces, &request_of(&[error_span(&[]), error_span(&explicit)]));
    let kinds = column(&scan, "span_kind");
    assert_eq!((kinds.str_at(0), kinds.str_at(1)), (Some("unspecified"), Some("unspecified")));
}

#[test]
fn bytes_are_their_hex_as_text_and_del_is_escaped_in_ascii_json() {
    // Python reads a bytes AnyValue as its hex string: a text column holds it as it is (not
    // quoted as JSON), and empty bytes as nothing; json.dumps escapes DEL (0x7f)
    let mut any = Vec::new();
    len_field(&mut any, 7, &[0xde, 0xad]);
    let mut empty = Vec::new();
    len_field(&mut empty, 7, &[]);
    let mut array = Vec::new();
    let mut element = Vec::new();
    len_field(&mut element, 1, b"a\x7fb");
    len_field(&mut array, 1, &element);
    let mut list = Vec::new();
    len_field(&mut list, 5, &array);
    let mut fields = Vec::new();
    len_field(&mut fields, 9, &kv_bytes("stage", &any));
    len_field(&mut fields, 9, &kv_bytes("code.function", &empty));
    len_field(&mut fields, 9, &kv_bytes("logfire.msg_template", &list));
    let scan = scanned(Signal::Traces, &request_of(&[error_span(&fields)]));
    assert_eq!(column(&scan, "stage").str_at(0), Some("dead"));
    assert_eq!(column(&scan, "code_function").str_at(0), None);
    assert_eq!(column(&scan, "msg_template").str_at(0), Some("[\"a\\u007fb\"]"));
    // the attributes JSON is not ASCII-escaped (as Python's, ensure_ascii=False)
    let attributes = column(&scan, "attributes").str_at(0).unwrap();
    assert!(attributes.contains("\"stage\": \"dead\"") && attributes.contains("[\"a\x7fb\"]"), "{attributes}");
}

#[test]
fn a_double_beyond_64_bits_is_no_integer() {
    // int(-1e300) is exact in Python and fits no Int64 column: no value, not i64::MIN
    for (value, expected) in [(-1e300, None), (1e19, None), (-9.3e18, None), (404.9, Some(404)), (-2.5, Some(-2))] {
        let mut any = Vec::new();
        fixed64_field(&mut any, 4, f64::to_bits(value));
        let mut fields = Vec::new();
        len_field(&mut fields, 9, &kv_bytes("http.status_code", &any));
        let scan = scanned(Signal::Traces, &request_of(&[error_span(&fields)]));
        assert_eq!(column(&scan, "http_status_code").i64_at(0), expected, "{value}");
    }
}
