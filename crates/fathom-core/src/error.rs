use thiserror::Error;

/// Errors raised by the shared vocabulary types.
#[derive(Debug, Error)]
pub enum CoreError {
    /// Columns of one frame must have the same number of rows.
    #[error(
        "column '{column}' has {found} rows but the frame has {expected}; every column of a frame must have the same length"
    )]
    RaggedFrame {
        /// The offending column.
        column: String,
        /// Rows in the first column.
        expected: usize,
        /// Rows in the offending column.
        found: usize,
    },
    /// Two columns share a name.
    #[error("column name '{0}' appears twice; column names must be unique")]
    DuplicateColumn(String),
    /// A column was asked for by a name the frame or schema does not have.
    #[error("no column named '{name}'; the columns are: {}", valid.join(", "))]
    ColumnNotFound {
        /// The name asked for.
        name: String,
        /// The names that exist.
        valid: Vec<String>,
    },
    /// A schema contract file could not be parsed.
    #[error("schema contract is not valid: {0}")]
    SchemaParse(String),
    /// A schema contract is well-formed TOML but breaks a rule.
    #[error("schema contract is not valid: {0}")]
    SchemaInvalid(String),
}
