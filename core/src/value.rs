//! OTLP `AnyValue`s read from the wire, and written as text the way otelproc's Python side
//! always has: JSON as Python's `json` module writes it (`", "` and `": "` separators, floats
//! as `repr`, bytes as hex).

use std::borrow::Cow;
use std::collections::HashMap;

use crate::schema::MAX_DEPTH;
use crate::wire::{Reader, WireResult, FIXED64, LEN, VARINT};

/// One `AnyValue`, borrowed from the request. A oneof set several times keeps the last.
#[derive(Clone, Copy, Debug)]
pub enum Value<'a> {
    Empty,
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    Array(Reader<'a>),
    KvList(Reader<'a>),
    Bytes(&'a [u8]),
}

impl<'a> Value<'a> {
    /// Reads an `AnyValue` message (already validated).
    pub fn read(mut reader: Reader<'a>) -> WireResult<Value<'a>> {
        let mut value = Value::Empty;
        while !reader.at_end() {
            let tag = reader.tag()?;
            value = match (tag.number, tag.wire_type) {
                (1, LEN) => Value::Str(reader.len_delimited()?.utf8()?),
                (2, VARINT) => Value::Bool(reader.varint()? != 0),
                (3, VARINT) => Value::Int(reader.varint()? as i64),
                (4, FIXED64) => Value::Double(f64::from_bits(reader.fixed64()?)),
                (5, LEN) => Value::Array(reader.len_delimited()?),
                (6, LEN) => Value::KvList(reader.len_delimited()?),
                (7, LEN) => Value::Bytes(reader.len_delimited()?.content()),
                (_, wire_type) => {
                    reader.skip(wire_type)?;
                    continue;
                }
            };
        }
        Ok(value)
    }

    /// The string of a non-empty string value.
    pub fn as_str(&self) -> Option<&'a str> {
        match self {
            Value::Str(s) if !s.is_empty() => Some(s),
            _ => None,
        }
    }

    pub fn is_empty_string(&self) -> bool {
        matches!(self, Value::Str(s) if s.is_empty())
    }

    /// As Python's `_text`: None for no value or "", a string as is, bytes as their hex (the
    /// string Python reads them as), anything else as JSON (`json.dumps`, so ASCII-escaped).
    pub fn text(&self) -> Option<Cow<'a, str>> {
        match self {
            Value::Empty | Value::Str("") | Value::Bytes([]) => None,
            Value::Str(s) => Some(Cow::Borrowed(s)),
            Value::Bytes(b) => Some(Cow::Owned(hex(b))),
            other => {
                let mut out = String::new();
                other.write_json(&mut out, true, 0);
                Some(Cow::Owned(out))
            }
        }
    }

    /// Feeds the value's identity to a hasher (its kind and its bytes as they are on the wire).
    pub fn hash_raw(&self, hasher: &mut impl std::hash::Hasher) {
        match self {
            Value::Empty => hasher.write_u8(0),
            Value::Str(s) => {
                hasher.write_u8(1);
                hasher.write(s.as_bytes());
            }
            Value::Bool(b) => hasher.write_u8(if *b { 3 } else { 2 }),
            Value::Int(i) => {
                hasher.write_u8(4);
                hasher.write_i64(*i);
            }
            Value::Double(d) => {
                hasher.write_u8(5);
                hasher.write_u64(d.to_bits());
            }
            Value::Array(r) => {
                hasher.write_u8(6);
                hasher.write(r.content());
            }
            Value::KvList(r) => {
                hasher.write_u8(7);
                hasher.write(r.content());
            }
            Value::Bytes(b) => {
                hasher.write_u8(8);
                hasher.write(b);
            }
        }
    }

    /// As Python's `int(value)` for integer columns: None when it is no integer.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            // what an i64 holds (`as` would saturate 1e300 to i64::MAX; Python's int is exact)
            Value::Double(d) if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&d.trunc()) => {
                Some(d.trunc() as i64)
            }
            Value::Str(s) => parse_python_int(s),
            _ => None,
        }
    }

    /// The value as JSON (`ensure_ascii` as Python's json option of that name).
    pub fn write_json(&self, out: &mut String, ensure_ascii: bool, depth: usize) {
        self.write_json_with(out, ensure_ascii, depth, &AsIs);
    }

    /// The value as JSON, every string in it (keys of maps too) passed through `text` first.
    pub fn write_json_with(&self, out: &mut String, ensure_ascii: bool, depth: usize, text: &dyn TextFilter) {
        match self {
            Value::Empty => out.push_str("null"),
            Value::Str(s) => write_json_str(out, &text.filter(s), ensure_ascii),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => out.push_str(&i.to_string()),
            Value::Double(d) => out.push_str(&python_float_repr(*d)),
            Value::Bytes(b) => {
                out.push('"');
                out.push_str(&hex(b));
                out.push('"');
            }
            Value::Array(reader) => {
                out.push('[');
                if depth < MAX_DEPTH {
                    let mut first = true;
                    for item in array_items(*reader) {
                        if !first {
                            out.push_str(", ");
                        }
                        first = false;
                        item.write_json_with(out, ensure_ascii, depth + 1, text);
                    }
                }
                out.push(']');
            }
            Value::KvList(reader) => {
                out.push('{');
                if depth < MAX_DEPTH {
                    let mut first = true;
                    for (key, value) in dedup_last_wins(kv_items(*reader)) {
                        if !first {
                            out.push_str(", ");
                        }
                        first = false;
                        write_json_str(out, &text.filter(key), ensure_ascii);
                        out.push_str(": ");
                        value.write_json_with(out, ensure_ascii, depth + 1, text);
                    }
                }
                out.push('}');
            }
        }
    }
}

