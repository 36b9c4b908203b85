//! Conversion between fathom's [`Frame`] and Arrow record batches, used at
//! the Parquet edge only.

use ahash::AHashMap;
use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{
    Array, ArrayRef, BooleanArray, DictionaryArray, Float64Array, StringArray,
    TimestampMicrosecondArray,
};
use arrow_buffer::{BooleanBuffer, NullBuffer};
use arrow_schema::{DataType, Field, Schema as ArrowSchema, TimeUnit};
use fathom_core::{Bitmap, CategoricalData, Column, ColumnData, ColumnType};
use std::sync::Arc;

/// The Arrow type fathom writes for a column type.
pub fn arrow_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::Numeric => DataType::Float64,
        ColumnType::Bool => DataType::Boolean,
        ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ColumnType::Categorical => {
            DataType::Dictionary(Box::new(DataType::UInt32), Box::new(DataType::Utf8))
        }
    }
}

/// The fathom type an Arrow type is read as, if it is supported.
pub fn column_type_of(dt: &DataType) -> Option<ColumnType> {
    Some(match dt {
        DataType::Float16 | DataType::Float32 | DataType::Float64 => ColumnType::Numeric,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => ColumnType::Numeric,
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            ColumnType::Numeric
        }
        DataType::Decimal128(_, _) => ColumnType::Numeric,
        DataType::Boolean => ColumnType::Bool,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ColumnType::Categorical,
        DataType::Dictionary(_, v) if matches!(**v, DataType::Utf8 | DataType::LargeUtf8) => {
            ColumnType::Categorical
        }
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => ColumnType::Timestamp,
        _ => return None,
    })
}

/// The Arrow schema of a frame's columns.
pub fn arrow_schema(columns: &[(String, ColumnType)]) -> Arc<ArrowSchema> {
    Arc::new(ArrowSchema::new(
        columns
            .iter()
            .map(|(n, t)| Field::new(n, arrow_type(*t), true))
            .collect::<Vec<_>>(),
    ))
}

fn null_buffer(col: &Column) -> Option<NullBuffer> {
    // Both sides keep bit `i` in bit `i % 64` of little-endian word `i / 64`.
    col.validity.as_ref().map(|b| {
        let bytes: Vec<u8> = b.words().iter().flat_map(|w| w.to_le_bytes()).collect();
        let words = arrow_buffer::Buffer::from_vec(bytes);
        NullBuffer::new(BooleanBuffer::new(words, 0, b.len()))
    })
}

/// Converts one column to an Arrow array.
pub fn to_arrow(col: &Column) -> ArrayRef {
    let nulls = null_buffer(col);
    match &col.data {
        ColumnData::Numeric(v) => Arc::new(Float64Array::new(v.clone().into(), nulls)),
        ColumnData::Bool(v) => Arc::new(BooleanArray::new(
            BooleanBuffer::from_iter(v.iter().copied()),
            nulls,
        )),
        ColumnData::Timestamp(v) => {
            Arc::new(TimestampMicrosecondArray::new(v.clone().into(), nulls).with_timezone("UTC"))
        }
        ColumnData::Categorical(c) => {
            let keys = arrow_array::UInt32Array::new(c.codes.clone().into(), nulls);
            let values = StringArray::from_iter_values(c.dictionary.iter());
            Arc::new(DictionaryArray::<UInt32Type>::new(keys, Arc::new(values)))
        }
    }
}

/// Converts a frame to a record batch.
#[cfg(test)]
pub fn frame_to_batch(frame: &fathom_core::Frame) -> arrow_array::RecordBatch {
    let cols: Vec<(String, ColumnType)> = frame
        .columns()
        .iter()
        .map(|c| (c.name.clone(), c.column_type()))
        .collect();
    let schema = arrow_schema(&cols);
    let arrays = frame.columns().iter().map(to_arrow).collect();
    arrow_array::RecordBatch::try_new(schema, arrays).expect("arrays built to match their schema")
}

