//! The request contract: which JSON fields a served model reads, what type
//! each must have, and the one parser that turns a request record into the
//! model's input row — reporting every problem at once.
//!
//! A record is a flat JSON object, one member per column of the model's
//! schema. The fields the model's pipeline reads are required unless the
//! schema marks them nullable (then they may be `null` or absent, and the
//! pipeline imputes them). Other schema columns (ids, entity keys, event
//! time, the label) may be sent and are ignored by the model; fields the
//! schema does not know follow the configured [`UnknownFields`] policy.

use fathom_core::{ColumnType, Role, Schema};
use fathom_model::artifact::ModelArtifact;
use fathom_model::pipeline::Value;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

/// What to do with a field the model's schema does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownFields {
    /// Accept the request and ignore the field (the default, as most JSON
    /// APIs do, so clients can send more than one model needs).
    #[default]
    Ignore,
    /// Refuse the request with 422, naming the field.
    Reject,
}

/// One problem with a request record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// The field, as a JSON pointer-like path (`amount`, `records[3].amount`).
    pub field: String,
    /// What the contract expects.
    pub expected: String,
    /// What came.
    pub got: String,
}

/// How one known field is read.
#[derive(Debug, Clone)]
struct Field {
    /// Index into the model's input row, for fields the pipeline reads.
    slot: Option<usize>,
    column_type: ColumnType,
    nullable: bool,
    /// This is the sticky-routing entity key.
    is_key: bool,
}

/// The compiled contract of one served model.
#[derive(Debug, Clone)]
pub struct RecordPlan {
    fields: ahash::AHashMap<String, Field>,
    /// Names of the pipeline's inputs, in row order.
    inputs: Vec<String>,
    /// For each input slot: must it be present and non-null?
    required: Vec<bool>,
    /// For each input slot: its column's type.
    types: Vec<ColumnType>,
    unknown: UnknownFields,
}

/// A JSON scalar as it came, borrowing from the request body when it can.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    /// `null` (or absent).
    Null,
    /// A number.
    Number(f64),
    /// `true` or `false`.
    Bool(bool),
    /// A string.
    Text(Cow<'a, str>),
    /// An object or array, which no column accepts.
    Nested(&'static str),
}

impl Scalar<'_> {
    fn describe(&self) -> String {
        match self {
            Scalar::Null => "null".into(),
            Scalar::Number(v) => format!("number {v}"),
            Scalar::Bool(b) => format!("boolean {b}"),
            Scalar::Text(s) => {
                let short: String = s.chars().take(40).collect();
                format!("string {short:?}")
            }
            Scalar::Nested(kind) => (*kind).to_string(),
        }
    }
}

/// A parsed record: one raw value per model input, and the entity key.
#[derive(Debug, Default)]
pub struct ParsedRecord<'a> {
    /// One scalar per pipeline input (in [`RecordPlan::inputs`] order).
    pub values: Vec<Scalar<'a>>,
    /// The entity key's value as text, when the record has one.
    pub key: Option<Cow<'a, str>>,
}

impl<'a> ParsedRecord<'a> {
    /// The row as the pipeline's values. Timestamps were checked when
    /// parsing, so a text value of a timestamp input parses here.
    pub fn row(&self, plan: &RecordPlan) -> Vec<Value<'_>> {
        let mut out = Vec::with_capacity(self.values.len());
        self.fill_row(plan, &mut out);
        out
    }

    /// Like [`row`](Self::row) into a reused vector.
    pub fn fill_row<'s>(&'s self, plan: &RecordPlan, out: &mut Vec<Value<'s>>) {
        out.clear();
        for (i, v) in self.values.iter().enumerate() {
            out.push(match v {
                Scalar::Null | Scalar::Nested(_) => Value::Missing,
                Scalar::Number(x) => match plan.input_type(i) {
                    ColumnType::Timestamp => Value::Time((*x * 1e6) as i64),
                    _ => Value::Number(*x),
                },
                Scalar::Bool(b) => Value::Bool(*b),
                Scalar::Text(s) => match plan.input_type(i) {
                    ColumnType::Timestamp => fathom_core::time::parse_timestamp(s.as_bytes())
                        .map_or(Value::Missing, Value::Time),
                    _ => Value::Text(s),
                },
            });
        }
    }
}

impl RecordPlan {
    /// Compiles the contract of `artifact`: its schema's columns, the
    /// inputs its pipeline (and every ensemble member's) reads, and the
    /// entity key column used for sticky routing (`key`, or the schema's
    /// `key` role column when `None`).
    pub fn new(artifact: &ModelArtifact, key: Option<&str>, unknown: UnknownFields) -> Self {
        let schema: &Schema = &artifact.schema;
        let inputs: Vec<String> = artifact
            .pipeline
            .inputs
            .iter()
            .map(|t| t.column().to_string())
            .collect();
        let key_name = key
            .map(str::to_string)
            .or_else(|| schema.with_role(Role::Key).map(|c| c.name.clone()));
        let mut fields = ahash::AHashMap::new();
        for c in &schema.columns {
            fields.insert(
                c.name.clone(),
                Field {
                    slot: None,
                    column_type: c.column_type,
                    nullable: c.nullable,
                    is_key: key_name.as_deref() == Some(c.name.as_str()),
                },
            );
        }
        let mut required = Vec::with_capacity(inputs.len());
        for (i, name) in inputs.iter().enumerate() {
            let f = fields.entry(name.clone()).or_insert(Field {
                slot: None,
                column_type: ColumnType::Numeric,
                nullable: true,
                is_key: false,
            });
            f.slot = Some(i);
            required.push(!f.nullable);
        }
        if let Some(k) = &key_name {
            fields.entry(k.clone()).or_insert(Field {
                slot: None,
                column_type: ColumnType::Categorical,
                nullable: true,
                is_key: true,
            });
        }
        let types = inputs.iter().map(|name| fields[name].column_type).collect();
        Self {
            fields,
            inputs,
            required,
            types,
            unknown,
        }
    }

