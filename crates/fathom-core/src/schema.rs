use crate::{ColumnType, CoreError, Role, hash::sha256_hex};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The format tag written at the top of every schema contract.
pub const SCHEMA_FORMAT: &str = "fathom-schema/1";

fn default_true() -> bool {
    true
}

fn default_max_null_rate() -> f64 {
    0.05
}

fn default_format() -> String {
    SCHEMA_FORMAT.to_string()
}

/// What one column must look like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// Column name, exactly as in the data.
    pub name: String,
    /// Logical type.
    #[serde(rename = "type")]
    pub column_type: ColumnType,
    /// What the column is for.
    #[serde(default)]
    pub role: Role,
    /// Whether nulls are allowed at all.
    #[serde(default = "default_true")]
    pub nullable: bool,
    /// Largest allowed share of nulls (overrides the schema-wide value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_null_rate: Option<f64>,
    /// Smallest allowed value (numeric columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest allowed value (numeric columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The allowed levels (categorical columns); absent means any level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    /// Smallest expected share of positive labels (label column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positive_rate_min: Option<f64>,
    /// Largest expected share of positive labels (label column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positive_rate_max: Option<f64>,
}

impl ColumnSpec {
    /// A spec with only a name, type and role: nullable, no ranges.
    pub fn new(name: impl Into<String>, column_type: ColumnType, role: Role) -> Self {
        ColumnSpec {
            name: name.into(),
            column_type,
            role,
            nullable: true,
            max_null_rate: None,
            min: None,
            max: None,
            categories: None,
            positive_rate_min: None,
            positive_rate_max: None,
        }
    }

    /// Whether a present numeric value lies within the declared range.
    #[inline]
    pub fn in_range(&self, v: f64) -> bool {
        !(self.min.is_some_and(|m| v < m) || self.max.is_some_and(|m| v > m) || v.is_nan())
    }
}

/// The schema contract: the columns a table must have and the rules they
/// must follow. Written as TOML by `fathom data schema infer`, carried
/// inside every model, and checked on every batch and request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// Format tag, `fathom-schema/1`.
    #[serde(default = "default_format")]
    pub format: String,
    /// Largest allowed share of nulls in a nullable column, unless the
    /// column says otherwise.
    #[serde(default = "default_max_null_rate")]
    pub max_null_rate: f64,
    /// The columns, in the order the data has them.
    pub columns: Vec<ColumnSpec>,
}

impl Schema {
    /// A schema over the given columns with default settings.
    pub fn new(columns: Vec<ColumnSpec>) -> Self {
        Schema {
            format: default_format(),
            max_null_rate: default_max_null_rate(),
            columns,
        }
    }

    /// The spec of the column called `name`.
    pub fn column(&self, name: &str) -> Option<&ColumnSpec> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The column with the given role, if there is one.
    pub fn with_role(&self, role: Role) -> Option<&ColumnSpec> {
        self.columns.iter().find(|c| c.role == role)
    }

    /// The label column, if declared.
    pub fn label(&self) -> Option<&ColumnSpec> {
        self.with_role(Role::Label)
    }

    /// The largest allowed null share for a column.
    pub fn null_rate_limit(&self, spec: &ColumnSpec) -> f64 {
        if spec.nullable {
            spec.max_null_rate.unwrap_or(self.max_null_rate)
        } else {
            0.0
        }
    }

    /// A stable SHA-256 of the contract: the same columns and rules give the
    /// same hash on every platform and version of fathom that reads this
    /// format, whatever the TOML's layout or comments.
    pub fn hash(&self) -> String {
        // serde_json writes struct fields in declaration order and floats
        // in their shortest round-trip form, which makes this canonical.
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        sha256_hex(&canonical)
    }

