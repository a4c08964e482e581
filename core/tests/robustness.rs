//! Never a crash on input: whatever bytes arrive, the scan returns either a consistent result
//! or an error naming the problem and where it is, and enrichment of what it accepted stays
//! valid. Property tests (proptest, bounded so that `make test` stays quick: raise the number
//! of cases with `PROPTEST_CASES=100000 cargo test --release --test robustness`) and
//! exhaustive tests over the message table: every field of every message, in every place the
//! message can sit in a request.
//!
//! A failing property prints the case and records its seed under `proptest-regressions/`,
//! which is committed: the next run tries it first.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use otelproc_core::scan::{scan, Signal};
use otelproc_core::schema::{Field, Kind, Msg, MAX_DEPTH};
use otelproc_core::wire::{put_varint, Problem, Reader};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn proptest_config(cases: u32) -> ProptestConfig {
    // PROPTEST_CASES in the environment wins, for longer runs
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(cases);
    ProptestConfig {
        cases,
        // committed: a failure found once is tried first by every later run
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/robustness.txt"))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(proptest_config(50_000))]

    #[test]
    fn arbitrary_bytes_are_refused_by_name_or_scanned_consistently(
        data in prop::collection::vec(any::<u8>(), 0..400)
    ) {
        let config = config();
        for signal in SIGNALS {
            if let Some(scanned) = scan_and_check(signal, &data, &config) {
                check_splice(signal, &data, &scanned, &config, &mut Random::new(data.len() as u64));
            }
        }
    }
}

proptest! {
    #![proptest_config(proptest_config(6_000))]

    #[test]
    fn valid_requests_scan_as_they_were_built_and_enrich_cleanly(seed in any::<u64>()) {
        let config = config();
        for signal in SIGNALS {
            let mut rng = Random::new(seed);
            let built = request(signal, &mut rng);
            let scanned = scan_and_check(signal, &built.bytes, &config)
                .unwrap_or_else(|| panic!("a valid {signal:?} request was refused: {:02x?}", built.bytes));
            prop_assert_eq!(scanned.items, built.items, "items of {:?}", signal);
            prop_assert_eq!(scanned.errors.len() as u64, built.errors, "errors of {:?}", signal);
            prop_assert_eq!(scanned.feedback_rows as u64, built.feedback, "feedback of {:?}", signal);
            check_splice(signal, &built.bytes, &scanned, &config, &mut rng);
            check_redacted_forwarding(signal, &built.bytes, &config);
        }
    }

    #[test]
    fn damaged_requests_are_refused_by_name_or_scanned_consistently(seed in any::<u64>(), damages in 1usize..4) {
        let config = config();
        for signal in SIGNALS {
            let mut rng = Random::new(seed);
            let mut data = request(signal, &mut rng).bytes;
            for _ in 0..damages {
                mutate(&mut data, &mut rng);
            }
            if let Some(scanned) = scan_and_check(signal, &data, &config) {
                check_splice(signal, &data, &scanned, &config, &mut rng);
            }
            // the per-row work (redaction of the rows' JSON) on whatever was accepted
            let redactor = redactor();
            let with_redaction = scan(signal, &data, &config, LIMIT, Some(redactor));
            prop_assert_eq!(summary(&with_redaction), summary(&scan(signal, &data, &config, LIMIT, None)));
        }
    }
}

// -- every prefix of a request -------------------------------------------------------------------

/// Offsets where a top-level field of `data` ends: the only prefixes that are whole requests.
fn top_level_boundaries(data: &[u8]) -> Vec<usize> {
    let mut reader = Reader::new(data, 0);
    let mut ends = vec![0];
    while !reader.at_end() {
        let tag = reader.tag().unwrap();
        reader.skip(tag.wire_type).unwrap();
        ends.push(reader.offset());
    }
    ends
}

#[test]
fn every_prefix_of_a_request_is_refused_unless_it_is_whole() {
    let config = config();
    for signal in SIGNALS {
        let mut checked = 0;
        for seed in 0..40u64 {
            let built = request(signal, &mut Random::new(seed));
            if built.items < 3 {
                continue;
            }
            let whole = top_level_boundaries(&built.bytes);
            for cut in 0..=built.bytes.len() {
                let prefix = &built.bytes[..cut];
                let outcome = scan_and_check(signal, prefix, &config);
                assert_eq!(outcome.is_some(), whole.contains(&cut), "{signal:?} seed {seed} cut at {cut}");
                checked += 1;
            }
        }
        assert!(checked > 2000, "{signal:?}: only {checked} prefixes");
    }
}

// -- the message table, exhaustively ---------------------------------------------------------------

/// Every way down from a request to a message: the fields passed through (no message twice).
fn paths(signal: Signal) -> Vec<(Msg, Vec<&'static Field>)> {
    fn walk(msg: Msg, path: &mut Vec<&'static Field>, seen: &mut Vec<Msg>, out: &mut Vec<(Msg, Vec<&'static Field>)>) {
        out.push((msg, path.clone()));
        for field in msg.fields() {
            if let Kind::Message(child) = field.kind {
                if !seen.contains(&child) {
                    seen.push(child);
                    path.push(field);
                    walk(child, path, seen, out);
                    path.pop();
                    seen.pop();
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(signal.request(), &mut Vec::new(), &mut vec![signal.request()], &mut out);
    out
}

/// `content` as the message at the end of `path`, in a request (each message on the way the
/// first of its field).
fn embed(path: &[&'static Field], content: &[u8]) -> Vec<u8> {
    let mut bytes = content.to_vec();
    for field in path.iter().rev() {
        let mut outer = Vec::new();
        len_field(&mut outer, field.number, &bytes);
        bytes = outer;
    }
    bytes
}

/// How an error names the place at the end of `path`: `resource_spans[0].scope_spans[0].spans[0]`.
fn named(path: &[&'static Field]) -> String {
    path.iter()
        .map(|f| if f.repeated { format!("{}[0]", f.name) } else { f.name.to_owned() })
        .collect::<Vec<_>>()
        .join(".")
}

fn joined(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

fn refused(signal: Signal, data: &[u8]) -> otelproc_core::wire::WireError {
    let config = config();
    assert!(scan_and_check(signal, data, &config).is_none(), "{signal:?} accepted {data:02x?}");
    scan(signal, data, &config, LIMIT, None).err().unwrap()
}

fn assert_names(error: &otelproc_core::wire::WireError, expected: &str, context: &str) {
    assert_eq!(error.path(), expected, "{context}: {error}");
}

fn every_place() -> Vec<(Signal, Msg, Vec<&'static Field>)> {
    let mut out = Vec::new();
    for signal in SIGNALS {
        for (msg, path) in paths(signal) {
            out.push((signal, msg, path));
        }
    }
    assert!(out.len() > 100, "only {} places", out.len());
    out
}

#[test]
fn a_known_field_with_a_wrong_wire_type_is_named_in_every_place() {
    let mut checked = 0;
    for (signal, msg, path) in every_place() {
        for field in msg.fields() {
            for wire_type in [0u8, 1, 2, 5] {
                let accepted = match field.kind {
                    Kind::Varint => wire_type == 0,
                    Kind::Fixed64 => wire_type == 1,
                    Kind::Fixed32 => wire_type == 5,
                    Kind::Str | Kind::Bytes | Kind::Message(_) => wire_type == 2,
                    Kind::PackedVarint => wire_type == 0 || wire_type == 2,
                    Kind::PackedFixed64 => wire_type == 1 || wire_type == 2,
                };
                if accepted {
                    continue;
                }
                let mut bad = Vec::new();
                tag(&mut bad, field.number, wire_type);
                bad.extend_from_slice(match wire_type {
                    0 => &[1][..],
                    1 => &[0; 8],
                    2 => &[1, b'x'],
                    _ => &[0; 4],
                });
                let error = refused(signal, &embed(&path, &bad));
                let context = format!("{}.{} as wire type {wire_type}", msg.full_name(), field.name);
                assert!(
                    matches!(error.problem, Problem::WrongWireType { got, .. } if got == wire_type),
                    "{context}: {error}"
                );
                assert_names(&error, &joined(&named(&path), field.name), &context);
                checked += 1;
            }
        }
    }
    assert!(checked > 500, "{checked}");
}

#[test]
fn invalid_utf8_in_every_string_field_is_named_in_every_place() {
    let mut checked = 0;
    for (signal, msg, path) in every_place() {
        for field in msg.fields().iter().filter(|f| f.kind == Kind::Str) {
            for bad in [
                &[0xc3u8, 0x28][..],
                &[b'o', b'k', 0xff],
                &[0xed, 0xa0, 0x80],
                &[0xf4, 0x90, 0x80, 0x80],
                &[0xe2, 0x82],
            ] {
                let mut content = Vec::new();
                len_field(&mut content, field.number, bad);
                let error = refused(signal, &embed(&path, &content));
                let context = format!("{}.{} = {bad:02x?}", msg.full_name(), field.name);
                assert_eq!(error.problem, Problem::InvalidUtf8, "{context}: {error}");
                assert_names(&error, &joined(&named(&path), field.name), &context);
                checked += 1;
            }
        }
    }
    assert!(checked > 300, "{checked}");
}

#[test]
fn zero_field_numbers_groups_and_invalid_wire_types_are_refused_in_every_place() {
    for (signal, msg, path) in every_place() {
        for (key, expected) in [
            (0u64, Problem::FieldNumberZero),
            (2, Problem::FieldNumberZero),
            (5, Problem::FieldNumberZero),
            (1 << 3 | 3, Problem::UnsupportedWireType(3)),
            (20 << 3 | 4, Problem::UnsupportedWireType(4)),
            (1 << 3 | 6, Problem::UnsupportedWireType(6)),
            (99 << 3 | 7, Problem::UnsupportedWireType(7)),
        ] {
            let mut content = Vec::new();
            put_varint(&mut content, key);
            content.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
            let error = refused(signal, &embed(&path, &content));
            let context = format!("{} with key {key:#x}", msg.full_name());
            assert_eq!(error.problem, expected, "{context}: {error}");
            assert_names(&error, &named(&path), &context);
            assert!(error.to_string().contains(&expected.to_string()));
        }
        // field numbers past 2^29 - 1
        let mut content = Vec::new();
        put_varint(&mut content, 1u64 << 32 | 2);
        content.push(0);
        let error = refused(signal, &embed(&path, &content));
        assert!(matches!(error.problem, Problem::FieldNumberTooLarge(_)), "{}: {error}", msg.full_name());
    }
}

#[test]
fn huge_and_overlong_lengths_are_refused_in_every_place() {
    for (signal, msg, path) in every_place() {
        for field in msg.fields() {
            let length_delimited = matches!(
                field.kind,
                Kind::Str | Kind::Bytes | Kind::Message(_) | Kind::PackedVarint | Kind::PackedFixed64
            );
            if !length_delimited {
                continue;
            }
            for length in [u64::MAX, 1 << 63, 1 << 32, u64::from(u32::MAX), i32::MAX as u64, 64 << 20, 3] {
                let mut content = Vec::new();
                tag(&mut content, field.number, 2);
                put_varint(&mut content, length);
                content.extend_from_slice(b"ab");
                let error = refused(signal, &embed(&path, &content));
                let context = format!("{}.{} of length {length}", msg.full_name(), field.name);
                assert_eq!(error.problem, Problem::LengthPastEnd { length, left: 2 }, "{context}: {error}");
                // named by the field, or for a packed field by the message holding it
                let parent = named(&path);
                assert!(error.path() == joined(&parent, field.name) || error.path() == parent, "{context}: {error}");
            }
        }
    }
}

#[test]
fn overlong_and_cut_varints_are_refused_in_every_place() {
    for (signal, msg, path) in every_place() {
        // as a tag, as a length, and as the value of every varint field
        let mut cases: Vec<(Vec<u8>, Problem)> = vec![
            (vec![0xff; 11], Problem::VarintTooLong),
            (vec![0x80; 10], Problem::VarintTooLong),
            (vec![0xff, 0xff], Problem::Truncated),
            // the length of a field no OTLP message has (99, length-delimited)
            ([&[0x9a, 0x06][..], &[0xff; 11]].concat(), Problem::VarintTooLong),
            (vec![0x9a, 0x06, 0x80], Problem::Truncated),
        ];
        for field in msg.fields().iter().filter(|f| matches!(f.kind, Kind::Varint | Kind::PackedVarint)) {
            let mut bad = Vec::new();
            tag(&mut bad, field.number, 0);
            cases.push(([&bad[..], &[0xff; 11]].concat(), Problem::VarintTooLong));
            cases.push(([&bad[..], &[0xff; 3]].concat(), Problem::Truncated));
        }
        for field in msg.fields().iter().filter(|f| matches!(f.kind, Kind::Fixed64 | Kind::Fixed32)) {
            let mut bad = Vec::new();
            tag(&mut bad, field.number, if field.kind == Kind::Fixed64 { 1 } else { 5 });
            cases.push(([&bad[..], &[0; 3]].concat(), Problem::Truncated));
        }
        for (content, expected) in cases {
            let error = refused(signal, &embed(&path, &content));
            let context = format!("{} with {content:02x?}", msg.full_name());
            assert_eq!(error.problem, expected, "{context}: {error}");
            assert!(error.path().starts_with(&named(&path)), "{context}: {error}");
        }
    }
}

#[test]
fn a_request_over_the_limit_is_refused_before_anything_is_read() {
    let built = request(Signal::Traces, &mut Random::new(3));
    let error = scan(Signal::Traces, &built.bytes, &config(), built.bytes.len() - 1, None).err().unwrap();
    assert_eq!(error.problem, Problem::TooLarge { size: built.bytes.len(), limit: built.bytes.len() - 1 });
    assert!(scan(Signal::Traces, &built.bytes, &config(), built.bytes.len(), None).is_ok());
}

// -- nesting ---------------------------------------------------------------------------------------

/// An AnyValue holding `levels` arrays (or kvlists) one inside the other, a string innermost.
fn nested(levels: usize, kvlist: bool, leaf: &[u8]) -> Vec<u8> {
    let mut any = Vec::new();
    len_field(&mut any, 1, leaf);
    for _ in 0..levels {
        let mut container = Vec::new();
        if kvlist {
            let mut kv = Vec::new();
            len_field(&mut kv, 1, b"k");
            len_field(&mut kv, 2, &any);
            len_field(&mut container, 1, &kv);
        } else {
            len_field(&mut container, 1, &any);
        }
        let mut outer = Vec::new();
        len_field(&mut outer, if kvlist { 6 } else { 5 }, &container);
        any = outer;
    }
    any
}

#[test]
fn nesting_thousands_deep_is_refused_and_up_to_the_limit_is_read_in_every_place() {
    let config = config();
    let mut places = 0;
    for (signal, msg, path) in every_place() {
        if msg != Msg::AnyValue {
            continue;
        }
        places += 1;
        let depth = path.len(); // the AnyValue's own depth (the request is 0)
        for kvlist in [false, true] {
            let per_level = if kvlist { 3 } else { 2 };
            for levels in [5000, 1000, (MAX_DEPTH - depth) / per_level + 1] {
                let error = refused(signal, &embed(&path, &nested(levels, kvlist, b"x")));
                assert_eq!(
                    error.problem,
                    Problem::TooDeep(MAX_DEPTH),
                    "{} levels under {}: {error}",
                    levels,
                    named(&path)
                );
                assert!(error.path().starts_with(&named(&path)));
            }
            let deepest = (MAX_DEPTH - depth) / per_level;
            let data = embed(&path, &nested(deepest, kvlist, b"x"));
            let scanned = scan_and_check(signal, &data, &config)
                .unwrap_or_else(|| panic!("{deepest} levels under {} refused", named(&path)));
            check_splice(signal, &data, &scanned, &config, &mut Random::new(1));
            // and invalid UTF-8 at the bottom of it is still found and named
            let error = refused(signal, &embed(&path, &nested(deepest, kvlist, &[0xc3, 0x28])));
            assert_eq!(error.problem, Problem::InvalidUtf8, "{}: {error}", named(&path));
            assert!(error.path().ends_with("string_value"), "{error}");
        }
    }
    assert!(places > 20, "{places}");
}

#[test]
fn deeply_nested_error_attributes_reach_the_row_as_json() {
    // a span in error whose attribute nests to the limit: its row's JSON holds all of it
    let config = config();
    let depth_of_value = 5; // request, resource_spans, scope_spans, spans, attributes -> value
    let levels = (MAX_DEPTH - depth_of_value) / 2;
    let mut span = Vec::new();
    len_field(&mut span, 9, &kv_bytes("deep", &nested(levels, false, "😀".as_bytes())));
    let mut status = Vec::new();
    varint_field(&mut status, 3, 2);
    len_field(&mut span, 15, &status);
    let mut scope = Vec::new();
    len_field(&mut scope, 2, &span);
    let mut resource_spans = Vec::new();
    len_field(&mut resource_spans, 2, &scope);
    let mut data = Vec::new();
    len_field(&mut data, 1, &resource_spans);
    let scanned = scan_and_check(Signal::Traces, &data, &config).unwrap();
    let attributes = scanned.columns.iter().find(|c| c.name == "attributes").unwrap();
    let json = attributes.str_at(0).unwrap();
    assert_eq!(json, format!("{{\"deep\": {}\"😀\"{}}}", "[".repeat(levels), "]".repeat(levels)));
}
