//! Result and failure tables: their column schemas (derived from an experiment's
//! declarations) and the Parquet writer.
//!
//! Only Athena-readable physical types are used: `int64`, `double`, `boolean` and UTF-8
//! `binary`. Files are Snappy-compressed, one row group per shard, with column statistics.

use crate::error::{Result, SweepError};
use crate::experiment::{Experiment, Value, ValueType};
use parquet::basic::Compression;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The type of a result column, named as Athena and Glue name it. A manifest naming any
/// other type fails to load instead of being read as a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// 64-bit signed integer (Parquet `int64`).
    Bigint,
    /// 64-bit float (Parquet `double`).
    Double,
    /// Boolean.
    Boolean,
    /// UTF-8 string (Parquet `binary` with the STRING annotation).
    String,
}

impl ColumnType {
    /// Every column type, in a fixed order.
    pub const ALL: [ColumnType; 4] = [
        ColumnType::Bigint,
        ColumnType::Double,
        ColumnType::Boolean,
        ColumnType::String,
    ];

    /// The Athena/Glue type name.
    pub fn athena_name(self) -> &'static str {
        match self {
            ColumnType::Bigint => "bigint",
            ColumnType::Double => "double",
            ColumnType::Boolean => "boolean",
            ColumnType::String => "string",
        }
    }

    /// The Parquet physical type and logical annotation.
    fn parquet(self) -> (&'static str, &'static str) {
        match self {
            ColumnType::Bigint => ("int64", ""),
            ColumnType::Double => ("double", ""),
            ColumnType::Boolean => ("boolean", ""),
            ColumnType::String => ("binary", " (STRING)"),
        }
    }
}

impl From<ValueType> for ColumnType {
    fn from(ty: ValueType) -> Self {
        match ty {
            ValueType::Float => ColumnType::Double,
            ValueType::Int => ColumnType::Bigint,
            ValueType::Bool => ColumnType::Boolean,
            ValueType::Str => ColumnType::String,
        }
    }
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Column name (snake_case).
    pub name: String,
    /// Column type.
    #[serde(rename = "type")]
    pub ty: ColumnType,
}

fn col(name: &str, ty: ValueType) -> Column {
    Column {
        name: name.to_string(),
        ty: ty.into(),
    }
}

/// Columns of `results/<experiment>`: `point`, `replicate`, parameters, metrics, `seed`,
/// `duration_us`.
pub fn results_columns(exp: &dyn Experiment) -> Vec<Column> {
    let mut cols = vec![
        col("point", ValueType::Int),
        col("replicate", ValueType::Int),
    ];
    cols.extend(exp.params().iter().map(|p| col(p.name, p.ty)));
    cols.extend(exp.metrics().iter().map(|m| col(m.name, m.ty)));
    cols.push(col("seed", ValueType::Int));
    cols.push(col("duration_us", ValueType::Int));
    cols
}

/// Columns of `failures/<experiment>`: `point`, `replicate`, parameters, `seed`,
/// `error_kind`, `message`, `duration_us`.
pub fn failures_columns(exp: &dyn Experiment) -> Vec<Column> {
    let mut cols = vec![
        col("point", ValueType::Int),
        col("replicate", ValueType::Int),
    ];
    cols.extend(exp.params().iter().map(|p| col(p.name, p.ty)));
    cols.push(col("seed", ValueType::Int));
    cols.push(col("error_kind", ValueType::Str));
    cols.push(col("message", ValueType::Str));
    cols.push(col("duration_us", ValueType::Int));
    cols
}

#[derive(Debug)]
enum Data {
    Float(Vec<f64>),
    Int(Vec<i64>),
    Bool(Vec<bool>),
    Str(Vec<ByteArray>),
}

fn mismatch(columns: &[Column], i: usize) -> SweepError {
    SweepError::Corrupt(format!(
        "row value {i} does not match column {:?}",
        columns.get(i).map(|c| c.name.as_str())
    ))
}

/// Accumulates rows column by column, then encodes them as one Parquet file.
#[derive(Debug)]
pub struct TableBuilder {
    columns: Vec<Column>,
    data: Vec<Data>,
    rows: usize,
}

impl TableBuilder {
    /// An empty table with `columns`.
    pub fn new(columns: Vec<Column>) -> Self {
        let data = columns
            .iter()
            .map(|c| match c.ty {
                ColumnType::Double => Data::Float(Vec::new()),
                ColumnType::Bigint => Data::Int(Vec::new()),
                ColumnType::Boolean => Data::Bool(Vec::new()),
                ColumnType::String => Data::Str(Vec::new()),
            })
            .collect();
        TableBuilder {
            columns,
            data,
            rows: 0,
        }
    }