/// The validity of an array as a bitmap; `None` when it has no nulls buffer.
pub(crate) fn validity_of(array: &dyn Array) -> Option<Bitmap> {
    array.logical_nulls().map(|n| {
        let bits = n.inner();
        let (offset, len) = (bits.offset(), bits.len());
        if offset % 8 == 0 {
            let bytes = &bits.values()[offset / 8..];
            let words: Vec<u64> = bytes
                .chunks(8)
                .map(|c| {
                    let mut w = [0u8; 8];
                    w[..c.len()].copy_from_slice(c);
                    u64::from_le_bytes(w)
                })
                .collect();
            Bitmap::from_words(&words, len)
        } else {
            let mut b = Bitmap::with_capacity(len);
            for i in 0..len {
                b.push(n.is_valid(i));
            }
            b
        }
    })
}

fn numeric<T: ArrowPrimitiveType>(array: &dyn Array, f: impl Fn(T::Native) -> f64) -> Vec<f64> {
    let a = array.as_primitive::<T>();
    let mut out: Vec<f64> = a.values().iter().map(|&x| f(x)).collect();
    if let Some(n) = a.nulls() {
        for (i, v) in out.iter_mut().enumerate() {
            if n.is_null(i) {
                *v = f64::NAN;
            }
        }
    }
    out
}

fn strings<'a>(len: usize, get: impl Fn(usize) -> Option<&'a str>) -> CategoricalData {
    let mut index: AHashMap<&str, u32> = AHashMap::new();
    let mut dict = Vec::new();
    let mut codes = Vec::with_capacity(len);
    for i in 0..len {
        let code = match get(i) {
            Some(s) => *index.entry(s).or_insert_with(|| {
                dict.push(s.to_string());
                (dict.len() - 1) as u32
            }),
            None => 0,
        };
        codes.push(code);
    }
    CategoricalData {
        codes,
        dictionary: Arc::new(dict),
    }
}

fn dictionary<K: ArrowDictionaryKeyType>(array: &dyn Array) -> Option<CategoricalData>
where
    K::Native: TryInto<u32>,
{
    let d = array.as_dictionary::<K>();
    let values = d.values();
    let dict: Vec<String> = if let Some(s) = values.as_string_opt::<i32>() {
        (0..s.len())
            .map(|i| {
                if s.is_valid(i) {
                    s.value(i).to_string()
                } else {
                    String::new()
                }
            })
            .collect()
    } else {
        let s = values.as_string_opt::<i64>()?;
        (0..s.len())
            .map(|i| {
                if s.is_valid(i) {
                    s.value(i).to_string()
                } else {
                    String::new()
                }
            })
            .collect()
    };
    let codes = d
        .keys()
        .iter()
        .map(|k| k.and_then(|k| k.try_into().ok()).unwrap_or(0))
        .collect();
    Some(CategoricalData {
        codes,
        dictionary: Arc::new(dict),
    })
}

/// The values of an `i64` time array converted to microseconds.
fn micros<T: ArrowPrimitiveType<Native = i64>>(
    array: &dyn Array,
    to_micros: impl Fn(i64) -> i64,
) -> Vec<i64> {
    array
        .as_primitive::<T>()
        .values()
        .iter()
        .map(|&x| to_micros(x))
        .collect()
}