    /// The pipeline inputs, in row order.
    pub fn inputs(&self) -> &[String] {
        &self.inputs
    }

    fn input_type(&self, slot: usize) -> ColumnType {
        self.types[slot]
    }

    /// Each known field with its type, whether the model reads it and
    /// whether it is required (for the API description).
    pub fn describe(&self) -> Vec<(String, ColumnType, bool, bool)> {
        let mut out: Vec<_> = self
            .fields
            .iter()
            .map(|(name, f)| {
                let required = f.slot.is_some_and(|s| self.required[s]);
                (name.clone(), f.column_type, f.slot.is_some(), required)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Parses one record from JSON text. `path` prefixes field names in
    /// problems (`""` for a single record, `"records[3]."` in a batch).
    pub fn parse<'a>(&self, json: &'a [u8], path: &str) -> Result<ParsedRecord<'a>, Vec<Problem>> {
        let mut de = serde_json::Deserializer::from_slice(json);
        let mut problems = Vec::new();
        let seed = RecordSeed {
            plan: self,
            path,
            problems: &mut problems,
        };
        let parsed = match seed.deserialize(&mut de).and_then(|r| de.end().map(|()| r)) {
            Ok(r) => r,
            Err(e) => {
                let what = if path.is_empty() {
                    "the request body".to_string()
                } else {
                    path.trim_end_matches('.').to_string()
                };
                return Err(vec![Problem {
                    field: what,
                    expected: "a JSON object with one member per input field".into(),
                    got: format!("invalid JSON: {e}"),
                }]);
            }
        };
        for (i, v) in parsed.values.iter().enumerate() {
            // A value of the wrong type was nulled after its problem was
            // noted: one entry per field, so it is not "missing" as well.
            if self.required[i]
                && *v == Scalar::Null
                && !problems
                    .iter()
                    .any(|p| p.field.strip_prefix(path) == Some(self.inputs[i].as_str()))
            {
                problems.push(Problem {
                    field: format!("{path}{}", self.inputs[i]),
                    expected: format!("{} (required)", type_name(self.input_type(i))),
                    got: "missing or null".into(),
                });
            }
        }
        if problems.is_empty() {
            Ok(parsed)
        } else {
            Err(problems)
        }
    }

    fn check(&self, field: &Field, v: &Scalar<'_>) -> Option<(String, String)> {
        let ok = match (field.column_type, v) {
            (_, Scalar::Null) => true,
            (_, Scalar::Nested(_)) => false,
            (ColumnType::Numeric, Scalar::Number(x)) => x.is_finite(),
            (ColumnType::Numeric, _) => false,
            (ColumnType::Bool, Scalar::Bool(_)) => true,
            (ColumnType::Bool, _) => false,
            (ColumnType::Categorical, Scalar::Text(_)) => true,
            // Codes such as a merchant category id may come as numbers.
            (ColumnType::Categorical, Scalar::Number(_)) => field.is_key,
            (ColumnType::Categorical, _) => false,
            (ColumnType::Timestamp, Scalar::Text(s)) => {
                fathom_core::time::parse_timestamp(s.as_bytes()).is_some()
            }
            (ColumnType::Timestamp, Scalar::Number(x)) => x.is_finite(),
            (ColumnType::Timestamp, _) => false,
        };
        if ok {
            return None;
        }
        Some((type_name(field.column_type).to_string(), v.describe()))
    }
}

/// The JSON type a column expects, as the API documents it.
pub fn type_name(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Numeric => "number",
        ColumnType::Categorical => "string",
        ColumnType::Bool => "boolean",
        ColumnType::Timestamp => "string (RFC 3339 time) or number (seconds since 1970)",
    }
}

struct RecordSeed<'p> {
    plan: &'p RecordPlan,
    path: &'p str,
    problems: &'p mut Vec<Problem>,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = ParsedRecord<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = ParsedRecord<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let plan = self.plan;
        let mut out = ParsedRecord {
            values: vec![Scalar::Null; plan.inputs.len()],
            key: None,
        };
        while let Some(Key(name)) = map.next_key::<Key<'de>>()? {
            let value: Scalar<'de> = map.next_value()?;
            let Some(field) = plan.fields.get(name.as_ref()) else {
                if plan.unknown == UnknownFields::Reject {
                    self.problems.push(Problem {
                        field: format!("{}{name}", self.path),
                        expected: "no such field (the model's schema does not have it)".into(),
                        got: value.describe(),
                    });
                }
                continue;
            };
            if let Some((expected, got)) = plan.check(field, &value) {
                self.problems.push(Problem {
                    field: format!("{}{name}", self.path),
                    expected,
                    got,
                });
                continue;
            }
            if field.is_key {
                out.key = match &value {
                    Scalar::Text(s) => Some(s.clone()),
                    Scalar::Number(x) => Some(Cow::Owned(x.to_string())),
                    Scalar::Bool(b) => Some(Cow::Owned(b.to_string())),
                    _ => None,
                };
            }
            if let Some(slot) = field.slot {
                out.values[slot] = value;
            }
        }
        Ok(out)
    }
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

/// A member name, borrowed from the body unless it holds escapes (serde's
/// `Cow<str>` always copies, an allocation per member).
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(v)))
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(v)))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Nested("array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Nested("object"))
    }
}
