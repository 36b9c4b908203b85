//! PII handling of logged inputs: configured fields are hashed or dropped
//! before a record reaches disk.

use crate::error::{LogError, Result};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::fmt;

/// Which top-level input fields are hashed or dropped.
///
/// Applied in the writer thread, never on the caller's. A hashed field's
/// value becomes the lower-case hex text of SHA-256 over the salt's UTF-8
/// bytes followed by the value's bytes: a string's decoded UTF-8 content,
/// or the JSON text of any other value (`12345`, `true`, `[1,2]`). A
/// `null` stays `null`. A dropped field is absent from the logged JSON.
/// Every other field is copied as received, in its order.
///
/// ```
/// use fathom_predlog::Sanitizer;
/// let s = Sanitizer { hash: vec!["card".into()], drop: vec!["email".into()], salt: "pepper".into() };
/// let mut out = Vec::new();
/// s.sanitize(br#"{"amount": 12.5, "card": "4111", "email": "a@b.c"}"#, &mut out).unwrap();
/// let text = String::from_utf8(out).unwrap();
/// assert!(text.starts_with(r#"{"amount":12.5,"card":""#));
/// assert!(!text.contains("email") && !text.contains("4111"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sanitizer {
    /// Fields whose values are replaced by a salted SHA-256 hex digest.
    pub hash: Vec<String>,
    /// Fields removed from the logged inputs.
    pub drop: Vec<String>,
    /// The secret prepended to each hashed value; required when `hash` is not empty.
    pub salt: String,
}

/// The inputs were not a JSON object, so nothing of them could be logged safely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAnObject(pub String);

impl fmt::Display for NotAnObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "inputs are not a JSON object: {}", self.0)
    }
}

impl std::error::Error for NotAnObject {}

enum Action {
    Hash,
    Drop,
}

impl Sanitizer {
    /// Whether the sanitiser leaves inputs unchanged (no field hashed or dropped).
    pub fn is_identity(&self) -> bool {
        self.hash.is_empty() && self.drop.is_empty()
    }

    pub(crate) fn check(&self) -> Result<()> {
        if let Some(f) = self.hash.iter().find(|f| self.drop.contains(f)) {
            return Err(LogError::Config {
                detail: format!(
                    "sanitize: field {f:?} is both hashed and dropped; list it in one of them"
                ),
            });
        }
        if !self.hash.is_empty() && self.salt.is_empty() {
            return Err(LogError::Config {
                detail: "sanitize: fields are hashed but the salt is empty; set a secret salt, or an unsalted hash of a card number can be reversed by trying every number".into(),
            });
        }
        Ok(())
    }

    fn action(&self, field: &str) -> Option<Action> {
        if self.drop.iter().any(|f| f == field) {
            Some(Action::Drop)
        } else if self.hash.iter().any(|f| f == field) {
            Some(Action::Hash)
        } else {
            None
        }
    }

    /// The hex digest a hashed field's value bytes become.
    pub fn hash_value(&self, value: &[u8]) -> String {
        let mut h = Sha256::new();
        h.update(self.salt.as_bytes());
        h.update(value);
        hex::encode(h.finalize())
    }

    /// Appends the sanitised form of the JSON object `json` to `out`.
    ///
    /// With no field to hash or drop the bytes are copied unchanged (not
    /// even checked). Otherwise the object is re-emitted without
    /// insignificant white space; on an error nothing is appended.
    pub fn sanitize(&self, json: &[u8], out: &mut Vec<u8>) -> std::result::Result<(), NotAnObject> {
        if self.is_identity() {
            out.extend_from_slice(json);
            return Ok(());
        }
        let entries: Entries<'_> =
            serde_json::from_slice(json).map_err(|e| NotAnObject(e.to_string()))?;
        let start = out.len();
        out.push(b'{');
        let mut first = true;
        for (key, value) in entries.0 {
            let text = value.get();
            let replacement = match self.action(&key) {
                Some(Action::Drop) => continue,
                Some(Action::Hash) if text != "null" => {
                    let digest = if text.starts_with('"') {
                        match serde_json::from_str::<Key<'_>>(text) {
                            Ok(s) => self.hash_value(s.0.as_bytes()),
                            Err(e) => {
                                out.truncate(start);
                                return Err(NotAnObject(e.to_string()));
                            }
                        }
                    } else {
                        self.hash_value(text.as_bytes())
                    };
                    Some(digest)
                }
                _ => None,
            };
            if !first {
                out.push(b',');
            }
            first = false;
            // Writing a string into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, key.as_ref());
            out.push(b':');
            match replacement {
                Some(digest) => {
                    out.push(b'"');
                    out.extend_from_slice(digest.as_bytes());
                    out.push(b'"');
                }
                None => out.extend_from_slice(text.as_bytes()),
            }
        }
        out.push(b'}');
        Ok(())
    }
}

/// A JSON string, borrowed when it holds no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(
                self,
                v: &'de str,
            ) -> std::result::Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// The top-level entries of a JSON object, values left as raw text.
struct Entries<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Entries<'de>, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some((k, v)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    entries.push((k.0, v));
                }
                Ok(Entries(entries))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &Sanitizer, json: &str) -> Result<String, NotAnObject> {
        let mut out = b"prefix".to_vec();
        s.sanitize(json.as_bytes(), &mut out)?;
        Ok(String::from_utf8(out[6..].to_vec()).unwrap())
    }

    #[test]
    fn keeps_order_and_raw_values_of_untouched_fields() {
        let s = Sanitizer {
            hash: vec![],
            drop: vec!["b".into()],
            salt: String::new(),
        };
        let out = run(
            &s,
            r#" { "z": 1.50, "b": {"x": 1}, "a": [1, 2], "q\"k": "\u00e9" } "#,
        )
        .unwrap();
        assert_eq!(out, r#"{"z":1.50,"a":[1, 2],"q\"k":"\u00e9"}"#);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["q\"k"], "é");
    }

    #[test]
    fn hashes_decoded_string_content_and_keeps_null() {
        let s = Sanitizer {
            hash: vec!["c".into(), "n".into()],
            drop: vec![],
            salt: "s".into(),
        };
        let escaped = run(&s, r#"{"c": "caf\u00e9", "n": null}"#).unwrap();
        let plain = run(&s, r#"{"c": "café", "n": null}"#).unwrap();
        assert_eq!(escaped, plain);
        assert!(plain.ends_with(r#","n":null}"#));
    }

    #[test]
    fn refuses_what_is_not_an_object_and_appends_nothing() {
        let s = Sanitizer {
            hash: vec![],
            drop: vec!["x".into()],
            salt: String::new(),
        };
        for bad in ["[1,2]", "12", "{\"a\":", "not json"] {
            let mut out = b"keep".to_vec();
            assert!(s.sanitize(bad.as_bytes(), &mut out).is_err(), "{bad}");
            assert_eq!(out, b"keep");
        }
    }

    #[test]
    fn config_checks() {
        let both = Sanitizer {
            hash: vec!["a".into()],
            drop: vec!["a".into()],
            salt: "s".into(),
        };
        assert!(matches!(both.check(), Err(LogError::Config { .. })));
        let unsalted = Sanitizer {
            hash: vec!["a".into()],
            drop: vec![],
            salt: String::new(),
        };
        assert!(matches!(unsalted.check(), Err(LogError::Config { .. })));
    }
}