/// What strings go through on their way into JSON (redaction, or nothing).
pub trait TextFilter {
    fn filter<'s>(&self, text: &'s str) -> Cow<'s, str>;
}

/// Strings as they are.
pub struct AsIs;

impl TextFilter for AsIs {
    fn filter<'s>(&self, text: &'s str) -> Cow<'s, str> {
        Cow::Borrowed(text)
    }
}

/// Python's `int(str)`: surrounding whitespace, a sign, digits with single underscores between.
fn parse_python_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, t.get(1..)?),
        Some(b'+') => (false, t.get(1..)?),
        _ => (false, t),
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    let mut value: i64 = 0;
    for c in digits.chars() {
        if c == '_' {
            continue;
        }
        let d = c.to_digit(10)?;
        value = value.checked_mul(10)?.checked_add(i64::from(d))?;
    }
    Some(if negative { -value } else { value })
}

/// The values of an `ArrayValue`.
pub fn array_items(reader: Reader<'_>) -> impl Iterator<Item = Value<'_>> {
    fields_of(reader, 1).filter_map(|r| Value::read(r).ok())
}

/// The (key, value) pairs of a `KeyValueList` or of repeated `KeyValue` fields.
pub fn kv_items(reader: Reader<'_>) -> impl Iterator<Item = (&str, Value<'_>)> {
    fields_of(reader, 1).filter_map(|r| key_value(r).ok())
}

/// One `KeyValue` message.
pub fn key_value(mut reader: Reader<'_>) -> WireResult<(&str, Value<'_>)> {
    let mut key = "";
    let mut value = Value::Empty;
    while !reader.at_end() {
        let tag = reader.tag()?;
        match (tag.number, tag.wire_type) {
            (1, LEN) => key = reader.len_delimited()?.utf8()?,
            (2, LEN) => value = Value::read(reader.len_delimited()?)?,
            (_, wire_type) => reader.skip(wire_type)?,
        }
    }
    Ok((key, value))
}

/// The contents of every length-delimited field `number` of a message.
pub fn fields_of(mut reader: Reader<'_>, number: u32) -> impl Iterator<Item = Reader<'_>> {
    std::iter::from_fn(move || {
        while !reader.at_end() {
            let tag = reader.tag().ok()?;
            if tag.number == number && tag.wire_type == LEN {
                return reader.len_delimited().ok();
            }
            reader.skip(tag.wire_type).ok()?;
        }
        None
    })
}

/// Pairs in first-seen key order, each with its last value (a Python dict built from them).
pub fn dedup_last_wins<'a, 'b>(pairs: impl Iterator<Item = (&'a str, Value<'b>)>) -> Vec<(&'a str, Value<'b>)> {
    let mut out: Vec<(&'a str, Value<'b>)> = Vec::new();
    // Attributes are few: a linear search beats hashing until there are many.
    let mut index: Option<HashMap<&'a str, usize, FastHash>> = None;
    for (key, value) in pairs {
        let slot = match &index {
            Some(index) => index.get(key).copied(),
            None => out.iter().position(|(k, _)| *k == key),
        };
        match slot.and_then(|i| out.get_mut(i)) {
            Some(held) => held.1 = value,
            None => {
                if let Some(index) = &mut index {
                    index.insert(key, out.len());
                }
                out.push((key, value));
                if index.is_none() && out.len() > 32 {
                    index = Some(out.iter().enumerate().map(|(i, (k, _))| (*k, i)).collect());
                }
            }
        }
    }
    out
}

/// FxHash (rustc's): a fast, non-cryptographic hash for short keys from one request.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut words = bytes.chunks_exact(8);
        for chunk in &mut words {
            let word =
                u64::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7]]);
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut word = 0u64;
            for (i, &b) in rest.iter().enumerate() {
                word |= u64::from(b) << (8 * i);
            }
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

