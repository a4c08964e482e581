//! Columns polars hands back (its `__arrow_c_stream__`): read through the Arrow C stream
//! interface into plain per-row values, for the handful of types enrichment writes.

use std::ffi::{c_char, c_int, c_void, CStr};

use arrow_data::ffi::FFI_ArrowArray;
use arrow_schema::ffi::FFI_ArrowSchema;
use arrow_schema::{DataType, TimeUnit};

/// The C stream interface struct (Arrow's `ArrowArrayStream`).
#[repr(C)]
pub struct FfiArrowArrayStream {
    pub get_schema: Option<unsafe extern "C" fn(*mut FfiArrowArrayStream, *mut FFI_ArrowSchema) -> c_int>,
    pub get_next: Option<unsafe extern "C" fn(*mut FfiArrowArrayStream, *mut FFI_ArrowArray) -> c_int>,
    pub get_last_error: Option<unsafe extern "C" fn(*mut FfiArrowArrayStream) -> *const c_char>,
    pub release: Option<unsafe extern "C" fn(*mut FfiArrowArrayStream)>,
    pub private_data: *mut c_void,
}

impl FfiArrowArrayStream {
    pub fn empty() -> Self {
        FfiArrowArrayStream {
            get_schema: None,
            get_next: None,
            get_last_error: None,
            release: None,
            private_data: std::ptr::null_mut(),
        }
    }

    fn last_error(&mut self) -> String {
        let Some(get_last_error) = self.get_last_error else { return "unknown error".into() };
        // SAFETY: the producer's callback on its own live stream; a non-null result is a C string it owns.
        let message = unsafe { get_last_error(self) };
        if message.is_null() {
            return "unknown error".into();
        }
        // SAFETY: checked non-null; the producer keeps it valid until the next call.
        unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned()
    }
}

impl Drop for FfiArrowArrayStream {
    fn drop(&mut self) {
        if let Some(release) = self.release {
            // SAFETY: a stream we own (moved out of the capsule) is released exactly once.
            unsafe { release(self) };
        }
    }
}

/// One value as enrichment writes it, borrowed from the batch it is read from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell<'a> {
    Null,
    Str(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// microseconds since the epoch, UTC
    Timestamp(i64),
}

