use serde::{Deserialize, Serialize};
use std::fmt;

/// The logical type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// 64-bit floating point numbers (integers included).
    Numeric,
    /// A string drawn from a set of levels, stored as dictionary codes.
    Categorical,
    /// `true` / `false`.
    Bool,
    /// A point in time, stored as microseconds since 1970-01-01T00:00:00Z.
    Timestamp,
}

impl ColumnType {
    /// The lower-case name used in schema files and messages.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Numeric => "numeric",
            ColumnType::Categorical => "categorical",
            ColumnType::Bool => "bool",
            ColumnType::Timestamp => "timestamp",
        }
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a column is for in a machine-learning table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An input to the model.
    #[default]
    Feature,
    /// The target the model learns to predict.
    Label,
    /// A unique row identifier (checked for duplicates, never a feature).
    Id,
    /// An entity key such as a card or customer id (not unique, never a feature).
    Key,
    /// The event time of the row (used for time-based splits and drift windows).
    Timestamp,
    /// Carried along but neither checked as a feature nor used.
    Ignore,
}

impl Role {
    /// The lower-case name used in schema files and messages.
    pub fn name(self) -> &'static str {
        match self {
            Role::Feature => "feature",
            Role::Label => "label",
            Role::Id => "id",
            Role::Key => "key",
            Role::Timestamp => "timestamp",
            Role::Ignore => "ignore",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