pub type FastHash = std::hash::BuildHasherDefault<FxHasher>;

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(HEX_DIGITS[usize::from(b >> 4)]));
        out.push(char::from(HEX_DIGITS[usize::from(b & 15)]));
    }
    out
}

/// Bytes a JSON string must escape (with `ensure_ascii`, DEL and every byte >= 0x80 too).
const fn escape_table(ensure_ascii: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = b < 0x20 || b == b'"' as usize || b == b'\\' as usize || (ensure_ascii && b >= 0x7f);
        b += 1;
    }
    table
}

static ESCAPE: [bool; 256] = escape_table(false);
static ESCAPE_ASCII: [bool; 256] = escape_table(true);

/// A JSON string as Python's `json` writes it.
pub fn write_json_str(out: &mut String, s: &str, ensure_ascii: bool) {
    let table = if ensure_ascii { &ESCAPE_ASCII } else { &ESCAPE };
    out.push('"');
    let mut rest = s;
    // copy the runs that need no escape in one go
    while let Some(at) = rest.bytes().position(|b| table[usize::from(b)]) {
        out.push_str(rest.get(..at).unwrap_or_default());
        let Some(c) = rest.get(at..).and_then(|t| t.chars().next()) else { break };
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{:04x}", unit));
                }
            }
        }
        rest = rest.get(at + c.len_utf8()..).unwrap_or_default();
    }
    out.push_str(rest);
    out.push('"');
}

/// Python's `repr(float)` (which `json` uses): shortest round trip, exponent from 1e16 and
/// below 1e-4 written `1e+16` / `1e-05`, and `NaN` / `Infinity`.
pub fn python_float_repr(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    let text = format!("{d:?}");
    match text.split_once('e') {
        None => text,
        Some((mantissa, exponent)) => {
            let (sign, digits) = match exponent.strip_prefix('-') {
                Some(rest) => ('-', rest),
                None => ('+', exponent),
            };
            let mantissa = mantissa.strip_suffix(".0").unwrap_or(mantissa);
            format!("{mantissa}e{sign}{digits:0>2}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_read_as_python_writes_them() {
        for (value, python) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5e-7, "-2.5e-07"),
            (f64::INFINITY, "Infinity"),
        ] {
            assert_eq!(python_float_repr(value), python, "{value}");
        }
    }

    #[test]
    fn json_strings_escape_as_python_does() {
        let mut out = String::new();
        write_json_str(&mut out, "a\"b\\c\nd\u{1}é😀", false);
        assert_eq!(out, "\"a\\\"b\\\\c\\nd\\u0001é😀\"");
        let mut ascii = String::new();
        write_json_str(&mut ascii, "é😀\u{7f}", true);
        assert_eq!(ascii, "\"\\u00e9\\ud83d\\ude00\\u007f\"");
    }

    #[test]
    fn integers_parse_as_python_int_does() {
        assert_eq!(parse_python_int(" 42 "), Some(42));
        assert_eq!(parse_python_int("-1_000"), Some(-1000));
        assert_eq!(parse_python_int("1__0"), None);
        assert_eq!(parse_python_int("4.2"), None);
        assert_eq!(parse_python_int(""), None);
    }
}
