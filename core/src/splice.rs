//! Enrichment in the bytes: `diagnostic.*` attributes appended to error items, and (opt-in)
//! redacted strings put in place of the originals, with the length prefix of every message
//! that encloses a change rewritten. Everything else is copied byte for byte: no message is
//! decoded or encoded again.

use std::collections::HashMap;

use crate::arrow_in::Cell;
use crate::json;
use crate::schema::{read_field, FieldValue, Kind, Msg};
use crate::value::{key_value, write_json_str, FastHash};
use crate::wire::{put_len_field, put_varint, Reader, FIXED64, LEN, VARINT};

/// Bytes appended at the end of the message whose content is `start..end`.
#[derive(Clone, Debug)]
pub struct Append {
    pub start: usize,
    pub end: usize,
    pub bytes: Vec<u8>,
}

/// A string field's content `start..end` replaced.
#[derive(Clone, Debug)]
pub struct Replace {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

#[derive(Default, Debug)]
pub struct Edits {
    appends: Vec<Append>,
    replaces: Vec<Replace>,
}

impl Edits {
    pub fn append(&mut self, start: usize, end: usize, bytes: Vec<u8>) {
        if !bytes.is_empty() {
            self.appends.push(Append { start, end, bytes });
        }
    }

    pub fn replace(&mut self, start: usize, end: usize, text: String) {
        self.replaces.push(Replace { start, end, text });
    }

    pub fn is_empty(&self) -> bool {
        self.appends.is_empty() && self.replaces.is_empty()
    }

    pub fn extend(&mut self, other: Edits) {
        self.appends.extend(other.appends);
        self.replaces.extend(other.replaces);
    }

    /// The bytes appended to the message whose content is `start..end`, when that is the only
    /// edit within it (then it is copied as it is, plus those bytes, without being read).
    fn only_append(&self, start: usize, end: usize) -> Option<&[u8]> {
        let first = self.appends.partition_point(|a| a.end < start);
        let mut within = self.appends.iter().skip(first).take_while(|a| a.end <= end);
        let append = within.next().filter(|a| a.start == start && a.end == end)?;
        if within.next().is_some() {
            return None;
        }
        let first_replace = self.replaces.partition_point(|r| r.start < start);
        if self.replaces.get(first_replace).is_some_and(|r| r.start < end) {
            return None;
        }
        Some(&append.bytes)
    }