/// Converts an Arrow array to a column; `None` for unsupported types.
pub fn from_arrow(name: &str, array: &dyn Array) -> Option<Column> {
    let validity = validity_of(array);
    let data = match array.data_type() {
        DataType::Float64 => ColumnData::Numeric(numeric::<Float64Type>(array, |x| x)),
        DataType::Float32 => ColumnData::Numeric(numeric::<Float32Type>(array, f64::from)),
        DataType::Float16 => ColumnData::Numeric(numeric::<Float16Type>(array, f64::from)),
        DataType::Int8 => ColumnData::Numeric(numeric::<Int8Type>(array, f64::from)),
        DataType::Int16 => ColumnData::Numeric(numeric::<Int16Type>(array, f64::from)),
        DataType::Int32 => ColumnData::Numeric(numeric::<Int32Type>(array, f64::from)),
        DataType::Int64 => ColumnData::Numeric(numeric::<Int64Type>(array, |x| x as f64)),
        DataType::UInt8 => ColumnData::Numeric(numeric::<UInt8Type>(array, f64::from)),
        DataType::UInt16 => ColumnData::Numeric(numeric::<UInt16Type>(array, f64::from)),
        DataType::UInt32 => ColumnData::Numeric(numeric::<UInt32Type>(array, f64::from)),
        DataType::UInt64 => ColumnData::Numeric(numeric::<UInt64Type>(array, |x| x as f64)),
        DataType::Decimal128(_, scale) => {
            let div = 10f64.powi(i32::from(*scale));
            ColumnData::Numeric(numeric::<Decimal128Type>(array, |x| x as f64 / div))
        }
        DataType::Boolean => {
            let b = array.as_boolean();
            ColumnData::Bool((0..b.len()).map(|i| b.value(i)).collect())
        }
        DataType::Utf8 => {
            let s = array.as_string::<i32>();
            ColumnData::Categorical(strings(s.len(), |i| s.is_valid(i).then(|| s.value(i))))
        }
        DataType::LargeUtf8 => {
            let s = array.as_string::<i64>();
            ColumnData::Categorical(strings(s.len(), |i| s.is_valid(i).then(|| s.value(i))))
        }
        DataType::Utf8View => {
            let s = array.as_string_view();
            ColumnData::Categorical(strings(s.len(), |i| s.is_valid(i).then(|| s.value(i))))
        }
        DataType::Dictionary(k, _) => ColumnData::Categorical(match **k {
            DataType::Int8 => dictionary::<Int8Type>(array)?,
            DataType::Int16 => dictionary::<Int16Type>(array)?,
            DataType::Int32 => dictionary::<Int32Type>(array)?,
            DataType::Int64 => dictionary::<Int64Type>(array)?,
            DataType::UInt8 => dictionary::<UInt8Type>(array)?,
            DataType::UInt16 => dictionary::<UInt16Type>(array)?,
            DataType::UInt32 => dictionary::<UInt32Type>(array)?,
            DataType::UInt64 => dictionary::<UInt64Type>(array)?,
            _ => return None,
        }),
        DataType::Timestamp(unit, _) => ColumnData::Timestamp(match unit {
            TimeUnit::Second => {
                micros::<TimestampSecondType>(array, |x| x.saturating_mul(1_000_000))
            }
            TimeUnit::Millisecond => {
                micros::<TimestampMillisecondType>(array, |x| x.saturating_mul(1_000))
            }
            TimeUnit::Microsecond => micros::<TimestampMicrosecondType>(array, |x| x),
            TimeUnit::Nanosecond => {
                micros::<TimestampNanosecondType>(array, |x| x.div_euclid(1_000))
            }
        }),
        DataType::Date32 => ColumnData::Timestamp(
            array
                .as_primitive::<Date32Type>()
                .values()
                .iter()
                .map(|&d| i64::from(d) * fathom_core::time::MICROS_PER_DAY)
                .collect(),
        ),
        DataType::Date64 => ColumnData::Timestamp(
            array
                .as_primitive::<Date64Type>()
                .values()
                .iter()
                .map(|&ms| ms * 1000)
                .collect(),
        ),
        _ => return None,
    };
    Some(Column::new(name, data, validity))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fathom_core::Frame;

    #[test]
    fn round_trip_every_type() {
        let mut cat = Column::categorical("c", &["a", "b", "a"]);
        cat.validity = Some(Bitmap::from_bools(&[true, false, true]));
        let frame = Frame::new(vec![
            Column::numeric("x", vec![1.5, f64::NAN, -2.0]),
            Column::boolean("b", vec![true, false, true]),
            Column::timestamp("t", vec![0, 1_000_000, -5]),
            cat,
        ])
        .unwrap();
        let batch = frame_to_batch(&frame);
        let back: Vec<Column> = batch
            .schema()
            .fields()
            .iter()
            .zip(batch.columns())
            .map(|(f, a)| from_arrow(f.name(), a.as_ref()).unwrap())
            .collect();
        let back = Frame::new(back).unwrap();
        for (a, b) in frame.columns().iter().zip(back.columns()) {
            for i in 0..3 {
                assert_eq!(a.display_value(i), b.display_value(i), "{} row {i}", a.name);
            }
        }
    }

    #[test]
    fn other_time_units_become_microseconds() {
        use arrow_array::{TimestampNanosecondArray, TimestampSecondArray};
        let ns = TimestampNanosecondArray::from(vec![1_500_000_999, -1]);
        let c = from_arrow("t", &ns).unwrap();
        assert_eq!(c.data, ColumnData::Timestamp(vec![1_500_000, -1]));
        let s = TimestampSecondArray::from(vec![2]);
        assert_eq!(
            from_arrow("t", &s).unwrap().data,
            ColumnData::Timestamp(vec![2_000_000])
        );
    }
}
