//! What is logged: one answered prediction, or one feedback label.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which rollout route answered (or shadowed) a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// The production model.
    Production,
    /// The canary model, answering its share of traffic.
    Canary,
    /// A shadow model: scored, logged, not returned.
    Shadow,
    /// The fallback answer given when no model could score.
    Fallback,
}

impl Variant {
    /// The lower-case name used in files and messages.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Production => "production",
            Variant::Canary => "canary",
            Variant::Shadow => "shadow",
            Variant::Fallback => "fallback",
        }
    }

    /// The variant with this lower-case name.
    pub fn from_name(name: &str) -> Option<Variant> {
        Some(match name {
            "production" => Variant::Production,
            "canary" => Variant::Canary,
            "shadow" => Variant::Shadow,
            "fallback" => Variant::Fallback,
            _ => return None,
        })
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            Variant::Production => 0,
            Variant::Canary => 1,
            Variant::Shadow => 2,
            Variant::Fallback => 3,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Variant> {
        Some(match code {
            0 => Variant::Production,
            1 => Variant::Canary,
            2 => Variant::Shadow,
            3 => Variant::Fallback,
            _ => return None,
        })
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One answered prediction.
///
/// The server fills it on the hot path without serialising anything:
/// `inputs` is the request's JSON object text as received. The writer
/// thread sanitises it (see [`crate::Sanitizer`]) before it reaches disk, so
/// a record read back holds the sanitised JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionRecord {
    /// The request id (the server uses UUID v7 text).
    pub request_id: String,
    /// When the prediction was answered, in milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The registered model name.
    pub model: String,
    /// The model version that scored.
    pub version: i64,
    /// The rollout route.
    pub variant: Variant,
    /// The record's JSON object text (raw on append, sanitised when read).
    pub inputs: Bytes,
    /// The model's score.
    pub score: f64,
    /// The decision at the model's threshold; `None` for regression.
    pub decision: Option<bool>,
    /// Time spent answering, in microseconds.
    pub latency_us: u32,
    /// Whether the answer was degraded (fallback, missing features, ...).
    pub degraded: bool,
}

/// A label that arrived for an earlier prediction, joined by request id.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackRecord {
    /// The request id of the prediction it labels.
    pub request_id: String,
    /// When the label arrived, in milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The label (0/1 for classification).
    pub label: f64,
}