    /// Whether any edit touches `start..=end` (a message's content).
    fn within(&self, start: usize, end: usize) -> bool {
        let first_append = self.appends.partition_point(|a| a.end < start);
        let first_replace = self.replaces.partition_point(|r| r.start < start);
        self.appends.get(first_append).is_some_and(|a| a.end <= end)
            || self.replaces.get(first_replace).is_some_and(|r| r.start <= end)
    }
}

/// The request with the edits applied. `data` was validated by the scan.
pub fn splice(request: Msg, data: &[u8], mut edits: Edits) -> Vec<u8> {
    if edits.is_empty() {
        return data.to_vec();
    }
    edits.appends.sort_by_key(|a| a.end);
    edits.replaces.sort_by_key(|r| r.start);
    let mut out = Vec::with_capacity(data.len() + edits.appends.iter().map(|a| a.bytes.len()).sum::<usize>());
    rewrite(request, Reader::new(data, 0), &edits, &mut out);
    out
}

fn rewrite(msg: Msg, mut reader: Reader<'_>, edits: &Edits, out: &mut Vec<u8>) {
    let whole = reader;
    let start = whole.base();
    let end = start + whole.content().len();
    while !reader.at_end() {
        let field_start = reader.offset();
        let Ok(tag) = reader.tag() else { break };
        let Ok((field, value)) = read_field(msg, &mut reader, tag) else { break };
        let field_end = reader.offset();
        let copy_field = |out: &mut Vec<u8>| {
            out.extend_from_slice(whole.content().get(field_start - start..field_end - start).unwrap_or_default())
        };
        match (field.map(|f| f.kind), value) {
            (Some(Kind::Message(child)), FieldValue::Message(content))
                if edits.within(content.base(), content.base() + content.content().len()) =>
            {
                let (start, bytes) = (content.base(), content.content());
                match edits.only_append(start, start + bytes.len()) {
                    Some(appended) => {
                        put_varint(out, u64::from(tag.number) << 3 | u64::from(LEN));
                        put_varint(out, (bytes.len() + appended.len()) as u64);
                        out.extend_from_slice(bytes);
                        out.extend_from_slice(appended);
                    }
                    None => {
                        let mut inner = Vec::with_capacity(bytes.len() + 64);
                        rewrite(child, content, edits, &mut inner);
                        put_len_field(out, tag.number, &inner);
                    }
                }
            }
            (Some(Kind::Str), FieldValue::Str(text)) => {
                let text_start = field_end - text.len();
                match edits.replaces.binary_search_by_key(&text_start, |r| r.start) {
                    Ok(i) if edits.replaces.get(i).is_some_and(|r| r.end == field_end) => {
                        let replacement = edits.replaces.get(i).map_or("", |r| r.text.as_str());
                        put_len_field(out, tag.number, replacement.as_bytes());
                    }
                    _ => copy_field(out),
                }
            }
            _ => copy_field(out),
        }
    }
    // several appends may end where this message ends (its last child's too): the one that
    // starts where it starts is its own
    let first = edits.appends.partition_point(|a| a.end < end);
    for append in edits.appends.iter().skip(first).take_while(|a| a.end == end) {
        if append.start == start {
            out.extend_from_slice(&append.bytes);
        }
    }
}

/// One `KeyValue` attribute field (tag `number` of the item message), for `value`.
pub fn attribute(number: u32, key: &str, value: &Cell<'_>, out: &mut Vec<u8>) {
    let mut any = Vec::with_capacity(16);
    match value {
        Cell::Null => return,
        Cell::Str(text) => put_len_field(&mut any, 1, text.as_bytes()),
        Cell::Bool(b) => {
            put_varint(&mut any, 2 << 3 | u64::from(VARINT));
            put_varint(&mut any, u64::from(*b));
        }
        Cell::Int(i) => {
            put_varint(&mut any, 3 << 3 | u64::from(VARINT));
            put_varint(&mut any, *i as u64);
        }
        Cell::Float(f) => {
            put_varint(&mut any, 4 << 3 | u64::from(FIXED64));
            any.extend_from_slice(&f.to_le_bytes());
        }
        Cell::Timestamp(us) => put_len_field(&mut any, 1, iso_utc(*us).as_bytes()),
    }
    let mut kv = Vec::with_capacity(key.len() + any.len() + 4);
    put_len_field(&mut kv, 1, key.as_bytes());
    put_len_field(&mut kv, 2, &any);
    put_varint(out, u64::from(number) << 3 | u64::from(LEN));
    put_varint(out, kv.len() as u64);
    out.extend_from_slice(&kv);
}

/// As Python's `datetime.isoformat()` of a UTC datetime: `2026-12-03T08:12:48.123456+00:00`
/// (no fraction when the microseconds are 0).
pub fn iso_utc(us: i64) -> String {
    let seconds = us.div_euclid(1_000_000);
    let micros = us.rem_euclid(1_000_000);
    let days = seconds.div_euclid(86_400);
    let secs_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (secs_of_day / 3600, secs_of_day / 60 % 60, secs_of_day % 60);
    if micros == 0 {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}+00:00")
    } else {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{micros:06}+00:00")
    }
}

/// Days since 1970-01-01 -> (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Every string value under an `AnyValue` (attributes, log bodies, nested lists and maps)
/// and every span status message of a traces or logs request, where redaction changes it:
/// the edits that redact forwarded data (opt-in).
/// A string attribute's value is redacted on its own, then in its key's context, as the
/// `"key": "value"` member the stored attributes JSON is redacted as (so `db.password` is
/// redacted for what its key says, not only for the shape of its value). Each distinct
/// (key, string) of the request is redacted once.
pub fn redactions(request: Msg, data: &[u8], redact: &dyn Fn(&str) -> Option<String>) -> Edits {
    let mut out = Redactions { redact, edits: Edits::default(), memo: HashMap::default() };
    out.collect(request, Reader::new(data, 0), 0, None);
    out.edits
}