    /// Checks the rules a contract must follow.
    pub fn check(&self) -> Result<(), CoreError> {
        let bad = |m: String| Err(CoreError::SchemaInvalid(m));
        if self.format != SCHEMA_FORMAT {
            return bad(format!(
                "format is '{}', but this fathom reads '{SCHEMA_FORMAT}'",
                self.format
            ));
        }
        if !(0.0..=1.0).contains(&self.max_null_rate) {
            return bad(format!(
                "max_null_rate is {}, it must lie in 0..=1",
                self.max_null_rate
            ));
        }
        if self.columns.is_empty() {
            return bad(
                "the contract declares no columns; add at least one [[columns]] table".into(),
            );
        }
        let mut names = HashSet::new();
        for role in [Role::Label, Role::Id, Role::Timestamp] {
            let with: Vec<&str> = self
                .columns
                .iter()
                .filter(|c| c.role == role)
                .map(|c| c.name.as_str())
                .collect();
            if with.len() > 1 {
                return bad(format!(
                    "columns {} all have role '{role}'; at most one may",
                    with.join(", ")
                ));
            }
        }
        for c in &self.columns {
            let at = format!("column '{}'", c.name);
            if !names.insert(c.name.as_str()) {
                return bad(format!("{at} is declared twice"));
            }
            if let Some(r) = c.max_null_rate.filter(|r| !(0.0..=1.0).contains(r)) {
                return bad(format!("{at}: max_null_rate is {r}, it must lie in 0..=1"));
            }
            if (c.min.is_some() || c.max.is_some()) && c.column_type != ColumnType::Numeric {
                return bad(format!(
                    "{at}: min/max apply to numeric columns, but it is {}",
                    c.column_type
                ));
            }
            if let (Some(lo), Some(hi)) = (c.min, c.max)
                && lo > hi
            {
                return bad(format!("{at}: min {lo} is greater than max {hi}"));
            }
            if c.categories.is_some() && c.column_type != ColumnType::Categorical {
                return bad(format!(
                    "{at}: categories apply to categorical columns, but it is {}",
                    c.column_type
                ));
            }
            if (c.positive_rate_min.is_some() || c.positive_rate_max.is_some())
                && c.role != Role::Label
            {
                return bad(format!(
                    "{at}: positive_rate_min/max apply to the label column only"
                ));
            }
            if c.role == Role::Label
                && !matches!(c.column_type, ColumnType::Numeric | ColumnType::Bool)
            {
                return bad(format!(
                    "{at}: a label must be numeric or bool, not {}",
                    c.column_type
                ));
            }
            if c.role == Role::Timestamp && c.column_type != ColumnType::Timestamp {
                return bad(format!(
                    "{at}: role 'timestamp' needs type 'timestamp', not {}",
                    c.column_type
                ));
            }
        }
        Ok(())
    }

    /// Reads and checks a contract from TOML text.
    pub fn from_toml(text: &str) -> Result<Self, CoreError> {
        let schema: Schema =
            toml::from_str(text).map_err(|e| CoreError::SchemaParse(e.to_string()))?;
        schema.check()?;
        Ok(schema)
    }

    /// Writes the contract as TOML, with its hash in a leading comment.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        format!(
            "# fathom schema contract ({} columns)\n# schema hash: {}\n# Edit ranges, categories and null limits to tighten the contract.\n\n{body}",
            self.columns.len(),
            self.hash()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Schema {
        let mut amount = ColumnSpec::new("amount", ColumnType::Numeric, Role::Feature);
        amount.min = Some(0.0);
        amount.max = Some(100.0);
        let mut cat = ColumnSpec::new("mcc", ColumnType::Categorical, Role::Feature);
        cat.categories = Some(vec!["a".into(), "b".into()]);
        let mut label = ColumnSpec::new("y", ColumnType::Numeric, Role::Label);
        label.positive_rate_min = Some(0.01);
        Schema::new(vec![amount, cat, label])
    }

    /// The hash is pinned: its canonical text, and the SHA-256 of that
    /// text as Python's `hashlib.sha256` gives it. A change of either
    /// changes every stored contract's hash, and must be a new format.
    #[test]
    fn the_hash_is_pinned_to_its_canonical_text() {
        let canonical = r#"{"format":"fathom-schema/1","max_null_rate":0.05,"columns":[{"name":"amount","type":"numeric","role":"feature","nullable":true,"min":0.0,"max":100.0},{"name":"mcc","type":"categorical","role":"feature","nullable":true,"categories":["a","b"]},{"name":"y","type":"numeric","role":"label","nullable":true,"positive_rate_min":0.01}]}"#;
        assert_eq!(
            String::from_utf8(serde_json::to_vec(&sample()).unwrap()).unwrap(),
            canonical
        );
        assert_eq!(
            sample().hash(),
            "7c3e918bc9ba85f3007a1e9fa370bf17c06a358b52f5525eea8d2f4ab1ac868f"
        );
    }

    #[test]
    fn toml_round_trip_keeps_the_hash() {
        let s = sample();
        let text = s.to_toml();
        let back = Schema::from_toml(&text).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.hash(), s.hash());
        assert!(text.contains(&s.hash()));
        let mut changed = s.clone();
        changed.columns[0].max = Some(101.0);
        assert_ne!(changed.hash(), s.hash());
    }

    #[test]
    fn broken_contracts_say_what_is_wrong() {
        let mut s = sample();
        s.columns[1].min = Some(1.0);
        assert!(
            s.check()
                .unwrap_err()
                .to_string()
                .contains("column 'mcc': min/max apply to numeric columns")
        );
        let mut s = sample();
        s.columns[0].min = Some(200.0);
        assert!(
            s.check()
                .unwrap_err()
                .to_string()
                .contains("min 200 is greater than max 100")
        );
        let err = Schema::from_toml("[[columns]]\nname = \"a\"\ntype = \"text\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `text`"), "{err}");
        let err = Schema::from_toml("columns = []").unwrap_err().to_string();
        assert!(err.contains("declares no columns"), "{err}");
    }
}
