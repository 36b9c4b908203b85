//! Bearer tokens with roles, and per-token rate limits.
//!
//! Tokens are random 32-byte secrets, so they are stored as a plain
//! SHA-256 (a slow password hash buys nothing against a 256-bit secret and
//! would cost milliseconds on every request). Looking a token up hashes
//! the presented value and compares it with the stored hashes.

use crate::config::AuthConfig;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Predict, explain, send feedback.
    Predict,
    /// Read what is deployed.
    Read,
    /// Change rollouts (alias moves through the API).
    Operate,
    /// Everything.
    Admin,
}

impl Role {
    /// Parses a role name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "predict" => Some(Role::Predict),
            "read" => Some(Role::Read),
            "operate" => Some(Role::Operate),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    fn bit(self) -> u8 {
        match self {
            Role::Predict => 1,
            Role::Read => 2,
            Role::Operate => 4,
            Role::Admin => 8,
        }
    }
}

/// A configured token.
#[derive(Debug)]
struct Token {
    name: String,
    roles: u8,
    limiter: Option<Mutex<Bucket>>,
}

/// A token bucket.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate.max(1.0));
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No or unknown token (401).
    Unauthenticated(String),
    /// The token lacks the role (403).
    Forbidden {
        /// The token's name, for the access log.
        token: String,
        /// What to tell the caller.
        message: String,
    },
    /// Over the token's rate (429).
    RateLimited {
        /// The token's name, for the access log.
        token: String,
        /// What to tell the caller.
        message: String,
    },
}

/// The server's access rules.
#[derive(Debug)]
pub struct Auth {
    tokens: HashMap<[u8; 32], Token>,
    open_predict: bool,
    open_read: bool,
}

/// Hex SHA-256 of a token, as stored in the configuration.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Errors in the token configuration.
#[derive(Debug, thiserror::Error)]
#[error("[serve.auth] token '{name}': {problem}")]
pub struct AuthConfigError {
    /// The token's name.
    pub name: String,
    /// What is wrong.
    pub problem: String,
}