/// Reads every batch of a struct-typed stream (a DataFrame): `on_batch` gets the column names
/// and each column's values, which live as long as the batch.
pub fn read_stream(
    stream: &mut FfiArrowArrayStream,
    mut on_batch: impl FnMut(&[String], &[Vec<Cell<'_>>]) -> Result<(), String>,
) -> Result<(), String> {
    let get_schema = stream.get_schema.ok_or("the Arrow stream is released")?;
    let get_next = stream.get_next.ok_or("the Arrow stream is released")?;
    let mut schema = FFI_ArrowSchema::empty();
    // SAFETY: the producer's callback writes a schema into the empty struct we own.
    if unsafe { get_schema(stream, &mut schema) } != 0 {
        return Err(format!("reading the Arrow schema failed: {}", stream.last_error()));
    }
    let data_type = DataType::try_from(&schema).map_err(|e| e.to_string())?;
    let DataType::Struct(fields) = &data_type else {
        return Err(format!("expected a struct (a DataFrame), got {data_type}"));
    };
    let names: Vec<String> = fields.iter().map(|f| f.name().clone()).collect();
    loop {
        let mut array = FFI_ArrowArray::empty();
        // SAFETY: the producer's callback writes the next batch (or a released one at the end).
        if unsafe { get_next(stream, &mut array) } != 0 {
            return Err(format!("reading an Arrow batch failed: {}", stream.last_error()));
        }
        if array.is_released() {
            break;
        }
        if array.num_children() != fields.len() {
            return Err("an Arrow batch does not match its schema".into());
        }
        let mut columns = Vec::with_capacity(fields.len());
        for (index, field) in fields.iter().enumerate() {
            let mut cells = Vec::with_capacity(array.len());
            read_cells(array.child(index), field.data_type(), array.offset(), array.len(), &mut cells)?;
            columns.push(cells);
        }
        on_batch(&names, &columns)?;
        // `array` is dropped here, which releases the batch
    }
    Ok(())
}

/// A buffer of the array as bytes: `len` bytes from its start (None when absent).
fn bytes(array: &FFI_ArrowArray, index: usize, len: usize) -> Option<&[u8]> {
    if index >= array.num_buffers() {
        return None;
    }
    let pointer = array.buffer(index);
    if pointer.is_null() {
        return None;
    }
    // SAFETY: a conforming producer's buffer `index` holds at least `len` bytes for this
    // array's type, length and offset (the Arrow C data interface), and lives as long as the
    // array it belongs to, which outlives this borrow.
    Some(unsafe { std::slice::from_raw_parts(pointer, len) })
}

fn bit(buffer: &[u8], index: usize) -> bool {
    buffer.get(index / 8).is_some_and(|byte| byte & (1 << (index % 8)) != 0)
}

fn fixed<const N: usize>(bytes: &[u8], index: usize) -> Option<[u8; N]> {
    let chunk = bytes.get(index * N..index * N + N)?;
    let mut out = [0u8; N];
    out.copy_from_slice(chunk);
    Some(out)
}

fn width(data_type: &DataType) -> Option<usize> {
    Some(match data_type {
        DataType::Int8 | DataType::UInt8 => 1,
        DataType::Int16 | DataType::UInt16 => 2,
        DataType::Int32 | DataType::UInt32 | DataType::Float32 => 4,
        DataType::Int64 | DataType::UInt64 | DataType::Float64 | DataType::Timestamp(..) => 8,
        _ => return None,
    })
}

/// Rows `start..start + len` of `array` (whose own offset applies too), of type `data_type`.
fn read_cells<'a>(
    array: &'a FFI_ArrowArray,
    data_type: &DataType,
    start: usize,
    len: usize,
    out: &mut Vec<Cell<'a>>,
) -> Result<(), String> {
    if matches!(data_type, DataType::Null) {
        out.extend(std::iter::repeat_n(Cell::Null, len));
        return Ok(());
    }
    let base = array.offset() + start;
    let end = base + len;
    let validity = if array.null_count() == 0 { None } else { bytes(array, 0, end.div_ceil(8)) };
    let truncated = || format!("a truncated {data_type} buffer");
    for at in base..end {
        if validity.is_some_and(|v| !bit(v, at)) {
            out.push(Cell::Null);
            continue;
        }
        let cell = match data_type {
            DataType::Utf8 => {
                let offsets = bytes(array, 1, (end + 1) * 4).ok_or_else(truncated)?;
                let (Some(s), Some(e)) = (fixed::<4>(offsets, at), fixed::<4>(offsets, at + 1)) else {
                    return Err(truncated());
                };
                let (s, e) = (i32::from_le_bytes(s) as usize, i32::from_le_bytes(e) as usize);
                utf8(bytes(array, 2, e).ok_or_else(truncated)?, s, e)?
            }
            DataType::LargeUtf8 => {
                let offsets = bytes(array, 1, (end + 1) * 8).ok_or_else(truncated)?;
                let (Some(s), Some(e)) = (fixed::<8>(offsets, at), fixed::<8>(offsets, at + 1)) else {
                    return Err(truncated());
                };
                let (s, e) = (i64::from_le_bytes(s) as usize, i64::from_le_bytes(e) as usize);
                utf8(bytes(array, 2, e).ok_or_else(truncated)?, s, e)?
            }
            DataType::Utf8View => {
                let views = bytes(array, 1, end * 16).ok_or_else(truncated)?;
                let view = fixed::<16>(views, at).ok_or_else(truncated)?;
                let [l0, l1, l2, l3, rest @ ..] = view;
                let length = u32::from_le_bytes([l0, l1, l2, l3]) as usize;
                if length <= 12 {
                    // a short string is inline in its view, after the length
                    utf8(views, at * 16 + 4, at * 16 + 4 + length)?
                } else {
                    let [_, _, _, _, b0, b1, b2, b3, o0, o1, o2, o3] = rest;
                    let buffer = u32::from_le_bytes([b0, b1, b2, b3]) as usize;
                    let offset = u32::from_le_bytes([o0, o1, o2, o3]) as usize;
                    // the data buffers come after the views; their sizes are the last buffer
                    let data_buffers = array.num_buffers().saturating_sub(3);
                    if buffer >= data_buffers {
                        return Err(truncated());
                    }
                    let sizes = bytes(array, array.num_buffers() - 1, data_buffers * 8).ok_or_else(truncated)?;
                    let size = fixed::<8>(sizes, buffer).map(i64::from_le_bytes).ok_or_else(truncated)? as usize;
                    if offset + length > size {
                        return Err(truncated());
                    }
                    utf8(bytes(array, 2 + buffer, size).ok_or_else(truncated)?, offset, offset + length)?
                }
            }
            DataType::Boolean => Cell::Bool(bit(bytes(array, 1, end.div_ceil(8)).ok_or_else(truncated)?, at)),
            other => {
                let n = width(other).ok_or_else(|| format!("cannot write a value of type {other} as an attribute"))?;
                let values = bytes(array, 1, end * n).ok_or_else(truncated)?;
                let chunk = values.get(at * n..at * n + n).ok_or_else(truncated)?;
                let mut raw = [0u8; 8];
                raw[..n].copy_from_slice(chunk);
                let signed = |bits: u32| {
                    let shift = 64 - bits;
                    (i64::from_le_bytes(raw) << shift) >> shift
                };
                match other {
                    DataType::Int8 => Cell::Int(signed(8)),
                    DataType::Int16 => Cell::Int(signed(16)),
                    DataType::Int32 => Cell::Int(signed(32)),
                    DataType::Int64 => Cell::Int(i64::from_le_bytes(raw)),
                    DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
                        Cell::Int(u64::from_le_bytes(raw) as i64)
                    }
                    DataType::Float32 => Cell::Float(f64::from(f32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]))),
                    DataType::Float64 => Cell::Float(f64::from_le_bytes(raw)),
                    DataType::Timestamp(unit, _) => {
                        let raw = i64::from_le_bytes(raw);
                        Cell::Timestamp(match unit {
                            TimeUnit::Second => raw.saturating_mul(1_000_000),
                            TimeUnit::Millisecond => raw.saturating_mul(1_000),
                            TimeUnit::Microsecond => raw,
                            TimeUnit::Nanosecond => raw / 1_000,
                        })
                    }
                    _ => Cell::Null,
                }
            }
        };
        out.push(cell);
    }
    Ok(())
}

fn utf8(bytes: &[u8], start: usize, end: usize) -> Result<Cell<'_>, String> {
    let slice = bytes.get(start..end).ok_or("string out of bounds")?;
    std::str::from_utf8(slice).map(Cell::Str).map_err(|e| e.to_string())
}