struct Redactions<'a, 'r> {
    redact: &'r dyn Fn(&str) -> Option<String>,
    edits: Edits,
    /// (the attribute's key, or None for a string without one; the string) -> its redaction
    memo: HashMap<(Option<&'a str>, &'a str), Option<String>, FastHash>,
}

impl<'a> Redactions<'a, '_> {
    fn collect(&mut self, msg: Msg, mut reader: Reader<'a>, depth: usize, key: Option<&'a str>) {
        if depth > crate::schema::MAX_DEPTH {
            return;
        }
        // a KeyValue's key, for its value (the AnyValue directly under it)
        let own_key = if msg == Msg::KeyValue { key_value(reader).ok().map(|(k, _)| k) } else { None };
        while !reader.at_end() {
            let Ok(tag) = reader.tag() else { return };
            let Ok((field, value)) = read_field(msg, &mut reader, tag) else { return };
            let Some(field) = field else { continue };
            match (field.kind, value) {
                (Kind::Message(child), FieldValue::Message(content)) => {
                    self.collect(child, content, depth + 1, own_key)
                }
                (Kind::Str, FieldValue::Str(text))
                    if (msg == Msg::AnyValue && field.number == 1) || (msg == Msg::Status && field.number == 2) =>
                {
                    let key = key.filter(|_| msg == Msg::AnyValue);
                    let redact = self.redact;
                    let redacted = self.memo.entry((key, text)).or_insert_with(|| match key {
                        Some(key) => redact_in_context(key, text, redact),
                        None => redact(text),
                    });
                    if let Some(redacted) = redacted {
                        let end = reader.offset();
                        self.edits.replace(end - text.len(), end, redacted.clone());
                    }
                }
                _ => {}
            }
        }
    }
}

/// `text`, the string value of attribute `key`, redacted alone and then as the JSON member
/// `"key": "text"`; None when neither changes it. A member whose redaction left no JSON string
/// for the value gives `[REDACTED]` (as the stored attributes JSON does).
fn redact_in_context(key: &str, text: &str, redact: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let alone = redact(text);
    let value = alone.as_deref().unwrap_or(text);
    let mut member = String::with_capacity(key.len() + value.len() + 6);
    write_json_str(&mut member, key, false);
    member.push_str(": ");
    let prefix = member.len();
    write_json_str(&mut member, value, false);
    let Some(changed) = redact(&member) else { return alone };
    let literal = changed.strip_prefix(member.get(..prefix).unwrap_or_default());
    Some(literal.and_then(json::string_value).unwrap_or_else(|| "[REDACTED]".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_values_redacted_in_their_keys_context() {
        let redact = |text: &str| -> Option<String> {
            let out = text.replace("hunter2", "[SECRET]");
            let out = match out.split_once("\"password\": \"") {
                Some((head, _)) => format!("{head}\"password\": \"[PASSWORD]\""),
                None => out,
            };
            (out != text).then_some(out)
        };
        assert_eq!(redact_in_context("user", "bob", &redact), None);
        assert_eq!(redact_in_context("user", "bob hunter2", &redact).as_deref(), Some("bob [SECRET]"));
        assert_eq!(redact_in_context("password", "x\"y", &redact).as_deref(), Some("[PASSWORD]"));
        // the member's redaction broke the value's JSON string
        let broken = |text: &str| (text.contains("cut")).then(|| text.replace("cut\"", "cut"));
        assert_eq!(redact_in_context("k", "cut", &broken).as_deref(), Some("[REDACTED]"));
    }

    #[test]
    fn iso_timestamps_read_as_python_writes_them() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(iso_utc(1_764_749_568_123_456), "2025-12-03T08:12:48.123456+00:00");
        assert_eq!(iso_utc(951_782_400_000_000), "2000-02-29T00:00:00+00:00");
    }
}