impl Auth {
    /// Builds the rules from `[serve.auth]`.
    pub fn new(config: &AuthConfig) -> Result<Self, AuthConfigError> {
        let mut tokens = HashMap::new();
        for t in &config.tokens {
            let err = |problem: String| AuthConfigError {
                name: t.name.clone(),
                problem,
            };
            let bytes = hex::decode(&t.sha256)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| {
                    err(
                        "sha256 must be 64 hex digits (run `fathom serve token` to make one)"
                            .into(),
                    )
                })?;
            let mut roles = 0;
            for r in &t.roles {
                roles |= Role::parse(r)
                    .ok_or_else(|| {
                        err(format!(
                            "unknown role '{r}' (use predict, read, operate or admin)"
                        ))
                    })?
                    .bit();
            }
            let limiter = (t.rate_per_second > 0.0).then(|| {
                Mutex::new(Bucket {
                    rate: t.rate_per_second,
                    tokens: t.rate_per_second.max(1.0),
                    at: Instant::now(),
                })
            });
            tokens.insert(
                bytes,
                Token {
                    name: t.name.clone(),
                    roles,
                    limiter,
                },
            );
        }
        Ok(Self {
            tokens,
            open_predict: config.open_predict || config.tokens.is_empty(),
            open_read: config.open_read || config.tokens.is_empty(),
        })
    }

    /// Whether any token is configured.
    pub fn has_tokens(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Whether the `Authorization` header value names a token holding
    /// `role` (or `admin`); no rate is taken.
    pub fn holds(&self, role: Role, header: Option<&str>) -> bool {
        let Some(presented) = header.and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        }) else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(presented.trim().as_bytes()).into();
        self.tokens
            .get(&digest)
            .is_some_and(|t| t.roles & (role.bit() | Role::Admin.bit()) != 0)
    }

    /// Checks a request needing `role` with the `Authorization` header
    /// value; returns the caller's name (`anonymous` for open endpoints).
    pub fn check(&self, role: Role, header: Option<&str>) -> Result<&str, Denied> {
        let open = match role {
            Role::Predict => self.open_predict,
            Role::Read => self.open_read,
            Role::Operate | Role::Admin => false,
        };
        let Some(value) = header else {
            return if open {
                Ok("anonymous")
            } else {
                Err(Denied::Unauthenticated(
                    "this endpoint needs a bearer token: send `Authorization: Bearer <token>`"
                        .into(),
                ))
            };
        };
        let presented = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| {
                Denied::Unauthenticated("the Authorization header must be `Bearer <token>`".into())
            })?
            .trim();
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let Some(token) = self.tokens.get(&digest) else {
            return Err(Denied::Unauthenticated("unknown token".into()));
        };
        if token.roles & (role.bit() | Role::Admin.bit()) == 0 {
            return Err(Denied::Forbidden {
                token: token.name.clone(),
                message: format!(
                    "token '{}' lacks the '{}' role",
                    token.name,
                    serde_json::to_value(role)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                ),
            });
        }
        if let Some(limiter) = &token.limiter {
            let mut b = limiter.lock().unwrap_or_else(|e| e.into_inner());
            if !b.take(Instant::now()) {
                return Err(Denied::RateLimited {
                    token: token.name.clone(),
                    message: format!(
                        "token '{}' is over its limit of {} requests per second",
                        token.name, b.rate
                    ),
                });
            }
        }
        Ok(&token.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenConfig;

    fn config(open: bool, rate: f64) -> AuthConfig {
        AuthConfig {
            open_predict: open,
            open_read: false,
            tokens: vec![TokenConfig {
                name: "ci".into(),
                sha256: token_hash("s3cret"),
                roles: vec!["read".into()],
                rate_per_second: rate,
            }],
        }
    }

    #[test]
    fn sha256_of_a_known_text() {
        // FIPS 180-2 example: SHA-256("abc").
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn roles_and_open_predict() {
        let auth = Auth::new(&config(true, 0.0)).unwrap();
        assert_eq!(auth.check(Role::Predict, None).unwrap(), "anonymous");
        assert!(matches!(
            auth.check(Role::Read, None),
            Err(Denied::Unauthenticated(_))
        ));
        assert_eq!(auth.check(Role::Read, Some("Bearer s3cret")).unwrap(), "ci");
        assert!(matches!(
            auth.check(Role::Operate, Some("Bearer s3cret")),
            Err(Denied::Forbidden { .. })
        ));
        assert!(matches!(
            auth.check(Role::Read, Some("Bearer wrong")),
            Err(Denied::Unauthenticated(_))
        ));
        let closed = Auth::new(&config(false, 0.0)).unwrap();
        assert!(closed.check(Role::Predict, None).is_err());
    }

    #[test]
    fn rate_limit_refuses_the_burst_beyond_the_rate() {
        let auth = Auth::new(&config(false, 2.0)).unwrap();
        let ok = (0..5)
            .filter(|_| auth.check(Role::Read, Some("Bearer s3cret")).is_ok())
            .count();
        assert_eq!(ok, 2);
        // The refusal names the token, for the caller and the access log.
        match auth.check(Role::Read, Some("Bearer s3cret")) {
            Err(Denied::RateLimited { token, message }) => {
                assert_eq!(token, "ci");
                assert!(
                    message.contains("token 'ci' is over its limit"),
                    "{message}"
                );
            }
            other => panic!("expected a rate limit, got {other:?}"),
        }
    }

    #[test]
    fn bad_configuration_is_named() {
        let mut c = config(true, 0.0);
        c.tokens[0].roles = vec!["root".into()];
        let e = Auth::new(&c).unwrap_err().to_string();
        assert!(e.contains("'ci'") && e.contains("root"), "{e}");
    }
}
