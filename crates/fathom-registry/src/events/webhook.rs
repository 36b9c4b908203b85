//! What a webhook is (as configured in `fathom.toml`), how deliveries are
//! retried, and how a delivery is signed.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::EventKind;
use crate::error::{RegistryError, Result};

/// The header carrying a delivery's signature: `sha256=` and the
/// lowercase hex HMAC-SHA256 of the request body under the webhook's
/// secret.
pub const SIGNATURE_HEADER: &str = "X-Fathom-Signature";

/// One webhook: where registry events are POSTed as JSON
/// (`[[registry.webhooks]]` in `fathom.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// `http://` or `https://` URL that receives a POST per event.
    pub url: String,
    /// The kinds of events it receives; empty (the default) means all.
    #[serde(default)]
    pub events: Vec<EventKind>,
    /// Shared secret: when set, every request carries
    /// [`SIGNATURE_HEADER`]. Prefer `secret_env` to keep it out of files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Name of the environment variable holding the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    /// How long one request may take, in milliseconds (default 5000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    5000
}

impl Webhook {
    /// A webhook for all events, unsigned, with the default timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Webhook {
            url: url.into(),
            events: Vec::new(),
            secret: None,
            secret_env: None,
            timeout_ms: default_timeout_ms(),
        }
    }

    /// Checks the settings: an http(s) URL, at most one way to give the
    /// secret, a timeout from 1 ms to 60 s.
    pub fn validate(&self) -> Result<()> {
        let what = || format!("webhook '{}'", self.url);
        let rest = self
            .url
            .strip_prefix("https://")
            .or_else(|| self.url.strip_prefix("http://"));
        if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
            return Err(RegistryError::invalid(
                what(),
                "the url must start with http:// or https:// and name a host",
            ));
        }
        if self.secret.is_some() && self.secret_env.is_some() {
            return Err(RegistryError::invalid(
                what(),
                "give either secret or secret_env, not both",
            ));
        }
        if self.secret.as_deref() == Some("") {
            return Err(RegistryError::invalid(
                what(),
                "the secret is empty; remove it or give one",
            ));
        }
        if !(1..=60_000).contains(&self.timeout_ms) {
            return Err(RegistryError::invalid(
                what(),
                format!(
                    "timeout_ms = {} is out of range; use 1 to 60000",
                    self.timeout_ms
                ),
            ));
        }
        Ok(())
    }

    /// Whether it receives events of `kind`.
    pub fn wants(&self, kind: EventKind) -> bool {
        self.events.is_empty() || self.events.contains(&kind)
    }

    /// The secret, read from the environment if `secret_env` is set.
    pub fn resolve_secret(&self) -> Result<Option<String>> {
        match (&self.secret, &self.secret_env) {
            (Some(s), _) => Ok(Some(s.clone())),
            (None, Some(var)) => match std::env::var(var) {
                Ok(s) if !s.is_empty() => Ok(Some(s)),
                _ => Err(RegistryError::invalid(
                    format!("webhook '{}'", self.url),
                    format!(
                        "secret_env names the environment variable {var}, which is not set (or empty); set it, or remove secret_env"
                    ),
                )),
            },
            (None, None) => Ok(None),
        }
    }

    /// The request timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// The signature header's value for `body` under `secret`:
/// `sha256=` followed by the lowercase hex HMAC-SHA256 (RFC 2104).
pub fn signature(secret: &[u8], body: &[u8]) -> Result<String> {
    // HMAC accepts keys of any length, so this does not fail in practice.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .map_err(|e| RegistryError::invalid("webhook secret", e.to_string()))?;
    mac.update(body);
    Ok(format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

/// How failed deliveries are retried (`[registry.delivery]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryPolicy {
    /// Attempts per (event, webhook) before the delivery is marked failed.
    pub max_attempts: u32,
    /// Wait after the first failed attempt, in seconds; doubled after each
    /// further failure.
    pub first_retry_secs: u64,
    /// The longest wait between attempts, in seconds.
    pub max_retry_secs: u64,
    /// Most deliveries attempted per webhook in one pass.
    pub batch: u32,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        DeliveryPolicy {
            max_attempts: 8,
            first_retry_secs: 30,
            max_retry_secs: 3600,
            batch: 100,
        }
    }
}

impl DeliveryPolicy {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if self.max_attempts == 0 || self.max_attempts > 100 {
            return Err(RegistryError::invalid(
                "registry.delivery.max_attempts",
                format!("{} is out of range; use 1 to 100", self.max_attempts),
            ));
        }
        if self.first_retry_secs == 0 || self.first_retry_secs > self.max_retry_secs {
            return Err(RegistryError::invalid(
                "registry.delivery.first_retry_secs",
                format!(
                    "{} must be at least 1 and at most max_retry_secs ({})",
                    self.first_retry_secs, self.max_retry_secs
                ),
            ));
        }
        if self.batch == 0 {
            return Err(RegistryError::invalid(
                "registry.delivery.batch",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// The wait after the `attempts`-th failed attempt (from 1):
    /// `first_retry_secs × 2^(attempts − 1)`, at most `max_retry_secs`.
    pub fn retry_delay(&self, attempts: u32) -> Duration {
        let shift = attempts.saturating_sub(1).min(62);
        let secs = self
            .first_retry_secs
            .saturating_mul(1u64 << shift)
            .min(self.max_retry_secs);
        Duration::from_secs(secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = DeliveryPolicy {
            first_retry_secs: 30,
            max_retry_secs: 200,
            ..DeliveryPolicy::default()
        };
        let waits: Vec<u64> = (1..=5).map(|a| p.retry_delay(a).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 200, 200]);
        assert_eq!(p.retry_delay(1000).as_secs(), 200);
    }

    /// RFC 4231 test cases 1, 2 and 6 (HMAC-SHA-256), the last with a key
    /// longer than the hash's block.
    #[test]
    fn signature_matches_rfc_4231() {
        let cases: [(&[u8], &[u8], &str); 3] = [
            (
                &[0x0b; 20],
                b"Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
        ];
        for (key, data, mac) in cases {
            assert_eq!(signature(key, data).unwrap(), format!("sha256={mac}"));
        }
    }

    #[test]
    fn settings_are_checked() {
        assert!(Webhook::new("https://ci.example/hook").validate().is_ok());
        for bad in ["ftp://x", "https://", "http:///path", "ci.example"] {
            let e = Webhook::new(bad).validate().unwrap_err().to_string();
            assert!(e.contains("http:// or https://"), "{bad}: {e}");
        }
        let mut w = Webhook::new("http://127.0.0.1:9/x");
        w.secret = Some("a".into());
        w.secret_env = Some("B".into());
        assert!(w.validate().unwrap_err().to_string().contains("not both"));
        w.secret_env = None;
        w.timeout_ms = 0;
        assert!(w.validate().unwrap_err().to_string().contains("1 to 60000"));
        assert!(
            DeliveryPolicy {
                max_attempts: 0,
                ..DeliveryPolicy::default()
            }
            .validate()
            .is_err()
        );
    }
}
