//! Protobuf wire format: varints, tags, length-delimited fields, and the error that names
//! where a request is malformed.
//!
//! Every read is bounds-checked and returns a `WireError`; nothing here indexes past the
//! end of its input or panics, whatever the bytes.

use std::fmt;

/// Wire types (protobuf encoding guide).
pub const VARINT: u8 = 0;
pub const FIXED64: u8 = 1;
pub const LEN: u8 = 2;
pub const FIXED32: u8 = 5;

/// What is wrong, without where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Truncated,
    VarintTooLong,
    FieldNumberZero,
    FieldNumberTooLarge(u64),
    UnsupportedWireType(u8),
    WrongWireType { got: u8, expected: &'static str },
    LengthPastEnd { length: u64, left: usize },
    InvalidUtf8,
    TooDeep(usize),
    TooLarge { size: usize, limit: usize },
    RowsTooLarge { limit: usize },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Truncated => write!(f, "truncated message"),
            Problem::VarintTooLong => write!(f, "varint longer than 10 bytes"),
            Problem::FieldNumberZero => write!(f, "field number 0 is not allowed"),
            Problem::FieldNumberTooLarge(n) => write!(f, "field number {n} is out of range"),
            Problem::UnsupportedWireType(t) if *t == 3 || *t == 4 => {
                write!(f, "wire type {t} (group) is not supported")
            }
            Problem::UnsupportedWireType(t) => write!(f, "invalid wire type {t}"),
            Problem::WrongWireType { got, expected } => {
                write!(f, "wrong wire type {got} ({}) for a field of type {expected}", wire_type_name(*got))
            }
            Problem::LengthPastEnd { length, left } => {
                write!(f, "length {length} runs past the end of the enclosing message ({left} bytes left)")
            }
            Problem::InvalidUtf8 => write!(f, "string field is not valid UTF-8"),
            Problem::TooDeep(limit) => write!(f, "messages nested deeper than {limit} levels"),
            Problem::TooLarge { size, limit } => {
                write!(f, "request of {size} bytes is larger than the limit of {limit} bytes")
            }
            Problem::RowsTooLarge { limit } => write!(
                f,
                "the error rows of this request would hold more than {limit} bytes (each holds its resource's attributes)"
            ),
        }
    }
}

fn wire_type_name(t: u8) -> &'static str {
    match t {
        VARINT => "varint",
        FIXED64 => "64-bit",
        LEN => "length-delimited",
        FIXED32 => "32-bit",
        _ => "invalid",
    }
}

/// A problem and the path to it: `resource_spans[0].scope_spans[2].spans[7].status.message`.
/// Boxed, so that the `Result`s of the hot path stay small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(Box<Located>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub problem: Problem,
    /// Byte offset in the request where the problem was found.
    pub offset: usize,
    /// Innermost segment first (pushed while the error travels outwards).
    path: Vec<(&'static str, Option<u32>)>,
}

impl std::ops::Deref for WireError {
    type Target = Located;

    fn deref(&self) -> &Located {
        &self.0
    }
}

impl WireError {
    #[cold]
    pub fn new(problem: Problem, offset: usize) -> Self {
        WireError(Box::new(Located { problem, offset, path: Vec::new() }))
    }

    /// The error as seen from the enclosing message: inside its field `name` (element `index`
    /// of a repeated field).
    #[cold]
    pub fn within(mut self, name: &'static str, index: Option<u32>) -> Self {
        self.0.path.push((name, index));
        self
    }

    pub fn path(&self) -> String {
        let mut out = String::new();
        for (name, index) in self.0.path.iter().rev() {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(name);
            if let Some(i) = index {
                out.push_str(&format!("[{i}]"));
            }
        }
        out
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path();
        if path.is_empty() {
            write!(f, "{} at byte {}", self.problem, self.offset)
        } else {
            write!(f, "{}: {} at byte {}", path, self.problem, self.offset)
        }
    }
}

impl std::error::Error for WireError {}

pub type WireResult<T> = Result<T, WireError>;

/// A cursor over one message's bytes. `base` is the offset of `buf` in the whole request,
/// so errors and recorded ranges are in request coordinates.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

