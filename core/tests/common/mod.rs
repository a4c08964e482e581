//! What the core's robustness tests share (and the fuzz targets include): a protobuf encoder,
//! random *valid* OTLP requests with what they must count, mutations of them, and the checks
//! every scan outcome must pass.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use otelproc_core::arrow_in::Cell;
use otelproc_core::redact::Redactor;
use otelproc_core::rules::{Check, Rule, RuleSet};
use otelproc_core::scan::{scan, ColumnSpec, RowField, Scan, ScanConfig, Signal, Source};
use otelproc_core::schema::{validate, Msg};
use otelproc_core::splice::{attribute, redactions, splice, Edits};
use otelproc_core::wire::{put_varint, Reader, WireResult};

// -- a small deterministic random source (tests must reproduce from a seed) -----------------

pub struct Random(u64);

impl Random {
    pub fn new(seed: u64) -> Random {
        Random(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    /// splitmix64
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// true with probability `percent`/100
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

// -- protobuf encoding ----------------------------------------------------------------------

pub fn tag(out: &mut Vec<u8>, number: u32, wire_type: u8) {
    put_varint(out, u64::from(number) << 3 | u64::from(wire_type));
}

pub fn varint_field(out: &mut Vec<u8>, number: u32, value: u64) {
    tag(out, number, 0);
    put_varint(out, value);
}

pub fn fixed64_field(out: &mut Vec<u8>, number: u32, value: u64) {
    tag(out, number, 1);
    out.extend_from_slice(&value.to_le_bytes());
}

pub fn fixed32_field(out: &mut Vec<u8>, number: u32, value: u32) {
    tag(out, number, 5);
    out.extend_from_slice(&value.to_le_bytes());
}

pub fn len_field(out: &mut Vec<u8>, number: u32, content: &[u8]) {
    tag(out, number, 2);
    put_varint(out, content.len() as u64);
    out.extend_from_slice(content);
}

/// A message made of `fields`, each already encoded, in the order given.
pub fn message(fields: &[Vec<u8>]) -> Vec<u8> {
    fields.concat()
}

// -- random values, attributes and items -------------------------------------------------------

/// Keys the contract gives meaning to, and some it does not.
pub const KEYS: &[&str] = &[
    "service.name",
    "service.version",
    "deployment.environment",
    "deployment.environment.name",
    "host.name",
    "http.route",
    "http.response.status_code",
    "http.status_code",
    "code.function",
    "code.lineno",
    "stage",
    "exception.type",
    "exception.message",
    "exception.stacktrace",
    "exception.escaped",
    "logfire.level_num",
    "logfire.span_type",
    "logfire.msg",
    "logfire.msg_template",
    "logfire.level_name",
    "diagnostic.fingerprint",
    "diagnostic.category",
    "event.name",
    "rating",
    "comment",
    "contact",
    "user.id",
    "",
    "clé",
    "🔑",
];

const TEXTS: &[&str] = &[
    "",
    "boom",
    "connection refused: 10.0.0.7:5432",
    "pending_span",
    "user.feedback",
    "password=hunter2 token=abc",
    "bob@example.com",
    "Traceback (most recent call last):\n  File \"/app/x.py\", line 3, in run\nValueError: bad",
    "ünïcødé ✓",
    "emoji 😀🔥",
    "quote \" backslash \\ tab \t nl \n ctl \u{1}",
    "42",
    " -7 ",
    "1_000",
    "17",
];

pub fn text(rng: &mut Random) -> String {
    if rng.chance(20) {
        // arbitrary valid UTF-8, any code point
        let n = rng.below(12);
        (0..n).filter_map(|_| char::from_u32(rng.next() as u32 % 0x11_0000)).collect()
    } else {
        rng.pick(TEXTS).to_owned()
    }
}

/// An AnyValue of any type, arrays and kvlists nested up to `depth` levels.
pub fn any_value(rng: &mut Random, depth: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let choices = if depth == 0 { 8 } else { 10 };
    match rng.below(choices) {
        0 => {} // no value set
        1 | 2 => len_field(&mut out, 1, text(rng).as_bytes()),
        3 => varint_field(&mut out, 2, rng.below(2) as u64),
        4 => {
            let any = rng.next() as i64;
            let value: i64 = rng.pick(&[0, 1, -1, 17, 9, 21, 404, 500, i64::MIN, i64::MAX, any]);
            varint_field(&mut out, 3, value as u64);
        }
        5 => {
            let value: f64 = rng.pick(&[0.0, -0.0, 1.5, 1e16, 1e-7, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 17.9]);
            fixed64_field(&mut out, 4, value.to_bits());
        }
        6 | 7 => {
            let n = rng.below(6);
            let bytes = rng.bytes(n);
            len_field(&mut out, 7, &bytes);
        }
        8 => {
            let mut array = Vec::new();
            for _ in 0..rng.below(4) {
                len_field(&mut array, 1, &any_value(rng, depth - 1));
            }
            len_field(&mut out, 5, &array);
        }
        _ => {
            let mut list = Vec::new();
            for _ in 0..rng.below(4) {
                len_field(&mut list, 1, &key_value(rng, depth - 1));
            }
            len_field(&mut out, 6, &list);
        }
    }
    out
}

pub fn key_value(rng: &mut Random, depth: usize) -> Vec<u8> {
    let key = if rng.chance(15) { text(rng) } else { rng.pick(KEYS).to_owned() };
    kv_bytes(&key, &any_value(rng, depth))
}

pub fn kv_bytes(key: &str, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    len_field(&mut out, 1, key.as_bytes());
    if !value.is_empty() || key.len() % 2 == 0 {
        len_field(&mut out, 2, value);
    }
    out
}

pub fn string_kv(key: &str, value: &str) -> Vec<u8> {
    let mut any = Vec::new();
    len_field(&mut any, 1, value.as_bytes());
    kv_bytes(key, &any)
}

pub fn int_kv(key: &str, value: i64) -> Vec<u8> {
    let mut any = Vec::new();
    varint_field(&mut any, 3, value as u64);
    kv_bytes(key, &any)
}

/// A field the OTLP table does not know (numbers no OTLP message uses), well formed.
pub fn unknown_field(rng: &mut Random) -> Vec<u8> {
    let mut out = Vec::new();
    let number = rng.pick(&[17u32, 18, 99, 1000, 536_870_911]);
    match rng.below(4) {
        0 => varint_field(&mut out, number, rng.next()),
        1 => fixed64_field(&mut out, number, rng.next()),
        2 => fixed32_field(&mut out, number, rng.next() as u32),
        _ => {
            let n = rng.below(8);
            let bytes = rng.bytes(n);
            len_field(&mut out, number, &bytes);
        }
    }
    out
}

/// Fields in their canonical order, or (now and then) interleaved differently: protobuf
/// allows any order. Fields of one number keep their order (it decides which value wins).
fn assemble(rng: &mut Random, fields: Vec<Vec<u8>>) -> Vec<u8> {
    let mut fields = fields;
    if rng.chance(25) {
        fields.push(unknown_field(rng));
    }
    let bytes = fields.concat();
    if !rng.chance(15) {
        return bytes;
    }
    // one queue per field number, then a random queue's next field at each step
    let mut queues: Vec<(u32, std::collections::VecDeque<Vec<u8>>)> = Vec::new();
    let mut reader = Reader::new(&bytes, 0);
    while !reader.at_end() {
        let start = reader.offset();
        let t = reader.tag().unwrap();
        reader.skip(t.wire_type).unwrap();
        let field = bytes[start..reader.offset()].to_vec();
        match queues.iter_mut().find(|(n, _)| *n == t.number) {
            Some((_, queue)) => queue.push_back(field),
            None => queues.push((t.number, std::collections::VecDeque::from([field]))),
        }
    }
    let mut out = Vec::with_capacity(bytes.len());
    while !queues.is_empty() {
        let i = rng.below(queues.len());
        if let Some(field) = queues[i].1.pop_front() {
            out.extend(field);
        }
        if queues[i].1.is_empty() {
            queues.remove(i);
        }
    }
    out
}

/// Attributes as `(key, AnyValue bytes)`, each field encoded.
struct Attrs {
    fields: Vec<Vec<u8>>,
    /// last value per key, as a dict of them holds: (key, value bytes)
    last: Vec<(String, Vec<u8>)>,
}

impl Attrs {
    /// Up to `most - 1` random attributes, as fields numbered `number`.
    fn random(rng: &mut Random, most: usize, number: u32) -> Attrs {
        let mut attrs = Attrs { fields: Vec::new(), last: Vec::new() };
        for _ in 0..rng.below(most) {
            let kv = key_value(rng, 3);
            attrs.push(number, kv);
        }
        attrs
    }

    fn push(&mut self, number: u32, kv: Vec<u8>) {
        let (key, value) = split_kv(&kv);
        match self.last.iter_mut().find(|(k, _)| *k == key) {
            Some(held) => held.1 = value,
            None => self.last.push((key, value)),
        }
        let mut field = Vec::new();
        len_field(&mut field, number, &kv);
        self.fields.push(field);
    }

    fn get(&self, key: &str) -> Option<&[u8]> {
        self.last.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_slice())
    }
}

/// The key and value bytes of a KeyValue this module encoded (key first, value second).
fn split_kv(kv: &[u8]) -> (String, Vec<u8>) {
    let mut reader = Reader::new(kv, 0);
    let mut key = String::new();
    let mut value = Vec::new();
    while !reader.at_end() {
        let t = reader.tag().unwrap();
        let content = reader.len_delimited().unwrap();
        if t.number == 1 {
            key = content.utf8().unwrap().to_owned();
        } else {
            value = content.content().to_vec();
        }
    }
    (key, value)
}

/// An AnyValue's string, when it is one (its last oneof field).
fn any_string(value: &[u8]) -> Option<String> {
    match otelproc_core::value::Value::read(Reader::new(value, 0)).ok()? {
        otelproc_core::value::Value::Str(s) => Some(s.to_owned()),
        _ => None,
    }
}

fn any_int(value: &[u8]) -> Option<i64> {
    match otelproc_core::value::Value::read(Reader::new(value, 0)).ok()? {
        otelproc_core::value::Value::Int(i) => Some(i),
        _ => None,
    }
}

/// A random valid request and what a correct scan of it finds.
pub struct Built {
    pub bytes: Vec<u8>,
    pub items: u64,
    pub errors: u64,
    pub feedback: u64,
}

fn resource(rng: &mut Random) -> Option<Vec<u8>> {
    if rng.chance(10) {
        return None;
    }
    let mut attrs = Attrs::random(rng, 4, 1);
    if rng.chance(80) {
        let name = rng.pick(&["checkout", "billing", "", "ünï"]).to_string();
        attrs.push(1, string_kv("service.name", &name));
    }
    if rng.chance(50) {
        attrs.push(1, string_kv("service.version", "1.2.3"));
    }
    let mut fields = attrs.fields;
    if rng.chance(10) {
        let mut f = Vec::new();
        varint_field(&mut f, 2, 3);
        fields.push(f);
    }
    Some(assemble(rng, fields))
}

fn scope(rng: &mut Random) -> Option<Vec<u8>> {
    if rng.chance(20) {
        return None;
    }
    let mut fields = Vec::new();
    let mut f = Vec::new();
    len_field(&mut f, 1, rng.pick(&["app.scope", "", "logfire", "ščope"]).as_bytes());
    fields.push(f);
    if rng.chance(40) {
        let mut f = Vec::new();
        len_field(&mut f, 2, b"0.1");
        fields.push(f);
    }
    fields.extend(Attrs::random(rng, 2, 3).fields);
    Some(assemble(rng, fields))
}

fn id(rng: &mut Random, n: usize) -> Vec<u8> {
    if rng.chance(15) {
        Vec::new()
    } else {
        rng.bytes(n)
    }
}

fn time(rng: &mut Random) -> u64 {
    rng.pick(&[0u64, 1_764_749_568_123_456_789, 1_000, u64::MAX, 1_700_000_000_000_000_000])
}

/// One span and whether it is an error (by the contract).
fn span(rng: &mut Random) -> (Vec<u8>, bool) {
    let mut fields = Vec::new();
    let mut f = Vec::new();
    len_field(&mut f, 1, &id(rng, 16));
    len_field(&mut f, 2, &id(rng, 8));
    fields.push(f);
    if rng.chance(50) {
        let mut f = Vec::new();
        len_field(&mut f, 4, &id(rng, 8));
        fields.push(f);
    }
    let mut f = Vec::new();
    len_field(&mut f, 5, text(rng).as_bytes());
    varint_field(&mut f, 6, rng.below(8) as u64);
    fixed64_field(&mut f, 7, time(rng));
    fixed64_field(&mut f, 8, time(rng));
    fields.push(f);
    let mut attrs = Attrs::random(rng, 5, 9);
    if rng.chance(25) {
        attrs.push(9, int_kv("logfire.level_num", rng.pick(&[9, 13, 17, 21])));
    }
    if rng.chance(10) {
        attrs.push(9, string_kv("logfire.span_type", rng.pick(&["pending_span", "span", "log"])));
    }
    if rng.chance(10) {
        attrs.push(9, string_kv("logfire.msg_template", "payment failed for {user}"));
    }
    if rng.chance(5) {
        attrs.push(9, string_kv("diagnostic.fingerprint", "ab"));
    }
    for _ in 0..rng.below(3) {
        let kv = key_value(rng, 2);
        attrs.push(9, kv);
    }
    let level = attrs.get("logfire.level_num").and_then(any_int);
    let pending = attrs.get("logfire.span_type").and_then(any_string).as_deref() == Some("pending_span");
    fields.extend(attrs.fields);
    let mut exception = false;
    for _ in 0..rng.below(3) {
        let name = rng.pick(&["exception", "log", "", "Exception"]);
        exception |= name == "exception";
        let mut event = Vec::new();
        fixed64_field(&mut event, 1, time(rng));
        len_field(&mut event, 2, name.as_bytes());
        let mut event_attrs = Attrs::random(rng, 2, 3);
        if name == "exception" && rng.chance(80) {
            event_attrs.push(3, string_kv("exception.type", rng.pick(&["ValueError", "psycopg.OperationalError", ""])));
            event_attrs.push(3, string_kv("exception.message", &text(rng)));
            if rng.chance(50) {
                event_attrs.push(3, string_kv("exception.stacktrace", TEXTS[7]));
            }
        }
        event.extend(event_attrs.fields.concat());
        let mut f = Vec::new();
        len_field(&mut f, 11, &assemble(rng, vec![event]));
        fields.push(f);
    }
    for _ in 0..rng.below(2) {
        let mut link = Vec::new();
        len_field(&mut link, 1, &id(rng, 16));
        len_field(&mut link, 2, &id(rng, 8));
        link.extend(Attrs::random(rng, 2, 4).fields.concat());
        fixed32_field(&mut link, 6, 0x100);
        let mut f = Vec::new();
        len_field(&mut f, 13, &link);
        fields.push(f);
    }
    let mut status_error = false;
    if rng.chance(70) {
        let code = rng.below(3) as u64;
        status_error = code == 2;
        let mut status = Vec::new();
        if rng.chance(60) {
            len_field(&mut status, 2, text(rng).as_bytes());
        }
        if code != 0 || rng.chance(20) {
            varint_field(&mut status, 3, code);
        }
        let mut f = Vec::new();
        len_field(&mut f, 15, &status);
        fields.push(f);
    }
    if rng.chance(30) {
        let mut f = Vec::new();
        fixed32_field(&mut f, 16, 0x301);
        fields.push(f);
    }
    let error = !pending && (status_error || exception || level.is_some_and(|l| l >= 17));
    (assemble(rng, fields), error)
}

/// One log record, whether it is an error, and whether it is user feedback.
fn log_record(rng: &mut Random) -> (Vec<u8>, bool, bool) {
    let mut fields = Vec::new();
    let mut f = Vec::new();
    fixed64_field(&mut f, 1, time(rng));
    fields.push(f);
    let severity: i64 = rng.pick(&[0, 1, 5, 9, 13, 16, 17, 20, 21, 24, 25, -3]);
    let mut f = Vec::new();
    varint_field(&mut f, 2, severity as u64);
    if rng.chance(60) {
        len_field(&mut f, 3, rng.pick(&["ERROR", "INFO", "", "fatal"]).as_bytes());
    }
    fields.push(f);
    if rng.chance(85) {
        let mut f = Vec::new();
        len_field(&mut f, 5, &any_value(rng, 3));
        fields.push(f);
    }
    let mut attrs = Attrs::random(rng, 5, 6);
    if rng.chance(20) {
        attrs.push(6, string_kv("exception.type", "KeyError"));
        attrs.push(6, string_kv("exception.message", "missing"));
    }
    let mut event_name = "";
    if rng.chance(15) {
        attrs.push(6, string_kv("event.name", rng.pick(&["user.feedback", "other"])));
        attrs.push(6, int_kv("rating", 2));
        attrs.push(6, string_kv("contact", "bob@example.com"));
    }
    if rng.chance(10) {
        event_name = rng.pick(&["user.feedback", "other"]);
    }
    let error = severity as i32 >= 17 || attrs.last.iter().any(|(k, _)| k.starts_with("exception."));
    let feedback = event_name == "user.feedback"
        || attrs.last.iter().any(|(k, v)| k == "event.name" && any_string(v).as_deref() == Some("user.feedback"))
        // a duplicated key: any of its values names feedback
        || attrs.fields.iter().any(|f| {
            let mut reader = Reader::new(f, 0);
            reader.tag().ok();
            let kv = reader.len_delimited().map(|r| r.content().to_vec()).unwrap_or_default();
            let (k, v) = split_kv(&kv);
            k == "event.name" && any_string(&v).as_deref() == Some("user.feedback")
        });
    fields.extend(attrs.fields);
    let mut f = Vec::new();
    fixed32_field(&mut f, 8, 1);
    len_field(&mut f, 9, &id(rng, 16));
    len_field(&mut f, 10, &id(rng, 8));
    fixed64_field(&mut f, 11, time(rng));
    fields.push(f);
    if !event_name.is_empty() {
        let mut f = Vec::new();
        len_field(&mut f, 12, event_name.as_bytes());
        fields.push(f);
    }
    (assemble(rng, fields), error, feedback)
}

/// One metric and its data points.
fn metric(rng: &mut Random) -> (Vec<u8>, u64) {
    let mut fields = Vec::new();
    let mut f = Vec::new();
    len_field(&mut f, 1, b"http.server.duration");
    len_field(&mut f, 3, b"ms");
    fields.push(f);
    let points = rng.below(4) as u64;
    let kind = 5 + rng.below(5) as u32; // gauge, sum, histogram, exponential histogram, summary
    let number = [5u32, 7, 9, 10, 11][(kind - 5) as usize];
    let mut data = Vec::new();
    for _ in 0..points {
        let mut point = Vec::new();
        fixed64_field(&mut point, 3, time(rng));
        let attributes_field = match number {
            9 => 9,
            10 => 1,
            _ => 7,
        };
        point.extend(Attrs::random(rng, 3, attributes_field).fields.concat());
        match number {
            5 | 7 => {
                fixed64_field(&mut point, 4, 1.5f64.to_bits());
                let mut exemplar = Vec::new();
                fixed64_field(&mut exemplar, 3, 2.5f64.to_bits());
                len_field(&mut exemplar, 4, &id(rng, 8));
                exemplar.extend(Attrs::random(rng, 2, 7).fields.concat());
                len_field(&mut point, 5, &exemplar);
            }
            9 => {
                fixed64_field(&mut point, 4, 3);
                let mut packed = Vec::new();
                for c in [1u64, 2, 0] {
                    packed.extend_from_slice(&c.to_le_bytes());
                }
                len_field(&mut point, 6, &packed);
                len_field(&mut point, 7, &[0u8; 16]);
            }
            10 => {
                varint_field(&mut point, 6, 3);
                let mut buckets = Vec::new();
                varint_field(&mut buckets, 1, (-2i64) as u64);
                let mut packed = Vec::new();
                for c in [1u64, 300, 0] {
                    put_varint(&mut packed, c);
                }
                len_field(&mut buckets, 2, &packed);
                len_field(&mut point, 8, &buckets);
            }
            _ => {
                let mut quantile = Vec::new();
                fixed64_field(&mut quantile, 1, 0.5f64.to_bits());
                fixed64_field(&mut quantile, 2, 7.0f64.to_bits());
                len_field(&mut point, 6, &quantile);
            }
        }
        len_field(&mut data, 1, &point);
    }
    if number == 7 {
        varint_field(&mut data, 2, 2);
        varint_field(&mut data, 3, 1);
    }
    let mut f = Vec::new();
    len_field(&mut f, number, &data);
    fields.push(f);
    if rng.chance(20) {
        let mut f = Vec::new();
        len_field(&mut f, 12, &string_kv("k", "v"));
        fields.push(f);
    }
    (assemble(rng, fields), points)
}

/// A random valid export request of `signal`.
pub fn request(signal: Signal, rng: &mut Random) -> Built {
    let mut built = Built { bytes: Vec::new(), items: 0, errors: 0, feedback: 0 };
    let mut top = Vec::new();
    for _ in 0..rng.below(4) {
        let mut fields = Vec::new();
        if let Some(resource) = resource(rng) {
            let mut f = Vec::new();
            len_field(&mut f, 1, &resource);
            fields.push(f);
        }
        for _ in 0..rng.below(4) {
            let mut scope_fields = Vec::new();
            if let Some(scope) = scope(rng) {
                let mut f = Vec::new();
                len_field(&mut f, 1, &scope);
                scope_fields.push(f);
            }
            for _ in 0..rng.below(6) {
                let item = match signal {
                    Signal::Traces => {
                        let (bytes, error) = span(rng);
                        built.items += 1;
                        built.errors += u64::from(error);
                        bytes
                    }
                    Signal::Logs => {
                        let (bytes, error, feedback) = log_record(rng);
                        built.items += 1;
                        built.errors += u64::from(error);
                        built.feedback += u64::from(feedback);
                        bytes
                    }
                    Signal::Metrics => {
                        let (bytes, points) = metric(rng);
                        built.items += points;
                        bytes
                    }
                };
                let mut f = Vec::new();
                len_field(&mut f, 2, &item);
                scope_fields.push(f);
            }
            if rng.chance(20) {
                let mut f = Vec::new();
                len_field(&mut f, 3, b"https://opentelemetry.io/schemas/1.26.0");
                scope_fields.push(f);
            }
            let mut f = Vec::new();
            len_field(&mut f, 2, &assemble(rng, scope_fields));
            fields.push(f);
        }
        let mut f = Vec::new();
        len_field(&mut f, 1, &assemble(rng, fields));
        top.push(f);
    }
    built.bytes = assemble(rng, top);
    built
}

// -- mutations of valid requests -----------------------------------------------------------------

/// Damages `data` in one of the ways a broken client or a hostile one would.
pub fn mutate(data: &mut Vec<u8>, rng: &mut Random) {
    let at = rng.below(data.len() + 1);
    match rng.below(9) {
        0 if !data.is_empty() => {
            let i = rng.below(data.len());
            data[i] ^= 1 << rng.below(8);
        }
        1 if !data.is_empty() => {
            let i = rng.below(data.len());
            data[i] = rng.pick(&[0x00, 0x80, 0xff, 0x7f, 0x0b, 0x0c, 0x0e, 0x0f, 0xc3, 0xed]);
        }
        2 => data.truncate(at),
        3 => {
            // a varint of 11 bytes, or one cut short at the end
            let mut bad = vec![0xffu8; 10 + rng.below(2)];
            if rng.chance(50) {
                data.truncate(at);
                bad.truncate(1 + rng.below(9));
            }
            data.splice(at..at, bad);
        }
        4 => {
            // a length-delimited field whose length is absurd
            let mut field = Vec::new();
            tag(&mut field, 1 + rng.below(16) as u32, 2);
            put_varint(&mut field, rng.pick(&[u64::MAX, 1 << 63, 1 << 32, u64::from(u32::MAX), 0x7fff_ffff, 1 << 20]));
            data.splice(at..at, field);
        }
        5 => {
            // zero field numbers, group and reserved wire types
            let mut field = Vec::new();
            put_varint(&mut field, rng.pick(&[0u64, 1, 2, 5, 3 | 8, 4 | 8, 6 | 8, 7 | 8, 3 | (9 << 3), 4 | (2 << 3)]));
            field.push(0);
            data.splice(at..at, field);
        }
        6 if !data.is_empty() => {
            let end = (at + rng.below(16)).min(data.len());
            data.drain(at.min(end)..end);
        }
        7 if !data.is_empty() => {
            // a copy of a stretch of the request somewhere else
            let start = rng.below(data.len());
            let end = (start + 1 + rng.below(64)).min(data.len());
            let copy = data[start..end].to_vec();
            data.splice(at..at, copy);
        }
        _ => {
            // invalid UTF-8 in place of some bytes
            let bad: &[u8] = rng.pick(&[&[0xc3, 0x28][..], &[0xed, 0xa0, 0x80], &[0xff], &[0xf4, 0x90, 0x80, 0x80]]);
            for (i, &b) in bad.iter().enumerate() {
                if let Some(slot) = data.get_mut(at + i) {
                    *slot = b;
                }
            }
        }
    }
}

// -- the checks ------------------------------------------------------------------------------------

/// The error frame's columns as `pipeline/scan.py` asks the core for them (a subset of the
/// attribute keys is enough: each source kind is represented).
pub fn config() -> ScanConfig {
    let field = |name: &str| ColumnSpec { name: name.into(), source: Source::Field(RowField::parse(name).unwrap()) };
    let text = |name: &str, keys: &[&str]| ColumnSpec {
        name: name.into(),
        source: Source::Attribute { keys: keys.iter().map(|k| (*k).to_owned()).collect(), integer: false },
    };
    let integer = |name: &str, keys: &[&str]| ColumnSpec {
        name: name.into(),
        source: Source::Attribute { keys: keys.iter().map(|k| (*k).to_owned()).collect(), integer: true },
    };
    ScanConfig::new(vec![
        field("row"),
        field("kind"),
        field("occurred_at"),
        field("trace_id"),
        field("span_id"),
        field("parent_span_id"),
        text("service_name", &["service.name"]),
        text("service_version", &["service.version"]),
        text("deployment_environment", &["deployment.environment.name", "deployment.environment"]),
        field("scope_name"),
        field("span_name"),
        field("span_kind"),
        field("status_message"),
        field("severity_number"),
        field("severity_text"),
        field("error_type"),
        field("message"),
        field("stack_trace"),
        text("code_function", &["code.function.name", "code.function"]),
        integer("code_lineno", &["code.line.number", "code.lineno"]),
        integer("http_status_code", &["http.response.status_code", "http.status_code"]),
        text("stage", &["stage", "diagnostic.stage"]),
        text("msg_template", &["logfire.msg_template"]),
        field("attributes"),
        field("existing_diagnostics"),
        text("attr.user.id", &["user.id"]),
    ])
}

pub const SIGNALS: [Signal; 3] = [Signal::Traces, Signal::Logs, Signal::Metrics];

pub const LIMIT: usize = 64 << 20;

/// Scans `data` and checks the outcome: an error names a problem and where it is; a
/// success has consistent counts and columns, agrees with the message table's validator,
/// and survives enrichment (see `check_splice`). Returns the scan when it succeeded.
pub fn scan_and_check(signal: Signal, data: &[u8], config: &ScanConfig) -> Option<Scan> {
    let outcome = scan(signal, data, config, LIMIT, None);
    let table = validate(signal.request(), Reader::new(data, 0), 0);
    if let Err(error) = &outcome {
        if matches!(error.problem, otelproc_core::wire::Problem::RowsTooLarge { .. }) {
            // valid protobuf whose rows would outgrow what a request may take
            assert!(table.is_ok());
            check_error(error, data);
            return None;
        }
    }
    assert_eq!(
        outcome.is_ok(),
        table.is_ok(),
        "the scan and the table's validator disagree on {signal:?} {data:02x?}: scan {:?}, table {:?}",
        outcome.as_ref().err().map(|e| e.to_string()),
        table.err().map(|e| e.to_string())
    );
    match outcome {
        Err(error) => {
            check_error(&error, data);
            None
        }
        Ok(scan) => {
            check_counts(&scan, data);
            Some(scan)
        }
    }
}

pub fn check_error(error: &otelproc_core::wire::WireError, data: &[u8]) {
    let message = error.to_string();
    assert!(message.contains(" at byte "), "{message}");
    assert!(error.offset <= data.len(), "{message}: offset past the end of {} bytes", data.len());
    let problem = error.problem.to_string();
    assert!(!problem.is_empty() && message.contains(&problem), "{message}");
}

pub fn check_counts(scan: &Scan, data: &[u8]) {
    let rows = scan.errors.len();
    assert!(rows as u64 <= scan.items, "{rows} errors among {} items", scan.items);
    if scan.signal == Signal::Metrics {
        assert_eq!(rows, 0);
        assert_eq!(scan.feedback_rows, 0);
    }
    for column in &scan.columns {
        assert_eq!(column.len(), rows, "column {} has {} values for {rows} rows", column.name, column.len());
    }
    for column in &scan.feedback {
        assert_eq!(column.len(), scan.feedback_rows, "feedback column {}", column.name);
    }
    assert_eq!(scan.resources.iter().map(|r| r.items).sum::<u64>(), scan.items);
    assert_eq!(scan.resources.iter().map(|r| r.errors).sum::<u64>(), rows as u64);
    for resource in &scan.resources {
        assert!(resource.items > 0 && resource.errors <= resource.items, "{resource:?}");
    }
    let mut previous_end = 0;
    for (i, item) in scan.errors.iter().enumerate() {
        assert!(item.start <= item.end && item.end <= data.len(), "error item {i} at {}..{}", item.start, item.end);
        assert!(item.start >= previous_end, "error items overlap at {i}");
        previous_end = item.end;
    }
    for column in &scan.columns {
        for row in 0..rows {
            match column.name.as_str() {
                "row" => assert_eq!(column.i64_at(row), Some(row as i64)),
                "kind" => assert!(matches!(column.str_at(row), Some("span" | "log"))),
                "attributes" => {
                    let json = column.str_at(row).expect("every row has its attributes");
                    assert!(otelproc_core::json::is_valid(json), "attributes of row {row} are not JSON: {json}");
                }
                "existing_diagnostics" | "occurred_at" | "severity_number" => assert!(!column.is_null(row)),
                _ => {}
            }
        }
    }
}

/// Appends `diagnostic.*` attributes of every kind of value to every error item of a scanned
/// request, then checks the result: it scans as the same request did (same items, same error
/// items), each error item now ends with exactly the bytes appended to it (unless it carried
/// a fingerprint already or had the key), and everything between error items is unchanged.
pub fn check_splice(signal: Signal, data: &[u8], scanned: &Scan, config: &ScanConfig, rng: &mut Random) {
    let fingerprint = "ab".repeat(32);
    let category = text(rng);
    let cells = [
        ("diagnostic.fingerprint", Cell::Str(&fingerprint)),
        ("diagnostic.category", Cell::Str(&category)),
        ("diagnostic.pattern.occurrences", Cell::Int(rng.next() as i64)),
        ("diagnostic.anomaly_score", Cell::Float(f64::from_bits(rng.next()))),
        ("diagnostic.anomaly", Cell::Bool(rng.chance(50))),
        ("diagnostic.pattern.first_seen", Cell::Timestamp(rng.next() as i64 >> 12)),
        ("diagnostic.ai.root_cause", Cell::Null),
    ];
    let mut edits = Edits::default();
    let mut added: Vec<Vec<u8>> = Vec::new();
    for item in &scanned.errors {
        let number = if item.kind == otelproc_core::scan::ItemKind::Span { 9 } else { 6 };
        let mut bytes = Vec::new();
        if !item.existing {
            for (key, cell) in &cells {
                if !item.diagnostic_keys.iter().any(|k| k == key) {
                    attribute(number, key, cell, &mut bytes);
                }
            }
        }
        added.push(bytes.clone());
        edits.append(item.start, item.end, bytes);
    }
    let out = splice(signal.request(), data, edits);
    let again = scan(signal, &out, config, LIMIT, None)
        .unwrap_or_else(|e| panic!("the enriched request does not scan: {e}\n{out:02x?}"));
    assert_eq!(again.items, scanned.items);
    assert_eq!(again.errors.len(), scanned.errors.len(), "enrichment changed which items are errors");
    for ((old, new), extra) in scanned.errors.iter().zip(&again.errors).zip(&added) {
        let (old_content, new_content) = (&data[old.start..old.end], &out[new.start..new.end]);
        assert_eq!(new_content, [old_content, extra.as_slice()].concat().as_slice(), "error item at {}", old.start);
        if !extra.is_empty() {
            for (key, cell) in &cells {
                if !matches!(cell, Cell::Null) {
                    assert!(new.diagnostic_keys.iter().any(|k| k == key), "{key} was not added");
                }
            }
        }
    }
    // Field by field, the request is the one received: the error items have grown by what was
    // appended to them, nothing else changed (but the lengths of the messages enclosing them).
    let appended: Vec<(usize, &[u8])> =
        scanned.errors.iter().zip(&added).map(|(item, extra)| (item.start, extra.as_slice())).collect();
    let expected = tree(signal.request(), Reader::new(data, 0), &appended);
    let got = tree(signal.request(), Reader::new(&out, 0), &[]);
    assert_eq!(got, expected, "the enriched request differs from the one received beyond the appended attributes");
}

/// A message as its fields: scalars and unknown fields as their bytes, known message fields
/// as their own fields. `appended`: (content start, bytes) of messages to read with those
/// bytes added at their end.
#[derive(Debug, PartialEq)]
pub enum Node {
    Raw(u32, Vec<u8>),
    Message(u32, Vec<Node>),
}

pub fn tree(msg: Msg, mut reader: Reader<'_>, appended: &[(usize, &[u8])]) -> Vec<Node> {
    let mut nodes = Vec::new();
    while !reader.at_end() {
        let start = reader.offset() - reader.base();
        let t = reader.tag().unwrap();
        let field = msg.field(t.number);
        match (field.map(|f| f.kind), t.wire_type) {
            (Some(otelproc_core::schema::Kind::Message(child)), 2) => {
                let content = reader.len_delimited().unwrap();
                let mut children = tree(child, content, appended);
                if let Some((_, extra)) = appended.iter().find(|(at, _)| *at == content.base()) {
                    children.extend(tree(child, Reader::new(extra, 0), &[]));
                }
                nodes.push(Node::Message(t.number, children));
            }
            (_, wire_type) => {
                reader.skip(wire_type).unwrap();
                let end = reader.offset() - reader.base();
                nodes.push(Node::Raw(t.number, reader.content()[start..end].to_vec()));
            }
        }
    }
    nodes
}

/// A redactor with a few rules of each kind (compiled once: tests and fuzz targets share it).
pub fn redactor() -> &'static Redactor {
    static REDACTOR: std::sync::OnceLock<Redactor> = std::sync::OnceLock::new();
    REDACTOR.get_or_init(|| {
        let rule =
            |name: &str, pattern: &str, replacement: &str, check| Rule::new(name, pattern, replacement, check).unwrap();
        Redactor::new(
            RuleSet::new(vec![
                rule("password", r#"(?i)(password|token)=[^\s"]+"#, "$1=[REDACTED:secret]", None),
                rule("email", r"[\w.+-]+@[\w-]+\.[\w.]+", "[REDACTED:email]", Some(Check::Email)),
                rule("card", r"\b(?:\d[ -]?){13,19}\b", "[REDACTED:card]", Some(Check::Luhn)),
                // one that grows and one that breaks JSON, to take the JSON fallbacks
                rule("quote", r"hunter2", "\"", None),
            ])
            .unwrap(),
        )
    })
}

/// With forwarded data redacted, the request forwarded still scans as the one received.
pub fn check_redacted_forwarding(signal: Signal, data: &[u8], config: &otelproc_core::scan::ScanConfig) {
    let redactor = redactor();
    let before = scan(signal, data, config, LIMIT, Some(redactor)).unwrap();
    let edits = redactions(signal.request(), data, &|text| match redactor.redact(text) {
        std::borrow::Cow::Owned(new) if new != text => Some(new),
        _ => None,
    });
    let out = splice(signal.request(), data, edits);
    let after = scan(signal, &out, config, LIMIT, Some(redactor))
        .unwrap_or_else(|e| panic!("the redacted request does not scan: {e}"));
    assert_eq!(after.items, before.items);
    assert_eq!(after.errors.len(), before.errors.len());
    assert_eq!(after.feedback_rows, before.feedback_rows);
}

/// The outcome of a scan as a short text (for comparing two scans).
pub fn summary(outcome: &WireResult<Scan>) -> String {
    match outcome {
        Ok(scan) => format!("ok items={} errors={} feedback={}", scan.items, scan.errors.len(), scan.feedback_rows),
        Err(e) => format!("err {e}"),
    }
}

pub fn request_message(signal: Signal) -> Msg {
    signal.request()
}