    /// Number of complete rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Appends one row; `values` must match the columns in number and type.
    pub fn push_row<'a>(&mut self, values: impl IntoIterator<Item = &'a Value>) -> Result<()> {
        let mut n = 0;
        for (i, v) in values.into_iter().enumerate() {
            let columns = &self.columns;
            let Some(data) = self.data.get_mut(i) else {
                return Err(mismatch(columns, i));
            };
            match (data, v) {
                (Data::Float(d), Value::Float(x)) => d.push(*x),
                (Data::Float(d), Value::Int(x)) => d.push(*x as f64),
                (Data::Int(d), Value::Int(x)) => d.push(*x),
                (Data::Bool(d), Value::Bool(x)) => d.push(*x),
                (Data::Str(d), Value::Str(x)) => d.push(ByteArray::from(x.as_ref())),
                _ => return Err(mismatch(columns, i)),
            }
            n += 1;
        }
        if n != self.columns.len() {
            return Err(mismatch(&self.columns, n));
        }
        self.rows += 1;
        Ok(())
    }

    /// Encodes the table as a Parquet file.
    pub fn to_parquet(self) -> Result<Vec<u8>> {
        let fields: Vec<String> = self
            .columns
            .iter()
            .map(|c| {
                let (physical, logical) = c.ty.parquet();
                format!("  required {physical} {}{logical};", c.name)
            })
            .collect();
        let message = format!("message sweep_row {{\n{}\n}}", fields.join("\n"));
        let err = |e: parquet::errors::ParquetError| SweepError::Corrupt(format!("parquet: {e}"));
        let schema = Arc::new(parse_message_type(&message).map_err(err)?);
        let props = Arc::new(
            WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .set_created_by(format!("sweep_magic {}", env!("CARGO_PKG_VERSION")))
                .build(),
        );
        let mut buf = Vec::new();
        let mut writer = SerializedFileWriter::new(&mut buf, schema, props).map_err(err)?;
        let mut row_group = writer.next_row_group().map_err(err)?;
        let mut data = self.data.into_iter();
        while let Some(mut column) = row_group.next_column().map_err(err)? {
            match data.next().expect("one data vector per column") {
                Data::Float(v) => column.typed::<DoubleType>().write_batch(&v, None, None),
                Data::Int(v) => column.typed::<Int64Type>().write_batch(&v, None, None),
                Data::Bool(v) => column.typed::<BoolType>().write_batch(&v, None, None),
                Data::Str(v) => column.typed::<ByteArrayType>().write_batch(&v, None, None),
            }
            .map_err(err)?;
            column.close().map_err(err)?;
        }
        row_group.close().map_err(err)?;
        writer.close().map_err(err)?;
        Ok(buf)
    }
}

/// Reads back a table this module wrote: its rows, in file order, each with one value per
/// column (the types the columns declare). Used to retry failed rows.
pub fn read_rows(bytes: &[u8]) -> Result<Vec<Vec<Value>>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    let err = |e: parquet::errors::ParquetError| SweepError::Corrupt(format!("parquet: {e}"));
    let reader = SerializedFileReader::new(bytes::Bytes::copy_from_slice(bytes)).map_err(err)?;
    let mut rows = Vec::new();
    for row in reader.get_row_iter(None).map_err(err)? {
        let row = row.map_err(err)?;
        let mut values = Vec::with_capacity(row.len());
        for (name, field) in row.get_column_iter() {
            values.push(match field {
                Field::Long(v) => Value::Int(*v),
                Field::Double(v) => Value::Float(*v),
                Field::Bool(v) => Value::Bool(*v),
                Field::Str(v) => Value::Str(v.clone().into()),
                other => {
                    return Err(SweepError::Corrupt(format!(
                        "parquet: column {name} holds {other}, not a sweep value"
                    )));
                }
            });
        }
        rows.push(values);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_types_use_athena_names_and_refuse_others() {
        for ty in ColumnType::ALL {
            let json = serde_json::to_string(&ty).unwrap();
            assert_eq!(json, format!("\"{}\"", ty.athena_name()));
            assert_eq!(serde_json::from_str::<ColumnType>(&json).unwrap(), ty);
        }
        let bad = r#"{"name": "x", "type": "varchar"}"#;
        let err = serde_json::from_str::<Column>(bad).unwrap_err().to_string();
        assert!(err.contains("varchar"), "{err}");
    }

    #[test]
    fn tables_read_back_as_written() {
        let columns = vec![
            Column {
                name: "point".into(),
                ty: ColumnType::Bigint,
            },
            Column {
                name: "x".into(),
                ty: ColumnType::Double,
            },
            Column {
                name: "ok".into(),
                ty: ColumnType::Boolean,
            },
            Column {
                name: "why".into(),
                ty: ColumnType::String,
            },
        ];
        let rows = vec![
            vec![
                Value::Int(3),
                Value::Float(-0.1),
                Value::Bool(true),
                Value::Str("timeout".into()),
            ],
            vec![
                Value::Int(-7),
                Value::Float(1e300),
                Value::Bool(false),
                Value::Str("".into()),
            ],
        ];
        let mut table = TableBuilder::new(columns);
        for row in &rows {
            table.push_row(row).unwrap();
        }
        assert_eq!(read_rows(&table.to_parquet().unwrap()).unwrap(), rows);
        assert!(read_rows(b"not parquet").is_err());
    }
}
