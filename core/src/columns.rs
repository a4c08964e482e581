//! Columns built row by row in Rust and handed to polars as one Arrow struct array
//! (the C data interface), so no Python object is made per row.

use std::sync::Arc;

use arrow_buffer::{BooleanBufferBuilder, Buffer};
use arrow_data::ArrayData;
use arrow_schema::{ArrowError, DataType, Field, Fields, TimeUnit};

/// One column's values. Strings are UTF-8 with i32 offsets (Arrow `Utf8`).
#[derive(Debug, Clone)]
pub enum Values {
    Str {
        offsets: Vec<i32>,
        data: Vec<u8>,
    },
    I64(Vec<i64>),
    I32(Vec<i32>),
    U32(Vec<u32>),
    Bool(Vec<bool>),
    /// microseconds since the epoch, UTC
    TimestampUs(Vec<i64>),
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    values: Values,
    valid: Vec<bool>,
    nulls: usize,
}

impl Column {
    /// An empty column of the kind of `values` (whatever they hold is not kept: a string
    /// column's data is only ever what `push_str` appended, which `str_at` relies on).
    pub fn new(name: &str, values: Values) -> Self {
        let values = match values {
            Values::Str { .. } => Values::Str { offsets: vec![0], data: Vec::new() },
            Values::I64(_) => Values::I64(Vec::new()),
            Values::I32(_) => Values::I32(Vec::new()),
            Values::U32(_) => Values::U32(Vec::new()),
            Values::Bool(_) => Values::Bool(Vec::new()),
            Values::TimestampUs(_) => Values::TimestampUs(Vec::new()),
        };
        Column { name: name.to_owned(), values, valid: Vec::new(), nulls: 0 }
    }

    pub fn strings(name: &str) -> Self {
        Column::new(name, Values::Str { offsets: vec![0], data: Vec::new() })
    }

    pub fn len(&self) -> usize {
        self.valid.len()
    }

    /// Bytes of text the column holds (0 for columns of numbers).
    pub fn text_bytes(&self) -> usize {
        match &self.values {
            Values::Str { data, .. } => data.len(),
            _ => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.valid.is_empty()
    }

    pub fn is_null(&self, row: usize) -> bool {
        !self.valid.get(row).copied().unwrap_or(false)
    }

    fn mark(&mut self, present: bool) {
        self.valid.push(present);
        if !present {
            self.nulls += 1;
        }
    }

    pub fn push_str(&mut self, value: Option<&str>) {
        if let Values::Str { offsets, data } = &mut self.values {
            if let Some(text) = value {
                data.extend_from_slice(text.as_bytes());
            }
            offsets.push(data.len() as i32);
            self.mark(value.is_some());
        }
    }

    /// Bytes as lowercase hex (trace and span ids); None and empty are null.
    pub fn push_hex(&mut self, value: Option<&[u8]>) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let value = value.filter(|b| !b.is_empty());
        if let Values::Str { offsets, data } = &mut self.values {
            if let Some(bytes) = value {
                data.reserve(bytes.len() * 2);
                for &b in bytes {
                    data.push(DIGITS[usize::from(b >> 4)]);
                    data.push(DIGITS[usize::from(b & 15)]);
                }
            }
            offsets.push(data.len() as i32);
            self.mark(value.is_some());
        }
    }

    pub fn push_i64(&mut self, value: Option<i64>) {
        match &mut self.values {
            Values::I64(v) | Values::TimestampUs(v) => v.push(value.unwrap_or(0)),
            _ => return,
        }
        self.mark(value.is_some());
    }

    pub fn push_i32(&mut self, value: Option<i32>) {
        if let Values::I32(v) = &mut self.values {
            v.push(value.unwrap_or(0));
            self.mark(value.is_some());
        }
    }

    pub fn push_u32(&mut self, value: Option<u32>) {
        if let Values::U32(v) = &mut self.values {
            v.push(value.unwrap_or(0));
            self.mark(value.is_some());
        }
    }

    pub fn push_bool(&mut self, value: Option<bool>) {
        if let Values::Bool(v) = &mut self.values {
            v.push(value.unwrap_or(false));
            self.mark(value.is_some());
        }
    }

    /// The string at `row`, None when null or not a string column.
    pub fn str_at(&self, row: usize) -> Option<&str> {
        if self.is_null(row) {
            return None;
        }
        match &self.values {
            Values::Str { offsets, data } => {
                let start = *offsets.get(row)? as usize;
                let end = *offsets.get(row + 1)? as usize;
                let bytes = data.get(start..end)?;
                // SAFETY: a string column's data is only ever appended from `&str`s
                // (`push_str`) and ASCII hex (`push_hex`), and `offsets` mark where each ends, so
                // every value is a whole UTF-8 string.
                Some(unsafe { std::str::from_utf8_unchecked(bytes) })
            }
            _ => None,
        }
    }

