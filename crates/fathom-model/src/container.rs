//! The on-disk envelope of a model artifact: a short text header naming
//! the format and the SHA-256 of the body, then the body as JSON.
//!
//! ```text
//! FATHOM-MODEL 1
//! sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//!
//! {"…": …}
//! ```
//!
//! The checksum is verified on every load, so a file changed after it was
//! written is refused. The body is canonical JSON (struct fields in
//! declaration order, shortest round-trip floats), so the same model gives
//! the same bytes.

use crate::error::ModelError;
use serde::{Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};

/// The magic first line and format version.
pub const MAGIC: &str = "FATHOM-MODEL";
/// The envelope version this build writes and reads.
pub const VERSION: u32 = 1;

/// Encodes a value as an artifact file's bytes.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, ModelError> {
    let body = serde_json::to_vec(value).map_err(|e| ModelError::Encode(e.to_string()))?;
    let digest = hex::encode(Sha256::digest(&body));
    let mut out = format!("{MAGIC} {VERSION}\nsha256 {digest}\n\n").into_bytes();
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes and verifies an artifact file's bytes; `source` names the file in messages.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], source: &str) -> Result<T, ModelError> {
    let not_model = || ModelError::NotAModel {
        file: source.to_string(),
    };
    let mut lines = bytes.splitn(4, |&b| b == b'\n');
    let first = lines.next().ok_or_else(not_model)?;
    let first = std::str::from_utf8(first).map_err(|_| not_model())?;
    let version = first
        .strip_prefix(MAGIC)
        .map(str::trim)
        .ok_or_else(not_model)?;
    let version: u32 = version.parse().map_err(|_| not_model())?;
    if version != VERSION {
        return Err(ModelError::UnsupportedVersion {
            file: source.to_string(),
            found: version,
            supported: VERSION,
        });
    }
    let sum_line =
        std::str::from_utf8(lines.next().ok_or_else(not_model)?).map_err(|_| not_model())?;
    let expected = sum_line
        .strip_prefix("sha256 ")
        .ok_or_else(not_model)?
        .trim();
    let blank = lines.next().ok_or_else(not_model)?;
    if !blank.is_empty() {
        return Err(not_model());
    }
    let body = lines.next().unwrap_or_default();
    let actual = hex::encode(Sha256::digest(body));
    if actual != expected {
        return Err(ModelError::ChecksumMismatch {
            file: source.to_string(),
            expected: expected.to_string(),
            actual,
        });
    }
    serde_json::from_slice(body).map_err(|e| ModelError::Decode {
        file: source.to_string(),
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper_detection() {
        let value = serde_json::json!({"trees": [1.5, 2.0], "name": "m"});
        let bytes = encode(&value).unwrap();
        assert!(bytes.starts_with(b"FATHOM-MODEL 1\nsha256 "));
        let back: serde_json::Value = decode(&bytes, "m.fathom").unwrap();
        assert_eq!(back, value);
        let mut tampered = bytes.clone();
        let n = tampered.len();
        tampered[n - 3] = b'9';
        let e = decode::<serde_json::Value>(&tampered, "m.fathom")
            .unwrap_err()
            .to_string();
        assert!(e.contains("m.fathom: the checksum does not match"), "{e}");
        let e = decode::<serde_json::Value>(b"PK\x03\x04zip", "x.zip")
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.zip is not a fathom model"), "{e}");
        let newer =
            String::from_utf8(bytes)
                .unwrap()
                .replacen("FATHOM-MODEL 1", "FATHOM-MODEL 7", 1);
        let e = decode::<serde_json::Value>(newer.as_bytes(), "n.fathom")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("format version 7, but this fathom reads version 1"),
            "{e}"
        );
    }
}