/// One field as read: its number, wire type, and the position of its tag in the request.
#[derive(Clone, Copy, Debug)]
pub struct Tag {
    pub number: u32,
    pub wire_type: u8,
    pub start: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], base: usize) -> Self {
        Reader { buf, pos: 0, base }
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Offset of the next byte in request coordinates.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    fn error(&self, problem: Problem) -> WireError {
        WireError::new(problem, self.offset())
    }

    #[inline(always)]
    pub fn varint(&mut self) -> WireResult<u64> {
        // one byte: tags, small lengths and most numbers
        if let Some(&byte) = self.buf.get(self.pos) {
            if byte < 0x80 {
                self.pos += 1;
                return Ok(u64::from(byte));
            }
        }
        self.varint_slow()
    }

    fn varint_slow(&mut self) -> WireResult<u64> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(self.error(Problem::Truncated));
            };
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(self.error(Problem::VarintTooLong))
    }

    #[inline(always)]
    pub fn tag(&mut self) -> WireResult<Tag> {
        let start = self.offset();
        let key = self.varint()?;
        let number = key >> 3;
        let wire_type = (key & 7) as u8;
        if number == 0 {
            return Err(WireError::new(Problem::FieldNumberZero, start));
        }
        if number > (1 << 29) - 1 {
            return Err(WireError::new(Problem::FieldNumberTooLarge(number), start));
        }
        if !matches!(wire_type, VARINT | FIXED64 | LEN | FIXED32) {
            return Err(WireError::new(Problem::UnsupportedWireType(wire_type), start));
        }
        Ok(Tag { number: number as u32, wire_type, start })
    }

    pub fn fixed64(&mut self) -> WireResult<u64> {
        let bytes = self.take(8)?;
        let mut array = [0u8; 8];
        array.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(array))
    }

    pub fn fixed32(&mut self) -> WireResult<u32> {
        let bytes = self.take(4)?;
        let mut array = [0u8; 4];
        array.copy_from_slice(bytes);
        Ok(u32::from_le_bytes(array))
    }

    #[inline(always)]
    fn take(&mut self, n: usize) -> WireResult<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end.and_then(|e| self.buf.get(self.pos..e)) {
            Some(bytes) => {
                self.pos += n;
                Ok(bytes)
            }
            None => Err(self.error(Problem::Truncated)),
        }
    }

    /// A length-delimited field's content, as a reader positioned in request coordinates.
    #[inline(always)]
    pub fn len_delimited(&mut self) -> WireResult<Reader<'a>> {
        let at = self.offset();
        let length = self.varint()?;
        let left = self.buf.len() - self.pos.min(self.buf.len());
        if length > left as u64 {
            return Err(WireError::new(Problem::LengthPastEnd { length, left }, at));
        }
        let base = self.offset();
        let bytes = self.take(length as usize)?;
        Ok(Reader::new(bytes, base))
    }

    /// Skips a field's value of the given wire type (its tag already read).
    pub fn skip(&mut self, wire_type: u8) -> WireResult<()> {
        match wire_type {
            VARINT => self.varint().map(|_| ()),
            FIXED64 => self.take(8).map(|_| ()),
            FIXED32 => self.take(4).map(|_| ()),
            LEN => self.len_delimited().map(|_| ()),
            other => Err(self.error(Problem::UnsupportedWireType(other))),
        }
    }

    /// The unread bytes of this reader.
    pub fn bytes(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// The reader's whole content, read or not.
    pub fn content(&self) -> &'a [u8] {
        self.buf
    }

    /// Request offset of this reader's first byte.
    pub fn base(&self) -> usize {
        self.base
    }

    /// The content as UTF-8 text (a string field).
    #[inline(always)]
    pub fn utf8(&self) -> WireResult<&'a str> {
        if self.buf.is_ascii() {
            // SAFETY: ASCII is valid UTF-8 (nearly every key and value: the fast path).
            return Ok(unsafe { std::str::from_utf8_unchecked(self.buf) });
        }
        std::str::from_utf8(self.buf).map_err(|e| WireError::new(Problem::InvalidUtf8, self.base + e.valid_up_to()))
    }
}

/// The bytes of a varint encoding `value`.
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

pub fn varint_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// A length-delimited field: tag, length, content.
pub fn put_len_field(out: &mut Vec<u8>, number: u32, content: &[u8]) {
    put_varint(out, u64::from(number) << 3 | u64::from(LEN));
    put_varint(out, content.len() as u64);
    out.extend_from_slice(content);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_sizes_agree() {
        for value in [0u64, 1, 127, 128, 300, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(out.len(), varint_len(value), "{value}");
            let mut reader = Reader::new(&out, 0);
            assert_eq!(reader.varint().ok(), Some(value));
            assert!(reader.at_end());
        }
    }

    #[test]
    fn an_eleven_byte_varint_is_refused() {
        let bytes = [0xffu8; 11];
        let err = Reader::new(&bytes, 0).varint().err();
        assert_eq!(err.map(|e| e.problem.clone()), Some(Problem::VarintTooLong));
    }

    #[test]
    fn a_length_past_the_end_is_named_with_what_is_left() {
        let bytes = [0x0a, 0x05, b'a', b'b'];
        let mut reader = Reader::new(&bytes, 0);
        reader.tag().ok();
        let err = reader.len_delimited().err();
        assert_eq!(err.map(|e| e.problem.clone()), Some(Problem::LengthPastEnd { length: 5, left: 2 }));
    }

    #[test]
    fn error_paths_read_outermost_first() {
        let err = WireError::new(Problem::InvalidUtf8, 12)
            .within("name", None)
            .within("spans", Some(3))
            .within("scope_spans", Some(0));
        assert_eq!(err.to_string(), "scope_spans[0].spans[3].name: string field is not valid UTF-8 at byte 12");
    }
}