    pub fn i64_at(&self, row: usize) -> Option<i64> {
        if self.is_null(row) {
            return None;
        }
        match &self.values {
            Values::I64(v) | Values::TimestampUs(v) => v.get(row).copied(),
            Values::I32(v) => v.get(row).map(|&x| i64::from(x)),
            Values::U32(v) => v.get(row).map(|&x| i64::from(x)),
            _ => None,
        }
    }

    pub fn bool_at(&self, row: usize) -> Option<bool> {
        if self.is_null(row) {
            return None;
        }
        match &self.values {
            Values::Bool(v) => v.get(row).copied(),
            _ => None,
        }
    }

    fn data_type(&self) -> DataType {
        match self.values {
            Values::Str { .. } => DataType::Utf8,
            Values::I64(_) => DataType::Int64,
            Values::I32(_) => DataType::Int32,
            Values::U32(_) => DataType::UInt32,
            Values::Bool(_) => DataType::Boolean,
            Values::TimestampUs(_) => DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC"))),
        }
    }

    fn validity(&self) -> Option<Buffer> {
        if self.nulls == 0 {
            return None;
        }
        let mut bits = BooleanBufferBuilder::new(self.valid.len());
        for &v in &self.valid {
            bits.append(v);
        }
        Some(bits.finish().into_inner())
    }

    fn array_data(&self) -> Result<ArrayData, ArrowError> {
        let len = self.valid.len();
        let builder = ArrayData::builder(self.data_type()).len(len).null_bit_buffer(self.validity());
        let builder = match &self.values {
            Values::Str { offsets, data } => {
                if data.len() > i32::MAX as usize {
                    return Err(ArrowError::ComputeError(format!("column {} holds more than 2 GiB", self.name)));
                }
                builder.add_buffer(Buffer::from_slice_ref(offsets)).add_buffer(Buffer::from_slice_ref(data))
            }
            Values::I64(v) | Values::TimestampUs(v) => builder.add_buffer(Buffer::from_slice_ref(v)),
            Values::I32(v) => builder.add_buffer(Buffer::from_slice_ref(v)),
            Values::U32(v) => builder.add_buffer(Buffer::from_slice_ref(v)),
            Values::Bool(v) => {
                let mut bits = BooleanBufferBuilder::new(v.len());
                for &b in v {
                    bits.append(b);
                }
                builder.add_buffer(bits.finish().into_inner())
            }
        };
        builder.build()
    }
}

/// Columns of equal length, as one Arrow struct array (what polars turns into a DataFrame).
pub fn struct_array(columns: &[Column], rows: usize) -> Result<(DataType, ArrayData), ArrowError> {
    let mut fields = Vec::with_capacity(columns.len());
    let mut children = Vec::with_capacity(columns.len());
    for column in columns {
        if column.len() != rows {
            return Err(ArrowError::ComputeError(format!(
                "column {} has {} rows, expected {rows}",
                column.name,
                column.len()
            )));
        }
        fields.push(Field::new(&column.name, column.data_type(), true));
        children.push(column.array_data()?);
    }
    let data_type = DataType::Struct(Fields::from(fields));
    let data = ArrayData::builder(data_type.clone()).len(rows).child_data(children).build()?;
    Ok((data_type, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_keep_values_and_nulls() {
        let mut text = Column::strings("message");
        text.push_str(Some("a"));
        text.push_str(None);
        text.push_str(Some("héllo"));
        let mut n = Column::new("n", Values::I64(Vec::new()));
        n.push_i64(Some(5));
        n.push_i64(None);
        n.push_i64(Some(-1));
        assert_eq!(text.str_at(0), Some("a"));
        assert_eq!(text.str_at(1), None);
        assert_eq!(text.str_at(2), Some("héllo"));
        assert_eq!(n.i64_at(1), None);
        let (_, data) = struct_array(&[text, n], 3).expect("valid columns");
        assert_eq!(data.len(), 3);
        assert_eq!(data.child_data().len(), 2);
        assert_eq!(data.child_data().first().map(|c| c.null_count()), Some(1));
    }

    #[test]
    fn unequal_columns_are_an_error() {
        let mut a = Column::strings("a");
        a.push_str(Some("x"));
        assert!(struct_array(&[a, Column::strings("b")], 1).is_err());
    }
}
